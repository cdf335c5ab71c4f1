package omf

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sluice-edge/sluice/agent/store"
	"github.com/sluice-edge/sluice/connectors/connectortest"
	"github.com/sluice-edge/sluice/connectors/point"
)

// BenchmarkOMFIngest posts OMF data messages through the real handler
// (HTTP over loopback, basic authentication, JSON parsing, durable write)
// into a real store, and writes the same points straight into a second
// store, alternating, in one run; the ratio is what OMF costs.
//
// A message is what an adapter sends: 200 containers of a dynamic type
// with a timestamp and three numbers (pressure, temperature, level), 10
// values each, about 187 KB of JSON (under OMF's 192 KiB), 6,000 points.
// senders is the number of concurrent senders (and of direct writers).
func BenchmarkOMFIngest(b *testing.B) {
	for _, tc := range []struct {
		gzip    bool
		senders int
	}{{false, 1}, {true, 1}, {false, 4}} {
		b.Run(fmt.Sprintf("gzip=%v/senders=%d", tc.gzip, tc.senders), func(b *testing.B) {
			benchOMF(b, tc.gzip, tc.senders)
		})
	}
}

const (
	benchContainers = 200
	benchValues     = 10
	benchProps      = 3
)

func openBenchStore(b *testing.B) *store.Store {
	st, err := store.Open(context.Background(), store.Options{Dir: b.TempDir(), CompactInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

// omfBatch is one message and the same points for a direct write.
type omfBatch struct {
	body   []byte
	points []point.Point
}

type benchGen struct {
	rng  *rand.Rand
	t    int64
	vals [benchContainers][benchProps]float64
}

func (g *benchGen) next(gz bool) omfBatch {
	var buf bytes.Buffer
	pts := make([]point.Point, 0, benchContainers*benchValues*benchProps)
	buf.WriteByte('[')
	props := [benchProps]string{"Pressure", "Temperature", "Level"}
	for c := 0; c < benchContainers; c++ {
		if c > 0 {
			buf.WriteByte(',')
		}
		fmt.Fprintf(&buf, `{"containerid":"Tank%03d","values":[`, c)
		for v := 0; v < benchValues; v++ {
			t := g.t + int64(v)*int64(100*time.Millisecond)
			if v > 0 {
				buf.WriteByte(',')
			}
			buf.WriteString(`{"Timestamp":"`)
			buf.WriteString(time.Unix(0, t).UTC().Format("2006-01-02T15:04:05.000Z"))
			buf.WriteByte('"')
			for p := range props {
				x := math.Round((g.vals[c][p]+g.rng.NormFloat64()*0.05)*100) / 100
				g.vals[c][p] = x
				buf.WriteString(`,"`)
				buf.WriteString(props[p])
				buf.WriteString(`":`)
				buf.WriteString(strconv.FormatFloat(x, 'f', -1, 64))
				pts = append(pts, point.Point{Stream: fmt.Sprintf("Tank%03d.%s", c, props[p]), Time: t, Value: point.Float(x)})
			}
			buf.WriteByte('}')
		}
		buf.WriteString("]}")
	}
	buf.WriteByte(']')
	g.t += benchValues * int64(100*time.Millisecond)
	body := buf.Bytes()
	if gz {
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		zw.Write(body)
		zw.Close()
		body = z.Bytes()
	}
	return omfBatch{body: body, points: pts}
}

func benchOMF(b *testing.B, gz bool, senders int) {
	ctx := context.Background()
	omfStore, direct := openBenchStore(b), openBenchStore(b)
	h := startOMF(b, fmt.Sprintf("max_inflight: %d\nwrite_timeout: 1m\n", senders), omfStore, b.TempDir())
	if st, body := h.post("type", "", `[{"id": "Tank", "type": "object", "classification": "dynamic", "properties": {
		"Timestamp": {"type": "string", "format": "date-time", "isindex": true},
		"Pressure": {"type": "number", "uom": "kPa"}, "Temperature": {"type": "number", "uom": "degC"}, "Level": {"type": "number", "uom": "m"}}}]`); st != 204 {
		b.Fatalf("type: %d %s", st, body)
	}
	var cs bytes.Buffer
	cs.WriteByte('[')
	for c := 0; c < benchContainers; c++ {
		if c > 0 {
			cs.WriteByte(',')
		}
		fmt.Fprintf(&cs, `{"id":"Tank%03d","typeid":"Tank"}`, c)
		for _, p := range []string{"Pressure", "Temperature", "Level"} {
			direct.EnsureStream(ctx, point.StreamSpec{Name: fmt.Sprintf("Tank%03d.%s", c, p), Kind: point.KindFloat})
		}
	}
	cs.WriteByte(']')
	if st, body := h.post("container", "", cs.String()); st != 204 {
		b.Fatalf("containers: %d %s", st, body)
	}
	gens := make([]*benchGen, senders)
	for i := range gens {
		gens[i] = &benchGen{rng: rand.New(rand.NewPCG(uint64(i), 7)), t: int64(1_767_225_600+i*86400*30) * 1e9}
	}
	client := h.srv.Client()
	post := func(body []byte) {
		req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/omf", bytes.NewReader(body))
		req.Header.Set("messagetype", "data")
		req.Header.Set("messageformat", "JSON")
		req.Header.Set("omfversion", "1.2")
		req.Header.Set("action", "create")
		if gz {
			req.Header.Set("compression", "gzip")
		}
		req.SetBasicAuth("fledge", "s3cret")
		resp, err := client.Do(req)
		if err != nil {
			b.Error(err)
			return
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			b.Errorf("status %d: %s", resp.StatusCode, msg)
		}
	}
	var omfTime, directTime time.Duration
	var bodyBytes int
	batches := make([]omfBatch, senders)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		for s := range batches {
			batches[s] = gens[s].next(gz)
			bodyBytes = len(batches[s].body)
		}
		b.StartTimer()
		var wg sync.WaitGroup
		start := time.Now()
		for s := range batches {
			wg.Add(1)
			go func(body []byte) { defer wg.Done(); post(body) }(batches[s].body)
		}
		wg.Wait()
		omfTime += time.Since(start)
		start = time.Now()
		for s := range batches {
			wg.Add(1)
			go func(pts []point.Point) {
				defer wg.Done()
				if err := direct.Write(ctx, pts); err != nil {
					b.Error(err)
				}
			}(batches[s].points)
		}
		wg.Wait()
		directTime += time.Since(start)
	}
	b.StopTimer()
	n := float64(b.N * senders * benchContainers * benchValues * benchProps)
	b.ReportMetric(n/omfTime.Seconds(), "omf-points/s")
	b.ReportMetric(n/directTime.Seconds(), "direct-points/s")
	b.ReportMetric(directTime.Seconds()/omfTime.Seconds(), "omf/direct")
	b.ReportMetric(float64(bodyBytes), "body-bytes")
}

// BenchmarkOMFParse is the handler alone (no HTTP, a sink that only
// counts): parsing and conversion of one message.
func BenchmarkOMFParse(b *testing.B) {
	sink := connectortest.NewSink(b, connectortest.Options{CountOnly: true})
	h := startOMF(b, "paths: [/omf]\n", sink, b.TempDir())
	h.post("type", "", `[{"id": "Tank", "type": "object", "classification": "dynamic", "properties": {
		"Timestamp": {"type": "string", "format": "date-time", "isindex": true},
		"Pressure": {"type": "number"}, "Temperature": {"type": "number"}, "Level": {"type": "number"}}}]`)
	var cs bytes.Buffer
	cs.WriteByte('[')
	for c := 0; c < benchContainers; c++ {
		if c > 0 {
			cs.WriteByte(',')
		}
		fmt.Fprintf(&cs, `{"id":"Tank%03d","typeid":"Tank"}`, c)
	}
	cs.WriteByte(']')
	h.post("container", "", cs.String())
	g := &benchGen{rng: rand.New(rand.NewPCG(1, 7)), t: 1_767_225_600e9}
	batch := g.next(false)
	b.SetBytes(int64(len(batch.body)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, "/omf", bytes.NewReader(batch.body))
		for _, hd := range omfHeaders("data", "create", "1.2") {
			r.Header.Set(hd[0], hd[1])
		}
		r.SetBasicAuth("fledge", "s3cret")
		h.src.ServeHTTP(rec, r)
		if rec.Code != 204 {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
	b.ReportMetric(float64(b.N*len(batch.points))/b.Elapsed().Seconds(), "points/s")
}
