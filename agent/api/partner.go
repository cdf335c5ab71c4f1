package api

import (
	"context"
	"io"
	"net/http"

	"github.com/sluice-edge/sluice/federation"
)

// read serves reads of partners' shared streams, in a community and
// over a connection. The read is parsed exactly as a local one and handed
// to federation, which asks the owner's agent; the owner decides with its
// own state, and nothing is stored on this side.
func (f fedRoutes) read(inCommunity bool) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		kind, ok := federation.ParseReadPath(r.PathValue("kind"))
		if !ok {
			return &httpError{code: http.StatusNotFound, reason: "bad_request",
				msg: "unknown read " + r.PathValue("kind") + " (want data, latest, interpolated or summaries)"}
		}
		q, err := f.s.parseRead(r, r.PathValue("stream"), kind)
		if err != nil {
			return err
		}
		c := ""
		if inCommunity {
			c = r.PathValue("c")
		}
		ans, err := f.ask(r.Context(), c, r.PathValue("tenant"), q)
		if err != nil {
			return err
		}
		relay(w, ans)
		return nil
	}
}

// ask hands q on tenant's stream, in community ref c ("" over a
// connection), to federation for the caller of ctx.
func (f fedRoutes) ask(ctx context.Context, c, tenant string, q federation.ReadQuery) (*federation.Answer, error) {
	rq := federation.PartnerRead{ReadQuery: q}
	var err error
	if c != "" {
		if rq.Community, err = f.n.ResolveCommunity(ctx, c); err != nil {
			return nil, err
		}
	}
	if rq.Owner, err = f.n.ResolveTenant(tenant); err != nil {
		return nil, err
	}
	if f.caller != nil {
		if rq.User, rq.Roles = f.caller(ctx, rq.Community); rq.User == "" {
			rq.Roles = 0
		}
	}
	ans, err := f.n.Read(ctx, rq)
	if err != nil {
		if _, _, _, ok := federation.ErrorStatus(err); !ok {
			// Not an answer of the owner's: it could not be asked.
			return nil, &httpError{code: http.StatusBadGateway, reason: "unreachable", msg: err.Error()}
		}
		return nil, err
	}
	return ans, nil
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
