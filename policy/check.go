package policy

import (
	"errors"
	"fmt"
	"strings"
)

// Errors from Check, Apply and ApplyAll. Each returned error wraps exactly
// one of them (test with errors.Is) and names the record's kind and key, so
// federation can count rejected records by reason.
var (
	// ErrMalformed: a field is missing, not allowed for the kind, or invalid.
	ErrMalformed = errors.New("malformed record")
	// ErrNoAuthority: the issuer may not issue this kind of record for this
	// key (not the community owner, not the stream's tenant, not the user's
	// tenant, or an action nobody may take, such as removing the owner).
	ErrNoAuthority = errors.New("issuer has no authority")
	// ErrExpired: an acceptance issued at or after its invitation's expiry.
	ErrExpired = errors.New("invitation expired")
	// ErrConflict: the issuer already made a different statement that may be
	// made only once (an invitation, a response to it, its confirmation).
	ErrConflict = errors.New("conflicting record")
	// ErrDeleted: the record belongs to a community that has been deleted.
	ErrDeleted = errors.New("community deleted")
)

// field is a bit set of the optional Record fields, used to say which fields
// each kind needs and allows.
type field uint16

const (
	fCommunity field = 1 << iota
	fName
	fInvitation
	fEmail
	fTenant
	fStream
	fConstraints
	fUser
	fRole
	fAccess
	fComment
	fExpires
)

var fieldNames = []string{"community", "name", "invitation", "email", "tenant", "stream",
	"constraints", "user", "role", "access", "comment", "expires"}

func (f field) String() string {
	var names []string
	for i, n := range fieldNames {
		if f&(1<<i) != 0 {
			names = append(names, n)
		}
	}
	return strings.Join(names, ",")
}

// spec says which fields a kind needs and which it may carry. A scoped kind
// needs exactly one of Community (a community) and Tenant (a connection).
type spec struct {
	need, may field
	scoped    bool
}

var specs = [...]spec{
	KindCommunityCreated:    {need: fCommunity | fName},
	KindCommunityDeleted:    {need: fCommunity},
	KindInvitationIssued:    {need: fCommunity | fInvitation | fEmail | fExpires, may: fTenant},
	KindInvitationRevoked:   {need: fCommunity | fInvitation},
	KindInvitationAccepted:  {need: fCommunity | fInvitation | fExpires},
	KindInvitationDeclined:  {need: fCommunity | fInvitation},
	KindMemberConfirmed:     {need: fCommunity | fInvitation | fTenant},
	KindMemberRemoved:       {need: fCommunity | fTenant},
	KindMemberLeft:          {need: fCommunity},
	KindStreamShared:        {need: fStream, may: fConstraints, scoped: true},
	KindStreamUnshared:      {need: fStream, scoped: true},
	KindSharingPaused:       {scoped: true},
	KindSharingResumed:      {scoped: true},
	KindRoleGranted:         {need: fUser | fRole, may: fCommunity},
	KindRoleRevoked:         {need: fUser | fRole, may: fCommunity},
	KindConnectionRequested: {need: fTenant, may: fComment},
	KindConnectionCancelled: {need: fTenant},
	KindConnectionAccepted:  {need: fTenant | fAccess | fComment},
	KindConnectionRejected:  {need: fTenant | fComment},
}

func present(r Record) field {
	var f field
	for i, set := range []bool{
		r.Community != "", r.Name != "", r.Invitation != "", r.Email != "", r.Tenant != "",
		r.Stream != (StreamRef{}), r.Constraints != (Constraints{}), r.User != (UserID{}),
		r.Role != 0, r.Access != 0, r.Comment != "", r.Expires != 0,
	} {
		if set {
			f |= 1 << i
		}
	}
	return f
}

