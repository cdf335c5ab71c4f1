package api

import (
	"io"
	"net/http"

	"github.com/sluice-edge/sluice/federation"
	"github.com/sluice-edge/sluice/policy"
)

// read serves reads of partners' shared streams, in a community and
// over a connection. The read is parsed exactly as a local one and handed
// to federation, which asks the owner's agent; the owner decides with its
// own state, and nothing is stored on this side.
func (f fedRoutes) read(inCommunity bool) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		ctx := r.Context()
		var c policy.CommunityID
		var err error
		if inCommunity {
			if c, err = f.n.ResolveCommunity(ctx, r.PathValue("c")); err != nil {
				return err
			}
		}
		owner, err := f.n.ResolveTenant(r.PathValue("tenant"))
		if err != nil {
			return err
		}
		kind, ok := federation.ParseReadPath(r.PathValue("kind"))
		if !ok {
			return &httpError{code: http.StatusNotFound, reason: "bad_request",
				msg: "unknown read " + r.PathValue("kind") + " (want data, latest, interpolated or summaries)"}
		}
		q, err := f.s.parseRead(r, r.PathValue("stream"), kind)
		if err != nil {
			return err
		}
		rq := federation.PartnerRead{Community: c, Owner: owner, ReadQuery: q}
		if f.caller != nil {
			if rq.User, rq.Roles = f.caller(ctx, c); rq.User == "" {
				rq.Roles = 0
			}
		}
		ans, err := f.n.Read(ctx, rq)
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
