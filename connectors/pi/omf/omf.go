// Package omf is the OMF ingress of Sluice (source type omf): an OMF
// (Open Message Format) 1.0-1.2 endpoint served on the agent's API
// listener (at /omf by default), so that PI Adapters, Fledge and custom
// devices that send to PI Web API can send to the agent instead. Types,
// containers, static data and links are kept in
// <data_dir>/omf/<source>.json; each container becomes one stream per
// value property of its type. Data is acknowledged (2xx) only after
// Sink.Write returned, so only once it is on disk. See sample.yaml.
//
// Authentication uses the endpoint's own credentials (basic or bearer);
// accepting the agent's users, tokens and roles is a later issue.
package omf

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sluice-edge/sluice/connectors/internal/jsonscan"
	"github.com/sluice-edge/sluice/connectors/pi/internal/nametmpl"
	"github.com/sluice-edge/sluice/connectors/point"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-edge/sluice/configs"
	"github.com/sluice-edge/sluice/connectors"
)

func init() {
	connectors.Register(connectors.Registration{
		Type:    "omf",
		Section: "omf",
		Sample:  Sample,
		New: func(env connectors.Env, decode func(any) error) (connectors.Source, error) {
			cfg := DefaultConfig()
			if err := decode(&cfg); err != nil {
				return nil, err
			}
			return New(env, cfg)
		},
	})
}

// Source is the OMF ingress: an http.Handler that the agent mounts at
// the configured paths (connectors.HTTPSource) and that writes to the
// sink Run gives it.
//
// A request is processed as a whole: every object of the body is checked
// first, and if any is wrong the answer lists each problem by object index
// and nothing of the request is applied. Definitions (types, containers,
// static data, links) are saved to <data_dir>/omf/<name>.json, durably,
// before they are acknowledged; data is acknowledged once Sink.Write has
// returned, so once it is on disk.
type Source struct {
	env   connectors.Env
	cfg   Config
	tmpl  *nametmpl.Template
	units int64  // ns per unit of numeric index values
	file  string // the saved registry; empty without a data dir
	m     omfMetrics

	slots chan struct{} // requests being processed

	runMu sync.RWMutex // held shared by every request, exclusively to stop
	run   *omfRun      // nil while Run is not running

	defMu sync.Mutex // serializes changes of the registry
	reg   regPtr     // the published registry

	docs   sync.Pool // *jsonscan.Doc, with MaxDepth maxJSONDepth
	bufs   sync.Pool // *bytes.Buffer
	points sync.Pool // *[]point.Point

	logMu  sync.Mutex
	logged map[string]bool
}

// omfRun is what Run provides while it runs.
type omfRun struct {
	ctx   context.Context
	sink  connectors.Sink
	creds []credential
}

// credential is a resolved login; secrets are kept as SHA-256 digests.
type credential struct {
	user     string // basic; empty for a bearer token
	secret   [32]byte
	bearer   bool
	dataOnly bool
	// may, for an agent user's token limited to some streams (ingest),
	// says which streams it may write; nil: any. Such a token creates
	// types and containers and writes values, and deletes nothing.
	may func(stream string) bool
}

// mayNot names the first stream of c that cred may not write, or "".
func (cred *credential) mayNot(c *omfContainer) string {
	if cred.may == nil {
		return ""
	}
	for _, ps := range c.streams {
		if !cred.may(ps.spec.Name) {
			return ps.spec.Name
		}
	}
	return ""
}

type omfMetrics struct {
	messages, points, written prometheus.Counter
	errors, dropped           *prometheus.CounterVec
	batch                     prometheus.Observer
	queue                     prometheus.Gauge
	name                      string
}

// New validates cfg and builds the source. It does no I/O.
func New(env connectors.Env, cfg Config) (*Source, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if env.Logger == nil {
		env.Logger = slog.New(slog.DiscardHandler)
	}
	if env.Metrics == nil {
		env.Metrics = connectors.NewMetrics(nil)
	}
	tmpl, _ := parseOMFTemplate(cfg.Stream)
	s := &Source{
		env:    env,
		cfg:    cfg,
		tmpl:   tmpl,
		units:  numericUnits[cfg.NumericIndex],
		slots:  make(chan struct{}, cfg.MaxInflight),
		logged: map[string]bool{},
	}
	if env.DataDir != "" {
		s.file = filepath.Join(env.DataDir, "omf", env.Name+".json")
	}
	m := env.Metrics
	s.m = omfMetrics{
		messages: m.Messages.WithLabelValues(env.Name),
		points:   m.Points.WithLabelValues(env.Name),
		written:  m.Written.WithLabelValues(env.Name),
		errors:   m.Errors.MustCurryWith(prometheus.Labels{"source": env.Name}),
		dropped:  m.Dropped.MustCurryWith(prometheus.Labels{"source": env.Name}),
		batch:    m.BatchSeconds.WithLabelValues(env.Name),
		queue:    m.QueueDepth.WithLabelValues(env.Name),
		name:     env.Name,
	}
	s.reg.Store(newRegistry())
	s.docs.New = func() any { return &jsonscan.Doc{MaxDepth: maxJSONDepth} }
	s.bufs.New = func() any { return new(bytes.Buffer) }
	s.points.New = func() any { p := make([]point.Point, 0, 1024); return &p }
	return s, nil
}

