package federation

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sluice-edge/sluice/configs"
	"github.com/sluice-edge/sluice/connectors"
	"github.com/sluice-edge/sluice/federation/gossip"
	"github.com/sluice-edge/sluice/federation/identity"
	"github.com/sluice-edge/sluice/policy"
)

// LocalHandler serves the federation part of the agent's local API
// (docs/federation-api.md). The agent mounts it behind its own
// authentication; every action here is this tenant's own.
func (n *Node) LocalHandler() http.Handler {
	mux := http.NewServeMux()
	n.localPatterns = nil
	h := func(pattern string, f func(w http.ResponseWriter, r *http.Request) error) {
		n.localPatterns = append(n.localPatterns, pattern)
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
			if err := f(w, r); err != nil {
				code, reason, retry, ok := ErrorStatus(err)
				if !ok {
					n.log.Error("federation request failed", "path", r.URL.Path, "err", err)
				}
				if retry != "" {
					w.Header().Set("Retry-After", retry)
				}
				fedError(w, code, err.Error(), reason)
			}
		})
	}
	h("GET /api/v1/tenant", n.getTenant)
	h("GET /api/v1/communities", n.listCommunities)
	h("POST /api/v1/communities", n.createCommunity)
	h("GET /api/v1/communities/{c}", n.showCommunity)
	h("DELETE /api/v1/communities/{c}", n.deleteCommunity)
	h("POST /api/v1/communities/{c}/invitations", n.invite)
	h("GET /api/v1/communities/{c}/invitations", n.listInvitations)
	h("DELETE /api/v1/communities/{c}/invitations/{id}", n.revokeInvitation)
	h("GET /api/v1/communities/{c}/members", n.listMembers)
	h("POST /api/v1/communities/{c}/members/{tenant}/confirm", n.confirm)
	h("DELETE /api/v1/communities/{c}/members/{tenant}", n.remove)
	h("POST /api/v1/communities/{c}/leave", n.leave)
	h("POST /api/v1/communities/{c}/pause", n.pauseResume(policy.KindSharingPaused))
	h("POST /api/v1/communities/{c}/resume", n.pauseResume(policy.KindSharingResumed))
	h("POST /api/v1/communities/{c}/shares", n.share)
	h("DELETE /api/v1/communities/{c}/shares/{stream}", n.unshare)
	h("GET /api/v1/communities/{c}/catalog", n.catalog)
	h("POST /api/v1/invitations/accept", n.answerInvitation(policy.KindInvitationAccepted))
	h("POST /api/v1/invitations/decline", n.answerInvitation(policy.KindInvitationDeclined))
	n.connectionRoutes(h)
	return mux
}

func (n *Node) getTenant(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, 200, map[string]string{"id": string(n.self), "name": n.id.Name(),
		"federation_addr": n.fedAddr, "gossip_addr": n.GossipAddr()})
	return nil
}

// communityJSON is a community as the local API shows it.
type communityJSON struct {
	ID        policy.CommunityID `json:"id"`
	Name      string             `json:"name"`
	Owner     policy.TenantID    `json:"owner"`
	OwnerName string             `json:"owner_name,omitempty"`
	Role      string             `json:"role"`
	Status    string             `json:"status"`
}

func (n *Node) tenantName(t policy.TenantID) string {
	if info, ok := n.local.tenant(t); ok {
		return info.Name
	}
	return ""
}

