package policy

import (
	"bytes"
	"testing"
)

// fuzzBase is a state with a bit of everything, for fuzzed records to land on.
func fuzzBase(t testing.TB) State {
	return build(t, cat(
		[]Record{created(C, 1)}, member(C, "ib", beta, 2),
		[]Record{invite(C, "ig", gamma, 5), shareIn(C, stream(beta, "flow"), 6, Constraints{MinInterval: 1e9}),
			request(beta, acme, 1), acceptConn(beta, acme, AccessCatalogData, 2), shareWith(beta, stream(acme, "temp"), 3),
			grant(UserID{Tenant: beta, Name: "ana"}, C, RoleCommunityMember, 1)},
	)...)
}

// FuzzApply feeds Apply random records through their wire encoding (the
// seed corpus has one of every kind and runs with go test). Whatever the
// input: no panic; a rejected record leaves the state as it was; applying an
// accepted record again changes nothing; Apply and ApplyAll agree; and the
// decisions that follow still never allow without membership.
func FuzzApply(f *testing.F) {
	for _, r := range samples() {
		f.Add(r.SigningBytes())
	}
	for _, r := range []Record{shareWith(acme, stream(beta, "flow"), 9), grant(UserID{Tenant: beta, Name: "root"}, "", RoleTenantAdmin, 9),
		accept(C, "ig", gamma, 9), confirm(C, "ig", gamma, 10), remove(C, beta, 11), deleted(C, 12)} {
		f.Add(r.SigningBytes())
	}
	f.Add([]byte(recordMagic))
	f.Add([]byte{})
	base := fuzzBase(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseRecord(data)
		if err != nil {
			return
		}
		if !bytes.Equal(r.SigningBytes(), data) {
			t.Fatalf("encoding is not canonical")
		}
		for _, s := range []State{{}, base} {
			next, err := Apply(s, r)
			if err != nil {
				sameState(t, next, s)
				continue
			}
			again, err := Apply(next, r)
			if err != nil {
				t.Fatalf("re-applying an accepted record: %v", err)
			}
			sameState(t, again, next)
			all, _ := ApplyAll(s, []Record{r, r})
			sameState(t, all, next)
			for _, req := range []Request{
				{Requester: beta, Community: C, Stream: stream(beta, "flow"), Read: ReadSummaries, Interval: 1e9, Start: 0, End: t0, Now: t0},
				{Requester: r.Issuer, Community: r.Community, Stream: r.Stream, Read: ReadWindow, Start: 0, End: t0, Now: t0},
				{Requester: r.Tenant, Stream: r.Stream, Read: ReadCatalog, Now: t0},
			} {
				d := Authorize(next, req)
				if d.Allow && req.Community != "" && (next.MemberStatus(req.Community, req.Requester) != MemberConfirmed ||
					next.MemberStatus(req.Community, req.Stream.Owner) != MemberConfirmed) {
					t.Fatalf("%+v allowed without membership", req)
				}
			}
		}
	})
}

// FuzzParseRecord: every input either fails to parse or round-trips.
func FuzzParseRecord(f *testing.F) {
	f.Add(samples()[0].SigningBytes())
	f.Add([]byte("sluice/policy/record/v1\x00\x01\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseRecord(data)
		if err == nil && !bytes.Equal(r.SigningBytes(), data) {
			t.Fatalf("ParseRecord(%q) re-encodes differently", data)
		}
	})
}
