package promapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/sluice-edge/sluice/agent/store"
	"github.com/sluice-edge/sluice/connectors/point"
	"github.com/sluice-edge/sluice/federation"
	"github.com/sluice-edge/sluice/policy"
)

// Partners is what the API needs of federation to show shared streams.
// Every call may block on partners' agents; none decides anything: each
// owner answers with its own state.
type Partners interface {
	// ID is this tenant's id (its own shares are its local streams).
	ID() policy.TenantID
	// Communities lists the communities this tenant takes part in.
	Communities() []federation.Community
	// Catalog lists the streams shared into a community.
	Catalog(ctx context.Context, c policy.CommunityID) (federation.Catalog, error)
	// Summaries reads a shared stream's summaries (rq.Kind is
	// policy.ReadSummaries, rq.TimeFormat "ns") from its owner.
	Summaries(ctx context.Context, rq federation.PartnerRead) ([]store.Summary, error)
}

// NodePartners adapts a federation node: summaries are read with
// Node.Read and decoded from the owner's JSON answer.
func NodePartners(n *federation.Node) Partners { return nodePartners{n} }

type nodePartners struct{ *federation.Node }

// Communities are those in which data flows for this tenant.
func (p nodePartners) Communities() []federation.Community {
	var out []federation.Community
	for _, c := range p.Node.Communities(nil) {
		if c.Active() {
			out = append(out, c)
		}
	}
	return out
}

func (p nodePartners) Catalog(ctx context.Context, c policy.CommunityID) (federation.Catalog, error) {
	return p.Node.Catalog(ctx, string(c))
}

// maxAnswer bounds an owner's summaries answer (MaxBuckets of them).
const maxAnswer = 256 << 20

func (p nodePartners) Summaries(ctx context.Context, rq federation.PartnerRead) ([]store.Summary, error) {
	ans, err := p.Read(ctx, rq)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(io.LimitReader(ans.Body, maxAnswer+1))
	if err == nil && len(body) > maxAnswer {
		err = fmt.Errorf("answer over %d bytes", maxAnswer)
	}
	if err != nil {
		ans.Close(err)
		return nil, err
	}
	sums, err := DecodeSummaries(body)
	if err != nil {
		ans.Close(err)
		return nil, fmt.Errorf("the owner's answer: %w", err)
	}
	ans.Close(nil)
	return sums, nil
}

// DecodeSummaries reads a summaries answer of the read API (agent/api
// writeSummaries) written with time=ns: {"stream": ..., "summaries":
// [{"start": "<ns>", "end": "<ns>", "count", "bad", "min", "max", "mean",
// "stddev", "time_weighted_mean", "first": point, "last": point}]}, where
// a point is {"time": <ns>, "value": v, "quality": q}. Statistics are null
// when an interval has no good point (or is NaN or infinite).
func DecodeSummaries(b []byte) ([]store.Summary, error) {
	var in struct {
		Summaries []struct {
			Start, End     json.Number
			Count, Bad     int
			Min, Max, Mean *float64
			StdDev         *float64 `json:"stddev"`
			TWA            *float64 `json:"time_weighted_mean"`
			First, Last    *pointJSON
		} `json:"summaries"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&in); err != nil {
		return nil, err
	}
	out := make([]store.Summary, 0, len(in.Summaries))
	for i, s := range in.Summaries {
		start, err1 := strconv.ParseInt(string(s.Start), 10, 64)
		end, err2 := strconv.ParseInt(string(s.End), 10, 64)
		if err1 != nil || err2 != nil || s.Count < 0 || s.Bad < 0 || s.Bad > s.Count {
			return nil, fmt.Errorf("summary %d: bad start, end or counts", i)
		}
		sm := store.Summary{Start: start, End: end, Count: s.Count, Bad: s.Bad}
		f := func(p *float64) float64 {
			if p == nil {
				return math.NaN()
			}
			return *p
		}
		sm.Min, sm.Max, sm.Mean, sm.StdDev = f(s.Min), f(s.Max), f(s.Mean), f(s.StdDev)
		if s.StdDev == nil {
			sm.StdDev = 0
		}
		if s.TWA != nil {
			sm.TimeWeightedMean, sm.HasTWA = *s.TWA, true
		}
		if s.Count > 0 {
			if s.First == nil || s.Last == nil {
				return nil, fmt.Errorf("summary %d: %d points but no first or last", i, s.Count)
			}
			sm.First, sm.Last = s.First.sample(), s.Last.sample()
		}
		out = append(out, sm)
	}
	return out, nil
}

type pointJSON struct {
	Time    int64           `json:"time"`
	Value   json.RawMessage `json:"value"`
	Quality uint32          `json:"quality"`
}

// sample reads a point's value: a number, a bool, or one of the strings
// "NaN", "Infinity", "-Infinity" that stand for floats JSON cannot hold;
// any other string is a string value.
func (p pointJSON) sample() store.Sample {
	s := store.Sample{Time: p.Time, Quality: p.Quality}
	v := bytes.TrimSpace(p.Value)
	switch {
	case bytes.Equal(v, []byte("true")):
		s.Value = point.Bool(true)
	case bytes.Equal(v, []byte("false")):
		s.Value = point.Bool(false)
	case len(v) > 0 && v[0] == '"':
		var str string
		json.Unmarshal(v, &str)
		switch str {
		case "NaN":
			s.Value = point.Float(math.NaN())
		case "Infinity":
			s.Value = point.Float(math.Inf(1))
		case "-Infinity":
			s.Value = point.Float(math.Inf(-1))
		default:
			s.Value = point.String(str)
		}
	default:
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			s.Value = point.Float(math.NaN())
		} else {
			s.Value = point.Float(f)
		}
	}
	return s
}

var _ Partners = nodePartners{}
