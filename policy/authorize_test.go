package policy

import (
	"math"
	"reflect"
	"testing"
	"time"
)

// world is a community C owned by acme with partners in every standing,
// shares with every constraint, and connections to acme.
func world(t testing.TB) State {
	temp, window, old, coarse, gone := stream(acme, "temp"), stream(acme, "window"), stream(acme, "old"), stream(acme, "coarse"), stream(acme, "gone")
	return build(t, cat(
		[]Record{created(C, 1)},
		member(C, "ib", beta, 2),
		[]Record{invite(C, "ig", "", 5), accept(C, "ig", gamma, 6)}, // gamma: accepted only
		member(C, "id", delta, 7),
		[]Record{shareIn(C, stream(delta, "vib"), 10, Constraints{}), remove(C, delta, 11)}, // delta: removed
		member(C, "ie", eps, 12),
		[]Record{leave(C, eps, 15)}, // eps: left
		[]Record{
			shareIn(C, temp, 20, Constraints{}),
			shareIn(C, window, 20, Constraints{NotBefore: t0, Lookback: 10 * time.Duration(day)}),
			shareIn(C, old, 20, Constraints{Expires: t0 + 5*day}),
			shareIn(C, coarse, 20, Constraints{MinInterval: time.Hour}),
			shareIn(C, gone, 21, Constraints{}), unshareIn(C, gone, 22),
			shareIn(C, stream(beta, "flow"), 23, Constraints{}),
			pauseIn(C, beta, 30), pauseIn(C, acme, 31), resumeIn(C, acme, 32),
			created(C2, 33), deleted(C2, 34),
		},
		// Connections to acme: eps catalog+data, delta catalog, gamma pending,
		// beta catalog+data but paused by acme.
		[]Record{
			request(eps, acme, 40), acceptConn(eps, acme, AccessCatalogData, 41), shareWith(eps, temp, 42),
			request(delta, acme, 40), acceptConn(delta, acme, AccessCatalog, 41), shareWith(delta, temp, 42),
			request(gamma, acme, 40), shareWith(gamma, temp, 42),
			request(beta, acme, 40), acceptConn(beta, acme, AccessCatalogData, 41), shareWith(beta, temp, 42),
			{Kind: KindSharingPaused, Issuer: acme, Version: 43, Time: t0, Tenant: beta},
		},
	)...)
}