// Routes implements connectors.HTTPSource.
func (s *Source) Routes() map[string]http.Handler {
	out := map[string]http.Handler{}
	for _, p := range s.cfg.Paths {
		out[p] = s
	}
	return out
}

// Run loads the saved definitions, resolves the credentials and serves
// until ctx ends; then it waits for requests in progress and returns nil.
// It fails for an unreadable definitions file or an unresolvable secret.
func (s *Source) Run(ctx context.Context, sink connectors.Sink) error {
	creds, err := s.credentials()
	if err != nil {
		return err
	}
	reg, err := loadRegistry(s.file, s.bind)
	if err != nil {
		return fmt.Errorf("omf definitions: %w", err)
	}
	s.reg.Store(reg)
	s.runMu.Lock()
	s.run = &omfRun{ctx: ctx, sink: sink, creds: creds}
	s.runMu.Unlock()
	s.env.Logger.Info("OMF endpoint serving", "paths", s.cfg.Paths, "types", len(reg.types), "containers", len(reg.containers))
	<-ctx.Done()
	s.runMu.Lock() // waits for requests in progress
	s.run = nil
	s.runMu.Unlock()
	return nil
}

func (s *Source) credentials() ([]credential, error) {
	var out []credential
	for i, c := range s.cfg.Auth.Basic {
		pw, err := configs.Secret(c.Password)
		if err != nil {
			return nil, fmt.Errorf("auth.basic[%d].password: %w", i, err)
		}
		out = append(out, credential{user: c.Username, secret: sha256.Sum256([]byte(pw)), dataOnly: c.Allow == "data"})
	}
	for i, c := range s.cfg.Auth.Bearer {
		tok, err := configs.Secret(c.Token)
		if err != nil {
			return nil, fmt.Errorf("auth.bearer[%d].token: %w", i, err)
		}
		out = append(out, credential{bearer: true, secret: sha256.Sum256([]byte(tok)), dataOnly: c.Allow == "data"})
	}
	return out, nil
}

// bind binds a container to its type with this source's naming.
func (s *Source) bind(c *omfContainer, t *omfType, types map[string]*omfType) error {
	return c.bind(t, types, s.tmpl, s.cfg.StreamPrefix, s.env.Name, s.units)
}

// header is the parsed OMF message headers.
type header struct {
	msgType, action, version string
	gzip                     bool
}

// maxJSONDepth limits the nesting of a body. OMF messages nest a few
// levels; the parser recurses once per level, and a body of MaxBodyBytes
// could otherwise nest ten thousand deep.
const maxJSONDepth = 64

var (
	anonymous  = &credential{}
	errNoCreds = errors.New("missing credentials")
)

func (s *Source) authenticate(r *http.Request, creds []credential) (*credential, error) {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		if s.cfg.Auth.Anonymous {
			return anonymous, nil
		}
		return nil, errNoCreds
	}
	if user, pass, ok := r.BasicAuth(); ok {
		sum := sha256.Sum256([]byte(pass))
		for i := range creds {
			c := &creds[i]
			if !c.bearer && subtle.ConstantTimeCompare([]byte(c.user), []byte(user)) == 1 &&
				subtle.ConstantTimeCompare(c.secret[:], sum[:]) == 1 {
				return c, nil
			}
		}
		return nil, errors.New("wrong user name or password")
	}
	if scheme, tok, ok := strings.Cut(auth, " "); ok && strings.EqualFold(scheme, "Bearer") {
		sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
		for i := range creds {
			c := &creds[i]
			if c.bearer && subtle.ConstantTimeCompare(c.secret[:], sum[:]) == 1 {
				return c, nil
			}
		}
		if s.cfg.Auth.Users && s.env.Authenticate != nil {
			if user, may, err := s.env.Authenticate(strings.TrimSpace(tok)); err == nil {
				return &credential{user: user, bearer: true, may: may}, nil
			}
		}
		return nil, errors.New("wrong bearer token")
	}
	return nil, errors.New("unsupported authorization scheme (want Basic or Bearer)")
}

