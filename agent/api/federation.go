package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/sluice-edge/sluice/configs"
	"github.com/sluice-edge/sluice/federation"
	"github.com/sluice-edge/sluice/policy"
)

// Caller names the local user behind a request and its roles in a
// community ("" for tenant-wide): vouched for to a stream's owner on a
// partner read, and what decides which communities a user is shown.
type Caller func(ctx context.Context, c policy.CommunityID) (user string, roles policy.RoleSet)

// fedRoutes serve federation's part of the local API
// (docs/federation-api.md): the tenant, communities, invitations,
// membership, sharing, catalogs, connections and partner reads. JSON,
// path values and statuses are handled here; the node does the work and
// says, by its errors' status, what went wrong.
type fedRoutes struct {
	s      *Server
	n      *federation.Node
	caller Caller
}

// MountFederation serves federation's routes. caller may be nil (every
// caller is then a tenant admin, vouched for as nobody).
func (s *Server) MountFederation(n *federation.Node, caller Caller) {
	f := fedRoutes{s: s, n: n, caller: caller}
	s.fed = &f
	for _, rt := range []struct {
		pattern string
		h       func(http.ResponseWriter, *http.Request) error
	}{
		{"GET /api/v1/tenant", f.tenant},
		{"GET /api/v1/communities", f.listCommunities},
		{"POST /api/v1/communities", f.createCommunity},
		{"GET /api/v1/communities/{c}", f.showCommunity},
		{"DELETE /api/v1/communities/{c}", f.deleteCommunity},
		{"POST /api/v1/communities/{c}/invitations", f.invite},
		{"GET /api/v1/communities/{c}/invitations", f.listInvitations},
		{"DELETE /api/v1/communities/{c}/invitations/{id}", f.revokeInvitation},
		{"GET /api/v1/communities/{c}/members", f.listMembers},
		{"POST /api/v1/communities/{c}/members/{tenant}/confirm", f.confirm},
		{"DELETE /api/v1/communities/{c}/members/{tenant}", f.remove},
		{"POST /api/v1/communities/{c}/leave", f.leave},
		{"POST /api/v1/communities/{c}/pause", f.pause},
		{"POST /api/v1/communities/{c}/resume", f.resume},
		{"POST /api/v1/communities/{c}/shares", f.share},
		{"DELETE /api/v1/communities/{c}/shares/{stream}", f.unshare},
		{"GET /api/v1/communities/{c}/catalog", f.catalog},
		{"GET /api/v1/communities/{c}/streams/{tenant}/{stream}/{kind}", f.read(true)},
		{"POST /api/v1/invitations/accept", f.acceptInvitation},
		{"POST /api/v1/invitations/decline", f.declineInvitation},
		{"GET /api/v1/connections", f.listConnections},
		{"POST /api/v1/connections", f.requestConnection},
		{"POST /api/v1/connections/{tenant}/review", f.reviewConnection},
		{"POST /api/v1/connections/{tenant}/cancel", f.cancelConnection},
		{"POST /api/v1/connections/{tenant}/shares", f.shareConnection},
		{"DELETE /api/v1/connections/{tenant}/shares/{stream}", f.unshareConnection},
		{"GET /api/v1/connections/{tenant}/catalog", f.connectionCatalog},
		{"GET /api/v1/connections/{tenant}/streams/{stream}/{kind}", f.read(false)},
	} {
		s.route(rt.pattern, fedErrors(rt.h))
	}
}

// fedErrors bounds request bodies, and answers 502 to an error that is
// neither the API's nor federation's: a partner's agent could not be
// asked.
func fedErrors(h func(http.ResponseWriter, *http.Request) error) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		err := h(w, r)
		var he *httpError
		if _, _, _, ours := federation.ErrorStatus(err); err != nil && !ours && !errors.As(err, &he) {
			return &httpError{code: http.StatusBadGateway, msg: err.Error()}
		}
		return err
	}
}

// roles are the caller's roles, for what federation shows.
func (f fedRoutes) roles(ctx context.Context) federation.Roles {
	if f.caller == nil {
		return nil
	}
	return func(c policy.CommunityID) policy.RoleSet {
		_, rs := f.caller(ctx, c)
		return rs
	}
}

// decodeBody reads a JSON body strictly.
func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("bad_request", "body: %v", err)
	}
	return nil
}

// shareRequest reads the body of a share, into a community or over a
// connection: the stream and its constraints, times in the API's forms.
func (f fedRoutes) shareRequest(r *http.Request) (federation.ShareRequest, error) {
	var body struct {
		Stream      string `json:"stream"`
		HistoryFrom string `json:"history_from"`
		Lookback    string `json:"lookback"`
		Expires     string `json:"expires"`
		MinInterval string `json:"min_interval"`
	}
	if err := decodeBody(r, &body); err != nil {
		return federation.ShareRequest{}, err
	}
	req := federation.ShareRequest{Stream: body.Stream}
	c := &req.Constraints
	now := f.s.opts.Now()
	var err error
	if body.HistoryFrom != "" {
		if c.NotBefore, err = ParseTime(body.HistoryFrom, now); err != nil {
			return req, badRequest("bad_request", "history_from: %v", err)
		}
	}
	if body.Expires != "" {
		if c.Expires, err = ParseTime(body.Expires, now); err != nil {
			return req, badRequest("bad_request", "expires: %v", err)
		}
	}
	if body.Lookback != "" {
		if c.Lookback, err = configs.ParseDuration(body.Lookback); err != nil {
			return req, badRequest("bad_request", "lookback: %v", err)
		}
	}
	if body.MinInterval != "" {
		if c.MinInterval, err = configs.ParseDuration(body.MinInterval); err != nil {
			return req, badRequest("bad_request", "min_interval: %v", err)
		}
	}
	return req, nil
}
