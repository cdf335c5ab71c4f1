package policy

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The property tests draw random record sequences from a small universe, so
// that records collide on keys, arrive before their prerequisites, conflict
// and come from tenants without authority.
var (
	pTenants     = []TenantID{acme, beta, gamma, delta}
	pCommunities = []CommunityID{C, C2}
	pInvitations = []string{"i1", "i2", "i3"}
	pStreams     = []string{"s1", "s2"}
	pNow         = t0 + 10*day
)

type gen struct{ rng *rand.Rand }

func (g gen) tenant() TenantID       { return pTenants[g.rng.IntN(len(pTenants))] }
func (g gen) community() CommunityID { return pCommunities[g.rng.IntN(len(pCommunities))] }
func (g gen) other(t TenantID) TenantID {
	for {
		if o := g.tenant(); o != t {
			return o
		}
	}
}

// record returns a random record, valid most of the time; about one in
// eight has a random issuer, so it may lack authority.
func (g gen) record() Record {
	r := Record{
		Kind:       Kind(1 + g.rng.IntN(int(KindConnectionRejected))),
		Version:    1 + g.rng.Uint64N(12),
		Time:       t0 + g.rng.Int64N(3)*day,
		Community:  g.community(),
		Invitation: pInvitations[g.rng.IntN(len(pInvitations))],
	}
	owner := r.Community.Owner()
	r.Issuer = owner
	switch r.Kind {
	case KindCommunityCreated:
		r.Invitation, r.Name = "", fmt.Sprintf("name %d", g.rng.IntN(2))
	case KindCommunityDeleted:
		r.Invitation = ""
	case KindMemberLeft:
		r.Invitation, r.Issuer = "", g.other(owner)
	case KindInvitationIssued:
		r.Time, r.Email, r.Expires = t0, "ops@partner.example", g.expiry()
		if g.rng.IntN(3) == 0 {
			r.Tenant = g.other(owner)
		}
	case KindInvitationRevoked:
	case KindInvitationAccepted:
		r.Issuer, r.Expires = g.other(owner), g.expiry()
		r.Time = t0 + g.rng.Int64N(r.Expires-t0)
	case KindInvitationDeclined:
		r.Issuer = g.other(owner)
	case KindMemberConfirmed:
		r.Tenant = g.other(owner)
	case KindMemberRemoved:
		r.Invitation, r.Tenant = "", g.other(owner)
	case KindStreamShared, KindStreamUnshared, KindSharingPaused, KindSharingResumed:
		r.Invitation, r.Issuer = "", g.tenant()
		if g.rng.IntN(3) == 0 {
			r.Community, r.Tenant = "", g.other(r.Issuer)
		}
		if r.Kind == KindStreamShared || r.Kind == KindStreamUnshared {
			r.Stream = StreamRef{Owner: r.Issuer, Name: pStreams[g.rng.IntN(len(pStreams))]}
		}
		if r.Kind == KindStreamShared && g.rng.IntN(2) == 0 {
			r.Constraints = Constraints{NotBefore: t0 + g.rng.Int64N(3)*day, MinInterval: time.Duration(g.rng.IntN(2)) * time.Hour,
				Expires: []int64{0, pNow - day, pNow + day}[g.rng.IntN(3)]}
		}
	case KindRoleGranted, KindRoleRevoked:
		r.Invitation, r.Issuer = "", g.tenant()
		r.User, r.Role = UserID{Tenant: r.Issuer, Name: "u"}, Role(1+g.rng.IntN(3))
	default: // connections
		r.Invitation, r.Community, r.Issuer = "", "", g.tenant()
		r.Tenant, r.Comment = g.other(r.Issuer), "why"
		if r.Kind == KindConnectionAccepted {
			r.Access = Access(1 + g.rng.IntN(2))
		}
		if r.Kind == KindConnectionCancelled {
			r.Comment = ""
		}
	}
	if g.rng.IntN(8) == 0 {
		r.Issuer = g.tenant() // may lack authority now
	}
	return r
}

// expiry is one of two invitation expiries, so acceptances often repeat
// their invitation's expiry and sometimes do not.
func (g gen) expiry() int64 { return t0 + []int64{ttl, 2 * day}[g.rng.IntN(2)] }

// records returns about n random records. One draw in five is a whole
// handshake (created, invited, accepted, confirmed) so that memberships
// form, and deletions are rare so that communities live.
func (g gen) records(n int) []Record {
	var out []Record
	for len(out) < n {
		r := g.record()
		switch {
		case g.rng.IntN(5) == 0:
			c, id, v := g.community(), pInvitations[g.rng.IntN(len(pInvitations))], 1+g.rng.Uint64N(10)
			t := g.other(c.Owner())
			out = append(out, created(c, v), invite(c, id, "", v), accept(c, id, t, v+1), confirm(c, id, t, v+2))
		case r.Kind != KindCommunityDeleted || g.rng.IntN(4) == 0:
			out = append(out, r)
		}
	}
	return out
}

