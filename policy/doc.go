// Package policy holds every rule that decides who may see what in Sluice:
// the community and connection state machines, the roles, and the decisions
// on partner reads. It is pure: no I/O, no clock, no logging, no metrics;
// times are passed in. Federation and the API only ask it; they never decide
// by themselves. It imports only the standard library.
//
// # Identities
//
// A TenantID is the fingerprint of the tenant's Ed25519 key, read by
// federation from a verified certificate chain; policy treats it as opaque.
// A CommunityID is "<owner tenant id>/<nonce>": the owner binds itself into
// the id, so who owns a community is known from any of its records alone,
// before (or without) its created record. A stream is a StreamRef (owner
// tenant, name); a user is a UserID (tenant, name), so a user name means
// nothing outside its tenant.
//
// # Records and authority
//
// Shared state is a set of signed records (Record). Federation verifies the
// signature over Record.SigningBytes, a documented fixed-order binary
// encoding that ParseRecord reverses, and passes the record with its
// verified Issuer. Policy checks authority (Check): whether that issuer may
// make this statement, judging from the record alone:
//
//	community.created/deleted, invitation.issued/revoked,
//	member.confirmed/removed        the owner bound into the CommunityID
//	invitation.accepted/declined,
//	member.left                     any tenant but the owner; about itself
//	stream.shared/unshared          Stream.Owner
//	sharing.paused/resumed          any tenant; about its own sharing
//	role.granted/revoked            User.Tenant: a tenant's own users only
//	connection.requested/cancelled  the requester; connection.accepted/
//	                                rejected: the requested tenant
//
// Nobody may remove the owner, and no record names its issuer as the other
// tenant (no self-connection, no self-share). Authority never depends on
// other records, and that is what makes the merge order-independent.
//
// # State and merge
//
// A State holds one record per key; a key is what a record is about (for
// example "beta's acceptance of invitation i1 in community C", or "the share
// of stream S into C"), and every key has exactly one tenant with authority
// over it, so versions only compete within one issuer. Versions are Lamport
// counters: a tenant issues State.NextVersion, one more than anything it
// holds. For most keys the last writer wins (highest version, then issuer,
// then canonical bytes, so every tenant breaks ties the same way). Three
// statements may be made only once, and there the first (lowest) version
// stands and a different one is ErrConflict: an invitation, a tenant's
// response to it (accepted or declined: "accepted only once"), and the
// owner's confirmation of it. Deleting a community keeps only its
// tombstone and rejects its later records (ErrDeleted).
//
// Apply is thus a join: the state depends on the set of records applied,
// never on their order or repetition, so gossip may deliver them in any
// order, any number of times. Apply does not wait for prerequisites: a
// confirmation that arrives before the acceptance it confirms is kept, and
// every status (MemberStatus, Invitations, Connection, Authorize, ...) is
// derived from the whole set, so it takes effect when the acceptance comes.
// Errors wrap ErrMalformed, ErrNoAuthority, ErrExpired, ErrConflict or
// ErrDeleted and name the kind and key, for counting by reason.
//
// # Communities
//
// The owner issues an invitation naming the invitee by e-mail, optionally
// pinned to a tenant id. The invitation carries its absolute Expires,
// computed by the owner from its Config (14 days by default) when it
// issues it, so every tenant judges acceptances alike whatever its own
// configuration. An acceptance repeats that expiry and must be issued
// before it (Check: ErrExpired); it counts only if the expiry matches the
// invitation and, if the invitation is pinned, it comes from that tenant.
// The acceptance's time is the invitee's claim: the owner's agent should
// refuse, when it receives it in the handshake, an acceptance whose time is
// far from its own clock. The owner's confirmation names the tenant it
// admits, so an invitation admits at most one tenant, chosen by the owner
// (other tenants holding the token may accept, to no effect). A revocation
// issued before the confirmation (by version) voids the invitation; one
// issued after it changes nothing (use removal).
//
// Only a confirmed member may read or share; the owner always is one. A
// tenant's join version is that of the owner's latest confirmation that
// admitted it, its exit version the latest of the owner's removal and its
// own leave; it is confirmed while join > exit (the exit wins ties). A
// removed or departed tenant re-enters through a new invitation cycle: the
// owner confirms after it has seen the exit, so by Lamport's rule its
// confirmation carries a higher version. Each tenant can only push versions
// of its own keys, so inflating them (even to the maximum, where
// NextVersion saturates) only harms the relations that tenant controls.
//
// # Shares, constraints, pause
//
// A tenant shares its streams one by one into a Scope: a community, or a
// connection (the tenant that requested it reads). A share may carry
// Constraints the cloud products lack: a history window (not before an
// instant, or the last N days), an expiry, and a minimum resolution (only
// summaries at that interval or coarser, no raw points). Unsharing removes
// the stream and its whole history at once. A pause stops all of one
// tenant's sharing into one scope without touching its shares, so a resume
// restores exactly what was shared.
//
// # Connections
//
// A connection is one-way: A requests access to B (with a comment); B
// accepts with Access catalog or catalog+data and a required comment, or
// rejects with a required comment; A may cancel. An answer counts only for
// the request it follows, so a new request after a rejection is pending
// again. If A and B have requested each other and neither request was
// answered when the later was made, both are accepted at once, at catalog
// level (least privilege; B can grant data by accepting explicitly). Once
// either has cancelled a request to the other, their requests no longer pair
// by themselves. State.Connections gives a tenant's Paired, Incoming,
// Outgoing and Rejected lists.
//
// # Roles
//
// Each tenant grants roles to its own users only, per community or
// tenant-wide: community member (read), data steward (share, pause; needs
// member too, as one shares only where one can read), community admin
// (manage the tenant's users in the community) and tenant admin
// (tenant-wide; everything, including handshakes and connections). Two
// roles are for machines, tenant-wide only: ingest (a device or gateway:
// writes points to the streams under the name prefixes of its grant, and
// nothing else) and reader (a dashboard: reads local and shared streams
// and data views, and changes nothing). CanUser, RoleSet.Can and
// RoleSet.CanWrite answer a local user's request before the agent acts.
// An ingest grant's prefixes are not in the role record, whose encoding
// has no field for them: the agent keeps them with its grant, and
// WithinPrefixes is the rule it applies. Role values are appended, never
// renumbered, so existing records keep their meaning; RoleSet.Vouched is
// what an agent tells partners that may predate the new roles.
//
// # Decisions
//
// Authorize is default-deny. The owner of a stream evaluates every partner
// read with its own state, so an unshare, a pause or a removal takes effect
// on the very next request, with no gossip delay. It allows a read through a
// community only if both tenants are confirmed members, the stream is
// shared there, sharing is not paused, the share has not expired, the
// resolution is coarse enough and the range overlaps the share's window;
// the decision then carries the range clipped to that window. Over a
// connection, an accepted connection with the right access replaces
// membership. Every denial carries a machine-readable Reason; scope reasons
// come first, so a non-member learns nothing about a community's streams.
// Catalog lists the shares a tenant may see with exactly the same rules.
//
// Policy does not verify signatures, keep clocks, store or send records,
// authenticate local users, or check that a request is for the evaluating
// tenant's own stream: those belong to federation and the API.
package policy
