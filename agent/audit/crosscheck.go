package audit

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Both sides of a partner read log it: the owner's agent (Side owner,
// Tenant the reader) and the reader's (Side reader, Tenant the owner). An
// export of the entries one log holds about one partner can therefore be
// compared with the partner's own log: a read the partner logged that
// this log no longer holds was removed or rewritten here, whatever the
// checkpoints say. The partner's export is its word, not a proof (it is
// not signed): a cross-check.

// ExportVersion is the value of the first member of an export's header.
const ExportVersion = 1

// DefaultSlack is how far apart the two agents' clocks, and the moments
// the two exports were taken, may be by default: unmatched entries this
// close to the start or end of the period are not counted as differences.
const DefaultSlack = time.Minute

// maxListed bounds the entries CrossCheck lists on each side.
const maxListed = 20

// ExportHeader is the first line of an export (sluice audit export); the
// entries follow, one JSON object per line, as the API serves them.
type ExportHeader struct {
	Version int       `json:"sluice_audit_export"` // ExportVersion
	Tenant  string    `json:"tenant"`              // whose log the entries come from
	Partner string    `json:"partner"`             // the tenant the entries concern
	Since   time.Time `json:"since,omitzero"`      // entries at or after; zero: all kept
	Until   time.Time `json:"until"`               // entries before; when the export was taken
}

// ReadExport reads an export: its header, then its entries.
func ReadExport(r io.Reader) (ExportHeader, []Entry, error) {
	var h ExportHeader
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 2*MaxLineBytes)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return h, nil, err
		}
		return h, nil, errors.New("empty export")
	}
	if err := json.Unmarshal(sc.Bytes(), &h); err != nil || h.Version != ExportVersion {
		return h, nil, fmt.Errorf("line 1 is not a sluice audit export header (version %d)", ExportVersion)
	}
	if h.Tenant == "" || h.Partner == "" || h.Until.IsZero() {
		return h, nil, errors.New("the export header lacks tenant, partner or until")
	}
	var entries []Entry
	for n := 2; sc.Scan(); n++ {
		var e Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Seq == 0 || e.Kind == "" {
			return h, nil, fmt.Errorf("line %d is not an audit entry", n)
		}
		entries = append(entries, e)
	}
	return h, entries, sc.Err()
}

// CrossCheck is the result of CompareReads.
type CrossCheck struct {
	Partner      string
	Since, Until time.Time
	Slack        time.Duration

	Ours, Theirs int // reads and denials compared on each side
	Matched      int // found on both sides
	// MissingHere counts the partner's entries with no counterpart in
	// this log; MissingThere this log's with none in the partner's.
	// OnlyTheirs and OnlyOurs list the first of them.
	MissingHere, MissingThere int
	OnlyTheirs, OnlyOurs      []Entry
	AtEdges                   int // unmatched, but within Slack of the period's ends: not counted
	NotCompared               int // failed reads (outcome error): only the reader may have logged them
}

// OK reports whether every compared entry has its counterpart.
func (c *CrossCheck) OK() bool { return c.MissingHere == 0 && c.MissingThere == 0 }

// readKey is what both sides of one read record alike.
type readKey struct {
	weOwn     bool   // the stream is this log's tenant's
	community string // the community, or "" for a direct connection
	stream    string
	read      string // the read's kind, in Detail (window, latest, ...)
	denied    bool
	reason    string // why it was denied
	points    int64
}

// readKeyOf returns e's key as seen from this log (ours) or the
// partner's; ok is false for entries that are not compared, and compare
// is false for reads that failed.
func readKeyOf(e *Entry, ours bool) (k readKey, compare, ok bool) {
	if e.Kind != KindPartnerRead && e.Kind != KindReadDenied || e.Side != SideOwner && e.Side != SideReader {
		return k, false, false
	}
	if e.Outcome == OutcomeError {
		return k, false, true
	}
	k = readKey{weOwn: (e.Side == SideOwner) == ours, community: e.Community, stream: e.Stream, read: e.Detail, points: e.Points}
	if e.Kind == KindReadDenied || e.Outcome == OutcomeDenied {
		k.denied, k.reason, k.points = true, e.Reason, 0
	}
	return k, true, true
}

// windowsAgree reports whether the owner's window of a read lies within
// the reader's: the owner logs the window it served, clipped to what the
// share allows; the reader the one it asked for (zero ends: open).
func windowsAgree(owner, reader *Entry) bool {
	return (reader.Start.IsZero() || !owner.Start.Before(reader.Start)) &&
		(reader.End.IsZero() || !owner.End.After(reader.End))
}

