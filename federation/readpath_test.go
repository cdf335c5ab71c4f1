package federation

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// auditSink collects a node's audit events.
type auditSink struct {
	mu sync.Mutex
	ev []AuditEvent
}

func (s *auditSink) add(e AuditEvent) { s.mu.Lock(); s.ev = append(s.ev, e); s.mu.Unlock() }

func (s *auditSink) reads(side string) []AuditEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []AuditEvent
	for _, e := range s.ev {
		if e.Side == side && (e.Kind == "partner_read" || e.Kind == "read_denied") {
			out = append(out, e)
		}
	}
	return out
}

// cutReader answers with a few JSON bytes, then fails: an owner whose
// store breaks mid-answer.
type cutReader struct{ echoReader }

func (c cutReader) ServeRead(w http.ResponseWriter, r *http.Request, q ReadQuery) (int, error) {
	if q.Stream != "broken" {
		return c.echoReader.ServeRead(w, r, q)
	}
	w.Header().Set("Content-Type", "text/csv")
	io.WriteString(w, "timestamp,value,quality\n2026-01-01T00:00:00Z,1,192\n")
	w.(http.Flusher).Flush()
	return 1, errors.New("disk read error")
}

// TestReadPathCountsAndCuts: the reader's audit log records the owner's
// own point count (for summaries, the points summarised, not the number of
// buckets in the body), and an owner answer that breaks off reaches the
// reader as a broken transfer, never as a short answer that looks whole.
func TestReadPathCountsAndCuts(t *testing.T) {
	clk := &clock{t: time.Now()}
	var ownerLog, readerLog auditSink
	acme := newNodeOpts(t, "acme", clk, func(o *Options) {
		o.Reader = cutReader{echoReader{streams: map[string]bool{"s": true, "broken": true}}}
		o.Audit = func(_ context.Context, e AuditEvent) { ownerLog.add(e) }
	})
	north := newNodeOpts(t, "northwind", clk, func(o *Options) {
		o.Audit = func(_ context.Context, e AuditEvent) { readerLog.add(e) }
	})
	acme.create("c")
	join(t, acme, north, "c")
	acme.share("c", "s")
	acme.share("c", "broken")
	north.local.setTenant(acme.ID(), tenantInfo{Name: "acme"})

	q := url.Values{"start": {"-1h"}, "interval": {"10m"}}
	if code, body := north.read("c", "acme", "s", "summaries", q); code != 200 {
		t.Fatalf("summaries: %d %s", code, body)
	}
	own, rd := ownerLog.reads("owner"), readerLog.reads("reader")
	if len(own) != 1 || len(rd) != 1 {
		t.Fatalf("audit: %d owner and %d reader reads, want 1 each", len(own), len(rd))
	}
	if own[0].Points != 3600 || rd[0].Points != own[0].Points {
		t.Fatalf("points: owner %d, reader %d; want 3600 on both sides", own[0].Points, rd[0].Points)
	}

	// The broken answer: the reader sees the transfer fail, and Close
	// says so (the local API then aborts its own answer: agent/api).
	rq, err := north.partnerRead("c", "acme", "broken", "data", url.Values{"start": {"-1h"}})
	if err != nil {
		t.Fatal(err)
	}
	ans, err := north.Read(context.Background(), rq)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(ans.Body)
	ans.Close(err)
	if err == nil {
		t.Fatal("a partner answer that broke off read as a complete answer")
	}
	rd = readerLog.reads("reader")
	if last := rd[len(rd)-1]; last.Outcome != "error" || !strings.Contains(last.Reason, "broke off") {
		t.Fatalf("reader audit of the broken read: %+v", last)
	}
}
