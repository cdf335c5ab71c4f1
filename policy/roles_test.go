package policy

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestRoleSetCan(t *testing.T) {
	const (
		m  = RoleCommunityMember
		ds = RoleDataSteward
		ca = RoleCommunityAdmin
		ta = RoleTenantAdmin
		in = RoleIngest
		rd = RoleReader
	)
	for _, c := range []struct {
		roles                                        []Role
		read, share, manage, administer, write, edit bool
	}{
		{nil, false, false, false, false, false, false},
		{[]Role{m}, true, false, false, false, false, true},
		{[]Role{ds}, false, false, false, false, false, false}, // a steward shares only where it can read
		{[]Role{ds, m}, true, true, false, false, false, true},
		{[]Role{ca}, false, false, true, false, false, false},
		{[]Role{ta}, true, true, true, true, true, true},
		{[]Role{in}, false, false, false, false, true, false},     // writes, nothing else
		{[]Role{rd}, true, false, false, false, false, false},     // reads, changes nothing
		{[]Role{rd, ds}, true, false, false, false, false, false}, // a reader is not a member: no sharing
		{[]Role{rd, in}, true, false, false, false, true, false},
		{[]Role{0, 7, 9}, false, false, false, false, false, false}, // invalid roles are ignored
	} {
		s := NewRoleSet(c.roles...)
		got := []bool{s.Can(ActionRead), s.Can(ActionShare), s.Can(ActionManageUsers), s.Can(ActionAdminister),
			s.Can(ActionWrite), s.Can(ActionEditViews)}
		if want := []bool{c.read, c.share, c.manage, c.administer, c.write, c.edit}; !reflect.DeepEqual(got, want) {
			t.Errorf("%v: Can = %v, want %v", c.roles, got, want)
		}
		if s.Can(0) || s.Can(Action(7)) {
			t.Errorf("%v: unknown action allowed", c.roles)
		}
	}
	if NewRoleSet(m).Has(0) || !NewRoleSet(m, ta).Has(ta) || NewRoleSet(m).Has(ds) || NewRoleSet(rd).Has(Role(7)) {
		t.Error("Has is wrong")
	}
	if !NewRoleSet(m, ds, ca, ta, in, rd).valid() || RoleSet(1<<6).valid() {
		t.Error("RoleSet.valid is wrong")
	}
}

// TestRoleValuesStable: the role values are in signed records; appending
// roles must leave the old ones, and old records' bytes, as they were.
func TestRoleValuesStable(t *testing.T) {
	for r, want := range map[Role]string{1: "community-member", 2: "data-steward", 3: "community-admin", 4: "tenant-admin",
		5: "ingest", 6: "reader"} {
		if r.String() != want || !r.valid() {
			t.Errorf("Role(%d) = %q (valid %v), want %q", r, r.String(), r.valid(), want)
		}
	}
	if Role(7).valid() || Role(7).String() != "role(7)" {
		t.Error("Role(7) is valid")
	}
	for r := RoleCommunityMember; r <= lastRole; r++ {
		if got, want := r.TenantWide(), r == RoleTenantAdmin || r == RoleIngest || r == RoleReader; got != want {
			t.Errorf("%s: TenantWide = %v", r, got)
		}
	}
	// A role record's encoding carries the role as one byte, where it was.
	u := UserID{Tenant: beta, Name: "plc"}
	for _, r := range []Role{RoleCommunityMember, RoleIngest, RoleReader} {
		rec := grant(u, "", r, 1)
		b := rec.SigningBytes()
		// Role and Access are the two bytes before the comment's length
		// and the 8-byte expiry at the end.
		if got := b[len(b)-8-4-2]; got != byte(r) {
			t.Errorf("%s: encoded role byte %d", r, got)
		}
		back, err := ParseRecord(b)
		if err != nil || back != rec {
			t.Errorf("%s: round trip = %+v, %v", r, back, err)
		}
		if _, err := Apply(State{}, rec); err != nil {
			t.Errorf("%s granted tenant-wide: %v", r, err)
		}
		if r.TenantWide() {
			if _, err := Apply(State{}, grant(u, C, r, 1)); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), r.String()+" is granted tenant-wide only") {
				t.Errorf("%s granted in a community: %v", r, err)
			}
		}
	}
}

