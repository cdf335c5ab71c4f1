package policy

import (
	"cmp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Role is a role a tenant grants to one of its own users, in one community
// or tenant-wide. Roles are orthogonal and combine: a user usually holds
// several. The numeric values are part of the signed encoding (a role
// record's Role byte): never renumber them, only append.
type Role uint8

const (
	RoleCommunityMember Role = 1 // reads and lists what is shared into the community
	RoleDataSteward     Role = 2 // shares, unshares, pauses and resumes (needs member too)
	RoleCommunityAdmin  Role = 3 // grants and revokes its tenant's users' community roles
	RoleTenantAdmin     Role = 4 // tenant-wide only; everything, including the handshakes
	// RoleIngest is for devices and gateways: tenant-wide only; writes
	// points to the tenant's streams under the prefixes of its grant
	// (WithinPrefixes), creating them on first write, and nothing else.
	// The prefixes are the agent's local record of the grant, not part
	// of a role record: see RoleSet.CanWrite.
	RoleIngest Role = 5
	// RoleReader is for dashboards and integrations: tenant-wide only;
	// reads local streams, the catalogs and shared streams of every
	// community and connection, and data views, and changes nothing.
	RoleReader Role = 6
)

var roleNames = []string{
	0:                   "",
	RoleCommunityMember: "community-member",
	RoleDataSteward:     "data-steward",
	RoleCommunityAdmin:  "community-admin",
	RoleTenantAdmin:     "tenant-admin",
	RoleIngest:          "ingest",
	RoleReader:          "reader",
}

// lastRole is the highest valid Role.
const lastRole = RoleReader

func (r Role) valid() bool { return r >= RoleCommunityMember && r <= lastRole }

// String returns the role's name as the CLI spells it.
func (r Role) String() string { return enumName(roleNames, uint8(r), "role") }

// TenantWide reports whether r may only be granted tenant-wide, never in
// one community: tenant-admin, ingest and reader.
func (r Role) TenantWide() bool {
	return r == RoleTenantAdmin || r == RoleIngest || r == RoleReader
}

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

func (s RoleSet) valid() bool { return s < 1<<lastRole }

// Action is what a local user wants to do. The values are not encoded
// anywhere; they are appended to anyway, for stable logs.
type Action uint8

const (
	ActionRead        Action = 1 // read and list streams: local ones, and those shared into the community or a connection
	ActionShare       Action = 2 // share, unshare, pause, resume
	ActionManageUsers Action = 3 // grant or revoke community roles of the tenant's own users
	ActionAdminister  Action = 4 // create/delete communities, invite, confirm, remove, accept, leave, connections, tenant admins
	ActionWrite       Action = 5 // write points to local streams, creating them on first write (see CanWrite)
	ActionEditViews   Action = 6 // create, change and delete the tenant's saved data views
)

// Can reports whether a user holding s may do a. Unknown actions are denied.
// A data steward must also be a member: one shares only into a community one
// can read (as the cloud products require). Ingest writes and reader reads,
// nothing more; for ActionWrite the stream matters too: ask CanWrite.
func (s RoleSet) Can(a Action) bool {
	if s.Has(RoleTenantAdmin) {
		return a >= ActionRead && a <= ActionEditViews
	}
	switch a {
	case ActionRead:
		return s.Has(RoleCommunityMember) || s.Has(RoleReader)
	case ActionShare:
		return s.Has(RoleDataSteward) && s.Has(RoleCommunityMember)
	case ActionManageUsers:
		return s.Has(RoleCommunityAdmin)
	case ActionWrite:
		return s.Has(RoleIngest)
	case ActionEditViews:
		return s.Has(RoleCommunityMember)
	}
	return false
}

// CanWrite reports whether a user holding the tenant-wide roles s may
// write points to the local stream named stream (and create it on first
// write): a tenant admin may write any stream, an ingest user only those
// within the prefixes of its ingest grant.
//
// The prefixes are not in the role records: a record's encoding is fixed
// (Record.SigningBytes), role grants never leave their tenant, and ingest
// is tenant-wide only, so the agent keeps them beside its grant.
func (s RoleSet) CanWrite(stream string, prefixes []string) bool {
	if s.Has(RoleTenantAdmin) {
		return true
	}
	return s.Has(RoleIngest) && WithinPrefixes(stream, prefixes)
}

// WithinPrefixes reports whether stream is within one of prefixes. A
// prefix matches by whole name segments: "site1/" and "site1" both match
// "site1/boiler/temp", and "site1" also the stream "site1" itself, but
// neither matches "site10/boiler". Only valid prefixes (ValidPrefix) match.
func WithinPrefixes(stream string, prefixes []string) bool {
	for _, p := range prefixes {
		if !ValidPrefix(p) || !strings.HasPrefix(stream, p) {
			continue
		}
		if len(stream) == len(p) || p[len(p)-1] == '/' || stream[len(p)] == '/' {
			return true
		}
	}
	return false
}

// MaxPrefix is the longest stream prefix, in bytes: the store's longest
// stream name.
const MaxPrefix = 256

// ValidPrefix reports whether p may be a prefix of an ingest grant: 1 to
// MaxPrefix bytes of UTF-8 without control characters, the start of a
// valid stream name: segments separated by single slashes, none empty,
// "." or "..", none with leading or trailing space; a trailing slash is
// allowed (and usual: "site1/").
func ValidPrefix(p string) bool {
	if len(p) == 0 || len(p) > MaxPrefix || !utf8.ValidString(p) || strings.ContainsFunc(p, unicode.IsControl) {
		return false
	}
	for _, seg := range strings.Split(strings.TrimSuffix(p, "/"), "/") {
		if seg == "" || seg == "." || seg == ".." || strings.TrimSpace(seg) != seg {
			return false
		}
	}
	return true
}

// Vouched returns s as an agent vouches for its user to a partner
// (Request.Roles), in roles every agent knows, also those older than
// ingest and reader (they refuse a set with roles they do not know). The
// partner asks only whether the roles read, and the answer is kept:
// reader is sent as community-member, and ingest, which never reads, is
// left out unless it is all there is, so that the set is not empty
// (which would mean "roles unknown").
func (s RoleSet) Vouched() RoleSet {
	v := s &^ NewRoleSet(RoleReader, RoleIngest)
	if s.Has(RoleReader) {
		v |= NewRoleSet(RoleCommunityMember)
	}
	if v == 0 {
		return s
	}
	return v
}

// Roles returns the roles user u holds in community c: those granted in c
// plus those granted tenant-wide. With c == "" only tenant-wide roles count,
// which is what connection reads and tenant-level actions use. Roles granted
// in a deleted community are gone with it.
func (s State) Roles(u UserID, c CommunityID) RoleSet {
	var set RoleSet
	for r := RoleCommunityMember; r <= lastRole; r++ {
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
