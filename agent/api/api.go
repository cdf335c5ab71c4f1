// Package api is the agent's HTTP API for local users, the CLI and the web
// console: streams, writes and reads under /api/v1, plus /healthz, /readyz
// and /metrics. Its contract is written down in docs/api.md.
package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sluice-edge/sluice/agent/store"
	"github.com/sluice-edge/sluice/agent/users"
	"github.com/sluice-edge/sluice/connectors/point"
	"github.com/sluice-edge/sluice/federation"
	"github.com/sluice-edge/sluice/policy"
)

// Store is what the API needs of the time-series store.
type Store interface {
	CreateStream(ctx context.Context, spec point.StreamSpec) (store.Stream, error)
	EnsureStream(ctx context.Context, spec point.StreamSpec) error
	GetStream(ctx context.Context, name string) (store.Stream, error)
	ListStreams(ctx context.Context, o store.ListOptions) ([]store.Stream, bool, error)
	DeleteStream(ctx context.Context, name string) error
	Write(ctx context.Context, points []point.Point) error
	Window(ctx context.Context, name string, q store.WindowQuery) (*store.Iterator, error)
	LatestIn(ctx context.Context, name string, b store.Bounds) (store.Sample, bool, error)
	Interpolated(ctx context.Context, name string, start, end, interval int64, count int, b store.Bounds) ([]store.Sample, error)
	Summaries(ctx context.Context, name string, start, end, interval int64, b store.Bounds) ([]store.Summary, error)
	Size() int64
	StreamCount() int
}

// Options configure the API server.
type Options struct {
	Store      Store
	AdminToken string // bearer token that opens every non-public row, when Gate is nil
	// Gate, when set, guards each row of the route registry instead of
	// AdminToken (the agent's users.Gate): the mux that picks a request's
	// row hands it to that row's checks, so nothing matches twice.
	Gate Gate
	// MayWrite, when set, is asked for every stream a write names, before
	// the stream is looked up, created or written: an error refuses the
	// whole write with 403 and its message, and nothing is stored (the
	// agent's users.MayWrite: an ingest token's stream prefixes).
	MayWrite   func(ctx context.Context, stream string) error
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer // served at /metrics; nil serves nothing there
	// MetricsAuth, when set, decides whether a request may scrape
	// /metrics; a refused one gets 401 with a Bearer challenge. Nil
	// leaves /metrics open (config metrics.auth: none).
	MetricsAuth func(r *http.Request) bool
	// Ready reports whether the agent can serve (store open, listeners
	// bound); /readyz answers 503 with its error otherwise.
	Ready func() error
	// Status adds agent-level fields to GET /api/v1/status.
	Status func() map[string]any
	// Audit, when set, is told of every call of an audited route
	// (users.Route.Audited) once its handler is done, with the status it
	// answered.
	Audit func(r *http.Request, code int)

	MaxBodyBytes int64 // request bodies above this get 413; default 32 MiB
	MaxInFlight  int   // concurrent writes above this get 429; default 64
	Now          func() time.Time
}

// Gate puts a row's checks in front of its handler (users.Gate).
type Gate interface {
	Route(rt users.Route, h http.Handler) http.Handler
	// NoRoute answers what is under /api/ but matches no row.
	NoRoute() http.Handler
	// Allow judges an in-process read (Server.Read) by the row it stands
	// for, as users.Gate.Allow.
	Allow(ctx context.Context, pattern string, value func(string) string) (context.Context, error)
}

// Server serves the API. Build it with New and mount Handler.
type Server struct {
	opts     Options
	mux      *http.ServeMux
	mounted  map[string]bool // registry patterns with a handler
	fed      *fedRoutes      // once federation is mounted
	log      *slog.Logger
	inflight chan struct{}
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	rejected *prometheus.CounterVec
}

// New builds a server and registers its metrics.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 32 << 20
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = 64
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Ready == nil {
		opts.Ready = func() error { return nil }
	}
	s := &Server{
		opts:     opts,
		mux:      http.NewServeMux(),
		mounted:  map[string]bool{},
		log:      opts.Logger,
		inflight: make(chan struct{}, opts.MaxInFlight),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_http_requests_total", Help: "HTTP API requests by route and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sluice_http_request_duration_seconds", Help: "HTTP API request latency by route.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}, []string{"route"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_http_bad_requests_total", Help: "Requests rejected for bad input, by route and reason.",
		}, []string{"route", "reason"}),
	}
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(s.requests, s.duration, s.rejected)
	}
	s.routes()
	return s
}

// Handler is the root handler of the API.
func (s *Server) Handler() http.Handler { return s.mux }