// Check reports whether r is well formed and its issuer has authority for
// it, judging from the record alone. Apply calls it first; federation may
// call it on records it is about to sign. Authority never depends on other
// records, which is what lets gossip deliver records in any order:
//   - community, invitation, confirmation and removal records: the issuer
//     must be the owner bound into the CommunityID;
//   - acceptance, decline and leave: any tenant but the owner (the owner is
//     a member by ownership); the key includes the issuer, so a tenant only
//     ever speaks for itself;
//   - share and unshare: the issuer must be Stream.Owner;
//   - pause, resume and connection records: the issuer is part of the key;
//   - role records: User.Tenant must be the issuer.
//
// Nobody may name the issuer itself as Tenant: the owner cannot be removed,
// confirmed or pinned, and no tenant connects to or shares with itself.
func Check(r Record) error {
	bad := func(sentinel error, detail string) error {
		return fmt.Errorf("policy: %s%s: %w: %s", r.Kind, describe(r), sentinel, detail)
	}
	switch {
	case !r.Kind.valid():
		return bad(ErrMalformed, "unknown kind")
	case !validID(string(r.Issuer)):
		return bad(ErrMalformed, "bad issuer")
	case r.Version == 0:
		return bad(ErrMalformed, "version must be at least 1")
	case r.Time <= 0:
		return bad(ErrMalformed, "time must be positive")
	}
	sp, have := specs[r.Kind], present(r)
	if sp.scoped {
		if n := have & (fCommunity | fTenant); n == 0 || n == fCommunity|fTenant {
			return bad(ErrMalformed, "needs exactly one of community and tenant")
		}
		sp.may |= fCommunity | fTenant
	}
	if missing := sp.need &^ have; missing != 0 {
		return bad(ErrMalformed, "missing "+missing.String())
	}
	if extra := have &^ (sp.need | sp.may); extra != 0 {
		return bad(ErrMalformed, "not allowed for this kind: "+extra.String())
	}
	for _, f := range []struct {
		bit field
		ok  bool
	}{
		{fCommunity, r.Community.valid()},
		{fName, validText(r.Name, maxName)},
		{fInvitation, validID(r.Invitation)},
		{fEmail, validEmail(r.Email)},
		{fTenant, validID(string(r.Tenant))},
		{fStream, r.Stream.valid()},
		{fConstraints, r.Constraints.valid()},
		{fUser, r.User.valid()},
		{fRole, r.Role.valid()},
		{fAccess, r.Access.valid()},
		{fComment, validText(r.Comment, maxComment)},
	} {
		if have&f.bit != 0 && !f.ok {
			return bad(ErrMalformed, "bad "+f.bit.String())
		}
	}
	switch {
	case r.Kind == KindInvitationIssued && r.Expires <= r.Time:
		return bad(ErrMalformed, "expires before it is issued")
	case r.Role.TenantWide() && r.Community != "":
		return bad(ErrMalformed, r.Role.String()+" is granted tenant-wide only")
	}
	if detail := lacksAuthority(r); detail != "" {
		return bad(ErrNoAuthority, detail)
	}
	switch {
	case r.Tenant != "" && r.Tenant == r.Issuer:
		return bad(ErrMalformed, "tenant names the issuer itself")
	case r.Kind == KindInvitationAccepted && r.Time >= r.Expires:
		return bad(ErrExpired, "accepted after the invitation expired")
	}
	return nil
}

// lacksAuthority says why r's issuer may not issue r, or "" if it may.
func lacksAuthority(r Record) string {
	owner := r.Community.Owner()
	switch r.Kind {
	case KindCommunityCreated, KindCommunityDeleted, KindInvitationIssued, KindInvitationRevoked,
		KindMemberConfirmed, KindMemberRemoved:
		if r.Issuer != owner {
			return "only the community owner may issue it"
		}
		if r.Kind == KindMemberRemoved && r.Tenant == owner {
			return "the owner cannot be removed"
		}
	case KindInvitationAccepted, KindInvitationDeclined, KindMemberLeft:
		if r.Issuer == owner {
			return "the owner is a member by ownership"
		}
	case KindStreamShared, KindStreamUnshared:
		if r.Stream.Owner != r.Issuer {
			return "only the stream's tenant may share it"
		}
	case KindRoleGranted, KindRoleRevoked:
		if r.User.Tenant != r.Issuer {
			return "a tenant grants roles to its own users only"
		}
	}
	return ""
}

// describe names the record's key for error messages, quoting every value:
// rejected records come from anywhere and must not forge log lines.
func describe(r Record) string {
	var b strings.Builder
	add := func(name, v string) {
		if v != "" {
			fmt.Fprintf(&b, " %s=%q", name, v)
		}
	}
	add("issuer", string(r.Issuer))
	add("community", string(r.Community))
	add("invitation", r.Invitation)
	add("tenant", string(r.Tenant))
	if r.Stream != (StreamRef{}) {
		add("stream", string(r.Stream.Owner)+"/"+r.Stream.Name)
	}
	if r.User != (UserID{}) {
		add("user", string(r.User.Tenant)+"/"+r.User.Name)
	}
	if r.Role != 0 {
		add("role", r.Role.String())
	}
	return b.String()
}
