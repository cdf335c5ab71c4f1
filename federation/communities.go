package federation

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sort"
	"strings"

	"github.com/sluice-edge/sluice/federation/identity"
	"github.com/sluice-edge/sluice/policy"
)

// The community and connection management of this tenant, as a Go API
// for the agent's local API (agent/api serves it over HTTP, as
// docs/federation-api.md describes). Every action is this tenant's own;
// the users gate has checked the caller's roles before. Errors
// carry their HTTP status and a reason for scripts (ErrorStatus); an
// error of no status of ours means a partner's agent could not be asked.
// A community is named by ref: its id or its display name among those
// this tenant takes part in; a tenant by its id or its display name.

// Roles gives the local caller's roles in a community ("" for
// tenant-wide). It decides what a listing shows the caller; nil stands
// for a tenant admin.
type Roles func(c policy.CommunityID) policy.RoleSet

func (r Roles) of(c policy.CommunityID) policy.RoleSet {
	if r == nil {
		return policy.NewRoleSet(policy.RoleTenantAdmin)
	}
	return r(c)
}

// TenantCard is what a partner needs of this tenant.
type TenantCard struct {
	ID             policy.TenantID `json:"id"`
	Name           string          `json:"name"`
	FederationAddr string          `json:"federation_addr"`
	GossipAddr     string          `json:"gossip_addr"`
}

// Tenant describes this tenant and where partners reach its agent.
func (n *Node) Tenant() TenantCard {
	return TenantCard{ID: n.self, Name: n.id.Name(), FederationAddr: n.fedAddr, GossipAddr: n.GossipAddr()}
}

// Community is a community this tenant takes part in, as this tenant
// sees it.
type Community struct {
	ID        policy.CommunityID `json:"id"`
	Name      string             `json:"name"`
	Owner     policy.TenantID    `json:"owner"`
	OwnerName string             `json:"owner_name,omitempty"` // "" when not known yet
	Role      string             `json:"role"`                 // owner or member
	// Status is "owner", "deleted", or this tenant's member status
	// (accepted, confirmed, left, removed).
	Status string `json:"status"`
}

// Active reports whether data may flow in the community for this
// tenant: it is the owner or a confirmed member, and it is not deleted.
func (c Community) Active() bool { return c.Status == "owner" || c.Status == "confirmed" }

func (n *Node) community(st policy.State, ci policy.CommunityInfo) Community {
	out := Community{ID: ci.ID, Name: ci.Name, Owner: ci.Owner, OwnerName: n.tenantName(ci.Owner), Role: "member"}
	switch {
	case ci.Deleted:
		out.Status = "deleted"
	case ci.Owner == n.self:
		out.Role, out.Status = "owner", "owner"
	default:
		out.Status = st.MemberStatus(ci.ID, n.self).String()
	}
	return out
}

