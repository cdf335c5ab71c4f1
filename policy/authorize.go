package policy

import "time"

// ReadKind is what a partner asks of a stream.
type ReadKind uint8

const (
	ReadCatalog      ReadKind = iota + 1 // list or describe the stream; no data
	ReadWindow                           // raw points in [Start, End)
	ReadLatest                           // the latest raw point in [Start, End)
	ReadInterpolated                     // values interpolated in [Start, End)
	ReadSummaries                        // summaries per Interval in [Start, End)
)

var readNames = []string{"", "catalog", "window", "latest", "interpolated", "summaries"}

// String returns the read kind as audit records name it.
func (k ReadKind) String() string { return enumName(readNames, uint8(k), "read") }

// Reason is the machine-readable reason of a Decision, for the audit log,
// metrics labels and the partner's error message.
type Reason string

// Reasons, in the order Authorize checks them: the first that applies wins.
// Scope-level reasons come before any stream-level one, so a tenant that is
// not a confirmed member learns nothing about the community's streams.
const (
	ReasonAllowed           Reason = "allowed"
	ReasonBadRequest        Reason = "bad_request"         // malformed request
	ReasonUserMismatch      Reason = "user_mismatch"       // User is not a user of Requester
	ReasonRoleForbids       Reason = "role_forbids"        // the vouched roles do not allow reading
	ReasonUnknownCommunity  Reason = "unknown_community"   // no created record held
	ReasonCommunityDeleted  Reason = "community_deleted"   // the owner deleted it
	ReasonNotMember         Reason = "not_member"          // never accepted an invitation
	ReasonNotConfirmed      Reason = "not_confirmed"       // accepted, not yet confirmed by the owner
	ReasonRemoved           Reason = "removed"             // removed by the owner
	ReasonLeft              Reason = "left"                // left the community
	ReasonOwnerNotMember    Reason = "owner_not_member"    // the stream's tenant is not a confirmed member
	ReasonNoConnection      Reason = "no_connection"       // no accepted connection Requester -> owner
	ReasonCatalogOnly       Reason = "catalog_only"        // the connection grants the catalog only
	ReasonNotShared         Reason = "not_shared"          // never shared, or unshared
	ReasonPaused            Reason = "paused"              // the owner paused its sharing into the scope
	ReasonExpired           Reason = "expired"             // the share's expiry has passed
	ReasonResolutionTooFine Reason = "resolution_too_fine" // raw read, or summaries finer than allowed
	ReasonOutsideWindow     Reason = "outside_window"      // no part of the range is in the share's window
)

// Request is one partner read, as the owner of the stream evaluates it.
type Request struct {
	Requester TenantID      // from the verified mTLS chain, never from a header
	User      UserID        // optional: the requesting user, for the audit; must be Requester's
	Roles     RoleSet       // optional: the user's roles as Requester's agent vouches; 0 if unknown
	Community CommunityID   // the community read through; "" for a read over a connection
	Stream    StreamRef     // the stream; Stream.Owner is the tenant evaluating the request
	Read      ReadKind      // what is asked
	Interval  time.Duration // ReadSummaries: the summary interval (> 0)
	Start     int64         // [Start, End) in Unix ns; ignored for ReadCatalog
	End       int64
	Now       int64 // evaluation time in Unix ns (> 0), for expiry and lookback
}

// Decision is the answer to a Request. The zero Decision denies.
type Decision struct {
	Allow  bool
	Reason Reason
	Start  int64 // on allow of a data read: the range clipped to the share's window
	End    int64
	Share  Share // on allow: the share that permits the read, with its constraints
}

func deny(r Reason) Decision { return Decision{Reason: r} }

func (r Request) valid() bool {
	switch {
	case !validID(string(r.Requester)), r.User != (UserID{}) && !r.User.valid(), !r.Roles.valid(),
		r.Community != "" && !r.Community.valid(), !r.Stream.valid(),
		r.Read < ReadCatalog || r.Read > ReadSummaries,
		r.Read == ReadSummaries && r.Interval <= 0,
		r.Read != ReadCatalog && r.Start >= r.End,
		r.Now <= 0: // a forgotten Now must not skip expiry
		return false
	}
	return true
}

// Authorize decides a partner read. It is default-deny and pure: the owner
// of the stream calls it with its own state for every request, so an
// unshare, a pause or a removal applied locally takes effect on the very
// next request, with no gossip delay. Federation must only evaluate requests
// for streams of its own tenant, with Requester taken from the verified peer
// certificate.
//
// Through a community, it allows only if the community is known and not
// deleted, both Requester and Stream.Owner are confirmed members (the owner
// of the community always is), the stream is shared into the community, its
// tenant has not paused sharing there, the share has not expired, the read
// is summaries at no finer than the share's MinInterval when it sets one,
// and the range overlaps the share's Window. Over a connection (Community
// == ""), the connection Requester -> Stream.Owner must be accepted, with
// catalog+data for anything but ReadCatalog, and the stream shared into
// that connection; the other checks are the same. On allow, Start and End
// are the requested range clipped to the window.
func Authorize(s State, req Request) Decision {
	if !req.valid() {
		return deny(ReasonBadRequest)
	}
	g, reason := s.open(req.Requester, req.User, req.Roles, req.Community)
	if reason != "" {
		return deny(reason)
	}
	return g.decide(req.Stream, req.Read, req.Interval, req.Start, req.End, req.Now)
}