func TestCanWrite(t *testing.T) {
	ingest := NewRoleSet(RoleIngest)
	prefixes := []string{"site1/", "lab/line2"}
	for _, c := range []struct {
		roles  RoleSet
		stream string
		want   bool
	}{
		{ingest, "site1/boiler/temp", true},
		{ingest, "site1/x", true},
		{ingest, "lab/line2", true},           // the prefix names the stream itself
		{ingest, "lab/line2/speed", true},     // or the streams under it
		{ingest, "lab/line20/speed", false},   // but not a longer segment
		{ingest, "site10/boiler/temp", false}, // nor here
		{ingest, "site1", false},              // "site1/" is what is under site1
		{ingest, "site2/boiler/temp", false},
		{ingest, "", false},
		{NewRoleSet(RoleReader, RoleCommunityMember), "site1/boiler/temp", false}, // readers do not write
		{NewRoleSet(RoleTenantAdmin), "anything/at/all", true},                    // admins write everywhere
		{0, "site1/boiler/temp", false},
	} {
		if got := c.roles.CanWrite(c.stream, prefixes); got != c.want {
			t.Errorf("%b CanWrite(%q) = %v, want %v", c.roles, c.stream, got, c.want)
		}
	}
	if ingest.CanWrite("site1/a", nil) {
		t.Error("ingest without prefixes may write")
	}
	// An invalid prefix matches nothing, even what it is a prefix of.
	for _, p := range []string{"", "/", "site1//", "../site1/"} {
		if WithinPrefixes("site1/a", []string{p}) || WithinPrefixes(p+"a", []string{p}) {
			t.Errorf("invalid prefix %q matches", p)
		}
	}
}

func TestValidPrefix(t *testing.T) {
	for _, p := range []string{"site1/", "site1", "site1/boiler/", "a b/c", "ünit/", strings.Repeat("x", MaxPrefix)} {
		if !ValidPrefix(p) {
			t.Errorf("ValidPrefix(%q) = false", p)
		}
	}
	for _, p := range []string{"", "/", "/site1", "site1//", "site1//x", "./x", "x/../", "x/./", " site1/", "site1 /",
		"a\x00b", "a\tb/", "\xff/", strings.Repeat("x", MaxPrefix+1)} {
		if ValidPrefix(p) {
			t.Errorf("ValidPrefix(%q) = true", p)
		}
	}
}

// TestVouched: what an agent tells a partner keeps exactly whether the
// roles read, and holds only roles that agents older than ingest and
// reader know, whenever it reads; it is never empty unless s is.
func TestVouched(t *testing.T) {
	old := NewRoleSet(RoleCommunityMember, RoleDataSteward, RoleCommunityAdmin, RoleTenantAdmin)
	for s := RoleSet(0); s.valid(); s++ {
		v := s.Vouched()
		switch {
		case v.Can(ActionRead) != s.Can(ActionRead):
			t.Errorf("%06b: vouched %06b reads %v", s, v, v.Can(ActionRead))
		case (v == 0) != (s == 0):
			t.Errorf("%06b: vouched %06b", s, v)
		case s.Can(ActionRead) && v&^old != 0:
			t.Errorf("%06b: vouched %06b has roles old agents refuse", s, v)
		case s&^NewRoleSet(RoleIngest, RoleReader) == s && v != s:
			t.Errorf("%06b: old roles changed to %06b", s, v)
		case !v.valid():
			t.Errorf("%06b: vouched %06b invalid", s, v)
		}
	}
	if got := NewRoleSet(RoleIngest).Vouched(); got != NewRoleSet(RoleIngest) {
		t.Errorf("ingest alone vouched as %06b", got)
	}
	if got := NewRoleSet(RoleReader).Vouched(); got != NewRoleSet(RoleCommunityMember) {
		t.Errorf("reader vouched as %06b", got)
	}
}

func TestUserRoles(t *testing.T) {
	ana := UserID{Tenant: beta, Name: "ana"}
	bo := UserID{Tenant: beta, Name: "bo"}
	plc := UserID{Tenant: beta, Name: "plc"}
	graf := UserID{Tenant: beta, Name: "grafana"}
	s := build(t,
		grant(ana, C, RoleCommunityMember, 1),
		grant(ana, C, RoleDataSteward, 2),
		grant(ana, C2, RoleCommunityMember, 3),
		revokeRole(ana, C2, RoleCommunityMember, 4),
		grant(bo, "", RoleTenantAdmin, 5),
		grant(bo, "", RoleCommunityMember, 6),
		revokeRole(bo, "", RoleCommunityMember, 7),
		grant(ana, "", RoleCommunityAdmin, 8),
		grant(plc, "", RoleIngest, 9),
		grant(graf, "", RoleReader, 10),
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
		{plc, ActionWrite, "", true},
		{plc, ActionRead, "", false},
		{plc, ActionRead, C, false},
		{graf, ActionRead, C, true}, // tenant-wide reader reads every community
		{graf, ActionRead, "", true},
		{graf, ActionShare, C, false},
		{graf, ActionEditViews, "", false},
		{graf, ActionWrite, "", false},
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
	if got := s.Assignments(plc); !reflect.DeepEqual(got, []Assignment{{Role: RoleIngest, Version: 9}}) {
		t.Errorf("Assignments(plc) = %+v", got)
	}
	if got := s.Roles(graf, C); got != NewRoleSet(RoleReader) {
		t.Errorf("Roles(grafana) = %b", got)
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