func TestAuthorize(t *testing.T) {
	s := world(t)
	base := Request{Requester: beta, Community: C, Stream: stream(acme, "temp"), Read: ReadWindow,
		Start: t0, End: t0 + day, Now: t0 + 6*day}
	for _, c := range []struct {
		name       string
		change     func(*Request)
		want       Reason
		start, end int64 // on allow
	}{
		{"allowed", nil, ReasonAllowed, t0, t0 + day},
		{"allowed with user and roles", func(r *Request) {
			r.User, r.Roles = UserID{Tenant: beta, Name: "ana"}, NewRoleSet(RoleCommunityMember)
		}, ReasonAllowed, t0, t0 + day},
		{"a reader reads", func(r *Request) {
			r.User, r.Roles = UserID{Tenant: beta, Name: "grafana"}, NewRoleSet(RoleReader)
		}, ReasonAllowed, t0, t0 + day},
		{"latest", func(r *Request) { r.Read = ReadLatest }, ReasonAllowed, t0, t0 + day},
		{"interpolated", func(r *Request) { r.Read = ReadInterpolated }, ReasonAllowed, t0, t0 + day},
		{"summaries", func(r *Request) { r.Read, r.Interval = ReadSummaries, time.Second }, ReasonAllowed, t0, t0 + day},
		{"catalog ignores the range", func(r *Request) { r.Read, r.Start, r.End = ReadCatalog, 0, 0 }, ReasonAllowed, 0, 0},
		{"the owner reads through its community", func(r *Request) { r.Requester = acme }, ReasonAllowed, t0, t0 + day},

		{"bad requester", func(r *Request) { r.Requester = "" }, ReasonBadRequest, 0, 0},
		{"bad user", func(r *Request) { r.User = UserID{Tenant: beta} }, ReasonBadRequest, 0, 0},
		{"bad roles", func(r *Request) { r.Roles = 1 << 6 }, ReasonBadRequest, 0, 0},
		{"bad community", func(r *Request) { r.Community = "c1" }, ReasonBadRequest, 0, 0},
		{"bad stream", func(r *Request) { r.Stream.Name = "" }, ReasonBadRequest, 0, 0},
		{"no read kind", func(r *Request) { r.Read = 0 }, ReasonBadRequest, 0, 0},
		{"unknown read kind", func(r *Request) { r.Read = 6 }, ReasonBadRequest, 0, 0},
		{"summaries without interval", func(r *Request) { r.Read = ReadSummaries }, ReasonBadRequest, 0, 0},
		{"empty range", func(r *Request) { r.End = r.Start }, ReasonBadRequest, 0, 0},
		{"no now", func(r *Request) { r.Now = 0 }, ReasonBadRequest, 0, 0},

		{"user of another tenant", func(r *Request) { r.User = UserID{Tenant: acme, Name: "ana"} }, ReasonUserMismatch, 0, 0},
		{"steward without member role", func(r *Request) { r.Roles = NewRoleSet(RoleDataSteward) }, ReasonRoleForbids, 0, 0},
		{"ingest does not read", func(r *Request) { r.Roles = NewRoleSet(RoleIngest) }, ReasonRoleForbids, 0, 0},
		{"unknown community", func(r *Request) { r.Community = NewCommunityID(delta, "zz") }, ReasonUnknownCommunity, 0, 0},
		{"deleted community", func(r *Request) { r.Community = C2 }, ReasonCommunityDeleted, 0, 0},
		{"stranger", func(r *Request) { r.Requester = "zeta" }, ReasonNotMember, 0, 0},
		{"accepted, not confirmed", func(r *Request) { r.Requester = gamma }, ReasonNotConfirmed, 0, 0},
		{"removed", func(r *Request) { r.Requester = delta }, ReasonRemoved, 0, 0},
		{"left", func(r *Request) { r.Requester = eps }, ReasonLeft, 0, 0},
		{"stream of a removed member", func(r *Request) { r.Stream = stream(delta, "vib") }, ReasonOwnerNotMember, 0, 0},
		{"never shared", func(r *Request) { r.Stream = stream(acme, "never") }, ReasonNotShared, 0, 0},
		{"unshared, history too", func(r *Request) { r.Stream, r.Start = stream(acme, "gone"), 0 }, ReasonNotShared, 0, 0},
		{"paused", func(r *Request) { r.Requester, r.Stream = acme, stream(beta, "flow") }, ReasonPaused, 0, 0},
		{"paused, catalog too", func(r *Request) { r.Requester, r.Stream, r.Read = acme, stream(beta, "flow"), ReadCatalog }, ReasonPaused, 0, 0},
		{"expired", func(r *Request) { r.Stream = stream(acme, "old") }, ReasonExpired, 0, 0},
		{"expired, catalog too", func(r *Request) { r.Stream, r.Read = stream(acme, "old"), ReadCatalog }, ReasonExpired, 0, 0},
		{"before expiry, clipped to it", func(r *Request) { r.Stream, r.Now, r.End = stream(acme, "old"), t0+day, t0+10*day }, ReasonAllowed, t0, t0 + 5*day},
		{"raw read of a coarse share", func(r *Request) { r.Stream = stream(acme, "coarse") }, ReasonResolutionTooFine, 0, 0},
		{"latest of a coarse share", func(r *Request) { r.Stream, r.Read = stream(acme, "coarse"), ReadLatest }, ReasonResolutionTooFine, 0, 0},
		{"interpolated of a coarse share", func(r *Request) {
			r.Stream, r.Read, r.Interval = stream(acme, "coarse"), ReadInterpolated, time.Hour
		}, ReasonResolutionTooFine, 0, 0},
		{"summaries finer than allowed", func(r *Request) {
			r.Stream, r.Read, r.Interval = stream(acme, "coarse"), ReadSummaries, time.Minute
		}, ReasonResolutionTooFine, 0, 0},
		{"summaries at the minimum", func(r *Request) {
			r.Stream, r.Read, r.Interval = stream(acme, "coarse"), ReadSummaries, time.Hour
		}, ReasonAllowed, t0, t0 + day},
		{"catalog of a coarse share", func(r *Request) { r.Stream, r.Read = stream(acme, "coarse"), ReadCatalog }, ReasonAllowed, 0, 0},
		{"before not-before", func(r *Request) { r.Stream, r.Start, r.End = stream(acme, "window"), t0-2*day, t0-day }, ReasonOutsideWindow, 0, 0},
		{"clipped to not-before", func(r *Request) { r.Stream, r.Start = stream(acme, "window"), t0-day }, ReasonAllowed, t0, t0 + day},
		{"older than the lookback", func(r *Request) { r.Stream, r.Now = stream(acme, "window"), t0+20*day }, ReasonOutsideWindow, 0, 0},
		{"clipped to the lookback", func(r *Request) {
			r.Stream, r.Now, r.End = stream(acme, "window"), t0+20*day, math.MaxInt64
		}, ReasonAllowed, t0 + 10*day, math.MaxInt64},

		{"connection, catalog+data", func(r *Request) { r.Requester, r.Community = eps, "" }, ReasonAllowed, t0, t0 + day},
		{"connection, catalog only", func(r *Request) { r.Requester, r.Community = delta, "" }, ReasonCatalogOnly, 0, 0},
		{"connection, catalog only, catalog", func(r *Request) { r.Requester, r.Community, r.Read = delta, "", ReadCatalog }, ReasonAllowed, 0, 0},
		{"connection pending", func(r *Request) { r.Requester, r.Community = gamma, "" }, ReasonNoConnection, 0, 0},
		{"no connection", func(r *Request) { r.Requester, r.Community = "zeta", "" }, ReasonNoConnection, 0, 0},
		{"connection paused", func(r *Request) { r.Requester, r.Community = beta, "" }, ReasonPaused, 0, 0},
		{"not shared with the connection", func(r *Request) { r.Requester, r.Community, r.Stream = eps, "", stream(acme, "window") }, ReasonNotShared, 0, 0},
		{"connection role check", func(r *Request) { r.Requester, r.Community, r.Roles = eps, "", NewRoleSet(RoleCommunityAdmin) }, ReasonRoleForbids, 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := base
			if c.change != nil {
				c.change(&req)
			}
			d := Authorize(s, req)
			if d.Reason != c.want || d.Allow != (c.want == ReasonAllowed) {
				t.Fatalf("Authorize = %+v, want %s", d, c.want)
			}
			if d.Start != c.start || d.End != c.end {
				t.Errorf("range [%d, %d), want [%d, %d)", d.Start, d.End, c.start, c.end)
			}
			if d.Allow && d.Share.Stream != req.Stream {
				t.Errorf("share %+v", d.Share)
			}
		})
	}
}

