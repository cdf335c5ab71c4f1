package policy

import (
	"reflect"
	"testing"
)

func TestMembershipTransitions(t *testing.T) {
	base := []Record{created(C, 1)}
	for _, c := range []struct {
		name    string
		records []Record
		want    MemberStatus // beta's standing
		version uint64       // of the deciding record
	}{
		{"nothing", base, MemberNone, 0},
		{"invited", cat(base, []Record{invite(C, "i", "", 2)}), MemberNone, 0},
		{"accepted", cat(base, []Record{invite(C, "i", "", 2), accept(C, "i", beta, 3)}), MemberAccepted, 3},
		{"confirmed", cat(base, member(C, "i", beta, 2)), MemberConfirmed, 4},
		{"confirmation before acceptance waits", cat(base, []Record{invite(C, "i", "", 2), confirm(C, "i", beta, 4)}), MemberNone, 0},
		{"acceptance before invitation waits", cat(base, []Record{accept(C, "i", beta, 3)}), MemberNone, 0},
		{"pinned invitee accepts", cat(base, []Record{invite(C, "i", beta, 2), accept(C, "i", beta, 3), confirm(C, "i", beta, 4)}), MemberConfirmed, 4},
		{"another tenant accepts a pinned invitation", cat(base, []Record{invite(C, "i", gamma, 2), accept(C, "i", beta, 3), confirm(C, "i", beta, 4)}), MemberNone, 0},
		{"acceptance of another expiry", cat(base, []Record{invite(C, "i", "", 2), func() Record {
			r := accept(C, "i", beta, 3)
			r.Expires += day
			return r
		}(), confirm(C, "i", beta, 4)}), MemberNone, 0},
		{"declined", cat(base, []Record{invite(C, "i", "", 2), decline(C, "i", beta, 3), confirm(C, "i", beta, 4)}), MemberNone, 0},
		{"revoked before acceptance", cat(base, []Record{invite(C, "i", "", 2), revoke(C, "i", 3), accept(C, "i", beta, 4)}), MemberNone, 0},
		{"revoked before confirmation", cat(base, []Record{invite(C, "i", "", 2), accept(C, "i", beta, 3), revoke(C, "i", 4), confirm(C, "i", beta, 5)}), MemberNone, 0},
		{"revoked after confirmation: no effect", cat(base, member(C, "i", beta, 2), []Record{revoke(C, "i", 5)}), MemberConfirmed, 4},
		{"confirmation names another tenant", cat(base, []Record{invite(C, "i", "", 2), accept(C, "i", beta, 3), accept(C, "i", gamma, 3), confirm(C, "i", gamma, 4)}), MemberNone, 0},
		{"removed", cat(base, member(C, "i", beta, 2), []Record{remove(C, beta, 5)}), MemberRemoved, 5},
		{"left", cat(base, member(C, "i", beta, 2), []Record{leave(C, beta, 5)}), MemberLeft, 5},
		{"removal and leave at one version: removal", cat(base, member(C, "i", beta, 2), []Record{leave(C, beta, 5), remove(C, beta, 5)}), MemberRemoved, 5},
		{"leave then later removal", cat(base, member(C, "i", beta, 2), []Record{leave(C, beta, 5), remove(C, beta, 6)}), MemberRemoved, 6},
		{"removal then later leave", cat(base, member(C, "i", beta, 2), []Record{remove(C, beta, 5), leave(C, beta, 6)}), MemberLeft, 6},
		{"removed before the confirmation: exit wins ties only", cat(base, []Record{remove(C, beta, 4)}, member(C, "i", beta, 2)), MemberRemoved, 4},
		{"removal with no membership", cat(base, []Record{remove(C, beta, 5)}), MemberRemoved, 5},
		{"re-invited after removal, accepted", cat(base, member(C, "i", beta, 2), []Record{remove(C, beta, 5),
			invite(C, "j", beta, 6), accept(C, "j", beta, 7)}), MemberAccepted, 7},
		{"re-invited after removal, confirmed", cat(base, member(C, "i", beta, 2), []Record{remove(C, beta, 5)},
			member(C, "j", beta, 6)), MemberConfirmed, 8},
		{"re-entry after leaving", cat(base, member(C, "i", beta, 2), []Record{leave(C, beta, 5)}, member(C, "j", beta, 6)), MemberConfirmed, 8},
		{"removed again after re-entry", cat(base, member(C, "i", beta, 2), []Record{remove(C, beta, 5)}, member(C, "j", beta, 6),
			[]Record{remove(C, beta, 9)}), MemberRemoved, 9},
		{"community deleted", cat(base, member(C, "i", beta, 2), []Record{deleted(C, 9)}), MemberNone, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, _ := ApplyAll(State{}, c.records)
			got := s.MemberStatus(C, beta)
			if got != c.want {
				t.Fatalf("MemberStatus = %s, want %s", got, c.want)
			}
			var m Member
			for _, x := range s.Members(C) {
				if x.Tenant == beta {
					m = x
				}
			}
			if m.Status != c.want || m.Version != c.version {
				t.Errorf("Members entry = %+v, want status %s version %d", m, c.want, c.version)
			}
		})
	}
}

