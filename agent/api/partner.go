package api

import (
	"context"
	"io"
	"net/http"

	"github.com/sluice-edge/sluice/federation"
	"github.com/sluice-edge/sluice/policy"
)

// Partners is federation as the API's partner reads need it: names
// resolved to ids, and a read asked of the stream owner's agent.
type Partners interface {
	ResolveCommunity(ctx context.Context, ref string) (policy.CommunityID, error)
	ResolveTenant(ref string) (policy.TenantID, error)
	Read(ctx context.Context, rq federation.PartnerRead) (*federation.Answer, error)
}

// Caller names the local user behind a request and its roles in a
// community ("" for tenant-wide), to be vouched for to the owner.
type Caller func(ctx context.Context, c policy.CommunityID) (user string, roles policy.RoleSet)

// MountPartners serves reads of partners' shared streams, in a community
// and over a connection. The read is parsed here exactly as a local one
// and handed to federation, which asks the owner's agent; the owner
// decides with its own state, and nothing is stored on this side.
func (s *Server) MountPartners(p Partners, caller Caller) {
	s.route("GET /api/v1/communities/{c}/streams/{tenant}/{stream}/{kind}", "partner_read", s.partnerRead(p, caller, true))
	s.route("GET /api/v1/connections/{tenant}/streams/{stream}/{kind}", "connection_read", s.partnerRead(p, caller, false))
}

func (s *Server) partnerRead(p Partners, caller Caller, inCommunity bool) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		ctx := r.Context()
		var c policy.CommunityID
		var err error
		if inCommunity {
			if c, err = p.ResolveCommunity(ctx, r.PathValue("c")); err != nil {
				return err
			}
		}
		owner, err := p.ResolveTenant(r.PathValue("tenant"))
		if err != nil {
			return err
		}
		kind, ok := readKinds[r.PathValue("kind")]
		if !ok {
			return &httpError{code: http.StatusNotFound, reason: "bad_request",
				msg: "unknown read " + r.PathValue("kind") + " (want data, latest, interpolated or summaries)"}
		}
		q, err := s.parseRead(r, r.PathValue("stream"), kind)
		if err != nil {
			return err
		}
		rq := federation.PartnerRead{Community: c, Owner: owner, ReadQuery: q}
		if caller != nil {
			if rq.User, rq.Roles = caller(ctx, c); rq.User == "" {
				rq.Roles = 0
			}
		}
		ans, err := p.Read(ctx, rq)
		if err != nil {
			if _, _, _, ok := federation.ErrorStatus(err); !ok {
				// Not an answer of the owner's: it could not be asked.
				return &httpError{code: http.StatusBadGateway, reason: "unreachable", msg: err.Error()}
			}
			return err
		}
		relay(w, ans)
		return nil
	}
}

// relay streams the owner's answer to the local caller, trailers (the
// owner's point count) included. If it cannot be passed on whole (the
// owner's answer broke off, or the caller went away), the caller's answer
// is cut too: a short answer must never look whole.
func relay(w http.ResponseWriter, ans *federation.Answer) {
	w.Header().Set("Content-Type", ans.ContentType)
	for _, v := range ans.TrailerNames() {
		w.Header().Add("Trailer", v)
	}
	w.WriteHeader(ans.StatusCode())
	if _, err := io.Copy(w, ans.Body); err != nil {
		ans.Close(err)
		panic(http.ErrAbortHandler)
	}
	for k, v := range ans.Trailer() {
		w.Header()[k] = v
	}
	ans.Close(nil)
}