// Communities lists the communities this tenant owns or has answered an
// invitation to, those the caller's roles reach, sorted by name then id.
// It does not block.
func (n *Node) Communities(roles Roles) []Community {
	st := n.book.snapshot()
	out := []Community{}
	for _, ci := range st.Communities() {
		if ci.Owner != n.self && st.MemberStatus(ci.ID, n.self) == policy.MemberNone {
			continue
		}
		if rs := roles.of(ci.ID); !rs.Can(policy.ActionRead) && !rs.Can(policy.ActionManageUsers) && !rs.Can(policy.ActionAdminister) {
			continue
		}
		out = append(out, n.community(st, ci))
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// CreateCommunity creates a community this tenant owns.
func (n *Node) CreateCommunity(ctx context.Context, name string) (Community, error) {
	if strings.TrimSpace(name) == "" {
		return Community{}, deny(400, "bad_request", "name: empty")
	}
	for _, ci := range n.book.snapshot().Communities() {
		if ci.Owner == n.self && ci.Name == name && !ci.Deleted {
			return Community{}, deny(409, "exists", "this tenant already has a community named %q (%s)", name, ci.ID)
		}
	}
	id := policy.NewCommunityID(n.self, randomID(8))
	if _, err := n.issue(ctx, policy.Record{Kind: policy.KindCommunityCreated, Community: id, Name: name}); err != nil {
		return Community{}, deny(400, rejectReason(err), "%v", err)
	}
	st := n.book.snapshot()
	ci, _ := st.Community(id)
	n.log.Info("community created", "community", id, "name", name)
	return n.community(st, ci), nil
}

// CommunityDetail is a community with its members and shares, and, for
// the owner's administrators, its invitations.
type CommunityDetail struct {
	Community
	Members     []Member     `json:"members"`
	Invitations []Invitation `json:"invitations,omitempty"`
	Shares      []Share      `json:"shares"`
}

// Community describes one community. It does not block.
func (n *Node) Community(ref string, roles Roles) (CommunityDetail, error) {
	ci, st, err := n.resolve(ref)
	if err != nil {
		return CommunityDetail{}, err
	}
	out := CommunityDetail{Community: n.community(st, ci), Members: n.members(st, ci), Shares: n.shares(st, ci.ID)}
	if ci.Owner == n.self && roles.of(ci.ID).Can(policy.ActionAdminister) {
		out.Invitations = invitations(st, ci.ID, n.opts.Now().UnixNano())
	}
	return out, nil
}

// DeleteCommunity deletes a community this tenant owns, for every member.
func (n *Node) DeleteCommunity(ctx context.Context, ref string) error {
	ci, st, err := n.owned(ref)
	if err != nil {
		return err
	}
	if _, err := n.issue(ctx, policy.Record{Kind: policy.KindCommunityDeleted, Community: ci.ID}, participants(st, ci.ID)...); err != nil {
		return deny(400, rejectReason(err), "%v", err)
	}
	n.log.Info("community deleted", "community", ci.ID)
	return nil
}

// ResolveCommunity finds a community this tenant takes part in by id or
// display name (for the users gate, which checks per-community
// roles).
func (n *Node) ResolveCommunity(ctx context.Context, ref string) (policy.CommunityID, error) {
	ci, _, err := n.resolve(ref)
	return ci.ID, err
}

// resolve finds a community by id or by name among those this tenant
// takes part in.
func (n *Node) resolve(ref string) (policy.CommunityInfo, policy.State, error) {
	st := n.book.snapshot()
	if ci, ok := st.Community(policy.CommunityID(ref)); ok {
		return ci, st, nil
	}
	var found []policy.CommunityInfo
	for _, ci := range st.Communities() {
		if ci.Name == ref && !ci.Deleted && (ci.Owner == n.self || st.MemberStatus(ci.ID, n.self) != policy.MemberNone) {
			found = append(found, ci)
		}
	}
	switch len(found) {
	case 0:
		return policy.CommunityInfo{}, st, deny(404, "unknown_community", "no community %q", ref)
	case 1:
		return found[0], st, nil
	}
	ids := make([]string, len(found))
	for i, ci := range found {
		ids[i] = string(ci.ID)
	}
	return policy.CommunityInfo{}, st, deny(409, "ambiguous", "several communities are named %q; use an id: %s", ref, strings.Join(ids, ", "))
}

// owned resolves a community that this tenant owns and that still exists.
func (n *Node) owned(ref string) (policy.CommunityInfo, policy.State, error) {
	ci, st, err := n.resolve(ref)
	if err != nil {
		return ci, st, err
	}
	if ci.Deleted {
		return ci, st, deny(410, "community_deleted", "community %q was deleted", ci.Name)
	}
	if ci.Owner != n.self {
		return ci, st, deny(403, "not_owner", "only the owner (%s) can do this in %q", n.displayTenant(ci.Owner), ci.Name)
	}
	return ci, st, nil
}

// ResolveTenant finds a tenant by id or display name (the local API
// names partners either way).
func (n *Node) ResolveTenant(ref string) (policy.TenantID, error) {
	if id, err := identity.ParseID(ref); err == nil {
		return policy.TenantID(id), nil
	}
	ids := n.local.byName(ref)
	switch len(ids) {
	case 0:
		return "", deny(404, "unknown_tenant", "no tenant named %q is known to this agent (use its id)", ref)
	case 1:
		return ids[0], nil
	}
	return "", deny(409, "ambiguous", "several tenants are named %q; use an id", ref)
}

func (n *Node) tenantName(t policy.TenantID) string {
	if info, ok := n.local.tenant(t); ok {
		return info.Name
	}
	return ""
}

func (n *Node) displayTenant(t policy.TenantID) string {
	if name := n.tenantName(t); name != "" {
		return name + " (" + identity.ShortID(string(t)) + ")"
	}
	return string(t)
}

// participants are the owner and the confirmed members of a community,
// each once: the tenants whose agents hold its state.
func participants(st policy.State, c policy.CommunityID) []policy.TenantID {
	out := []policy.TenantID{c.Owner()}
	for _, m := range st.Members(c) {
		if m.Status == policy.MemberConfirmed && m.Tenant != c.Owner() {
			out = append(out, m.Tenant)
		}
	}
	return out
}

func randomID(nbytes int) string {
	b := make([]byte, nbytes)
	rand.Read(b)
	return hex.EncodeToString(b)
}