// readHeaders parses the OMF headers, reporting problems in out.
func readHeaders(r *http.Request, out *outcome) header {
	var h header
	get := func(name string, required bool) (string, bool) {
		vs := r.Header.Values(name)
		switch {
		case len(vs) > 1:
			out.errorf(-1, evDuplicateHeader, 400, [][2]string{{"Header", name}}, "Header %q is given %d times.", name, len(vs))
			return "", false
		case len(vs) == 0 || strings.TrimSpace(vs[0]) == "":
			if required {
				out.errorf(-1, evMissingHeader, 400, [][2]string{{"Header", name}}, "The required header %q is missing.", name)
			}
			return "", !required
		}
		return strings.ToLower(strings.TrimSpace(vs[0])), true
	}
	if v, ok := get("messagetype", true); ok {
		switch v {
		case "type", "container", "data":
			h.msgType = v
		default:
			out.errorf(-1, evMessageType, 400, [][2]string{{"messagetype", v}}, "The messagetype %q is not valid (want type, container or data).", v)
		}
	}
	if v, ok := get("messageformat", true); ok && v != "json" {
		out.errorf(-1, evMessageFormat, 400, [][2]string{{"messageformat", v}}, "The messageformat %q is not valid (want JSON).", v)
	}
	if v, ok := get("omfversion", true); ok {
		switch v {
		case "1.0", "1.1", "1.2":
			h.version = v
		default:
			out.errorf(-1, evOMFVersion, 400, [][2]string{{"omfversion", v}}, "The omfversion %q is not supported (want 1.0, 1.1 or 1.2).", v)
		}
	}
	if v, ok := get("action", false); ok {
		switch v {
		case "":
			h.action = "create"
		case "create", "update", "delete":
			h.action = v
		case "patch":
			if h.version != "1.2" {
				out.errorf(-1, evAction, 400, [][2]string{{"action", v}}, "The action patch needs omfversion 1.2.")
			}
			h.action = v
		default:
			out.errorf(-1, evAction, 400, [][2]string{{"action", v}}, "The action %q is not valid (want create, update or delete).", v)
		}
	}
	if v, ok := get("compression", false); ok {
		switch v {
		case "", "none":
		case "gzip":
			h.gzip = true
		default:
			out.errorf(-1, evCompression, 400, [][2]string{{"compression", v}}, "The compression %q is not valid (want gzip).", v)
		}
	}
	return h
}