// CompareReads pairs the partner reads and denials in ours (this log's
// entries concerning the partner) with those in theirs (the partner's
// export of its entries concerning this tenant): same direction,
// community (or connection), stream, read kind, outcome (and reason) and
// points, and the owner's window within the reader's. Each entry pairs
// with at most one, the earliest that fits. Unmatched entries are
// differences, unless within slack of h.Since or h.Until; ours may
// include entries up to slack outside them, to match skewed clocks. Reads
// that failed are not compared: a read cut off by the network or refused
// for load may be logged by the reader only.
func CompareReads(ours, theirs []Entry, h ExportHeader, slack time.Duration) CrossCheck {
	c := CrossCheck{Partner: h.Tenant, Since: h.Since, Until: h.Until, Slack: slack}
	pool := map[readKey][]*Entry{}
	matched := map[*Entry]bool{}
	for i := range theirs {
		e := &theirs[i]
		k, compare, ok := readKeyOf(e, false)
		switch {
		case !ok:
		case !compare:
			c.NotCompared++
		default:
			c.Theirs++
			pool[k] = append(pool[k], e)
		}
	}
	edge := func(t time.Time) bool {
		return !h.Since.IsZero() && t.Before(h.Since.Add(slack)) || !t.Before(h.Until.Add(-slack))
	}
	for i := range ours {
		e := &ours[i]
		k, compare, ok := readKeyOf(e, true)
		switch {
		case !ok:
			continue
		case !compare:
			c.NotCompared++
			continue
		}
		if !h.Since.IsZero() && e.Time.Before(h.Since.Add(-slack)) || !e.Time.Before(h.Until.Add(slack)) {
			continue // asked for with slack, outside the partner's period
		}
		c.Ours++
		found := false
		for _, o := range pool[k] {
			if matched[o] {
				continue
			}
			owner, reader := e, o
			if !k.weOwn {
				owner, reader = o, e
			}
			if windowsAgree(owner, reader) {
				matched[o], found = true, true
				break
			}
		}
		switch {
		case found:
			c.Matched++
		case edge(e.Time):
			c.AtEdges++
		default:
			c.MissingThere++
			if len(c.OnlyOurs) < maxListed {
				c.OnlyOurs = append(c.OnlyOurs, *e)
			}
		}
	}
	for i := range theirs {
		e := &theirs[i]
		if _, compare, ok := readKeyOf(e, false); !ok || !compare || matched[e] {
			continue
		}
		if edge(e.Time) {
			c.AtEdges++
			continue
		}
		c.MissingHere++
		if len(c.OnlyTheirs) < maxListed {
			c.OnlyTheirs = append(c.OnlyTheirs, *e)
		}
	}
	return c
}

// String is the cross-check in sentences.
func (c *CrossCheck) String() string {
	var b strings.Builder
	since := "the start of its log"
	if !c.Since.IsZero() {
		since = c.Since.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(&b, "Cross-check with the export of tenant %s (%s to %s): %s of this log's partner reads and denials and %s of the partner's compared; %s match.\n",
		c.Partner, since, c.Until.UTC().Format(time.RFC3339), num(uint64(c.Ours)), num(uint64(c.Theirs)), num(uint64(c.Matched)))
	list := func(n int, es []Entry, head string) {
		if n == 0 {
			return
		}
		fmt.Fprintf(&b, "%s %s %s:\n", num(uint64(n)), plural(int64(n), "entry", "entries"), head)
		for _, e := range es {
			fmt.Fprintf(&b, "  %s\n", describeRead(&e))
		}
		if n > len(es) {
			fmt.Fprintf(&b, "  and %s more.\n", num(uint64(n-len(es))))
		}
	}
	list(c.MissingHere, c.OnlyTheirs, "of the partner's log have no counterpart in this one (removed or rewritten here, or forged there)")
	list(c.MissingThere, c.OnlyOurs, "of this log have no counterpart in the partner's (removed or rewritten there, or forged here)")
	if c.OK() {
		b.WriteString("Both logs agree on every read and denial they both cover.\n")
	}
	if c.AtEdges > 0 {
		fmt.Fprintf(&b, "%s unmatched %s within %s of the period's start or end %s not counted: the exports were taken at different moments.\n",
			num(uint64(c.AtEdges)), plural(int64(c.AtEdges), "entry", "entries"), c.Slack, plural(int64(c.AtEdges), "is", "are"))
	}
	if c.NotCompared > 0 {
		fmt.Fprintf(&b, "%s failed %s (outcome error) not compared: a read cut off by the network or refused for load may be logged by the reader only.\n",
			num(uint64(c.NotCompared)), plural(int64(c.NotCompared), "read", "reads"))
	}
	return b.String()
}

// describeRead is one line about a partner read or denial.
func describeRead(e *Entry) string {
	via := "community " + e.Community
	if e.Community == "" {
		via = "a direct connection"
	}
	what := fmt.Sprintf("%d points", e.Points)
	if e.Kind == KindReadDenied || e.Outcome == OutcomeDenied {
		what = "denied (" + e.Reason + ")"
	}
	window := ""
	if !e.Start.IsZero() || !e.End.IsZero() {
		window = fmt.Sprintf(", window %s to %s", fmtTime(e.Start), fmtTime(e.End))
	}
	return fmt.Sprintf("#%s at %s, %s side: %s read of %s via %s%s, %s",
		num(e.Seq), e.Time.UTC().Format(time.RFC3339), e.Side, e.Detail, e.Stream, via, window, what)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
