package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"

	"github.com/sluice-edge/sluice/agent/users"
	"github.com/sluice-edge/sluice/federation"
)

// Source names a stream for an in-process read: one of this tenant's
// (Stream alone), a partner's in a community (Community, an id or name
// as in paths, with Tenant and Stream), or one a partner shares over a
// connection (Tenant and Stream).
type Source struct {
	Community, Tenant, Stream string
}

// route is the registry row a read of kind on src stands for, and its
// path values.
func (src Source) route(kind string) (pattern string, value func(string) string) {
	vals := map[string]string{"c": src.Community, "tenant": src.Tenant, "stream": src.Stream, "name": src.Stream, "kind": kind}
	switch {
	case src.Community != "":
		pattern = "GET /api/v1/communities/{c}/streams/{tenant}/{stream}/{kind}"
	case src.Tenant != "":
		pattern = "GET /api/v1/connections/{tenant}/streams/{stream}/{kind}"
	default:
		pattern = "GET /api/v1/streams/{name}/" + kind
	}
	return pattern, func(k string) string { return vals[k] }
}

// ReadAnswer is an in-process read's answer, values as the API writes
// them: Points for data, latest and interpolated reads, Summaries for
// summaries. Times are Unix ns (Summaries' as decimal strings).
type ReadAnswer struct {
	Points    []PointJSON   `json:"points"`
	Summaries []SummaryJSON `json:"summaries"`
}

// PointJSON is one point of an answer.
type PointJSON struct {
	Time    int64           `json:"time"`
	Value   json.RawMessage `json:"value"`
	Quality uint32          `json:"quality"`
}

// Read answers q on src for the caller of the request behind ctx, in
// process (a data view's export reads its streams so). The read is judged
// by the gate of the route it stands for, as if the caller had sent that
// request, then served as that route serves it: from the local store, or
// by the owner's agent through federation. q's times are resolved;
// q.Stream, Format and TimeFormat are src's and the API's own.
func (s *Server) Read(ctx context.Context, src Source, q federation.ReadQuery) (ReadAnswer, error) {
	pattern, value := src.route(federation.ReadPath(q.Kind))
	ctx, err := s.allow(ctx, pattern, value)
	if err != nil {
		return ReadAnswer{}, err
	}
	q.Stream, q.Format, q.TimeFormat = src.Stream, "json", "ns"
	if src.Tenant != "" {
		return s.readPartner(ctx, src, q)
	}
	q.Lo, q.Hi = math.MinInt64, math.MaxInt64
	pts, sums, err := s.query(ctx, q)
	if err != nil {
		return ReadAnswer{}, err
	}
	var out ReadAnswer
	if pts == nil {
		out.Summaries = make([]SummaryJSON, len(sums))
		for i, sm := range sums {
			out.Summaries[i] = summaryJSON(sm, true)
		}
		return out, nil
	}
	defer pts.Close()
	for pts.Next() {
		pt := pts.At()
		out.Points = append(out.Points, PointJSON{Time: pt.Time, Value: appendJSONValue(nil, pt.Value), Quality: pt.Quality})
	}
	return out, pts.Err()
}

// readPartner asks the owner and decodes its answer whole: it reads the
// body to its end, so the trailer's point count reaches the audit log.
func (s *Server) readPartner(ctx context.Context, src Source, q federation.ReadQuery) (out ReadAnswer, err error) {
	if s.fed == nil {
		return out, errors.New("partner read: federation is not running")
	}
	ans, err := s.fed.ask(ctx, src.Community, src.Tenant, q)
	if err != nil {
		return out, err
	}
	if err = json.NewDecoder(ans.Body).Decode(&out); err == nil {
		_, err = io.Copy(io.Discard, ans.Body)
	}
	ans.Close(err)
	if err != nil {
		return ReadAnswer{}, &httpError{code: http.StatusBadGateway, reason: "unreachable",
			msg: fmt.Sprintf("the answer of %s: %v", src.Tenant, err)}
	}
	return out, nil
}

// Catalogs holds the partner catalogs a caller's Kind calls have read,
// so that each community's or connection's is read once.
type Catalogs map[Source][]federation.CatalogEntry

// Kind is src's value kind ("float", "int", "bool", "string") for the
// caller of the request behind ctx: a local stream's own record, or a
// partner's catalog entry (the catalog read once into cat), each judged
// by the gate of the route it stands for.
func (s *Server) Kind(ctx context.Context, src Source, cat Catalogs) (string, error) {
	if src.Tenant == "" {
		_, value := src.route("")
		ctx, err := s.allow(ctx, "GET /api/v1/streams/{name}", value)
		if err != nil {
			return "", err
		}
		st, err := s.opts.Store.GetStream(ctx, src.Stream)
		return st.Kind.String(), err
	}
	key := Source{Community: src.Community, Tenant: src.Tenant}
	if src.Community != "" {
		key.Tenant = "" // one catalog for the whole community
	}
	entries, ok := cat[key]
	if !ok {
		var err error
		if entries, err = s.catalog(ctx, key); err != nil {
			return "", err
		}
		cat[key] = entries
	}
	for _, en := range entries {
		if en.Stream == src.Stream && (string(en.Tenant) == src.Tenant || en.TenantName == src.Tenant) {
			return en.Kind, nil
		}
	}
	return "", &httpError{code: http.StatusNotFound, reason: "not_found",
		msg: "the stream is not in the partner's catalog (not shared, paused, or the partner is unreachable)"}
}

// catalog is a community's catalog (key.Community) or a connection's
// (key.Tenant), as their catalog routes answer it.
func (s *Server) catalog(ctx context.Context, key Source) ([]federation.CatalogEntry, error) {
	if s.fed == nil {
		return nil, errors.New("catalog: federation is not running")
	}
	_, value := key.route("")
	if key.Community != "" {
		ctx, err := s.allow(ctx, "GET /api/v1/communities/{c}/catalog", value)
		if err != nil {
			return nil, err
		}
		cat, err := s.fed.n.Catalog(ctx, key.Community)
		return cat.Entries, err
	}
	ctx, err := s.allow(ctx, "GET /api/v1/connections/{tenant}/catalog", value)
	if err != nil {
		return nil, err
	}
	return s.fed.n.ConnectionCatalog(ctx, key.Tenant)
}

// allow asks the gate whether the caller of ctx may do what pattern's
// row stands for.
func (s *Server) allow(ctx context.Context, pattern string, value func(string) string) (context.Context, error) {
	if s.opts.Gate == nil {
		return ctx, &httpError{code: http.StatusForbidden, reason: "forbidden", msg: "in-process reads need the users gate"}
	}
	return s.opts.Gate.Allow(ctx, pattern, value)
}

var _ Gate = (*users.Gate)(nil)