// ServeHTTP handles one OMF request.
func (s *Source) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	opID := newOperationID()
	w.Header().Set("Operation-Id", opID)
	s.m.messages.Inc()
	var out outcome
	retry := int(math.Ceil(s.cfg.RetryAfter.Std().Seconds()))
	reject := func(reason string, status, code int, format string, args ...any) {
		s.m.errors.WithLabelValues(reason).Inc()
		out.errorf(-1, code, status, nil, format, args...)
		s.logOnce(reason, fmt.Sprintf(format, args...), "remote", r.RemoteAddr, "operation", opID)
		out.write(w, opID, retry)
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		reject("method", http.StatusMethodNotAllowed, 0, "OMF messages are sent with POST, not %s.", r.Method)
		return
	}
	s.runMu.RLock()
	defer s.runMu.RUnlock()
	run := s.run
	if run == nil {
		reject("unavailable", http.StatusServiceUnavailable, 0, "The OMF endpoint is starting or stopping; retry later.")
		return
	}
	cred, err := s.authenticate(r, run.creds)
	if err != nil {
		challenge := `Basic realm="sluice OMF", charset="UTF-8"`
		if len(s.cfg.Auth.Bearer) > 0 {
			challenge = `Bearer realm="sluice OMF", ` + challenge
		}
		w.Header().Set("WWW-Authenticate", challenge)
		reject("unauthorized", http.StatusUnauthorized, 0, "Authentication failed: %v.", err)
		return
	}
	h := readHeaders(r, &out)
	if out.failed() {
		s.m.errors.WithLabelValues("bad_request").Inc()
		out.write(w, opID, retry)
		return
	}
	if h.action == "" {
		h.action = "create"
	}
	if cred.dataOnly && (h.msgType != "data" || h.action == "delete") {
		reject("forbidden", http.StatusForbidden, -1004, "This credential may only send data messages that create or update values, not %s %s messages.", h.action, h.msgType)
		return
	}
	if r.ContentLength > int64(s.cfg.MaxBodyBytes) {
		reject("too_large", http.StatusRequestEntityTooLarge, 0, "The body of %d bytes is over the limit of %d bytes.", r.ContentLength, s.cfg.MaxBodyBytes)
		return
	}

	// Back-pressure: wait a little for a slot, then ask the sender to
	// retry later.
	select {
	case s.slots <- struct{}{}:
	default:
		t := time.NewTimer(s.cfg.BusyWait.Std())
		select {
		case s.slots <- struct{}{}:
			t.Stop()
		case <-t.C:
			reject("busy", http.StatusServiceUnavailable, 0, "The endpoint is busy (%d requests in progress); retry after %d s.", s.cfg.MaxInflight, retry)
			return
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	defer func() { <-s.slots }()

	buf := s.bufs.Get().(*bytes.Buffer)
	defer s.bufs.Put(buf)
	if status, msg := s.readBody(buf, r.Body, h.gzip); status != 0 {
		code := evDecompression
		if status == http.StatusRequestEntityTooLarge {
			code = 0
		}
		reject(map[int]string{400: "bad_request", 413: "too_large"}[status], status, code, "%s", msg)
		return
	}
	doc := s.docs.Get().(*jsonscan.Doc)
	defer func() { doc.Reset(); s.docs.Put(doc) }()
	if err := doc.Parse(buf.String()); err != nil {
		reject("bad_request", 400, evParser, "The body is not valid JSON: %v.", err)
		return
	}
	if doc.Kind(jsonscan.Root) != jsonscan.Array {
		reject("bad_request", 400, evParser, "The body must be a JSON array of OMF objects, not a %s.", doc.Kind(jsonscan.Root))
		return
	}
	objs := doc.Members(jsonscan.Root)
	for i, m := range objs {
		if doc.Kind(m.Value) != jsonscan.Object {
			out.errorf(i, evParser, 400, nil, "Message %d is a %s, not an object.", i, doc.Kind(m.Value))
		}
	}
	if !out.failed() {
		ctx := run.ctx
		switch h.msgType {
		case "type":
			s.types(ctx, run, doc, objs, h, cred, &out)
		case "container":
			s.containers(ctx, run, doc, objs, h, cred, &out)
		case "data":
			s.data(ctx, run, doc, objs, h, cred, &out)
		}
	}
	if out.failed() {
		reason := "bad_request"
		switch out.status() {
		case http.StatusServiceUnavailable:
			reason = "write"
		case http.StatusForbidden:
			reason = "forbidden"
		}
		s.m.errors.WithLabelValues(reason).Inc()
		s.logOnce("rejected_"+h.msgType, "OMF request rejected", "status", out.status(), "operation", opID,
			"first", firstError(&out), "remote", r.RemoteAddr)
	}
	out.write(w, opID, retry)
}

// readBody reads the (decompressed) body into buf, enforcing the limit.
func (s *Source) readBody(buf *bytes.Buffer, body io.Reader, gz bool) (int, string) {
	limit := int64(s.cfg.MaxBodyBytes)
	buf.Reset()
	raw := io.LimitReader(body, limit+1)
	if gz {
		zr, err := gzip.NewReader(raw)
		if err != nil {
			return http.StatusBadRequest, fmt.Sprintf("The body could not be decompressed: %v.", err)
		}
		raw = io.LimitReader(zr, limit+1)
		n, err := buf.ReadFrom(raw)
		switch {
		case n > limit:
			return http.StatusRequestEntityTooLarge, fmt.Sprintf("The decompressed body is over the limit of %d bytes.", limit)
		case err != nil:
			return http.StatusBadRequest, fmt.Sprintf("The body could not be decompressed: %v.", err)
		}
		return 0, ""
	}
	n, err := buf.ReadFrom(raw)
	switch {
	case n > limit:
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("The body is over the limit of %d bytes.", limit)
	case err != nil:
		return http.StatusBadRequest, fmt.Sprintf("Reading the body failed: %v.", err)
	}
	return 0, ""
}

func firstError(o *outcome) string {
	for _, i := range o.order {
		for _, ev := range o.events[i] {
			if ev.Severity == sevError {
				if i >= 0 {
					return fmt.Sprintf("message %d: %s", i, ev.Message)
				}
				return ev.Message
			}
		}
	}
	return ""
}

// logOnce logs the first problem of each kind as a warning and the rest
// at debug level, so that a misconfigured sender cannot flood the log.
func (s *Source) logOnce(reason, msg string, args ...any) {
	s.logMu.Lock()
	first := !s.logged[reason]
	s.logged[reason] = true
	s.logMu.Unlock()
	if first {
		s.env.Logger.Warn(msg+" (further ones are logged at debug level)", append(args, "reason", reason)...)
	} else {
		s.env.Logger.Debug(msg, append(args, "reason", reason)...)
	}
}