func TestOwnerIsMember(t *testing.T) {
	var s State
	if got := s.MemberStatus(C, acme); got != MemberNone {
		t.Errorf("owner of an unknown community: %s", got)
	}
	s = build(t, cat([]Record{created(C, 1)}, member(C, "i", gamma, 2), member(C, "j", beta, 5), []Record{leave(C, gamma, 9)})...)
	want := []Member{
		{Tenant: acme, Status: MemberConfirmed, Version: 1},
		{Tenant: beta, Status: MemberConfirmed, Invitation: "j", Version: 7},
		{Tenant: gamma, Status: MemberLeft, Version: 9},
	}
	if got := s.Members(C); !reflect.DeepEqual(got, want) {
		t.Errorf("Members = %+v\nwant %+v", got, want)
	}
}

func TestCommunities(t *testing.T) {
	s := build(t, created(C, 1), created(C2, 2), accept(NewCommunityID(delta, "x"), "i", beta, 3))
	s, _ = Apply(s, deleted(C2, 3))
	want := []CommunityInfo{
		{ID: C, Owner: acme, Name: "Refinery partners", Version: 1},
		{ID: C2, Owner: beta, Deleted: true, Version: 3},
	}
	if got := s.Communities(); !reflect.DeepEqual(got, want) {
		t.Errorf("Communities = %+v\nwant %+v", got, want)
	}
	if _, ok := s.Community(NewCommunityID(delta, "x")); ok {
		t.Error("a community without its created record is known")
	}
	renamed := created(C, 4)
	renamed.Name = "Refinery partners 2026"
	s = build(t, created(C, 1), renamed)
	if info, _ := s.Community(C); info.Name != renamed.Name {
		t.Errorf("rename lost: %+v", info)
	}
}

func TestInvitations(t *testing.T) {
	lateAcc := accept(C, "acc", gamma, 9)
	lateAcc.Time++
	badPin := accept(C, "pinned", gamma, 4)
	s := build(t,
		created(C, 1),
		invite(C, "pending", "", 2),
		invite(C, "pinned", beta, 2), badPin,
		invite(C, "acc", "", 3), accept(C, "acc", beta, 5), lateAcc, // the earliest acceptance is shown
		invite(C, "dec", "", 4), decline(C, "dec", beta, 5), decline(C, "dec", gamma, 6),
		invite(C, "rev", "", 5), accept(C, "rev", beta, 6), revoke(C, "rev", 7),
		invite(C, "conf", "", 6), accept(C, "conf", beta, 7), confirm(C, "conf", beta, 8),
		invite(C, "waiting", "", 6), confirm(C, "waiting", beta, 8), // confirmed, acceptance not here yet
		invite(C, "late", "", 6),
	)
	// Make "late" expire earlier than the others.
	late := invite(C, "late2", "", 7)
	late.Time, late.Expires = t0-1, t0+day
	s = build(t, append(s.Records(), late)...)
	now := t0 + 2*day
	got := map[string]Invitation{}
	var order []string
	for _, inv := range s.Invitations(C, now) {
		got[inv.ID] = inv
		order = append(order, inv.ID)
	}
	for id, want := range map[string]struct {
		status InvitationStatus
		tenant TenantID
	}{
		"pending": {InvitationPending, ""},
		"pinned":  {InvitationPending, ""},
		"acc":     {InvitationAccepted, beta},
		"dec":     {InvitationDeclined, beta},
		"rev":     {InvitationRevoked, ""},
		"conf":    {InvitationConfirmed, beta},
		"waiting": {InvitationPending, ""},
		"late":    {InvitationPending, ""},
		"late2":   {InvitationExpired, ""},
	} {
		if g := got[id]; g.Status != want.status || g.Tenant != want.tenant {
			t.Errorf("%s: status %s tenant %q, want %s %q", id, g.Status, g.Tenant, want.status, want.tenant)
		}
	}
	if p := got["pinned"]; p.Pin != beta || p.Email != "ops@partner.example" || p.Issued != t0 || p.Expires != t0+ttl || p.Community != C {
		t.Errorf("pinned = %+v", p)
	}
	wantOrder := []string{"late2", "acc", "conf", "dec", "late", "pending", "pinned", "rev", "waiting"}
	if !reflect.DeepEqual(order, wantOrder) {
		t.Errorf("order = %v, want %v", order, wantOrder)
	}
	if got := s.Invitations(C, t0+ttl)[5]; got.ID != "pending" || got.Status != InvitationExpired {
		t.Errorf("at expiry: %+v", got)
	}
}