// CatalogRequest asks which streams a tenant may list in a scope.
type CatalogRequest struct {
	Requester TenantID    // from the verified mTLS chain, or the local tenant
	User      UserID      // optional, as in Request
	Roles     RoleSet     // optional, as in Request
	Community CommunityID // the community; "" for a connection
	Owner     TenantID    // connection: whose streams (required); community: optional filter
	Now       int64       // Unix ns (> 0)
}

func (r CatalogRequest) valid() bool {
	switch {
	case !validID(string(r.Requester)), r.User != (UserID{}) && !r.User.valid(), !r.Roles.valid(),
		r.Community != "" && !r.Community.valid(),
		(r.Community == "" || r.Owner != "") && !validID(string(r.Owner)),
		r.Now <= 0:
		return false
	}
	return true
}

// Catalog returns the shares the requester may list, by stream, with the
// scope-level decision: on deny the list is nil. It applies exactly the
// rules of Authorize with ReadCatalog to every share in the scope, so a
// stream appears in the catalog if and only if describing it is allowed:
// paused, expired, unshared streams and streams of tenants that are not
// confirmed members are left out.
func Catalog(s State, req CatalogRequest) ([]Share, Decision) {
	if !req.valid() {
		return nil, deny(ReasonBadRequest)
	}
	g, reason := s.open(req.Requester, req.User, req.Roles, req.Community)
	if reason == "" && req.Community == "" {
		reason = g.owner(req.Owner, ReadCatalog)
	}
	if reason != "" {
		return nil, deny(reason)
	}
	var out []Share
	for _, sh := range s.Shares(g.scope) {
		if req.Owner != "" && sh.Stream.Owner != req.Owner {
			continue
		}
		if d := g.decide(sh.Stream, ReadCatalog, 0, 0, 0, req.Now); d.Allow {
			out = append(out, d.Share)
		}
	}
	return out, Decision{Allow: true, Reason: ReasonAllowed}
}

// gate is what a decision knows about the requester and the scope, computed
// once so a catalog does not recompute memberships for every stream.
type gate struct {
	s         State
	requester TenantID
	scope     Scope
	members   map[TenantID]Member // community scopes only
}

// open checks who asks and through which scope, before any stream.
func (s State) open(requester TenantID, user UserID, roles RoleSet, c CommunityID) (gate, Reason) {
	g := gate{s: s, requester: requester, scope: Scope{Community: c}}
	switch {
	case user != (UserID{}) && user.Tenant != requester:
		return g, ReasonUserMismatch
	case roles != 0 && !roles.Can(ActionRead):
		return g, ReasonRoleForbids
	case c == "":
		g.scope.Reader = requester
		return g, ""
	}
	info, known := s.Community(c)
	switch {
	case !known:
		return g, ReasonUnknownCommunity
	case info.Deleted:
		return g, ReasonCommunityDeleted
	}
	g.members = s.members(c)
	switch g.members[requester].Status {
	case MemberConfirmed:
		return g, ""
	case MemberAccepted:
		return g, ReasonNotConfirmed
	case MemberRemoved:
		return g, ReasonRemoved
	case MemberLeft:
		return g, ReasonLeft
	}
	return g, ReasonNotMember
}

// owner checks the stream owner's side of the scope: a confirmed member of
// the community, or the target of an accepted connection from the requester.
func (g gate) owner(owner TenantID, read ReadKind) Reason {
	if g.scope.Community != "" {
		if g.members[owner].Status != MemberConfirmed {
			return ReasonOwnerNotMember
		}
		return ""
	}
	c := g.s.Connection(g.requester, owner)
	switch {
	case c.Status != ConnectionAccepted:
		return ReasonNoConnection
	case read != ReadCatalog && c.Access != AccessCatalogData:
		return ReasonCatalogOnly
	}
	return ""
}

func (g gate) decide(st StreamRef, read ReadKind, interval time.Duration, start, end, now int64) Decision {
	if reason := g.owner(st.Owner, read); reason != "" {
		return deny(reason)
	}
	sh, shared := g.s.share(g.scope, st)
	c := sh.Constraints
	switch {
	case !shared:
		return deny(ReasonNotShared)
	case g.s.Paused(g.scope, st.Owner):
		return deny(ReasonPaused)
	case c.Expires != 0 && now >= c.Expires:
		return deny(ReasonExpired)
	case read == ReadCatalog:
		return Decision{Allow: true, Reason: ReasonAllowed, Share: sh}
	case c.MinInterval > 0 && (read != ReadSummaries || interval < c.MinInterval):
		return deny(ReasonResolutionTooFine)
	}
	lo, hi := c.Window(now)
	start, end = max(start, lo), min(end, hi)
	if start >= end {
		return deny(ReasonOutsideWindow)
	}
	return Decision{Allow: true, Reason: ReasonAllowed, Start: start, End: end, Share: sh}
}
