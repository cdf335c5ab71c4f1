package policy

import (
	"cmp"
	"slices"
)

// CommunityInfo describes a community as a state knows it.
type CommunityInfo struct {
	ID      CommunityID
	Owner   TenantID
	Name    string // "" once deleted
	Deleted bool
	Version uint64 // of the created record, or of the deletion
}

// Community returns what s knows of community id: false until its created
// or deleted record has arrived.
func (s State) Community(id CommunityID) (CommunityInfo, bool) {
	if d, ok := s.get(key{slot: slotDeleted, community: id}); ok {
		return CommunityInfo{ID: id, Owner: id.Owner(), Deleted: true, Version: d.Version}, true
	}
	c, ok := s.get(key{slot: slotCommunity, community: id})
	if !ok {
		return CommunityInfo{}, false
	}
	return CommunityInfo{ID: id, Owner: id.Owner(), Name: c.Name, Version: c.Version}, true
}

// Communities lists the known communities, deleted ones included, by id.
func (s State) Communities() []CommunityInfo {
	var out []CommunityInfo
	for id := range s.buckets {
		if c, ok := s.Community(id); ok {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b CommunityInfo) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// MemberStatus is where a tenant stands in a community.
type MemberStatus uint8

const (
	MemberNone      MemberStatus = iota // nothing known
	MemberAccepted                      // accepted an invitation; awaiting the owner's confirmation
	MemberConfirmed                     // may read and share; the owner always is
	MemberRemoved                       // removed by the owner
	MemberLeft                          // left by itself
)

var memberNames = []string{"none", "accepted", "confirmed", "removed", "left"}

// String returns the status as the CLI prints it.
func (m MemberStatus) String() string { return enumName(memberNames, uint8(m), "member") }

// Member is one tenant's standing in a community.
type Member struct {
	Tenant     TenantID
	Status     MemberStatus
	Invitation string // the invitation behind Accepted or Confirmed
	Version    uint64 // of the record that decided Status
}

// MemberStatus returns t's standing in community c.
//
// Membership is derived from the set of records, never from their order. A
// tenant other than the owner is confirmed through an invitation I when all
// of these are held: I itself; the tenant's acceptance of I, repeating I's
// expiry (so it was made in time; Check rejects late ones) and from the
// pinned tenant if I pins one; and the owner's confirmation of I naming the
// tenant; and I was not revoked before that confirmation (by version).
// The tenant's join version is the highest version of such a confirmation.
// It is confirmed while that is above its exit version, the highest of the
// owner's removal and its own leave; on a tie the exit wins. Re-entry is
// therefore a new invitation cycle: the owner confirms after seeing the
// removal or leave, so its confirmation carries a higher Lamport version.
func (s State) MemberStatus(c CommunityID, t TenantID) MemberStatus {
	return s.members(c)[t].Status
}

// Members lists every tenant with a standing in c, the owner included once
// the community's created record is held, by tenant id.
func (s State) Members(c CommunityID) []Member {
	var out []Member
	for _, m := range s.members(c) {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b Member) int { return cmp.Compare(a.Tenant, b.Tenant) })
	return out
}

// responseCounts reports whether response resp (an acceptance or decline)
// counts for invitation inv: it comes from the pinned tenant, if any, and an
// acceptance repeats inv's expiry.
func responseCounts(inv, resp Record) bool {
	return (inv.Tenant == "" || inv.Tenant == resp.Issuer) &&
		(resp.Kind == KindInvitationDeclined || resp.Expires == inv.Expires)
}

// admits reports whether invitation inv admitted tenant t: see MemberStatus.
func admits(b map[key]Record, inv Record, t TenantID) (Record, bool) {
	conf, confirmed := b[key{slot: slotConfirm, community: inv.Community, invitation: inv.Invitation}]
	resp, responded := b[key{slot: slotResponse, community: inv.Community, invitation: inv.Invitation, tenant: t}]
	rev, revoked := b[key{slot: slotRevoked, community: inv.Community, invitation: inv.Invitation}]
	ok := confirmed && conf.Tenant == t && responded && resp.Kind == KindInvitationAccepted &&
		responseCounts(inv, resp) && !(revoked && rev.Version <= conf.Version)
	return conf, ok
}

func (s State) members(c CommunityID) map[TenantID]Member {
	b := s.buckets[c]
	out := map[TenantID]Member{}
	if created, ok := b[key{slot: slotCommunity, community: c}]; ok {
		out[c.Owner()] = Member{Tenant: c.Owner(), Status: MemberConfirmed, Version: created.Version}
	}
	type tally struct {
		join, accepted, exit Member
	}
	tallies := map[TenantID]*tally{}
	at := func(t TenantID) *tally {
		if tallies[t] == nil {
			tallies[t] = &tally{}
		}
		return tallies[t]
	}
	// later keeps in m the latest of its kind. On equal versions a removal
	// beats a leave (the owner's word stands) and the lower invitation id
	// wins, so that the result never depends on map order.
	later := func(m *Member, status MemberStatus, r Record, inv string) {
		switch {
		case r.Version > m.Version,
			r.Version == m.Version && status == MemberRemoved,
			r.Version == m.Version && status == m.Status && inv < m.Invitation:
			*m = Member{Status: status, Invitation: inv, Version: r.Version}
		}
	}
	for k, r := range b {
		switch k.slot {
		case slotResponse:
			inv, ok := b[key{slot: slotInvitation, community: c, invitation: k.invitation}]
			if !ok || r.Kind != KindInvitationAccepted || !responseCounts(inv, r) {
				continue
			}
			_, confirmed := b[key{slot: slotConfirm, community: c, invitation: k.invitation}]
			_, revoked := b[key{slot: slotRevoked, community: c, invitation: k.invitation}]
			if conf, ok := admits(b, inv, k.tenant); ok {
				later(&at(k.tenant).join, MemberConfirmed, conf, k.invitation)
			} else if !confirmed && !revoked {
				later(&at(k.tenant).accepted, MemberAccepted, r, k.invitation)
			}
			// Otherwise the invitation was used by another tenant or revoked.
		case slotRemoved:
			later(&at(k.tenant).exit, MemberRemoved, r, "")
		case slotLeft:
			later(&at(k.tenant).exit, MemberLeft, r, "")
		}
	}
	for t, x := range tallies {
		m := x.exit // every tally holds at least one record, so m is set below if not here
		switch {
		case x.join.Version > x.exit.Version:
			m = x.join
		case x.accepted.Version > x.exit.Version:
			m = x.accepted
		}
		m.Tenant = t
		out[t] = m
	}
	return out
}

// InvitationStatus is where an invitation stands.
type InvitationStatus uint8

const (
	InvitationPending   InvitationStatus = iota + 1 // issued, no response yet
	InvitationExpired                               // no acceptance before its expiry
	InvitationAccepted                              // accepted; awaiting confirmation
	InvitationDeclined                              // declined by the invitee
	InvitationRevoked                               // revoked before confirmation
	InvitationConfirmed                             // admitted Tenant
)

var invitationNames = []string{"", "pending", "expired", "accepted", "declined", "revoked", "confirmed"}

// String returns the status as the CLI prints it.
func (i InvitationStatus) String() string { return enumName(invitationNames, uint8(i), "invitation") }

// Invitation describes one invitation as the owner's console shows it.
type Invitation struct {
	ID        string
	Community CommunityID
	Email     string
	Pin       TenantID // the only tenant that may accept, if set
	Issued    int64
	Expires   int64
	Status    InvitationStatus
	Tenant    TenantID // who accepted, declined or was confirmed
	Version   uint64
}

// Invitations lists the invitations of community c at time now, by issue
// time then id. Status takes the first that holds of: confirmed (it admitted
// a tenant, see MemberStatus), revoked, accepted (the earliest acceptance
// that counts), declined, expired (now >= Expires), pending. An invitation
// admits at most one tenant: the one the owner's confirmation names.
func (s State) Invitations(c CommunityID, now int64) []Invitation {
	b := s.buckets[c]
	responses := map[string][]Record{}
	for k, r := range b {
		if k.slot == slotResponse {
			responses[k.invitation] = append(responses[k.invitation], r)
		}
	}
	var out []Invitation
	for k, inv := range b {
		if k.slot != slotInvitation {
			continue
		}
		v := Invitation{ID: inv.Invitation, Community: c, Email: inv.Email, Pin: inv.Tenant,
			Issued: inv.Time, Expires: inv.Expires, Status: InvitationPending, Version: inv.Version}
		// The earliest acceptance and decline that count, by version.
		var accepted, declined *Record
		for _, r := range responses[k.invitation] {
			first := &accepted
			if r.Kind == KindInvitationDeclined {
				first = &declined
			}
			if responseCounts(inv, r) && (*first == nil || compareRecords(r, **first) < 0) {
				*first = &r
			}
		}
		_, revoked := b[key{slot: slotRevoked, community: c, invitation: k.invitation}]
		conf, confirmed := b[key{slot: slotConfirm, community: c, invitation: k.invitation}]
		if confirmed {
			_, confirmed = admits(b, inv, conf.Tenant)
		}
		switch {
		case confirmed:
			v.Status, v.Tenant = InvitationConfirmed, conf.Tenant
		case revoked:
			v.Status = InvitationRevoked
		case accepted != nil:
			v.Status, v.Tenant = InvitationAccepted, accepted.Issuer
		case declined != nil:
			v.Status, v.Tenant = InvitationDeclined, declined.Issuer
		case now >= inv.Expires:
			v.Status = InvitationExpired
		}
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b Invitation) int {
		return cmp.Or(cmp.Compare(a.Issued, b.Issued), cmp.Compare(a.ID, b.ID))
	})
	return out
}
