package audit

import (
	"cmp"
	"encoding/csv"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// GroupBy picks the columns a summary has one row per combination of.
type GroupBy uint8

const (
	ByCommunity GroupBy = 1 << iota // community and direct connection
	ByTenant                        // partner tenant
	ByStream
	BySide // owner or reader

	// GroupAll is the report's default: one row per community (or
	// connection), partner tenant, stream and side.
	GroupAll = ByCommunity | ByTenant | ByStream | BySide
)

// SummaryRow totals the partner reads of one group. Columns not grouped
// by are empty.
type SummaryRow struct {
	Community  string           `json:"community,omitempty"`
	Connection string           `json:"connection,omitempty"`
	Tenant     string           `json:"tenant,omitempty"`
	Stream     string           `json:"stream,omitempty"`
	Side       string           `json:"side,omitempty"`
	Reads      int64            `json:"reads"`             // reads served
	Points     int64            `json:"points"`            // points those reads returned
	Denials    map[string]int64 `json:"denials,omitempty"` // refused reads by reason ("unspecified" if none)
	Errors     int64            `json:"errors"`            // reads that failed
	First      time.Time        `json:"first,omitzero"`    // first counted event
	Last       time.Time        `json:"last,omitzero"`     // last counted event
}

// DeniedTotal is the number of refused reads, all reasons.
func (r *SummaryRow) DeniedTotal() int64 {
	var n int64
	for _, c := range r.Denials {
		n += c
	}
	return n
}

type summaryKey struct{ community, connection, tenant, stream, side string }

// Summary accumulates partner reads and denials into rows, so a report
// streams entries from Query without holding them. Entries of other kinds
// are ignored. Not safe for concurrent use.
type Summary struct {
	by   GroupBy
	rows map[summaryKey]*SummaryRow
}

// NewSummary returns an empty summary grouped by by.
func NewSummary(by GroupBy) *Summary {
	return &Summary{by: by, rows: map[summaryKey]*SummaryRow{}}
}

// Add counts e: a partner_read is a read (its outcome "denied" a denial,
// "error" an error), a read_denied a denial.
func (s *Summary) Add(e Entry) {
	var read, denied, failed bool
	switch {
	case e.Kind == KindReadDenied, e.Kind == KindPartnerRead && e.Outcome == OutcomeDenied:
		denied = true
	case e.Kind == KindPartnerRead && e.Outcome == OutcomeError:
		failed = true
	case e.Kind == KindPartnerRead:
		read = true
	default:
		return
	}
	var k summaryKey
	if s.by&ByCommunity != 0 {
		k.community, k.connection = e.Community, e.Connection
	}
	if s.by&ByTenant != 0 {
		k.tenant = e.Tenant
	}
	if s.by&ByStream != 0 {
		k.stream = e.Stream
	}
	if s.by&BySide != 0 {
		k.side = e.Side
	}
	r := s.rows[k]
	if r == nil {
		r = &SummaryRow{Community: k.community, Connection: k.connection, Tenant: k.tenant, Stream: k.stream, Side: k.side}
		s.rows[k] = r
	}
	switch {
	case read:
		r.Reads++
		r.Points += e.Points
	case failed:
		r.Errors++
	case denied:
		reason := e.Reason
		if reason == "" {
			reason = "unspecified"
		}
		if r.Denials == nil {
			r.Denials = map[string]int64{}
		}
		r.Denials[reason]++
	}
	if r.First.IsZero() || e.Time.Before(r.First) {
		r.First = e.Time
	}
	if e.Time.After(r.Last) {
		r.Last = e.Time
	}
}

// Rows returns the rows sorted by community, connection, tenant, stream
// and side.
func (s *Summary) Rows() []SummaryRow {
	rows := make([]SummaryRow, 0, len(s.rows))
	for _, r := range s.rows {
		rows = append(rows, *r)
	}
	slices.SortFunc(rows, func(a, b SummaryRow) int {
		return cmp.Or(cmp.Compare(a.Community, b.Community), cmp.Compare(a.Connection, b.Connection),
			cmp.Compare(a.Tenant, b.Tenant), cmp.Compare(a.Stream, b.Stream), cmp.Compare(a.Side, b.Side))
	})
	return rows
}

// Summarize is NewSummary, Add for each entry, Rows.
func Summarize(entries []Entry, by GroupBy) []SummaryRow {
	s := NewSummary(by)
	for _, e := range entries {
		s.Add(e)
	}
	return s.Rows()
}

// CSVHeader is the first line WriteCSV writes.
var CSVHeader = []string{"community", "connection", "tenant", "stream", "side",
	"reads", "points", "denials", "errors", "first", "last", "denials_by_reason"}

// WriteCSV writes rows as CSV with CSVHeader. Times are RFC 3339 UTC;
// denials_by_reason is "reason=count" pairs sorted by reason, joined by
// ';'. (For JSON, marshal the rows.)
func WriteCSV(w io.Writer, rows []SummaryRow) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	for _, r := range rows {
		var reasons []string
		for _, k := range slices.Sorted(maps.Keys(r.Denials)) {
			reasons = append(reasons, k+"="+strconv.FormatInt(r.Denials[k], 10))
		}
		rec := []string{r.Community, r.Connection, r.Tenant, r.Stream, r.Side,
			strconv.FormatInt(r.Reads, 10), strconv.FormatInt(r.Points, 10),
			strconv.FormatInt(r.DeniedTotal(), 10), strconv.FormatInt(r.Errors, 10),
			csvTime(r.First), csvTime(r.Last), strings.Join(reasons, ";")}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func csvTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
