package audit

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"
)

// scripted returns the i-th entry of the query script.
func scripted(i int) Entry {
	e := Entry{
		Kind:      []string{KindPartnerRead, KindReadDenied, KindAdmin}[i%3],
		Tenant:    []string{"t-a", "t-b", "t-c", "t-d"}[i%4],
		Community: []string{"refining", "utilities"}[i%2],
		Stream:    []string{"s1", "s2", "s3"}[(i/3)%3],
		Side:      []string{SideOwner, SideReader}[(i/2)%2],
		Points:    int64(i),
	}
	if i%5 == 0 {
		e.Community, e.Connection = "", "conn-1"
	}
	return e
}

func TestQueryFilters(t *testing.T) {
	clk := newClock()
	dir := t.TempDir()
	// Small segments so that skipping by the next segment's first entry
	// is exercised.
	l := openLog(t, Options{Dir: dir, SegmentSize: 1200, Now: clk.Now})
	const n = 60
	for i := range n {
		mustAppend(t, l, scripted(i))
		clk.Add(time.Minute)
	}
	at := func(i int) time.Time { return epoch.Add(time.Duration(i) * time.Minute) }
	for _, tc := range []struct {
		name string
		f    Filter
		want func(i int, e Entry) bool
	}{
		{"everything", Filter{}, func(int, Entry) bool { return true }},
		{"community", Filter{Community: "refining"}, func(_ int, e Entry) bool { return e.Community == "refining" }},
		{"connection", Filter{Connection: "conn-1"}, func(i int, _ Entry) bool { return i%5 == 0 }},
		{"tenant and stream", Filter{Tenant: "t-b", Stream: "s2"}, func(_ int, e Entry) bool { return e.Tenant == "t-b" && e.Stream == "s2" }},
		{"side", Filter{Side: SideReader}, func(_ int, e Entry) bool { return e.Side == SideReader }},
		{"kinds", Filter{Kinds: []string{KindPartnerRead, KindReadDenied}}, func(i int, _ Entry) bool { return i%3 != 2 }},
		{"since and until", Filter{Since: at(10), Until: at(20)}, func(i int, _ Entry) bool { return i >= 10 && i < 20 }},
		{"since late", Filter{Since: at(47).Add(time.Second)}, func(i int, _ Entry) bool { return i >= 48 }},
		{"from seq", Filter{FromSeq: 41}, func(i int, _ Entry) bool { return i >= 40 }},
		{"all of them", Filter{Since: at(5), Until: at(50), Community: "utilities", Kinds: []string{KindReadDenied}},
			func(i int, e Entry) bool { return i >= 5 && i < 50 && e.Community == "utilities" && i%3 == 1 }},
		{"since after the end", Filter{Since: at(n + 1)}, func(int, Entry) bool { return false }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want []uint64
			for i := range n {
				if tc.want(i, scripted(i)) {
					want = append(want, uint64(i+1))
				}
			}
			seqs := func(es []Entry) []uint64 {
				var s []uint64
				for _, e := range es {
					s = append(s, e.Seq)
				}
				return s
			}
			got, st := queryAll(t, l, tc.f)
			if !slices.Equal(seqs(got), want) {
				t.Fatalf("Query: %v\nwant %v", seqs(got), want)
			}
			if st.Matched != int64(len(want)) || st.Unreadable != 0 {
				t.Fatalf("stats %+v", st)
			}
			var fromDir []Entry
			if _, err := QueryDir(context.Background(), dir, tc.f, func(e Entry) bool {
				fromDir = append(fromDir, e)
				return true
			}); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(seqs(fromDir), want) {
				t.Fatalf("QueryDir: %v\nwant %v", seqs(fromDir), want)
			}
		})
	}
	// Entries come back as appended.
	got, _ := queryAll(t, l, Filter{FromSeq: 8, Until: at(8)})
	want := scripted(7)
	want.Seq, want.Time, want.Prev, want.Hash = 8, at(7), got[0].Prev, got[0].Hash
	if len(got) != 1 || !entriesEqual(got[0], want) {
		t.Fatalf("entry 8: %+v\nwant %+v", got, want)
	}
	// Since skips whole segments without opening them.
	_, all := queryAll(t, l, Filter{})
	_, late := queryAll(t, l, Filter{Since: at(55)})
	if all.Segments < 10 || late.Segments > 3 {
		t.Fatalf("segments read: %d for all, %d since the end", all.Segments, late.Segments)
	}

	// yield stops the query.
	count := 0
	st, err := l.Query(context.Background(), Filter{}, func(Entry) bool { count++; return count < 3 })
	if err != nil || count != 3 || st.Matched != 3 {
		t.Fatalf("stopped query: %d, %+v, %v", count, st, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Query(ctx, Filter{}, func(Entry) bool { return true }); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled query: %v", err)
	}
}

func entriesEqual(a, b Entry) bool {
	if !a.Time.Equal(b.Time) || !a.Start.Equal(b.Start) || !a.End.Equal(b.End) || string(a.Signature) != string(b.Signature) {
		return false
	}
	a.Time, a.Start, a.End, a.Signature = time.Time{}, time.Time{}, time.Time{}, nil
	b.Time, b.Start, b.End, b.Signature = time.Time{}, time.Time{}, time.Time{}, nil
	return reflect.DeepEqual(a, b)
}

func TestTail(t *testing.T) {
	l := openLog(t, Options{SegmentSize: 1500})
	for i := range 5 {
		mustAppend(t, l, read(i))
	}
	ctx, cancel := context.WithCancel(context.Background())
	fromNow := l.Tail(ctx, 0)
	fromTwo := l.Tail(ctx, 2)
	for i := range 10 { // several rotations meanwhile
		mustAppend(t, l, read(5+i))
	}
	for seq := uint64(6); seq <= 15; seq++ {
		if e := recv(t, fromNow); e.Seq != seq || e.Points != int64(100+seq-1) {
			t.Fatalf("Tail(0): got entry %d (points %d), want %d", e.Seq, e.Points, seq)
		}
	}
	for seq := uint64(2); seq <= 15; seq++ {
		if e := recv(t, fromTwo); e.Seq != seq {
			t.Fatalf("Tail(2): got entry %d, want %d", e.Seq, seq)
		}
	}
	cancel()
	for range fromNow { // closed once ctx ends
	}

	// Close ends every tail; a Tail after Close is closed at once.
	live := l.Tail(context.Background(), 0)
	mustAppend(t, l, read(0))
	if e := recv(t, live); e.Seq != 16 {
		t.Fatalf("got %d", e.Seq)
	}
	mustClose(t, l)
	for range live {
	}
	if _, ok := <-l.Tail(context.Background(), 1); ok {
		t.Fatal("Tail after Close delivered an entry")
	}
}
