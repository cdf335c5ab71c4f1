package policy

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// stranger has standing in nothing: never invited, never connected.
const stranger TenantID = "stranger"

// acmeWorld is acme's state: community C with beta confirmed, gamma
// accepted but not confirmed, delta removed; acme shares s1 into C.
func acmeWorld(t testing.TB) State {
	return build(t, cat(
		[]Record{created(C, 1)},
		member(C, "ib", beta, 2),
		[]Record{invite(C, "ig", "", 5), accept(C, "ig", gamma, 6)},
		member(C, "id", delta, 7), []Record{remove(C, delta, 10)},
		[]Record{shareIn(C, stream(acme, "s1"), 11, Constraints{})},
	)...)
}

func admitOne(s State, r Record, self TenantID) (State, error) {
	s, res := Admit(s, []Record{r}, Admission{Self: self, Now: pNow})
	return s, res.Errs[0]
}

func TestAdmitStanding(t *testing.T) {
	s := acmeWorld(t)
	C3 := NewCommunityID(stranger, "c3")
	cases := []struct {
		name string
		r    Record
		want error
	}{
		{"stranger's role record", grant(UserID{Tenant: stranger, Name: "x"}, "", RoleTenantAdmin, 1<<60), ErrNoStanding},
		{"stranger's role in C", grant(UserID{Tenant: stranger, Name: "x"}, C, RoleCommunityMember, 1), ErrNoStanding},
		{"member's role in C", grant(UserID{Tenant: beta, Name: "x"}, C, RoleCommunityMember, 1), ErrNoStanding},
		{"stranger shares into C", shareIn(C, stream(stranger, "x"), 1, Constraints{}), ErrNoStanding},
		{"stranger pauses C", pauseIn(C, stranger, 1), ErrNoStanding},
		{"stranger leaves C", leave(C, stranger, 1), ErrNoStanding},
		{"stranger accepts a gossiped invitation", accept(C, "ig", stranger, 1), ErrNoStanding},
		{"member squats an invitation", accept(C, "ig", beta, 1), ErrNoStanding},
		{"stranger declines", decline(C, "ig", stranger, 1), ErrNoStanding},
		{"stranger's own community", created(C3, 1), ErrNoStanding},
		{"connection between two others", request(stranger, beta, 1), ErrNoStanding},
		{"share over a connection to another", shareWith(beta, stream(stranger, "x"), 1), ErrNoStanding},
		{"unconfirmed member shares", shareIn(C, stream(gamma, "x"), 1, Constraints{}), ErrNoStanding},
		{"removed member shares", shareIn(C, stream(delta, "x"), 1, Constraints{}), ErrNoStanding},
		{"removed member pauses", pauseIn(C, delta, 1), ErrNoStanding},
		{"far-future version", shareIn(C, stream(beta, "x"), uint64(pNow)+uint64(MaxClockSkew)+1, Constraints{}), ErrFuture},
		{"forged authority", remove(C, acme, 1), ErrNoAuthority},

		{"confirmed member shares", shareIn(C, stream(beta, "x"), 20, Constraints{}), nil},
		{"confirmed member pauses", pauseIn(C, beta, 20), nil},
		{"removed member unshares", unshareIn(C, stream(delta, "x"), 20), nil},
		{"unconfirmed member leaves", leave(C, gamma, 20), nil},
		{"connection request to acme", request(stranger, acme, 1), nil},
		{"near-future version", shareIn(C, stream(beta, "x"), uint64(pNow)+uint64(MaxClockSkew), Constraints{}), nil},
		{"acme's own other agent", grant(UserID{Tenant: acme, Name: "olivia"}, C, RoleCommunityMember, 20), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := admitOne(s, c.r, acme)
			wantErr(t, err, c.want)
			if c.want != nil {
				sameState(t, got, s)
			}
		})
	}
}

// A member learns acceptances only with the owner's confirmation, and a
// batch may carry records before the ones that give them standing.
func TestAdmitMemberView(t *testing.T) {
	// gamma's agent, after accepting: it holds its own acceptance.
	s := build(t, accept(C, "ig", gamma, 6))
	batch := []Record{
		shareIn(C, stream(beta, "b1"), 20, Constraints{}), // before beta's confirmation
		accept(C, "ib", beta, 3),                          // before the invitation and its confirmation
		confirm(C, "ib", beta, 4),
		invite(C, "ib", "", 2),
		created(C, 1),
		accept(C, "ix", stranger, 8), // never confirmed: refused
		invite(C, "ig", "", 5),
		confirm(C, "ig", gamma, 7),
	}
	got, res := Admit(s, batch, Admission{Self: gamma, Now: pNow})
	for i, err := range res.Errs {
		if want := i == 5; (err != nil) != want || want && !errors.Is(err, ErrNoStanding) {
			t.Errorf("record %d (%s): %v", i, batch[i].Kind, err)
		}
	}
	if len(res.Added) != len(batch)-1 {
		t.Errorf("added %d records, want %d", len(res.Added), len(batch)-1)
	}
	if got.MemberStatus(C, beta) != MemberConfirmed || got.MemberStatus(C, gamma) != MemberConfirmed {
		t.Errorf("beta %s, gamma %s; want both confirmed", got.MemberStatus(C, beta), got.MemberStatus(C, gamma))
	}
	if len(got.Shares(Scope{Community: C})) != 1 {
		t.Errorf("beta's share was not admitted after its confirmation")
	}
	// A tenant that takes no part in C admits none of it.
	if _, res := Admit(State{}, batch, Admission{Self: eps, Now: pNow}); len(res.Added) != 0 {
		t.Errorf("an outsider admitted %d records of C", len(res.Added))
	}
}