// shuffled returns records in a random order, some of them twice.
func (g gen) shuffled(records []Record) []Record {
	out := append([]Record(nil), records...)
	for _, r := range records {
		if g.rng.IntN(3) == 0 {
			out = append(out, r)
		}
	}
	g.rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// grid is a set of requests covering every tenant, scope, stream and read.
func grid() []Request {
	var out []Request
	for _, req := range pTenants {
		for _, c := range []CommunityID{C, C2, ""} {
			for _, owner := range pTenants {
				for _, name := range pStreams {
					for _, read := range []Request{
						{Read: ReadWindow, Start: t0 - day, End: pNow},
						{Read: ReadSummaries, Interval: time.Hour, Start: t0, End: pNow + day},
						{Read: ReadCatalog},
					} {
						read.Requester, read.Community, read.Stream, read.Now = req, c, StreamRef{Owner: owner, Name: name}, pNow
						out = append(out, read)
					}
				}
			}
		}
	}
	return out
}

// fingerprint renders every derived view of s, so that two states can be
// compared by what they mean as well as by their records.
func fingerprint(s State) string {
	var b strings.Builder
	fmt.Fprintln(&b, s.Communities())
	for _, c := range pCommunities {
		fmt.Fprintln(&b, s.Members(c), s.Invitations(c, pNow), s.Shares(Scope{Community: c}))
	}
	for _, t := range pTenants {
		fmt.Fprintf(&b, "%+v %v %v\n", s.Connections(t), s.Assignments(UserID{Tenant: t, Name: "u"}), s.Shares(Scope{Reader: t}))
		for _, c := range []CommunityID{C, C2, ""} {
			for _, o := range pTenants {
				shares, d := Catalog(s, CatalogRequest{Requester: t, Community: c, Owner: o, Now: pNow})
				fmt.Fprintln(&b, shares, d, s.Paused(Scope{Community: c}, o), s.Paused(Scope{Reader: t}, o))
			}
		}
	}
	for _, req := range grid() {
		fmt.Fprintln(&b, Authorize(s, req))
	}
	return b.String()
}

const propertyRuns = 100

func TestPropertyOrderAndDuplicatesDoNotMatter(t *testing.T) {
	for seed := range uint64(propertyRuns) {
		g := gen{rand.New(rand.NewPCG(seed, 1))}
		records := g.records(10 + g.rng.IntN(50))
		want, _ := ApplyAll(State{}, records)
		var got State
		for _, r := range g.shuffled(records) {
			got, _ = Apply(got, r)
		}
		sameState(t, got, want)
		if fingerprint(got) != fingerprint(want) {
			t.Fatalf("seed %d: same records, different views", seed)
		}
	}
}

// TestPropertyNoAuthorityNoChange forges every record whose authority is
// fixed by its content (the community owner, the stream's tenant, the
// user's tenant) with each other issuer: none may change the state. Records
// whose issuer is part of the key (responses, leaves, pauses, connections)
// cannot be forged this way: another issuer makes another statement, about
// itself.
func TestPropertyNoAuthorityNoChange(t *testing.T) {
	for seed := range uint64(propertyRuns) {
		g := gen{rand.New(rand.NewPCG(seed, 2))}
		s, _ := ApplyAll(State{}, g.records(40))
		before := s.Records() // a copy: catches Apply writing into its argument
		for _, r := range g.records(40) {
			authority := map[Kind]TenantID{
				KindCommunityCreated: r.Community.Owner(), KindCommunityDeleted: r.Community.Owner(),
				KindInvitationIssued: r.Community.Owner(), KindInvitationRevoked: r.Community.Owner(),
				KindMemberConfirmed: r.Community.Owner(), KindMemberRemoved: r.Community.Owner(),
				KindStreamShared: r.Stream.Owner, KindStreamUnshared: r.Stream.Owner,
				KindRoleGranted: r.User.Tenant, KindRoleRevoked: r.User.Tenant,
			}[r.Kind]
			if authority == "" {
				continue
			}
			for _, forger := range append(pTenants, "zeta") {
				if forger == authority {
					continue
				}
				r.Issuer = forger
				got, err := Apply(s, r)
				if err == nil {
					t.Fatalf("seed %d: forged %s by %s accepted", seed, r.Kind, forger)
				}
				if !errors.Is(err, ErrNoAuthority) {
					t.Fatalf("seed %d: forged %s: %v", seed, r.Kind, err)
				}
				sameState(t, got, s)
			}
		}
		if !reflect.DeepEqual(s.Records(), before) {
			t.Fatalf("seed %d: state changed", seed)
		}
	}
}

// TestPropertyAllowNeedsEverything checks every allowed decision against
// the records themselves: both tenants confirmed members (or an accepted
// connection), a share whose latest record shares, no pause, and a range
// inside the request.
func TestPropertyAllowNeedsEverything(t *testing.T) {
	allowed := 0
	for seed := range uint64(propertyRuns) {
		g := gen{rand.New(rand.NewPCG(seed, 3))}
		// Bias towards working communities so that allows happen.
		records := cat([]Record{created(C, 1), created(C2, 1)}, member(C, "m1", beta, 2), member(C, "m2", gamma, 2),
			member(C2, "m3", acme, 2), []Record{
				shareIn(C, stream(acme, "s1"), 1, Constraints{}), shareIn(C, stream(beta, "s1"), 1, Constraints{}),
				shareIn(C, stream(gamma, "s2"), 1, Constraints{MinInterval: time.Hour}), shareIn(C2, stream(acme, "s2"), 1, Constraints{}),
				request(delta, acme, 1), acceptConn(delta, acme, AccessCatalogData, 2), shareWith(delta, stream(acme, "s1"), 1),
			}, g.records(30))
		s, _ := ApplyAll(State{}, records)
		all := s.Records()
		for _, req := range grid() {
			d := Authorize(s, req)
			if !d.Allow {
				continue
			}
			allowed++
			sc := Scope{Community: req.Community}
			if sc.Community == "" {
				sc.Reader = req.Requester
				c := s.Connection(req.Requester, req.Stream.Owner)
				if c.Status != ConnectionAccepted || req.Read != ReadCatalog && c.Access != AccessCatalogData {
					t.Fatalf("seed %d: %+v allowed over %+v", seed, req, c)
				}
			} else {
				for _, m := range []TenantID{req.Requester, req.Stream.Owner} {
					if !confirmedInRecords(all, req.Community, m) {
						t.Fatalf("seed %d: %+v allowed, %s not confirmed", seed, req, m)
					}
				}
			}
			sh, ok := s.get(key{slot: slotShare, community: sc.Community, peer: sc.Reader, stream: req.Stream})
			p, paused := s.get(key{slot: slotPause, community: sc.Community, peer: sc.Reader, tenant: req.Stream.Owner})
			if !ok || sh.Kind != KindStreamShared || paused && p.Kind == KindSharingPaused {
				t.Fatalf("seed %d: %+v allowed: share %+v pause %+v", seed, req, sh, p)
			}
			if req.Read != ReadCatalog && (d.Start < req.Start || d.End > req.End || d.Start >= d.End) {
				t.Fatalf("seed %d: %+v allowed [%d, %d)", seed, req, d.Start, d.End)
			}
			checkNextDecision(t, s, req)
		}
	}
	if allowed < 1000 {
		t.Fatalf("only %d allowed decisions: the generator no longer exercises the rules", allowed)
	}
}

// confirmedInRecords re-derives confirmed membership the long way, straight
// from the records: the owner of a created community, or a tenant with an
// acceptance and a confirmation of one invitation, newer than any exit.
func confirmedInRecords(all []Record, c CommunityID, t TenantID) bool {
	var created, deleted bool
	var join, exit uint64
	for _, r := range all {
		switch {
		case r.Community != c:
		case r.Kind == KindCommunityCreated:
			created = true
		case r.Kind == KindCommunityDeleted:
			deleted = true
		case r.Kind == KindMemberConfirmed && r.Tenant == t:
			for _, a := range all {
				if a.Kind == KindInvitationAccepted && a.Community == c && a.Invitation == r.Invitation && a.Issuer == t {
					join = max(join, r.Version)
				}
			}
		case (r.Kind == KindMemberRemoved && r.Tenant == t) || (r.Kind == KindMemberLeft && r.Issuer == t):
			exit = max(exit, r.Version)
		}
	}
	return created && !deleted && (t == c.Owner() || join > exit)
}

// checkNextDecision: an unshare, a pause or a removal applied now denies
// the very next decision, with its own reason.
func checkNextDecision(t *testing.T, s State, req Request) {
	t.Helper()
	owner := req.Stream.Owner
	v := s.NextVersion(owner, pNow)
	changes := []struct {
		r    Record
		want Reason
	}{
		{Record{Kind: KindStreamUnshared, Issuer: owner, Version: v, Time: pNow, Community: req.Community, Stream: req.Stream}, ReasonNotShared},
		{Record{Kind: KindSharingPaused, Issuer: owner, Version: v, Time: pNow, Community: req.Community}, ReasonPaused},
	}
	if req.Community == "" {
		changes[0].r.Tenant, changes[1].r.Tenant = req.Requester, req.Requester
		changes = append(changes, struct {
			r    Record
			want Reason
		}{rejectConn(req.Requester, owner, v), ReasonNoConnection})
	} else if req.Requester != req.Community.Owner() {
		changes = append(changes, struct {
			r    Record
			want Reason
		}{remove(req.Community, req.Requester, v), ReasonRemoved})
	}
	for _, c := range changes {
		next, err := Apply(s, c.r)
		if err != nil {
			t.Fatalf("%s: %v", c.r.Kind, err)
		}
		if d := Authorize(next, req); d.Allow || d.Reason != c.want {
			t.Fatalf("after %s: %+v, want %s", c.r.Kind, d, c.want)
		}
	}
}
