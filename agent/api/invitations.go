package api

import (
	"net/http"

	"github.com/sluice-edge/sluice/federation"
)

// The invitation routes: the owner's side (invite, list, revoke) and the
// invitee's (accept, decline).

func (f fedRoutes) invite(w http.ResponseWriter, r *http.Request) error {
	var req federation.InviteRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	inv, err := f.n.Invite(r.Context(), r.PathValue("c"), req)
	return reply(w, http.StatusCreated, inv, err)
}

func (f fedRoutes) listInvitations(w http.ResponseWriter, r *http.Request) error {
	invs, err := f.n.Invitations(r.PathValue("c"))
	return reply(w, http.StatusOK, invs, err)
}

func (f fedRoutes) revokeInvitation(w http.ResponseWriter, r *http.Request) error {
	return noContent(w, f.n.RevokeInvitation(r.Context(), r.PathValue("c"), r.PathValue("id")))
}

// tokenBody reads the body of an accept or a decline.
func tokenBody(r *http.Request) (string, error) {
	var req struct {
		Token string `json:"token"`
	}
	err := decodeBody(r, &req)
	return req.Token, err
}

func (f fedRoutes) acceptInvitation(w http.ResponseWriter, r *http.Request) error {
	tok, err := tokenBody(r)
	if err != nil {
		return err
	}
	j, err := f.n.AcceptInvitation(r.Context(), tok)
	return reply(w, http.StatusOK, j, err)
}

func (f fedRoutes) declineInvitation(w http.ResponseWriter, r *http.Request) error {
	tok, err := tokenBody(r)
	if err != nil {
		return err
	}
	return noContent(w, f.n.DeclineInvitation(r.Context(), tok))
}
