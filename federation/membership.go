package federation

import (
	"context"

	"github.com/sluice-edge/sluice/policy"
)

// Member is a tenant of a community: the owner, a member, or a pending
// invitation ("invited", shown to the owner only).
type Member struct {
	Tenant policy.TenantID `json:"tenant"`
	Name   string          `json:"name,omitempty"`
	Status string          `json:"status"`
}

func (n *Node) members(st policy.State, ci policy.CommunityInfo) []Member {
	out := []Member{{Tenant: ci.Owner, Name: n.tenantName(ci.Owner), Status: "owner"}}
	seen := map[policy.TenantID]bool{ci.Owner: true}
	for _, m := range st.Members(ci.ID) {
		if seen[m.Tenant] {
			continue
		}
		seen[m.Tenant] = true
		out = append(out, Member{Tenant: m.Tenant, Name: n.tenantName(m.Tenant), Status: m.Status.String()})
	}
	// Invitations not answered yet show as "invited".
	if ci.Owner == n.self {
		for _, inv := range st.Invitations(ci.ID, n.opts.Now().UnixNano()) {
			if inv.Status == policy.InvitationPending {
				out = append(out, Member{Tenant: inv.Pin, Name: inv.Email, Status: "invited"})
			}
		}
	}
	return out
}

// Members lists a community's tenants. It does not block.
func (n *Node) Members(ref string) ([]Member, error) {
	ci, st, err := n.resolve(ref)
	if err != nil {
		return nil, err
	}
	return n.members(st, ci), nil
}

// Confirm takes a tenant that accepted an invitation into a community
// this tenant owns, and hands it the community's state and gossip key.
// Data flows only after this step.
func (n *Node) Confirm(ctx context.Context, ref, tenant string) (Member, error) {
	ci, st, err := n.owned(ref)
	if err != nil {
		return Member{}, err
	}
	t, err := n.ResolveTenant(tenant)
	if err != nil {
		return Member{}, err
	}
	var invitation string
	for _, m := range st.Members(ci.ID) {
		if m.Tenant == t {
			if m.Status == policy.MemberConfirmed {
				return Member{}, deny(409, "confirmed", "%s is already a confirmed member", n.displayTenant(t))
			}
			if m.Status == policy.MemberAccepted {
				invitation = m.Invitation
			}
		}
	}
	if invitation == "" {
		return Member{}, deny(409, "not_accepted", "%s has not accepted an invitation to %q", n.displayTenant(t), ci.Name)
	}
	// Members take an acceptance only with its confirmation (the owner
	// alone takes them in the handshake): gossip them together.
	acceptance := n.book.find(ci.ID, func(rec policy.Record) bool {
		return rec.Kind == policy.KindInvitationAccepted && rec.Invitation == invitation && rec.Issuer == t
	})
	if _, err := n.issueWith(ctx, policy.Record{Kind: policy.KindMemberConfirmed, Community: ci.ID, Invitation: invitation, Tenant: t}, acceptance); err != nil {
		return Member{}, deny(400, rejectReason(err), "%v", err)
	}
	n.reconcile() // make sure the key exists
	// Hand the new member the community's state and gossip key.
	st = n.book.snapshot()
	dir := map[policy.TenantID]tenantInfo{}
	for _, m := range participants(st, ci.ID) {
		if info, ok := n.local.tenant(m); ok {
			dir[m] = info
		}
	}
	wl := welcome{Community: ci.ID, Records: n.book.community(ci.ID), Key: n.local.key(ci.ID), Tenants: dir}
	if err := n.postJSON(ctx, t, "/fed/v1/welcome", wl, nil); err != nil {
		n.log.Warn("confirmed, but could not reach the member yet; it gets the state by gossip", "tenant", t, "err", err)
	}
	n.log.Info("member confirmed", "community", ci.ID, "tenant", t)
	return Member{Tenant: t, Name: n.tenantName(t), Status: "confirmed"}, nil
}

// Remove removes a tenant from a community this tenant owns; its reads
// end at once, and the community's gossip key is rotated.
func (n *Node) Remove(ctx context.Context, ref, tenant string) error {
	ci, st, err := n.owned(ref)
	if err != nil {
		return err
	}
	t, err := n.ResolveTenant(tenant)
	if err != nil {
		return err
	}
	if st.MemberStatus(ci.ID, t) == policy.MemberNone {
		return deny(404, "not_member", "%s is not a member of %q", n.displayTenant(t), ci.Name)
	}
	if _, err := n.issue(ctx, policy.Record{Kind: policy.KindMemberRemoved, Community: ci.ID, Tenant: t}, append(participants(st, ci.ID), t)...); err != nil {
		return deny(400, rejectReason(err), "%v", err)
	}
	n.rotateLater(ci.ID)
	n.log.Info("member removed", "community", ci.ID, "tenant", t)
	return nil
}

// Leave takes this tenant out of a community it does not own.
func (n *Node) Leave(ctx context.Context, ref string) error {
	ci, st, err := n.resolve(ref)
	if err != nil {
		return err
	}
	if ci.Owner == n.self {
		return deny(400, "owner", "the owner cannot leave %q; delete it instead", ci.Name)
	}
	if _, err := n.issue(ctx, policy.Record{Kind: policy.KindMemberLeft, Community: ci.ID}, participants(st, ci.ID)...); err != nil {
		return deny(400, rejectReason(err), "%v", err)
	}
	return nil
}