// Trusted admission skips standing but keeps the clock bound and the rules.
func TestAdmitTrusted(t *testing.T) {
	s := acmeWorld(t)
	a := Admission{Self: acme, Now: pNow, Trusted: true}
	_, res := Admit(s, []Record{accept(C, "ig", stranger, 12)}, a)
	if res.Errs[0] != nil || len(res.Added) != 1 {
		t.Errorf("trusted acceptance: %v, added %v", res.Errs[0], res.Added)
	}
	_, res = Admit(s, []Record{accept(C, "ig", stranger, math.MaxUint64)}, a)
	wantErr(t, res.Errs[0], ErrFuture)
}

// Verify runs only for records that would change the state.
func TestAdmitVerify(t *testing.T) {
	s := acmeWorld(t)
	var verified []int
	batch := []Record{
		grant(UserID{Tenant: stranger, Name: "x"}, "", RoleTenantAdmin, 1), // no standing
		shareIn(C, stream(acme, "s1"), 11, Constraints{}),                  // a duplicate
		shareIn(C, stream(beta, "x"), 20, Constraints{}),                   // new
		pauseIn(C, beta, 21), // new, signature bad
	}
	badSig := errors.New("bad signature")
	got, res := Admit(s, batch, Admission{Self: acme, Now: pNow, Verify: func(i int) error {
		verified = append(verified, i)
		if i == 3 {
			return badSig
		}
		return nil
	}})
	if fmt.Sprint(verified) != "[2 3]" {
		t.Errorf("verified %v, want [2 3]", verified)
	}
	if !errors.Is(res.Errs[3], badSig) || got.Paused(Scope{Community: C}, beta) {
		t.Errorf("a record that failed Verify was applied: %v", res.Errs[3])
	}
}

// The property the handshake rests on: whatever records tenants other than
// the owner sign — members and strangers, any kinds, any versions, before
// and after — the owner's latest pause and unshare hold, and so do the
// decisions built on them.
func TestPropertyOwnerPauseAndUnshareHold(t *testing.T) {
	for seed := range uint64(300) {
		g := gen{rng: rand.New(rand.NewPCG(seed, 7))}
		now := pNow
		s := acmeWorld(t)
		s = build(t, shareIn(C, stream(acme, "s2"), 12, Constraints{}))
		foreign := func(n int) []Record {
			var out []Record
			for range n {
				r := g.record()
				if r.Issuer == acme || g.rng.IntN(4) == 0 {
					r.Issuer = []TenantID{beta, gamma, delta, stranger}[g.rng.IntN(4)]
				}
				switch g.rng.IntN(4) {
				case 0:
					r.Version = math.MaxUint64 - g.rng.Uint64N(3)
				case 1:
					r.Version = uint64(now) + uint64(g.rng.Int64N(int64(2*MaxClockSkew)))
				}
				out = append(out, r)
			}
			return out
		}
		a := Admission{Self: acme, Now: now}
		s, _ = Admit(s, foreign(60), a)
		v := s.NextVersion(acme, now)
		if v == 0 {
			t.Fatalf("seed %d: the owner's clock was exhausted by foreign records", seed)
		}
		ownPause := pauseIn(C, acme, v)
		s, err := Apply(s, ownPause)
		if err != nil {
			t.Fatalf("seed %d: own pause: %v", seed, err)
		}
		unshare := unshareIn(C, stream(acme, "s2"), s.NextVersion(acme, now))
		if unshare.Version <= ownPause.Version {
			t.Fatalf("seed %d: clock did not advance: %d after %d", seed, unshare.Version, ownPause.Version)
		}
		if s, err = Apply(s, unshare); err != nil {
			t.Fatalf("seed %d: own unshare: %v", seed, err)
		}
		s, _ = Admit(s, foreign(60), a)
		if !s.Paused(Scope{Community: C}, acme) {
			t.Fatalf("seed %d: the owner's pause was undone by foreign records", seed)
		}
		if _, shared := s.share(Scope{Community: C}, stream(acme, "s2")); shared {
			t.Fatalf("seed %d: the owner's unshare was undone by foreign records", seed)
		}
		for _, st := range []string{"s1", "s2"} {
			d := Authorize(s, Request{Requester: beta, Community: C, Stream: stream(acme, st), Read: ReadWindow, Start: t0, End: now, Now: now})
			if d.Allow {
				t.Fatalf("seed %d: beta reads %s after the pause: %+v", seed, st, d)
			}
		}
	}
}

// BenchmarkAdmitFlood is the cost of refusing records from a tenant with
// no standing (what a stranger's 20,000-record POST costs the owner), and
// of admitting a confirmed member's 20,000 shares in one batch.
func BenchmarkAdmitFlood(b *testing.B) {
	const n = 20000
	base := acmeWorld(b)
	junk := make([]Record, n)
	shares := make([]Record, n)
	for i := range junk {
		junk[i] = grant(UserID{Tenant: stranger, Name: fmt.Sprintf("u%d", i)}, "", RoleTenantAdmin, math.MaxUint64)
		shares[i] = shareIn(C, stream(beta, fmt.Sprintf("s%d", i)), uint64(20+i), Constraints{})
	}
	a := Admission{Self: acme, Now: pNow}
	for _, c := range []struct {
		name string
		recs []Record
	}{{"stranger", junk}, {"member", shares}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				Admit(base, c.recs, a)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
		})
	}
}