func (n *Node) communityJSON(st policy.State, ci policy.CommunityInfo) communityJSON {
	out := communityJSON{ID: ci.ID, Name: ci.Name, Owner: ci.Owner, OwnerName: n.tenantName(ci.Owner), Role: "member"}
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

func (n *Node) listCommunities(w http.ResponseWriter, r *http.Request) error {
	st := n.book.snapshot()
	out := []communityJSON{}
	for _, ci := range st.Communities() {
		if ci.Owner != n.self && st.MemberStatus(ci.ID, n.self) == policy.MemberNone {
			continue
		}
		// A user sees the communities its roles reach, no others.
		if _, roles := n.caller(r.Context(), ci.ID); !roles.Can(policy.ActionRead) && !roles.Can(policy.ActionManageUsers) && !roles.Can(policy.ActionAdminister) {
			continue
		}
		out = append(out, n.communityJSON(st, ci))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	writeJSON(w, 200, out)
	return nil
}

func (n *Node) createCommunity(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Name string `json:"name"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if strings.TrimSpace(req.Name) == "" {
		return deny(400, "bad_request", "name: empty")
	}
	st := n.book.snapshot()
	for _, ci := range st.Communities() {
		if ci.Owner == n.self && ci.Name == req.Name && !ci.Deleted {
			return deny(409, "exists", "this tenant already has a community named %q (%s)", req.Name, ci.ID)
		}
	}
	id := policy.NewCommunityID(n.self, randomID(8))
	if _, err := n.issue(r.Context(), policy.Record{Kind: policy.KindCommunityCreated, Community: id, Name: req.Name}); err != nil {
		return deny(400, rejectReason(err), "%v", err)
	}
	st = n.book.snapshot()
	ci, _ := st.Community(id)
	n.log.Info("community created", "community", id, "name", req.Name)
	writeJSON(w, 201, n.communityJSON(st, ci))
	return nil
}

// LocalRoutes lists the patterns LocalHandler serves.
func (n *Node) LocalRoutes() []string { return append([]string(nil), n.localPatterns...) }

// ResolveCommunity finds a community this tenant takes part in by id or
// display name (for the users middleware, which checks per-community
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

func (n *Node) owned(r *http.Request) (policy.CommunityInfo, policy.State, error) {
	ci, st, err := n.resolve(r.PathValue("c"))
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

// ResolveTenant finds a tenant by id or display name (for the local API,
// which names partners either way).
func (n *Node) ResolveTenant(ref string) (policy.TenantID, error) { return n.resolveTenant(ref) }

// resolveTenant finds a tenant by id or display name.
func (n *Node) resolveTenant(ref string) (policy.TenantID, error) {
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

func (n *Node) displayTenant(t policy.TenantID) string {
	if name := n.tenantName(t); name != "" {
		return name + " (" + identity.ShortID(string(t)) + ")"
	}
	return string(t)
}

type memberJSON struct {
	Tenant policy.TenantID `json:"tenant"`
	Name   string          `json:"name,omitempty"`
	Status string          `json:"status"`
}

func (n *Node) members(st policy.State, ci policy.CommunityInfo) []memberJSON {
	out := []memberJSON{{Tenant: ci.Owner, Name: n.tenantName(ci.Owner), Status: "owner"}}
	seen := map[policy.TenantID]bool{ci.Owner: true}
	for _, m := range st.Members(ci.ID) {
		if seen[m.Tenant] {
			continue
		}
		seen[m.Tenant] = true
		out = append(out, memberJSON{Tenant: m.Tenant, Name: n.tenantName(m.Tenant), Status: m.Status.String()})
	}
	// Invitations not answered yet show as "invited".
	if ci.Owner == n.self {
		for _, inv := range st.Invitations(ci.ID, n.opts.Now().UnixNano()) {
			if inv.Status == policy.InvitationPending {
				out = append(out, memberJSON{Tenant: inv.Pin, Name: inv.Email, Status: "invited"})
			}
		}
	}
	return out
}

type invitationJSON struct {
	ID      string          `json:"id"`
	Email   string          `json:"email"`
	Status  string          `json:"status"`
	Expires time.Time       `json:"expires"`
	Tenant  policy.TenantID `json:"tenant,omitempty"`
}

func invitations(st policy.State, c policy.CommunityID, now int64) []invitationJSON {
	out := []invitationJSON{}
	for _, inv := range st.Invitations(c, now) {
		out = append(out, invitationJSON{ID: inv.ID, Email: inv.Email, Status: inv.Status.String(),
			Expires: time.Unix(0, inv.Expires).UTC(), Tenant: inv.Tenant})
	}
	return out
}

type shareJSON struct {
	Tenant     policy.TenantID `json:"tenant"`
	TenantName string          `json:"tenant_name,omitempty"`
	Stream     string          `json:"stream"`
	constraintsJSON
	Paused bool `json:"paused"`
}

func (n *Node) shares(st policy.State, c policy.CommunityID) []shareJSON {
	out := []shareJSON{}
	sc := policy.Scope{Community: c}
	for _, s := range st.Shares(sc) {
		out = append(out, shareJSON{Tenant: s.Stream.Owner, TenantName: n.tenantName(s.Stream.Owner), Stream: s.Stream.Name,
			constraintsJSON: constraintsOf(s.Constraints), Paused: st.Paused(sc, s.Stream.Owner)})
	}
	return out
}

func (n *Node) showCommunity(w http.ResponseWriter, r *http.Request) error {
	ci, st, err := n.resolve(r.PathValue("c"))
	if err != nil {
		return err
	}
	out := struct {
		communityJSON
		Members     []memberJSON     `json:"members"`
		Invitations []invitationJSON `json:"invitations,omitempty"`
		Shares      []shareJSON      `json:"shares"`
	}{communityJSON: n.communityJSON(st, ci), Members: n.members(st, ci), Shares: n.shares(st, ci.ID)}
	if _, roles := n.caller(r.Context(), ci.ID); ci.Owner == n.self && roles.Can(policy.ActionAdminister) {
		out.Invitations = invitations(st, ci.ID, n.opts.Now().UnixNano())
	}
	writeJSON(w, 200, out)
	return nil
}

func (n *Node) deleteCommunity(w http.ResponseWriter, r *http.Request) error {
	ci, st, err := n.owned(r)
	if err != nil {
		return err
	}
	if _, err := n.issue(r.Context(), policy.Record{Kind: policy.KindCommunityDeleted, Community: ci.ID}, participants(st, ci.ID)...); err != nil {
		return deny(400, rejectReason(err), "%v", err)
	}
	n.log.Info("community deleted", "community", ci.ID)
	w.WriteHeader(204)
	return nil
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

// token is an invitation as it travels out of band: the signed invitation
// record and where to reach the owner. It is self-certifying: the record's
// key fingerprint is the owner's tenant id, which the community id embeds.
type token struct {
	V         int      `json:"v"`
	Env       Envelope `json:"env"`
	Name      string   `json:"name"`
	OwnerName string   `json:"owner_name"`
	Fed       string   `json:"fed"`
	Gossip    string   `json:"gossip"`
	// Secret proves to the owner that the invitee was sent this token.
	// Members see the invitation record by gossip, never the secret.
	Secret string `json:"secret,omitempty"`
}

func (t token) encode() string {
	b, _ := json.Marshal(t)
	return "sluice-invite-" + base64.RawURLEncoding.EncodeToString(b)
}

func parseToken(s string) (token, policy.Record, error) {
	var t token
	s = strings.TrimSpace(s)
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(s, "sluice-invite-"))
	if err != nil || !strings.HasPrefix(s, "sluice-invite-") || json.Unmarshal(raw, &t) != nil || t.V != 1 {
		return t, policy.Record{}, deny(400, "malformed", "not an invitation token (it starts with sluice-invite-)")
	}
	rec, err := t.Env.open()
	if err != nil {
		return t, rec, deny(400, "signature", "invitation token: %v", err)
	}
	if rec.Kind != policy.KindInvitationIssued || rec.Issuer != rec.Community.Owner() {
		return t, rec, deny(400, "authority", "invitation token is not an invitation signed by the community's owner")
	}
	return t, rec, nil
}

func (n *Node) invite(w http.ResponseWriter, r *http.Request) error {
	ci, _, err := n.owned(r)
	if err != nil {
		return err
	}
	var req struct {
		Email  string `json:"email"`
		Tenant string `json:"tenant"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if !strings.Contains(req.Email, "@") {
		return deny(400, "bad_request", "email: %q is not an e-mail address", req.Email)
	}
	rec := policy.Record{Kind: policy.KindInvitationIssued, Community: ci.ID, Invitation: randomID(8), Email: req.Email}
	if req.Tenant != "" {
		t, err := n.resolveTenant(req.Tenant)
		if err != nil {
			return err
		}
		rec.Tenant = t
	}
	rec.Time = n.opts.Now().UnixNano()
	rec.Expires = n.opts.Policy.InvitationExpires(rec.Time)
	// The secret is kept before the invitation exists, so an acceptance
	// can never arrive for an invitation whose secret was lost.
	secret := randomID(32)
	if err := n.local.setSecret(ci.ID, rec.Invitation, secret); err != nil {
		return fmt.Errorf("invitation: %w", err)
	}
	env, err := n.issue(r.Context(), rec)
	if err != nil {
		return deny(400, rejectReason(err), "%v", err)
	}
	tok := token{V: 1, Env: env, Name: ci.Name, OwnerName: n.id.Name(), Fed: n.fedAddr, Gossip: n.GossipAddr(), Secret: secret}
	n.log.Info("invitation issued", "community", ci.ID, "invitation", rec.Invitation, "email", req.Email)
	out := map[string]any{"id": rec.Invitation, "token": tok.encode(), "expires": time.Unix(0, rec.Expires).UTC()}
	if n.opts.SendMail != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
		err := n.opts.SendMail(ctx, req.Email, invitationSubject(n.id.Name(), ci.Name), invitationBody(n.id.Name(), ci.Name, tok.encode(), rec.Expires))
		cancel()
		if err != nil {
			// The invitation stands; the admin can still pass the token on.
			n.log.Warn("could not e-mail the invitation", "email", req.Email, "err", err)
			out["email_error"] = err.Error()
		} else {
			out["emailed"] = req.Email
		}
	}
	writeJSON(w, 201, out)
	return nil
}

func invitationSubject(owner, community string) string {
	return fmt.Sprintf("%s invites you to the data-sharing community %q", owner, community)
}

func invitationBody(owner, community, token string, expires int64) string {
	return fmt.Sprintf(`%s invites your company to the Sluice community %q.

To accept, run this on your company's own Sluice agent (as its admin):

    sluice invitation accept %s

Your agent will contact %s's agent over mutual TLS and hand over your
acceptance; %s then confirms you, and only then can either side see the
other's shared data. The invitation expires at %s.

To decline: sluice invitation decline TOKEN (the same token).
`, owner, community, token, owner, owner, time.Unix(0, expires).UTC().Format(time.RFC1123))
}

func (n *Node) listInvitations(w http.ResponseWriter, r *http.Request) error {
	ci, st, err := n.owned(r)
	if err != nil {
		return err
	}
	writeJSON(w, 200, invitations(st, ci.ID, n.opts.Now().UnixNano()))
	return nil
}

func (n *Node) revokeInvitation(w http.ResponseWriter, r *http.Request) error {
	ci, st, err := n.owned(r)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	if _, ok := findInvitation(st, ci.ID, id, n.opts.Now().UnixNano()); !ok {
		return deny(404, "unknown_invitation", "no invitation %s in %q", id, ci.Name)
	}
	if _, err := n.issue(r.Context(), policy.Record{Kind: policy.KindInvitationRevoked, Community: ci.ID, Invitation: id}); err != nil {
		return deny(400, rejectReason(err), "%v", err)
	}
	w.WriteHeader(204)
	return nil
}

func (n *Node) listMembers(w http.ResponseWriter, r *http.Request) error {
	ci, st, err := n.resolve(r.PathValue("c"))
	if err != nil {
		return err
	}
	writeJSON(w, 200, n.members(st, ci))
	return nil
}

// answerInvitation accepts or declines a token on the invitee's side: it
// checks the token, then hands the signed answer to the owner's agent over
// mTLS, pinned to the owner's tenant id from the token.
func (n *Node) answerInvitation(kind policy.Kind) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		var req struct {
			Token string `json:"token"`
		}
		if err := decodeBody(r, &req); err != nil {
			return err
		}
		tok, inv, err := parseToken(req.Token)
		if err != nil {
			return err
		}
		now := n.opts.Now().UnixNano()
		switch {
		case inv.Issuer == n.self:
			return deny(400, "bad_request", "this is your own invitation; give the token to the partner")
		case inv.Expires <= now:
			return deny(410, "expired", "invitation expired at %s", time.Unix(0, inv.Expires).UTC().Format(time.RFC3339))
		case inv.Tenant != "" && inv.Tenant != n.self:
			return deny(403, "not_invited", "this invitation is for tenant %s, not this one", identity.ShortID(string(inv.Tenant)))
		}
		ans := policy.Record{Kind: kind, Issuer: n.self, Community: inv.Community, Invitation: inv.Invitation,
			Expires: inv.Expires, Time: now}
		if ans.Version = n.book.snapshot().NextVersion(n.self, now); ans.Version == 0 {
			return errors.New("this tenant's record clock is exhausted: no record can be issued")
		}
		env := n.seal(ans)
		owner := inv.Issuer
		n.local.setTenant(owner, tenantInfo{Name: tok.OwnerName, Fed: tok.Fed, Gossip: tok.Gossip})
		body, _ := json.Marshal(acceptRequest{Envelope: env, Secret: tok.Secret, Name: n.id.Name(), Fed: n.fedAddr, Gossip: n.GossipAddr()})
		resp, err := n.call(r.Context(), owner, tok.Fed, "POST", "/fed/v1/accept", nil, bytes.NewReader(body))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var ans2 struct {
			Records []Envelope `json:"records"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&ans2); err != nil {
			return fmt.Errorf("owner's answer: %w", err)
		}
		n.accept(append(ans2.Records, env), "accept", true)
		n.log.Info("invitation answered", "community", inv.Community, "kind", kind, "owner", owner)
		if kind == policy.KindInvitationDeclined {
			w.WriteHeader(204)
			return nil
		}
		writeJSON(w, 200, map[string]string{"community": string(inv.Community), "name": tok.Name, "owner": string(owner), "owner_name": tok.OwnerName})
		return nil
	}
}

func (n *Node) confirm(w http.ResponseWriter, r *http.Request) error {
	ci, st, err := n.owned(r)
	if err != nil {
		return err
	}
	t, err := n.resolveTenant(r.PathValue("tenant"))
	if err != nil {
		return err
	}
	var invitation string
	for _, m := range st.Members(ci.ID) {
		if m.Tenant == t {
			if m.Status == policy.MemberConfirmed {
				return deny(409, "confirmed", "%s is already a confirmed member", n.displayTenant(t))
			}
			if m.Status == policy.MemberAccepted {
				invitation = m.Invitation
			}
		}
	}
	if invitation == "" {
		return deny(409, "not_accepted", "%s has not accepted an invitation to %q", n.displayTenant(t), ci.Name)
	}
	// Members take an acceptance only with its confirmation (the owner
	// alone takes them in the handshake): gossip them together.
	acceptance := n.book.find(ci.ID, func(rec policy.Record) bool {
		return rec.Kind == policy.KindInvitationAccepted && rec.Invitation == invitation && rec.Issuer == t
	})
	if _, err := n.issueWith(r.Context(), policy.Record{Kind: policy.KindMemberConfirmed, Community: ci.ID, Invitation: invitation, Tenant: t}, acceptance); err != nil {
		return deny(400, rejectReason(err), "%v", err)
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
	if err := n.postJSON(r.Context(), t, "/fed/v1/welcome", wl, nil); err != nil {
		n.log.Warn("confirmed, but could not reach the member yet; it gets the state by gossip", "tenant", t, "err", err)
	}
	n.log.Info("member confirmed", "community", ci.ID, "tenant", t)
	writeJSON(w, 200, memberJSON{Tenant: t, Name: n.tenantName(t), Status: "confirmed"})
	return nil
}

func (n *Node) remove(w http.ResponseWriter, r *http.Request) error {
	ci, st, err := n.owned(r)
	if err != nil {
		return err
	}
	t, err := n.resolveTenant(r.PathValue("tenant"))
	if err != nil {
		return err
	}
	if st.MemberStatus(ci.ID, t) == policy.MemberNone {
		return deny(404, "not_member", "%s is not a member of %q", n.displayTenant(t), ci.Name)
	}
	if _, err := n.issue(r.Context(), policy.Record{Kind: policy.KindMemberRemoved, Community: ci.ID, Tenant: t}, append(participants(st, ci.ID), t)...); err != nil {
		return deny(400, rejectReason(err), "%v", err)
	}
	n.rotateLater(ci.ID)
	n.log.Info("member removed", "community", ci.ID, "tenant", t)
	w.WriteHeader(204)
	return nil
}

func (n *Node) leave(w http.ResponseWriter, r *http.Request) error {
	ci, st, err := n.resolve(r.PathValue("c"))
	if err != nil {
		return err
	}
	if ci.Owner == n.self {
		return deny(400, "owner", "the owner cannot leave %q; delete it instead", ci.Name)
	}
	if _, err := n.issue(r.Context(), policy.Record{Kind: policy.KindMemberLeft, Community: ci.ID}, participants(st, ci.ID)...); err != nil {
		return deny(400, rejectReason(err), "%v", err)
	}
	w.WriteHeader(204)
	return nil
}

func (n *Node) pauseResume(kind policy.Kind) func(w http.ResponseWriter, r *http.Request) error {
	pause := kind == policy.KindSharingPaused
	word := map[bool]string{true: "paused", false: "resumed"}[pause]
	return func(w http.ResponseWriter, r *http.Request) error {
		ci, st, err := n.resolve(r.PathValue("c"))
		if err != nil {
			return err
		}
		scope := policy.Scope{Community: ci.ID}
		if st.Paused(scope, n.self) == pause {
			return deny(409, "unchanged", "sharing into %q is already %s", ci.Name, word)
		}
		if _, err := n.issue(r.Context(), policy.Record{Kind: kind, Community: ci.ID}, participants(st, ci.ID)...); err != nil {
			return deny(409, rejectReason(err), "%v", err)
		}
		// Say "paused" only if the state this agent decides reads with
		// says so.
		if n.book.snapshot().Paused(scope, n.self) != pause {
			return fmt.Errorf("sharing into %q was not %s: a record held here overrides it", ci.Name, word)
		}
		n.log.Info("sharing "+word, "community", ci.ID)
		w.WriteHeader(204)
		return nil
	}
}

func (n *Node) share(w http.ResponseWriter, r *http.Request) error {
	ci, st, err := n.resolve(r.PathValue("c"))
	if err != nil {
		return err
	}
	var req shareRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	c, err := n.constraints(r.Context(), req)
	if err != nil {
		return err
	}
	rec := policy.Record{Kind: policy.KindStreamShared, Community: ci.ID, Stream: policy.StreamRef{Owner: n.self, Name: req.Stream}, Constraints: c}
	if _, err := n.issue(r.Context(), rec, participants(st, ci.ID)...); err != nil {
		return deny(400, rejectReason(err), "%v", err)
	}
	n.log.Info("stream shared", "community", ci.ID, "stream", req.Stream)
	writeJSON(w, 201, shareJSON{Tenant: n.self, TenantName: n.id.Name(), Stream: req.Stream, constraintsJSON: constraintsOf(c)})
	return nil
}

func (n *Node) unshare(w http.ResponseWriter, r *http.Request) error {
	ci, st, err := n.resolve(r.PathValue("c"))
	if err != nil {
		return err
	}
	ref := policy.StreamRef{Owner: n.self, Name: r.PathValue("stream")}
	found := false
	for _, s := range st.Shares(policy.Scope{Community: ci.ID}) {
		found = found || s.Stream == ref
	}
	if !found {
		return deny(404, "not_shared", "stream %q is not shared into %q", ref.Name, ci.Name)
	}
	if _, err := n.issue(r.Context(), policy.Record{Kind: policy.KindStreamUnshared, Community: ci.ID, Stream: ref}, participants(st, ci.ID)...); err != nil {
		return deny(409, rejectReason(err), "%v", err)
	}
	for _, s := range n.book.snapshot().Shares(policy.Scope{Community: ci.ID}) {
		if s.Stream == ref {
			return fmt.Errorf("stream %q is still shared into %q: a record held here overrides the unshare", ref.Name, ci.Name)
		}
	}
	n.log.Info("stream unshared", "community", ci.ID, "stream", ref.Name)
	w.WriteHeader(204)
	return nil
}

// shareRequest is the body of a share, into a community or a connection.
type shareRequest struct {
	Stream      string `json:"stream"`
	HistoryFrom string `json:"history_from"`
	Lookback    string `json:"lookback"`
	Expires     string `json:"expires"`
	MinInterval string `json:"min_interval"`
}

// constraints checks that the stream is this tenant's and reads the
// share's limits.
func (n *Node) constraints(ctx context.Context, req shareRequest) (policy.Constraints, error) {
	var c policy.Constraints
	if _, err := n.opts.Reader.StreamInfo(ctx, req.Stream); err != nil {
		return c, deny(404, "unknown_stream", "stream %q: %v", req.Stream, err)
	}
	now := n.opts.Now()
	var err error
	if req.HistoryFrom != "" {
		if c.NotBefore, err = n.opts.ParseTime(req.HistoryFrom, now); err != nil {
			return c, deny(400, "bad_request", "history_from: %v", err)
		}
	}
	if req.Expires != "" {
		if c.Expires, err = n.opts.ParseTime(req.Expires, now); err != nil {
			return c, deny(400, "bad_request", "expires: %v", err)
		}
	}
	if req.Lookback != "" {
		if c.Lookback, err = configs.ParseDuration(req.Lookback); err != nil {
			return c, deny(400, "bad_request", "lookback: %v", err)
		}
	}
	if req.MinInterval != "" {
		if c.MinInterval, err = configs.ParseDuration(req.MinInterval); err != nil {
			return c, deny(400, "bad_request", "min_interval: %v", err)
		}
	}
	return c, nil
}

// catalog gathers every member's shared streams: this tenant's from its own
// state, the others' from their agents (each decides what this tenant may
// see, with its own state).
func (n *Node) catalog(w http.ResponseWriter, r *http.Request) error {
	ci, st, err := n.resolve(r.PathValue("c"))
	if err != nil {
		return err
	}
	now := n.opts.Now().UnixNano()
	var mu sync.Mutex
	var out []catalogEntry
	var unreachable []string
	if shares, dec := policy.Catalog(st, policy.CatalogRequest{Requester: n.self, Community: ci.ID, Owner: n.self, Now: now}); dec.Allow {
		out = append(out, n.catalogEntries(r.Context(), shares)...)
	} else if dec.Reason != policy.ReasonAllowed {
		return deny(403, string(dec.Reason), "catalog of %q: %s", ci.Name, dec.Reason)
	}
	var wg sync.WaitGroup
	for _, t := range participants(st, ci.ID) {
		if t == n.self {
			continue
		}
		wg.Add(1)
		go func(t policy.TenantID) {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
			defer cancel()
			resp, err := n.callMember(ctx, ci.ID, t, "GET", "/fed/v1/catalog/"+url.PathEscape(string(ci.ID)), nil)
			var entries []catalogEntry
			if err == nil {
				err = json.NewDecoder(resp.Body).Decode(&entries)
				resp.Body.Close()
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				unreachable = append(unreachable, n.displayTenant(t))
				n.log.Warn("catalog of a member not available", "tenant", t, "err", err)
				return
			}
			for _, e := range entries {
				if e.Tenant == t { // a member describes only its own streams
					e.StreamInfo = cleanInfo(e.StreamInfo)
					out = append(out, e)
				}
			}
		}(t)
	}
	wg.Wait()
	out, err = filterCatalog(out, r.URL.Query())
	if err != nil {
		return err
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].TenantName != out[j].TenantName {
			return out[i].TenantName < out[j].TenantName
		}
		return out[i].Stream < out[j].Stream
	})
	if len(unreachable) > 0 {
		w.Header().Set("Sluice-Unreachable", strings.Join(unreachable, ", "))
	}
	if out == nil {
		out = []catalogEntry{}
	}
	writeJSON(w, 200, out)
	return nil
}

// filterCatalog keeps the entries that match the query's search (a
// case-insensitive substring of the stream, tenant, description, unit or
// a label key=value) and every label= term (key=value, or key: has the
// label).
func filterCatalog(in []catalogEntry, q url.Values) ([]catalogEntry, error) {
	sel, err := connectors.ParseLabelSelector(q["label"])
	if err != nil {
		return nil, deny(400, "bad_label", "%v (want label=key=value or label=key)", err)
	}
	search := strings.ToLower(q.Get("search"))
	if search == "" && len(sel) == 0 {
		return in, nil
	}
	kept := in[:0]
	for _, e := range in {
		if !sel.Match(e.Labels) {
			continue
		}
		if search != "" {
			text := e.Stream + " " + e.TenantName + " " + e.Description + " " + e.Unit
			for k, v := range e.Labels {
				text += " " + k + "=" + v
			}
			if !strings.Contains(strings.ToLower(text), search) {
				continue
			}
		}
		kept = append(kept, e)
	}
	return kept, nil
}

// cleanInfo bounds what a partner's agent says of a stream: labels that
// are not valid here are cleaned (connectors.Labels) or dropped, so that
// a partner cannot put into this tenant's answers, nor its Prometheus
// API, what its own store would refuse.
func cleanInfo(in StreamInfo) StreamInfo {
	if connectors.ValidateLabels(in.Labels) == nil {
		return in
	}
	var b connectors.Labels
	for _, k := range slices.Sorted(maps.Keys(in.Labels)) {
		b.Add(k, in.Labels[k])
	}
	in.Labels, _ = b.Map()
	return in
}

// callMember calls a member's agent at its known address, or at the
// address its agent announces in the community's gossip.
func (n *Node) callMember(ctx context.Context, c policy.CommunityID, t policy.TenantID, method, path string, q url.Values) (*http.Response, error) {
	addr := ""
	if info, ok := n.local.tenant(t); ok {
		addr = info.Fed
	}
	if addr == "" {
		if cl, ok := n.clusters.Load(c); ok {
			for _, m := range cl.(*gossip.Cluster).Members() {
				var meta nodeMeta
				if json.Unmarshal(m.Meta, &meta) == nil && meta.Tenant == t && meta.Fed != "" {
					addr = meta.Fed
					n.local.setTenant(t, tenantInfo{Name: meta.Name, Fed: meta.Fed})
				}
			}
		}
	}
	return n.call(ctx, t, addr, method, path, q, nil)
}

// auditRead records a read on the reader's side.
func (n *Node) auditRead(ctx context.Context, owner policy.TenantID, c policy.CommunityID, stream, kind string, start, end int64, points int, err error) {
	ev := AuditEvent{Kind: "partner_read", Side: "reader", Tenant: owner, Community: c, Connection: c == "",
		Stream: stream, Read: kind, Start: start, End: end, Points: points, Outcome: "allowed"}
	var pe *PeerError
	switch {
	case errors.As(err, &pe) && pe.Status == http.StatusForbidden:
		ev.Kind, ev.Outcome, ev.Reason = "read_denied", "denied", pe.Reason
	case err != nil:
		ev.Outcome, ev.Reason = "error", err.Error()
	}
	n.audit(ctx, ev)
}

func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return deny(400, "bad_request", "body: %v", err)
	}
	return nil
}

func randomID(nbytes int) string {
	b := make([]byte, nbytes)
	rand.Read(b)
	return hex.EncodeToString(b)
}
