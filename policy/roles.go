package policy

import (
	"cmp"
	"slices"
)

// Role is a role a tenant grants to one of its own users, in one community
// or tenant-wide. Roles are orthogonal and combine: a user usually holds
// several. The numeric values are part of the signed encoding.
type Role uint8

const (
	RoleCommunityMember Role = 1 // reads and lists what is shared into the community
	RoleDataSteward     Role = 2 // shares, unshares, pauses and resumes (needs member too)
	RoleCommunityAdmin  Role = 3 // grants and revokes its tenant's users' community roles
	RoleTenantAdmin     Role = 4 // tenant-wide only; everything, including the handshakes
)

var roleNames = []string{
	0:                   "",
	RoleCommunityMember: "community-member",
	RoleDataSteward:     "data-steward",
	RoleCommunityAdmin:  "community-admin",
	RoleTenantAdmin:     "tenant-admin",
}

func (r Role) valid() bool { return r >= RoleCommunityMember && r <= RoleTenantAdmin }

// String returns the role's name as the CLI spells it.
func (r Role) String() string { return enumName(roleNames, uint8(r), "role") }

// RoleSet is a set of roles; the zero value is empty.
type RoleSet uint8

// NewRoleSet returns the set of the given roles; invalid roles are ignored.
func NewRoleSet(roles ...Role) RoleSet {
	var s RoleSet
	for _, r := range roles {
		if r.valid() {
			s |= 1 << (r - 1)
		}
	}
	return s
}

// Has reports whether r is in the set.
func (s RoleSet) Has(r Role) bool { return r.valid() && s&(1<<(r-1)) != 0 }

func (s RoleSet) valid() bool { return s < 1<<RoleTenantAdmin }

// Action is what a local user wants to do.
type Action uint8

const (
	ActionRead        Action = 1 // read and list streams shared into the community or a connection
	ActionShare       Action = 2 // share, unshare, pause, resume
	ActionManageUsers Action = 3 // grant or revoke community roles of the tenant's own users
	ActionAdminister  Action = 4 // create/delete communities, invite, confirm, remove, accept, leave, connections, tenant admins
)

// Can reports whether a user holding s may do a. Unknown actions are denied.
// A data steward must also be a member: one shares only into a community one
// can read (as the cloud products require).
func (s RoleSet) Can(a Action) bool {
	if s.Has(RoleTenantAdmin) {
		return a >= ActionRead && a <= ActionAdminister
	}
	switch a {
	case ActionRead:
		return s.Has(RoleCommunityMember)
	case ActionShare:
		return s.Has(RoleDataSteward) && s.Has(RoleCommunityMember)
	case ActionManageUsers:
		return s.Has(RoleCommunityAdmin)
	}
	return false
}

// Roles returns the roles user u holds in community c: those granted in c
// plus those granted tenant-wide. With c == "" only tenant-wide roles count,
// which is what connection reads and tenant-level actions use. Roles granted
// in a deleted community are gone with it.
func (s State) Roles(u UserID, c CommunityID) RoleSet {
	var set RoleSet
	for r := RoleCommunityMember; r <= RoleTenantAdmin; r++ {
		for _, in := range []CommunityID{"", c} {
			g, ok := s.get(key{slot: slotRole, community: in, user: u, role: r})
			if ok && g.Kind == KindRoleGranted {
				set |= NewRoleSet(r)
			}
		}
	}
	return set
}

// CanUser reports whether local user u may do a in community c (c == "" for
// connections and tenant-level actions). Only role records issued by u's own
// tenant exist in the state (Apply rejects the others), so a tenant can never
// grant or revoke another tenant's users.
func CanUser(s State, u UserID, a Action, c CommunityID) bool { return s.Roles(u, c).Can(a) }

// Assignment is one role a user holds.
type Assignment struct {
	Community CommunityID // "" for tenant-wide
	Role      Role
	Version   uint64
}

// Assignments lists the roles granted to u, tenant-wide first, then by
// community and role.
func (s State) Assignments(u UserID) []Assignment {
	var out []Assignment
	for _, b := range s.buckets {
		for k, r := range b {
			if k.slot == slotRole && k.user == u && r.Kind == KindRoleGranted {
				out = append(out, Assignment{Community: k.community, Role: k.role, Version: r.Version})
			}
		}
	}
	slices.SortFunc(out, func(a, b Assignment) int {
		return cmp.Or(cmp.Compare(a.Community, b.Community), cmp.Compare(a.Role, b.Role))
	})
	return out
}