func TestWindow(t *testing.T) {
	for _, c := range []struct {
		c      Constraints
		now    int64
		lo, hi int64
	}{
		{Constraints{}, t0, math.MinInt64, math.MaxInt64},
		{Constraints{NotBefore: t0}, t0, t0, math.MaxInt64},
		{Constraints{Lookback: time.Hour}, t0, t0 - int64(time.Hour), math.MaxInt64},
		{Constraints{NotBefore: t0, Lookback: time.Hour}, t0 + day, t0 + day - int64(time.Hour), math.MaxInt64},
		{Constraints{Lookback: time.Hour}, math.MinInt64 + 5, math.MinInt64, math.MaxInt64}, // saturates
		{Constraints{Expires: t0}, 0, math.MinInt64, t0},
	} {
		if lo, hi := c.c.Window(c.now); lo != c.lo || hi != c.hi {
			t.Errorf("%+v.Window(%d) = [%d, %d), want [%d, %d)", c.c, c.now, lo, hi, c.lo, c.hi)
		}
	}
}

func TestCatalog(t *testing.T) {
	s := world(t)
	now := t0 + 6*day
	names := func(shares []Share) (out []string) {
		for _, sh := range shares {
			out = append(out, string(sh.Stream.Owner)+"/"+sh.Stream.Name)
		}
		return out
	}
	for _, c := range []struct {
		name   string
		req    CatalogRequest
		want   []string
		reason Reason
	}{
		{"member", CatalogRequest{Requester: beta, Community: C, Now: now}, []string{"acme/coarse", "acme/temp", "acme/window"}, ReasonAllowed},
		{"before acme/old expires", CatalogRequest{Requester: beta, Community: C, Now: t0}, []string{"acme/coarse", "acme/old", "acme/temp", "acme/window"}, ReasonAllowed},
		{"filtered by owner", CatalogRequest{Requester: acme, Community: C, Owner: beta, Now: now}, nil, ReasonAllowed},
		{"not confirmed", CatalogRequest{Requester: gamma, Community: C, Now: now}, nil, ReasonNotConfirmed},
		{"bad request", CatalogRequest{Community: C, Now: now}, nil, ReasonBadRequest},
		{"bad owner filter", CatalogRequest{Requester: beta, Community: C, Owner: "a b", Now: now}, nil, ReasonBadRequest},
		{"bad user", CatalogRequest{Requester: beta, Community: C, User: UserID{Name: "x"}, Now: now}, nil, ReasonBadRequest},
		{"bad roles", CatalogRequest{Requester: beta, Community: C, Roles: 1 << 6, Now: now}, nil, ReasonBadRequest},
		{"bad community", CatalogRequest{Requester: beta, Community: "x", Now: now}, nil, ReasonBadRequest},
		{"no now", CatalogRequest{Requester: beta, Community: C}, nil, ReasonBadRequest},
		{"connection", CatalogRequest{Requester: eps, Owner: acme, Now: now}, []string{"acme/temp"}, ReasonAllowed},
		{"connection, catalog only", CatalogRequest{Requester: delta, Owner: acme, Now: now}, []string{"acme/temp"}, ReasonAllowed},
		{"connection pending", CatalogRequest{Requester: gamma, Owner: acme, Now: now}, nil, ReasonNoConnection},
		{"connection without owner", CatalogRequest{Requester: eps, Now: now}, nil, ReasonBadRequest},
		{"connection paused", CatalogRequest{Requester: beta, Owner: acme, Now: now}, nil, ReasonAllowed},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, d := Catalog(s, c.req)
			if d.Reason != c.reason || d.Allow != (c.reason == ReasonAllowed) || !reflect.DeepEqual(names(got), c.want) {
				t.Errorf("Catalog = %v, %+v; want %v, %s", names(got), d, c.want, c.reason)
			}
		})
	}
	// The catalog agrees with Authorize on every share.
	for _, sh := range s.Shares(Scope{Community: C}) {
		d := Authorize(s, Request{Requester: beta, Community: C, Stream: sh.Stream, Read: ReadCatalog, Now: now})
		listed := false
		got, _ := Catalog(s, CatalogRequest{Requester: beta, Community: C, Now: now})
		for _, g := range got {
			listed = listed || g.Stream == sh.Stream
		}
		if d.Allow != listed {
			t.Errorf("%v: Authorize %+v, listed %v", sh.Stream, d, listed)
		}
	}
}

func TestSharesAndPaused(t *testing.T) {
	s := world(t)
	if got := len(s.Shares(Scope{Community: C})); got != 6 { // temp window old coarse flow vib
		t.Errorf("%d shares in C", got)
	}
	if got := s.Shares(Scope{Reader: eps}); len(got) != 1 || got[0].Reader != eps || got[0].Version != 42 || got[0].Time != t0 {
		t.Errorf("shares with eps: %+v", got)
	}
	for _, c := range []struct {
		sc   Scope
		t    TenantID
		want bool
	}{
		{Scope{Community: C}, beta, true},
		{Scope{Community: C}, acme, false}, // resumed
		{Scope{Community: C}, gamma, false},
		{Scope{Reader: beta}, acme, true},
		{Scope{Reader: eps}, acme, false},
	} {
		if got := s.Paused(c.sc, c.t); got != c.want {
			t.Errorf("Paused(%+v, %s) = %v", c.sc, c.t, got)
		}
	}
}
