package policy

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

// The cast of the tests: acme owns community C; beta, gamma, delta and eps
// are partners. Tenant ids are short stand-ins for key fingerprints.
const (
	acme  TenantID = "acme"
	beta  TenantID = "beta"
	gamma TenantID = "gamma"
	delta TenantID = "delta"
	eps   TenantID = "eps"
)

var (
	C  = NewCommunityID(acme, "c1")
	C2 = NewCommunityID(beta, "c2")
)

const (
	t0  int64 = 1_700_000_000_000_000_000 // issue times start here
	day       = int64(24 * time.Hour)
	ttl       = 14 * day
)

// One constructor per kind, each a valid record; tests change fields.

func created(c CommunityID, v uint64) Record {
	return Record{Kind: KindCommunityCreated, Issuer: c.Owner(), Version: v, Time: t0, Community: c, Name: "Refinery partners"}
}

func deleted(c CommunityID, v uint64) Record {
	return Record{Kind: KindCommunityDeleted, Issuer: c.Owner(), Version: v, Time: t0, Community: c}
}

func invite(c CommunityID, id string, pin TenantID, v uint64) Record {
	return Record{Kind: KindInvitationIssued, Issuer: c.Owner(), Version: v, Time: t0, Community: c,
		Invitation: id, Email: "ops@partner.example", Tenant: pin, Expires: t0 + ttl}
}

func revoke(c CommunityID, id string, v uint64) Record {
	return Record{Kind: KindInvitationRevoked, Issuer: c.Owner(), Version: v, Time: t0, Community: c, Invitation: id}
}

func accept(c CommunityID, id string, by TenantID, v uint64) Record {
	return Record{Kind: KindInvitationAccepted, Issuer: by, Version: v, Time: t0 + day, Community: c,
		Invitation: id, Expires: t0 + ttl}
}

func decline(c CommunityID, id string, by TenantID, v uint64) Record {
	return Record{Kind: KindInvitationDeclined, Issuer: by, Version: v, Time: t0 + day, Community: c, Invitation: id}
}

func confirm(c CommunityID, id string, t TenantID, v uint64) Record {
	return Record{Kind: KindMemberConfirmed, Issuer: c.Owner(), Version: v, Time: t0 + 2*day, Community: c,
		Invitation: id, Tenant: t}
}

func remove(c CommunityID, t TenantID, v uint64) Record {
	return Record{Kind: KindMemberRemoved, Issuer: c.Owner(), Version: v, Time: t0 + 3*day, Community: c, Tenant: t}
}

func leave(c CommunityID, t TenantID, v uint64) Record {
	return Record{Kind: KindMemberLeft, Issuer: t, Version: v, Time: t0 + 3*day, Community: c}
}

func stream(owner TenantID, name string) StreamRef { return StreamRef{Owner: owner, Name: name} }

func shareIn(c CommunityID, st StreamRef, v uint64, cons Constraints) Record {
	return Record{Kind: KindStreamShared, Issuer: st.Owner, Version: v, Time: t0, Community: c, Stream: st, Constraints: cons}
}

func unshareIn(c CommunityID, st StreamRef, v uint64) Record {
	return Record{Kind: KindStreamUnshared, Issuer: st.Owner, Version: v, Time: t0, Community: c, Stream: st}
}

func shareWith(reader TenantID, st StreamRef, v uint64) Record {
	return Record{Kind: KindStreamShared, Issuer: st.Owner, Version: v, Time: t0, Tenant: reader, Stream: st}
}

func pauseIn(c CommunityID, t TenantID, v uint64) Record {
	return Record{Kind: KindSharingPaused, Issuer: t, Version: v, Time: t0, Community: c}
}

func resumeIn(c CommunityID, t TenantID, v uint64) Record {
	return Record{Kind: KindSharingResumed, Issuer: t, Version: v, Time: t0, Community: c}
}

func grant(u UserID, c CommunityID, r Role, v uint64) Record {
	return Record{Kind: KindRoleGranted, Issuer: u.Tenant, Version: v, Time: t0, Community: c, User: u, Role: r}
}

func revokeRole(u UserID, c CommunityID, r Role, v uint64) Record {
	return Record{Kind: KindRoleRevoked, Issuer: u.Tenant, Version: v, Time: t0, Community: c, User: u, Role: r}
}

func request(from, to TenantID, v uint64) Record {
	return Record{Kind: KindConnectionRequested, Issuer: from, Version: v, Time: t0, Tenant: to, Comment: "maintenance contract"}
}

func cancelReq(from, to TenantID, v uint64) Record {
	return Record{Kind: KindConnectionCancelled, Issuer: from, Version: v, Time: t0, Tenant: to}
}

func acceptConn(from, to TenantID, a Access, v uint64) Record {
	return Record{Kind: KindConnectionAccepted, Issuer: to, Version: v, Time: t0, Tenant: from, Access: a, Comment: "ok per contract 42"}
}

func rejectConn(from, to TenantID, v uint64) Record {
	return Record{Kind: KindConnectionRejected, Issuer: to, Version: v, Time: t0, Tenant: from, Comment: "unknown party"}
}

// samples has one valid record of every kind.
func samples() []Record {
	u := UserID{Tenant: beta, Name: "ana"}
	return []Record{
		created(C, 1), deleted(C, 2), invite(C, "inv1", beta, 3), revoke(C, "inv1", 4),
		accept(C, "inv1", beta, 5), decline(C, "inv1", beta, 6), confirm(C, "inv1", beta, 7),
		remove(C, beta, 8), leave(C, beta, 9),
		shareIn(C, stream(beta, "flow"), 10, Constraints{NotBefore: t0, Lookback: time.Hour, Expires: t0 + ttl, MinInterval: time.Minute}),
		unshareIn(C, stream(beta, "flow"), 11), pauseIn(C, beta, 12), resumeIn(C, beta, 13),
		grant(u, C, RoleCommunityMember, 14), revokeRole(u, C, RoleCommunityMember, 15),
		request(beta, acme, 16), cancelReq(beta, acme, 17), acceptConn(beta, acme, AccessCatalogData, 18),
		rejectConn(beta, acme, 19),
	}
}

// build applies records in order and fails the test on any error.
func build(t testing.TB, records ...Record) State {
	t.Helper()
	var s State
	for _, r := range records {
		var err error
		if s, err = Apply(s, r); err != nil {
			t.Fatalf("Apply(%s): %v", r.Kind, err)
		}
	}
	return s
}

// member is the handshake of tenant t into community c through invitation
// id, with versions v, v+1, v+2.
func member(c CommunityID, id string, t TenantID, v uint64) []Record {
	return []Record{invite(c, id, "", v), accept(c, id, t, v+1), confirm(c, id, t, v+2)}
}

func cat(groups ...[]Record) []Record {
	var out []Record
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

func sameState(t testing.TB, got, want State) {
	t.Helper()
	if reflect.DeepEqual(got.buckets, want.buckets) {
		return // the cheap way, for the property tests
	}
	if !reflect.DeepEqual(got.Records(), want.Records()) {
		t.Fatalf("states differ:\n got %+v\nwant %+v", got.Records(), want.Records())
	}
}

func wantErr(t testing.TB, err, want error) {
	t.Helper()
	if want == nil && err != nil || want != nil && !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
}
