package federation

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sluice-edge/sluice/federation/identity"
	"github.com/sluice-edge/sluice/policy"
)

// Invitation is an invitation of a community this tenant owns.
type Invitation struct {
	ID      string          `json:"id"`
	Email   string          `json:"email"`
	Status  string          `json:"status"` // pending, accepted, declined, revoked, expired
	Expires time.Time       `json:"expires"`
	Tenant  policy.TenantID `json:"tenant,omitempty"` // who answered it
}

func invitations(st policy.State, c policy.CommunityID, now int64) []Invitation {
	out := []Invitation{}
	for _, inv := range st.Invitations(c, now) {
		out = append(out, Invitation{ID: inv.ID, Email: inv.Email, Status: inv.Status.String(),
			Expires: time.Unix(0, inv.Expires).UTC(), Tenant: inv.Tenant})
	}
	return out
}

// InviteRequest names whom to invite (the local API's body).
type InviteRequest struct {
	Email string `json:"email"` // where the token goes (required)
	// Tenant, if set, pins the invitation to that tenant (id or name):
	// no other tenant can answer it.
	Tenant string `json:"tenant"`
}

// IssuedInvitation is a new invitation and its token, to hand to the
// invitee out of band (or e-mailed, with Options.SendMail).
type IssuedInvitation struct {
	ID      string    `json:"id"`
	Token   string    `json:"token"`
	Expires time.Time `json:"expires"`
	// Emailed is the address the token was sent to; EmailError says why
	// sending failed (the invitation stands all the same).
	Emailed    string `json:"emailed,omitempty"`
	EmailError string `json:"email_error,omitempty"`
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

// Invite issues an invitation to a community this tenant owns. With
// Options.SendMail it e-mails the token, for at most 20 s.
func (n *Node) Invite(ctx context.Context, ref string, req InviteRequest) (IssuedInvitation, error) {
	ci, _, err := n.owned(ref)
	if err != nil {
		return IssuedInvitation{}, err
	}
	if !strings.Contains(req.Email, "@") {
		return IssuedInvitation{}, deny(400, "bad_request", "email: %q is not an e-mail address", req.Email)
	}
	rec := policy.Record{Kind: policy.KindInvitationIssued, Community: ci.ID, Invitation: randomID(8), Email: req.Email}
	if req.Tenant != "" {
		if rec.Tenant, err = n.ResolveTenant(req.Tenant); err != nil {
			return IssuedInvitation{}, err
		}
	}
	rec.Time = n.opts.Now().UnixNano()
	rec.Expires = n.opts.Policy.InvitationExpires(rec.Time)
	// The secret is kept before the invitation exists, so an acceptance
	// can never arrive for an invitation whose secret was lost.
	secret := randomID(32)
	if err := n.local.setSecret(ci.ID, rec.Invitation, secret); err != nil {
		return IssuedInvitation{}, fmt.Errorf("invitation: %w", err)
	}
	env, err := n.issue(ctx, rec)
	if err != nil {
		return IssuedInvitation{}, deny(400, rejectReason(err), "%v", err)
	}
	tok := token{V: 1, Env: env, Name: ci.Name, OwnerName: n.id.Name(), Fed: n.fedAddr, Gossip: n.GossipAddr(), Secret: secret}
	n.log.Info("invitation issued", "community", ci.ID, "invitation", rec.Invitation, "email", req.Email)
	out := IssuedInvitation{ID: rec.Invitation, Token: tok.encode(), Expires: time.Unix(0, rec.Expires).UTC()}
	if n.opts.SendMail != nil {
		ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		err := n.opts.SendMail(ctx, req.Email, invitationSubject(n.id.Name(), ci.Name), invitationBody(n.id.Name(), ci.Name, out.Token, rec.Expires))
		cancel()
		if err != nil {
			// The invitation stands; the admin can still pass the token on.
			n.log.Warn("could not e-mail the invitation", "email", req.Email, "err", err)
			out.EmailError = err.Error()
		} else {
			out.Emailed = req.Email
		}
	}
	return out, nil
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

// Invitations lists the invitations of a community this tenant owns.
func (n *Node) Invitations(ref string) ([]Invitation, error) {
	ci, st, err := n.owned(ref)
	if err != nil {
		return nil, err
	}
	return invitations(st, ci.ID, n.opts.Now().UnixNano()), nil
}

// RevokeInvitation revokes an invitation by id: it can no longer be
// accepted.
func (n *Node) RevokeInvitation(ctx context.Context, ref, id string) error {
	ci, st, err := n.owned(ref)
	if err != nil {
		return err
	}
	if _, ok := findInvitation(st, ci.ID, id, n.opts.Now().UnixNano()); !ok {
		return deny(404, "unknown_invitation", "no invitation %s in %q", id, ci.Name)
	}
	if _, err := n.issue(ctx, policy.Record{Kind: policy.KindInvitationRevoked, Community: ci.ID, Invitation: id}); err != nil {
		return deny(400, rejectReason(err), "%v", err)
	}
	return nil
}

// Joined is the community an accepted invitation was for.
type Joined struct {
	Community policy.CommunityID `json:"community"`
	Name      string             `json:"name"`
	Owner     policy.TenantID    `json:"owner"`
	OwnerName string             `json:"owner_name"`
}

// AcceptInvitation accepts an invitation token on the invitee's side:
// the owner's agent takes the acceptance over mTLS, pinned to the owner's
// tenant id from the token. The owner then confirms.
func (n *Node) AcceptInvitation(ctx context.Context, tok string) (Joined, error) {
	return n.answerInvitation(ctx, tok, policy.KindInvitationAccepted)
}

// DeclineInvitation declines an invitation token, as AcceptInvitation
// accepts one.
func (n *Node) DeclineInvitation(ctx context.Context, tok string) error {
	_, err := n.answerInvitation(ctx, tok, policy.KindInvitationDeclined)
	return err
}

func (n *Node) answerInvitation(ctx context.Context, s string, kind policy.Kind) (Joined, error) {
	tok, inv, err := parseToken(s)
	if err != nil {
		return Joined{}, err
	}
	now := n.opts.Now().UnixNano()
	switch {
	case inv.Issuer == n.self:
		return Joined{}, deny(400, "bad_request", "this is your own invitation; give the token to the partner")
	case inv.Expires <= now:
		return Joined{}, deny(410, "expired", "invitation expired at %s", time.Unix(0, inv.Expires).UTC().Format(time.RFC3339))
	case inv.Tenant != "" && inv.Tenant != n.self:
		return Joined{}, deny(403, "not_invited", "this invitation is for tenant %s, not this one", identity.ShortID(string(inv.Tenant)))
	}
	ans := policy.Record{Kind: kind, Issuer: n.self, Community: inv.Community, Invitation: inv.Invitation,
		Expires: inv.Expires, Time: now}
	if ans.Version = n.book.snapshot().NextVersion(n.self, now); ans.Version == 0 {
		return Joined{}, errors.New("this tenant's record clock is exhausted: no record can be issued")
	}
	env := n.seal(ans)
	owner := inv.Issuer
	n.local.setTenant(owner, tenantInfo{Name: tok.OwnerName, Fed: tok.Fed, Gossip: tok.Gossip})
	body, _ := json.Marshal(acceptRequest{Envelope: env, Secret: tok.Secret, Name: n.id.Name(), Fed: n.fedAddr, Gossip: n.GossipAddr()})
	resp, err := n.call(ctx, owner, tok.Fed, "POST", "/fed/v1/accept", nil, bytes.NewReader(body))
	if err != nil {
		return Joined{}, err
	}
	defer resp.Body.Close()
	var got struct {
		Records []Envelope `json:"records"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		return Joined{}, fmt.Errorf("owner's answer: %w", err)
	}
	n.accept(append(got.Records, env), "accept", true)
	n.log.Info("invitation answered", "community", inv.Community, "kind", kind, "owner", owner)
	return Joined{Community: inv.Community, Name: tok.Name, Owner: owner, OwnerName: tok.OwnerName}, nil
}
