package policy

import (
	"reflect"
	"testing"
)

func TestRoleSetCan(t *testing.T) {
	const (
		m  = RoleCommunityMember
		ds = RoleDataSteward
		ca = RoleCommunityAdmin
		ta = RoleTenantAdmin
	)
	for _, c := range []struct {
		roles                           []Role
		read, share, manage, administer bool
	}{
		{nil, false, false, false, false},
		{[]Role{m}, true, false, false, false},
		{[]Role{ds}, false, false, false, false}, // a steward shares only where it can read
		{[]Role{ds, m}, true, true, false, false},
		{[]Role{ca}, false, false, true, false},
		{[]Role{ta}, true, true, true, true},
		{[]Role{0, 9}, false, false, false, false}, // invalid roles are ignored
	} {
		s := NewRoleSet(c.roles...)
		got := []bool{s.Can(ActionRead), s.Can(ActionShare), s.Can(ActionManageUsers), s.Can(ActionAdminister)}
		if want := []bool{c.read, c.share, c.manage, c.administer}; !reflect.DeepEqual(got, want) {
			t.Errorf("%v: Can = %v, want %v", c.roles, got, want)
		}
		if s.Can(0) || s.Can(Action(5)) {
			t.Errorf("%v: unknown action allowed", c.roles)
		}
	}
	if NewRoleSet(m).Has(0) || !NewRoleSet(m, ta).Has(ta) || NewRoleSet(m).Has(ds) {
		t.Error("Has is wrong")
	}
	if !NewRoleSet(m, ds, ca, ta).valid() || RoleSet(1<<4).valid() {
		t.Error("RoleSet.valid is wrong")
	}
}

func TestUserRoles(t *testing.T) {
	ana := UserID{Tenant: beta, Name: "ana"}
	bo := UserID{Tenant: beta, Name: "bo"}
	s := build(t,
		grant(ana, C, RoleCommunityMember, 1),
		grant(ana, C, RoleDataSteward, 2),
		grant(ana, C2, RoleCommunityMember, 3),
		revokeRole(ana, C2, RoleCommunityMember, 4),
		grant(bo, "", RoleTenantAdmin, 5),
		grant(bo, "", RoleCommunityMember, 6),
		revokeRole(bo, "", RoleCommunityMember, 7),
		grant(ana, "", RoleCommunityAdmin, 8),
	)
	for _, c := range []struct {
		u    UserID
		a    Action
		in   CommunityID
		want bool
	}{
		{ana, ActionShare, C, true},
		{ana, ActionRead, C2, false}, // revoked
		{ana, ActionRead, "", false},
		{ana, ActionManageUsers, C2, true}, // tenant-wide community admin
		{ana, ActionAdminister, "", false},
		{bo, ActionAdminister, "", true},
		{bo, ActionRead, C, true},
		{UserID{Tenant: acme, Name: "ana"}, ActionRead, C, false}, // same name, other tenant
	} {
		if got := CanUser(s, c.u, c.a, c.in); got != c.want {
			t.Errorf("CanUser(%v, %d, %q) = %v", c.u, c.a, c.in, got)
		}
	}
	want := []Assignment{
		{Community: "", Role: RoleCommunityAdmin, Version: 8},
		{Community: C, Role: RoleCommunityMember, Version: 1},
		{Community: C, Role: RoleDataSteward, Version: 2},
	}
	if got := s.Assignments(ana); !reflect.DeepEqual(got, want) {
		t.Errorf("Assignments = %+v", got)
	}
	if got := s.Roles(bo, C); got != NewRoleSet(RoleTenantAdmin) {
		t.Errorf("Roles(bo) = %b", got)
	}
	// Another tenant cannot grant beta's users anything.
	r := grant(ana, C, RoleCommunityAdmin, 9)
	r.Issuer = acme
	if _, err := Apply(s, r); err == nil {
		t.Error("acme granted a role to a beta user")
	}
}