// Handle mounts a handler outside the route registry (OMF ingress, the
// console): no authentication, no metrics. Paths under /api/ are the
// registry's (use Mount): one that reaches h anyway, its prefix spelled
// so that the mux does not see it (/api%2Fv1/...), gets the registry's
// catch-all instead, so nothing under /api/ is served unguarded.
func (s *Server) Handle(pattern string, h http.Handler) {
	no := s.noRoute()
	s.mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if underAPI(r.URL.Path) {
			no.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	}))
}

func underAPI(p string) bool {
	return strings.HasPrefix(path.Clean("/"+p)+"/", "/api/")
}

// Mount attaches another component's handler (users, audit, views,
// Grafana's reads) to its row of the route registry (users.Lookup),
// behind the API's authentication, metrics and audit. A pattern with no
// row is a programming error: Mount panics, so it fails in every test.
func (s *Server) Mount(pattern string, h http.Handler) {
	s.route(pattern, func(w http.ResponseWriter, r *http.Request) error {
		h.ServeHTTP(w, r)
		return nil
	})
}

// Unmounted returns the registry's rows that have no handler yet. The
// agent serves only when there are none, so no row is ever answered by
// the catch-all 404 of a half-built mux.
func (s *Server) Unmounted() []string {
	var out []string
	for _, rt := range users.Routes() {
		if !s.mounted[rt.Pattern] {
			out = append(out, rt.Pattern)
		}
	}
	return out
}

func (s *Server) routes() {
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	s.mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := s.opts.Ready(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	if s.opts.Gatherer != nil {
		s.mux.Handle("GET /metrics", s.metricsGuard(promhttp.HandlerFor(s.opts.Gatherer, promhttp.HandlerOpts{})))
	}
	s.route("GET /api/v1/status", s.status)
	s.route("GET /api/v1/streams", s.listStreams)
	s.route("POST /api/v1/streams", s.createStream)
	s.route("GET /api/v1/streams/{name}", s.getStream)
	s.route("DELETE /api/v1/streams/{name}", s.deleteStream)
	s.route("POST /api/v1/streams/{name}/data", s.limited(s.writeStream))
	s.route("POST /api/v1/data", s.limited(s.writeBulk))
	s.route("GET /api/v1/streams/{name}/data", s.readLocal(policy.ReadWindow))
	s.route("GET /api/v1/streams/{name}/latest", s.readLocal(policy.ReadLatest))
	s.route("GET /api/v1/streams/{name}/interpolated", s.readLocal(policy.ReadInterpolated))
	s.route("GET /api/v1/streams/{name}/summaries", s.readLocal(policy.ReadSummaries))
	s.mux.Handle("/api/", s.noRoute())
}

// noRoute answers what is under /api/ but matches no row.
func (s *Server) noRoute() http.Handler {
	if s.opts.Gate != nil {
		return s.opts.Gate.NoRoute()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such API route: "+r.Method+" "+r.URL.Path+
			" (stream names in paths must be URL-escaped, e.g. site1%2Fboiler%2Ftemp)", nil)
	})
}

// route mounts h at its registry row: measured under the row's name,
// behind the row's checks (but for public rows), and audited when the
// row says so.
func (s *Server) route(pattern string, h func(http.ResponseWriter, *http.Request) error) {
	rt, ok := users.Lookup(pattern)
	if !ok {
		panic("api: " + pattern + " has no row in the route registry (agent/users/authz.go)")
	}
	s.mounted[pattern] = true
	name := rt.Name
	guarded := s.guard(rt, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec, ok := w.(*statusRecorder) // the gate hands on the writer it was given
		if !ok {
			rec = &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		}
		if err := h(rec, r); err != nil {
			s.fail(rec, name, err)
		}
		if s.opts.Audit != nil && rt.Audited() {
			s.opts.Audit(r, rec.code)
		}
	}))
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		defer func() {
			s.requests.WithLabelValues(name, strconv.Itoa(rec.code)).Inc()
			s.duration.WithLabelValues(name).Observe(time.Since(start).Seconds())
		}()
		guarded.ServeHTTP(rec, r)
	})
}

