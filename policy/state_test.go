package policy

import (
	"math"
	"testing"
)

func TestApplyMerge(t *testing.T) {
	flow := stream(beta, "flow")
	shared := shareIn(C, flow, 5, Constraints{})
	unshared := unshareIn(C, flow, 6)
	acc := accept(C, "i", beta, 5)
	accLater := accept(C, "i", beta, 7)
	accLater.Time++
	sameVersionA, sameVersionB := pauseIn(C, beta, 9), resumeIn(C, beta, 9)

	for _, c := range []struct {
		name    string
		records []Record
		want    []Record // the records the state must hold
		err     error    // of the last Apply
	}{
		{"duplicate", []Record{shared, shared}, []Record{shared}, nil},
		{"newer replaces", []Record{shared, unshared}, []Record{unshared}, nil},
		{"older is stale, not an error", []Record{unshared, shared}, []Record{unshared}, nil},
		{"write once: a later statement conflicts", []Record{acc, accLater}, []Record{acc}, ErrConflict},
		{"write once: the first stands though it comes late", []Record{accLater, acc}, []Record{acc}, nil},
		{"equal versions: bytes decide, order does not (1)", []Record{sameVersionA, sameVersionB}, []Record{sameVersionB}, nil},
		{"equal versions: bytes decide, order does not (2)", []Record{sameVersionB, sameVersionA}, []Record{sameVersionB}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := build(t, c.records[:len(c.records)-1]...)
			before := s.Records()
			got, err := Apply(s, c.records[len(c.records)-1])
			wantErr(t, err, c.err)
			sameState(t, got, build(t, c.want...))
			sameState(t, s, build(t, c.records[:len(c.records)-1]...)) // the argument is untouched
			if len(s.Records()) != len(before) {
				t.Fatal("Apply changed its argument")
			}
		})
	}
}

func TestCompareRecordsTieBreak(t *testing.T) {
	a, b := pauseIn(C, beta, 3), pauseIn(C, beta, 3)
	b.Issuer = gamma
	if compareRecords(a, b) >= 0 || compareRecords(b, a) <= 0 || compareRecords(a, a) != 0 {
		t.Error("issuer does not break version ties")
	}
}

func TestDeleteEndsEverything(t *testing.T) {
	u, v := UserID{Tenant: beta, Name: "ana"}, UserID{Tenant: beta, Name: "bo"}
	live := cat(
		[]Record{created(C, 1)}, member(C, "i", beta, 2),
		[]Record{shareIn(C, stream(beta, "flow"), 6, Constraints{}), grant(u, C, RoleCommunityMember, 7),
			grant(v, "", RoleCommunityMember, 8), request(beta, acme, 9), created(C2, 10)},
	)
	s := build(t, live...)
	s = build(t, append(live, deleted(C, 20))...)
	if got := s.Len(); got != 4 { // tombstone, tenant-wide role, request, C2
		t.Errorf("Len after delete = %d, want 4", got)
	}
	if got := s.Members(C); len(got) != 0 {
		t.Errorf("members after delete: %v", got)
	}
	if CanUser(s, u, ActionRead, C) {
		t.Error("community role survived deletion")
	}
	if !CanUser(s, v, ActionRead, C) {
		t.Error("tenant-wide role lost with a community")
	}
	for _, r := range live[:8] {
		if _, err := Apply(s, r); r.Community == C && err == nil {
			t.Errorf("%s accepted into a deleted community", r.Kind)
		} else if r.Community == C {
			wantErr(t, err, ErrDeleted)
		}
	}
	// A newer deletion replaces the tombstone; an older one is stale.
	s2, err := Apply(s, deleted(C, 30))
	wantErr(t, err, nil)
	if info, _ := s2.Community(C); info.Version != 30 || !info.Deleted {
		t.Errorf("tombstone = %+v", info)
	}
	s3, err := Apply(s2, deleted(C, 25))
	wantErr(t, err, nil)
	sameState(t, s3, s2)
	// Deletion first, then the rest: the same state.
	first, _ := ApplyAll(State{}, append([]Record{deleted(C, 20)}, live...))
	sameState(t, first, s)
}

func TestApplyAll(t *testing.T) {
	records := cat(samples()[:1], member(C, "i", beta, 2), []Record{
		accept(C, "i", beta, 9),            // conflicts with the first acceptance
		remove(C, acme, 10),                // no authority
		unshareIn(C, stream(beta, "f"), 1), // fine
		request(beta, acme, 1),
	})
	got, errs := ApplyAll(State{}, records)
	var want State
	for i, r := range records {
		var err error
		want, err = Apply(want, r)
		if (err == nil) != (errs[i] == nil) {
			t.Errorf("record %d: ApplyAll err %v, Apply err %v", i, errs[i], err)
		}
	}
	sameState(t, got, want)
	wantErr(t, errs[4], ErrConflict)
	wantErr(t, errs[5], ErrNoAuthority)
	// The input state is not changed by ApplyAll either.
	base := build(t, created(C, 1))
	ApplyAll(base, records[1:])
	if base.Len() != 1 {
		t.Error("ApplyAll changed its argument")
	}
}

func TestNextVersionAndLen(t *testing.T) {
	var s State
	if s.NextVersion(acme, 5) != 5 || s.Len() != 0 || len(s.Records()) != 0 {
		t.Error("zero State is not empty, or its clock is not the wall clock")
	}
	s = build(t, created(C, 41), request(beta, acme, 7))
	if s.NextVersion(acme, 5) != 42 || s.Len() != 2 {
		t.Errorf("NextVersion = %d, Len = %d", s.NextVersion(acme, 5), s.Len())
	}
	if s.NextVersion(acme, 100) != 100 {
		t.Errorf("NextVersion does not follow the wall clock: %d", s.NextVersion(acme, 100))
	}
	// Another tenant's version moves the clock at most MaxClockSkew/2 past now.
	skew := uint64(MaxClockSkew / 2)
	s = build(t, request(beta, acme, math.MaxUint64-1))
	if got := s.NextVersion(acme, 100); got != 100+skew+1 {
		t.Errorf("a foreign version moved the clock to %d, want %d", got, 100+skew+1)
	}
	// One's own exhausted clock is reported, not wrapped.
	s = build(t, created(C, math.MaxUint64))
	if got := s.NextVersion(acme, 100); got != 0 {
		t.Errorf("exhausted own clock: NextVersion = %d, want 0", got)
	}
}