// guard puts row rt's checks in front of h: the Gate's, or else the
// admin token's.
func (s *Server) guard(rt users.Route, h http.Handler) http.Handler {
	switch {
	case s.opts.Gate != nil:
		return s.opts.Gate.Route(rt, h)
	case rt.Scope == users.ScopePublic:
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.adminToken(r) {
			s.rejected.WithLabelValues(rt.Name, "unauthorized").Inc()
			w.Header().Set("WWW-Authenticate", `Bearer realm="sluice"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong token (send Authorization: Bearer <token>)", nil)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (s *Server) adminToken(r *http.Request) bool {
	const prefix = "Bearer "
	h := r.Header.Get("Authorization")
	if len(h) <= len(prefix) || h[:len(prefix)] != prefix || s.opts.AdminToken == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(h[len(prefix):]), []byte(s.opts.AdminToken)) == 1
}

// metricsGuard puts Options.MetricsAuth in front of /metrics.
func (s *Server) metricsGuard(h http.Handler) http.Handler {
	if s.opts.MetricsAuth == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.opts.MetricsAuth(r) {
			s.rejected.WithLabelValues("metrics", "unauthorized").Inc()
			w.Header().Set("WWW-Authenticate", `Bearer realm="sluice"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong metrics token (send Authorization: Bearer <the content of metrics.token in the data dir>)", nil)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// limited bounds concurrent writes; beyond the bound the client is told to
// come back (429) rather than queueing without limit.
func (s *Server) limited(h func(http.ResponseWriter, *http.Request) error) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		select {
		case s.inflight <- struct{}{}:
			defer func() { <-s.inflight }()
		default:
			w.Header().Set("Retry-After", "1")
			return &httpError{code: http.StatusTooManyRequests, reason: "overloaded",
				msg: fmt.Sprintf("more than %d writes in flight; retry later", s.opts.MaxInFlight)}
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)
		return h(w, r)
	}
}

// httpError is an error with a status code and a reason label for metrics.
type httpError struct {
	code   int
	reason string
	msg    string
	detail any
}

func (e *httpError) Error() string { return e.msg }

func badRequest(reason, format string, a ...any) error {
	return &httpError{code: http.StatusBadRequest, reason: reason, msg: fmt.Sprintf(format, a...)}
}

// StatusOf is the HTTP status the API answers an error with.
func StatusOf(err error) int {
	code, _ := classify(err)
	return code
}

func classify(err error) (int, string) {
	var he *httpError
	var mbe *http.MaxBytesError
	var ue *users.Refusal
	switch {
	case errors.As(err, &he):
		return he.code, he.reason
	case errors.As(err, &ue):
		return ue.Code, ue.Reason
	}
	if code, reason, _, ok := federation.ErrorStatus(err); ok {
		return code, reason
	}
	switch {
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge, "too_large"
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, "not_found"
	case errors.Is(err, store.ErrExists):
		return http.StatusConflict, "exists"
	case errors.Is(err, store.ErrInvalid), errors.Is(err, store.ErrKindMismatch):
		return http.StatusBadRequest, "invalid"
	case errors.Is(err, store.ErrTooLarge):
		return http.StatusRequestEntityTooLarge, "too_large"
	case errors.Is(err, store.ErrStorageFull):
		// The disk is full or the store's size bound is reached: the
		// message names which; the client keeps the data and retries.
		return http.StatusInsufficientStorage, "insufficient_storage"
	case errors.Is(err, context.Canceled):
		return 499, "canceled"
	}
	return http.StatusInternalServerError, "internal"
}

// fail maps an error to a status and writes it, unless the handler already
// started the response (then the stream is cut, which clients detect).
func (s *Server) fail(w *statusRecorder, route string, err error) {
	var he *httpError
	var mbe *http.MaxBytesError
	code, reason := classify(err)
	errors.As(err, &he)
	if errors.As(err, &mbe) {
		err = fmt.Errorf("request body over the limit of %d bytes", mbe.Limit)
	}
	if code >= 400 && code < 500 {
		s.rejected.WithLabelValues(route, reason).Inc()
	} else {
		s.log.Error("request failed", "route", route, "err", err)
	}
	if w.wrote {
		// Part of the answer is out: appending an error would corrupt it
		// and ending it normally would pass it off as whole. Abort the
		// response so the client sees a broken transfer.
		panic(http.ErrAbortHandler)
	}
	var detail any
	if he != nil {
		detail = he.detail
	}
	if _, _, retry, _ := federation.ErrorStatus(err); retry != "" {
		w.Header().Set("Retry-After", retry)
	}
	writeJSON(w, code, errorJSON{Error: err.Error(), Reason: reason, Detail: detail})
}

// errorJSON is every error answer of the API: what went wrong, a reason
// for scripts (a policy denial's reason, such as "paused"), and details
// where a body was refused in parts.
type errorJSON struct {
	Error  string `json:"error"`
	Reason string `json:"reason,omitempty"`
	Detail any    `json:"detail,omitempty"`
}

func writeError(w http.ResponseWriter, code int, msg string, detail any) {
	writeJSON(w, code, errorJSON{Error: msg, Detail: detail})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

type statusRecorder struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.code, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the real writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (s *Server) status(w http.ResponseWriter, r *http.Request) error {
	st := map[string]any{
		"streams":     s.opts.Store.StreamCount(),
		"store_bytes": s.opts.Store.Size(),
		"ready":       s.opts.Ready() == nil,
	}
	if s.opts.Status != nil {
		for k, v := range s.opts.Status() {
			st[k] = v
		}
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}
