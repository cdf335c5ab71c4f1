package promapi

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/sluice-edge/sluice/agent/api"
	"github.com/sluice-edge/sluice/agent/store"
	"github.com/sluice-edge/sluice/policy"
)

// Paths. Prefix is where the routes live, under /api/ so that each is a
// row of the route table, behind the users gate like every other route; Alias is the path Grafana is pointed at (the data source URL
// http://gateway:7080/prometheus), mapped onto Prefix by Front.
const (
	Prefix = "/api/v1/prometheus/"
	Alias  = "/prometheus/api/v1/"
)

// Store is what the API reads of the local store.
type Store interface {
	ListStreams(ctx context.Context, o store.ListOptions) ([]store.Stream, bool, error)
	LatestIn(ctx context.Context, name string, b store.Bounds) (store.Sample, bool, error)
	Summaries(ctx context.Context, name string, start, end, interval int64, b store.Bounds) ([]store.Summary, error)
}

// Caller is who asks, as the agent's users gate authenticated it.
type Caller struct {
	User string
	// Roles returns the caller's roles in community c, counting its
	// tenant-wide ones; with c == "" only the tenant-wide ones.
	Roles func(c policy.CommunityID) policy.RoleSet
}

// Options configure a Handler.
type Options struct {
	Store Store
	// Partners shows the streams partners share; nil shows local
	// streams only.
	Partners Partners
	// Tenant is this tenant's display name, the tenant label of its
	// local streams.
	Tenant string
	// Caller returns who sent r; false refuses the request (401). The
	// agent passes the principal its users gate vouched for.
	Caller func(r *http.Request) (Caller, bool)
	Logger *slog.Logger
	Now    func() time.Time
	// MaxSeries bounds the series one query may select; default 1000.
	MaxSeries int
	// Parallel bounds the series one query reads at once; default 4.
	Parallel int
	// PartnerParallel bounds the reads in flight to one partner's agent
	// over all queries, default 4: a dashboard refreshing many panels at
	// once queues here rather than meeting the owner's own bound
	// (federation.partner_reads, default 8) and losing series to 429s.
	PartnerParallel int
	// Lookback is how far back a plain selector looks for a value at
	// each step; default 5m, as Prometheus. A query may pass
	// lookback_delta.
	Lookback time.Duration
}

// Handler serves the Prometheus HTTP API's read endpoints over the
// tenant's streams and its partners' shared streams.
type Handler struct {
	opts Options

	mu    sync.Mutex
	slots map[policy.TenantID]chan struct{} // per owner, PartnerParallel each
}

// New returns a Handler.
func New(opts Options) *Handler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxSeries <= 0 {
		opts.MaxSeries = 1000
	}
	if opts.Parallel <= 0 {
		opts.Parallel = 4
	}
	if opts.PartnerParallel <= 0 {
		opts.PartnerParallel = 4
	}
	if opts.Lookback <= 0 {
		opts.Lookback = 5 * time.Minute
	}
	if opts.Caller == nil {
		opts.Caller = func(*http.Request) (Caller, bool) { return Caller{}, false }
	}
	return &Handler{opts: opts, slots: map[policy.TenantID]chan struct{}{}}
}

// partnerSlot waits for a free read slot towards owner; release frees it.
func (h *Handler) partnerSlot(ctx context.Context, owner policy.TenantID) (release func(), err error) {
	h.mu.Lock()
	ch := h.slots[owner]
	if ch == nil {
		ch = make(chan struct{}, h.opts.PartnerParallel)
		h.slots[owner] = ch
	}
	h.mu.Unlock()
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Mount attaches the handlers to their rows of the route registry with
// mount (api.Server.Mount).
func (h *Handler) Mount(mount func(pattern string, h http.Handler)) {
	for _, r := range []struct {
		path string
		f    func(http.ResponseWriter, *http.Request, Caller) error
	}{
		{"query", h.query},
		{"query_range", h.queryRange},
		{"series", h.series},
		{"labels", h.labels},
		{"label/{name}/values", h.labelValues},
		{"metadata", h.metadata},
	} {
		mount("GET "+Prefix+r.path, h.wrap(r.f))
	}
}

// Front goes in front of the API's mux: it maps Alias onto Prefix
// and turns a POSTed form (Grafana's default for queries) into the GET it
// stands for, with the form in the query string. Every route here only
// reads, whichever method carries it; the route table and the audit of
// actions then see them as the reads they are.
func Front(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		alias := strings.HasPrefix(r.URL.Path, Alias)
		if !alias && !strings.HasPrefix(r.URL.Path, Prefix) {
			next.ServeHTTP(w, r)
			return
		}
		r2 := r.Clone(r.Context())
		if alias {
			r2.URL.Path = Prefix + strings.TrimPrefix(r.URL.Path, Alias)
			if r.URL.RawPath != "" {
				r2.URL.RawPath = Prefix + strings.TrimPrefix(r.URL.RawPath, Alias)
			}
		}
		if r.Method == http.MethodPost {
			ct := r.Header.Get("Content-Type")
			q := r.URL.Query()
			if strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
				r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
				if err := r.ParseForm(); err != nil {
					writeError(w, &apiError{errBadData, errors.New("bad form body: " + err.Error())})
					return
				}
				for k, vs := range r.PostForm {
					q[k] = append(vs, q[k]...)
				}
			}
			r2.Method = http.MethodGet
			r2.URL.RawQuery = q.Encode()
			r2.Body, r2.ContentLength = http.NoBody, 0
			r2.Header.Del("Content-Type")
			r2.Form, r2.PostForm = nil, nil
		}
		r2.RequestURI = r2.URL.RequestURI()
		next.ServeHTTP(w, r2)
	})
}

func (h *Handler) wrap(f func(http.ResponseWriter, *http.Request, Caller) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := h.opts.Caller(r)
		if !ok || c.Roles == nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="sluice"`)
			writeJSONError(w, http.StatusUnauthorized, "unauthorized", "send Authorization: Bearer <token>")
			return
		}
		ctx := r.Context()
		if v := r.URL.Query().Get("timeout"); v != "" {
			d, err := parseDuration(v)
			if err != nil {
				writeError(w, badData("invalid parameter \"timeout\": %v", err))
				return
			}
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, d)
			defer cancel()
		}
		if err := f(w, r.WithContext(ctx), c); err != nil {
			switch {
			case errors.Is(err, context.DeadlineExceeded):
				err = &apiError{errTimeout, errors.New("query timed out")}
			case errors.Is(err, context.Canceled):
				err = &apiError{errCanceled, errors.New("query was canceled")}
			}
			var ae *apiError
			if !errors.As(err, &ae) {
				h.opts.Logger.Error("prometheus query failed", "path", r.URL.Path, "err", err)
			}
			writeError(w, err)
		}
	})
}

// --- queries ---

func (h *Handler) query(w http.ResponseWriter, r *http.Request, c Caller) error {
	q := r.URL.Query()
	t := h.opts.Now().UnixMilli() * 1e6
	if v := q.Get("time"); v != "" {
		var err error
		if t, err = parseTime(v); err != nil {
			return badData("invalid parameter \"time\": %v", err)
		}
	}
	return h.run(w, r, c, t, t, 0, false)
}

func (h *Handler) queryRange(w http.ResponseWriter, r *http.Request, c Caller) error {
	q := r.URL.Query()
	var start, end, step int64
	var err error
	if start, err = parseTime(q.Get("start")); err != nil {
		return badData("invalid parameter \"start\": %v", err)
	}
	if end, err = parseTime(q.Get("end")); err != nil {
		return badData("invalid parameter \"end\": %v", err)
	}
	if end < start {
		return badData("invalid parameter \"end\": end timestamp must not be before start time")
	}
	d, err := parseStep(q.Get("step"))
	if err != nil {
		return badData("invalid parameter \"step\": %v", err)
	}
	if d <= 0 {
		return badData("invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer")
	}
	step = int64(d)
	if (end-start)/step > MaxPoints {
		return badData("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)")
	}
	return h.run(w, r, c, start, end, step, true)
}

func (h *Handler) run(w http.ResponseWriter, r *http.Request, c Caller, start, end, step int64, matrix bool) error {
	q := r.URL.Query()
	expr, err := ParseQuery(q.Get("query"))
	if err != nil {
		return badData("invalid parameter \"query\": %v", err)
	}
	if _, err := check(expr); err != nil {
		return err
	}
	lookback := int64(h.opts.Lookback)
	if v := q.Get("lookback_delta"); v != "" {
		d, err := parseStep(v)
		if err != nil || d <= 0 || d > MaxRange {
			return badData("invalid parameter \"lookback_delta\": %q is not a positive duration up to %s", v, formatDuration(MaxRange))
		}
		lookback = int64(d)
	}
	n := 1
	if step > 0 {
		n = int((end-start)/step) + 1
	}
	if n == 1 {
		step = 0 // one step: evaluated as an instant
	}
	ev := &evaluator{ctx: r.Context(), h: h, caller: c, start: start, step: step, n: n, lookback: lookback}
	if err := ev.checkGrids(expr); err != nil {
		return err
	}
	sels := selectors(expr)
	if len(sels) > 0 {
		if ev.u, err = h.universe(r.Context(), c, sels); err != nil {
			return err
		}
	} else {
		ev.u = &universe{}
	}
	v, err := ev.eval(expr)
	if err != nil {
		return err
	}
	warnings := append(ev.u.warnings, ev.warnings...)
	bw := bufio.NewWriterSize(w, 64<<10)
	w.Header().Set("Content-Type", "application/json")
	b := make([]byte, 0, 1024)
	b = append(b, `{"status":"success","data":{"resultType":`...)
	switch v := v.(type) {
	case float64:
		if matrix {
			b = append(b, `"matrix","result":[{"metric":{},"values":[`...)
			for i := 0; i < n; i++ {
				if i > 0 {
					b = append(b, ',')
				}
				b = appendSample(b, ev.at(i), v)
				b = flush(bw, b)
			}
			b = append(b, "]}]"...)
		} else {
			b = append(b, `"scalar","result":`...)
			b = appendSample(b, start, v)
		}
	case vector:
		sortVector(v)
		if matrix {
			b = append(b, `"matrix","result":[`...)
			first := true
			for _, r := range v {
				if !anyTrue(r.has) {
					continue // Prometheus leaves out series without points
				}
				if !first {
					b = append(b, ',')
				}
				first = false
				b = appendMetric(b, r.labels)
				b = append(b, `,"values":[`...)
				sep := false
				for i := range r.vals {
					if !r.has[i] {
						continue
					}
					if sep {
						b = append(b, ',')
					}
					sep = true
					b = appendSample(b, ev.at(i), r.vals[i])
					b = flush(bw, b)
				}
				b = append(b, "]}"...)
			}
			b = append(b, ']')
		} else {
			b = append(b, `"vector","result":[`...)
			first := true
			for _, r := range v {
				if !r.has[0] {
					continue
				}
				if !first {
					b = append(b, ',')
				}
				first = false
				b = appendMetric(b, r.labels)
				b = append(b, `,"value":`...)
				b = appendSample(b, start, r.vals[0])
				b = append(b, '}')
				b = flush(bw, b)
			}
			b = append(b, ']')
		}
	}
	b = append(b, '}')
	b = appendWarnings(b, warnings)
	b = append(b, "}\n"...)
	bw.Write(b)
	return bw.Flush()
}

func anyTrue(bs []bool) bool {
	for _, b := range bs {
		if b {
			return true
		}
	}
	return false
}

func flush(bw *bufio.Writer, b []byte) []byte {
	if len(b) < 32<<10 {
		return b
	}
	bw.Write(b)
	return b[:0]
}

// --- metadata endpoints ---

// matchParam parses match[]; none means every series.
func matchParam(q url.Values, required bool) ([]*Selector, error) {
	ms := q["match[]"]
	if len(ms) == 0 {
		if required {
			return nil, badData("no match[] parameter provided")
		}
		return nil, nil
	}
	var sels []*Selector
	for _, m := range ms {
		e, err := ParseQuery(m)
		if err != nil {
			return nil, badData("invalid parameter \"match[]\": %v", err)
		}
		sel, ok := e.(*Selector)
		if !ok {
			return nil, badData("invalid parameter \"match[]\": %q is not a series selector", m)
		}
		sels = append(sels, sel)
	}
	return sels, nil
}

// timeRange checks start and end where they are only filters Sluice does
// not apply (streams have no lifetime like Prometheus series): a stream
// is listed whatever its data in the range.
func timeRange(q url.Values) error {
	for _, k := range []string{"start", "end"} {
		if v := q.Get(k); v != "" {
			if _, err := parseTime(v); err != nil {
				return badData("invalid parameter %q: %v", k, err)
			}
		}
	}
	return nil
}

func limitParam(q url.Values) (int, error) {
	v := q.Get("limit")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, badData("invalid parameter \"limit\": %q is not a non-negative number", v)
	}
	return n, nil
}

// matching returns the series that match any of sels (all if nil).
func (h *Handler) matching(r *http.Request, c Caller, required bool) ([]*series, []string, error) {
	q := r.URL.Query()
	sels, err := matchParam(q, required)
	if err != nil {
		return nil, nil, err
	}
	if err := timeRange(q); err != nil {
		return nil, nil, err
	}
	u, err := h.universe(r.Context(), c, sels)
	if err != nil {
		return nil, nil, err
	}
	if sels == nil {
		return u.series, u.warnings, nil
	}
	var out []*series
	for _, s := range u.series {
		for _, sel := range sels {
			if matches(sel.Matchers, s.labels) {
				out = append(out, s)
				break
			}
		}
	}
	return out, u.warnings, nil
}

func (h *Handler) series(w http.ResponseWriter, r *http.Request, c Caller) error {
	list, warnings, err := h.matching(r, c, true)
	if err != nil {
		return err
	}
	limit, err := limitParam(r.URL.Query())
	if err != nil {
		return err
	}
	if limit > 0 && len(list) > limit {
		list = list[:limit]
		warnings = append(warnings, "results truncated due to limit")
	}
	b := []byte(`{"status":"success","data":[`)
	for i, s := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendLabels(b, s.labels)
	}
	b = append(b, ']')
	return writeBody(w, appendWarnings(b, warnings))
}

func (h *Handler) labels(w http.ResponseWriter, r *http.Request, c Caller) error {
	list, warnings, err := h.matching(r, c, false)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, s := range list {
		for _, l := range s.labels {
			seen[l.Name] = true
		}
	}
	return h.writeStrings(w, r, seen, warnings)
}

func (h *Handler) labelValues(w http.ResponseWriter, r *http.Request, c Caller) error {
	name := r.PathValue("name")
	if strings.HasPrefix(name, "U__") { // Prometheus' escaping of UTF-8 label names
		name = unescapeName(name[3:])
	}
	list, warnings, err := h.matching(r, c, false)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, s := range list {
		if v := s.labels.Get(name); v != "" {
			seen[v] = true
		}
	}
	return h.writeStrings(w, r, seen, warnings)
}

// unescapeName undoes Prometheus' "U__" escaping: "_" stands for itself
// doubled ("__"), "_<hex>_" for a character, others for themselves.
func unescapeName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '_' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '_' {
			b.WriteByte('_')
			i++
			continue
		}
		j := strings.IndexByte(s[i+1:], '_')
		if j < 0 {
			b.WriteString(s[i:])
			break
		}
		cp, err := strconv.ParseUint(s[i+1:i+1+j], 16, 32)
		if err != nil || !utf8.ValidRune(rune(cp)) {
			b.WriteString(s[i : i+2+j])
		} else {
			b.WriteRune(rune(cp))
		}
		i += j + 1
	}
	return b.String()
}

func (h *Handler) writeStrings(w http.ResponseWriter, r *http.Request, set map[string]bool, warnings []string) error {
	limit, err := limitParam(r.URL.Query())
	if err != nil {
		return err
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	if limit > 0 && len(out) > limit {
		out = out[:limit]
		warnings = append(warnings, "results truncated due to limit")
	}
	b := []byte(`{"status":"success","data":[`)
	for i, s := range out {
		if i > 0 {
			b = append(b, ',')
		}
		b = api.AppendJSONString(b, s)
	}
	b = append(b, ']')
	return writeBody(w, appendWarnings(b, warnings))
}

// metadata answers /api/v1/metadata: every stream is a gauge, its
// description the help, its unit the unit.
func (h *Handler) metadata(w http.ResponseWriter, r *http.Request, c Caller) error {
	q := r.URL.Query()
	limit, err := limitParam(q)
	if err != nil {
		return err
	}
	metric := q.Get("metric")
	var sels []*Selector
	if metric != "" {
		m, _ := NewMatcher(MatchEqual, nameLabel, metric)
		sels = []*Selector{{Matchers: []*Matcher{m}}}
	}
	u, err := h.universe(r.Context(), c, sels)
	if err != nil {
		return err
	}
	type meta struct{ help, unit string }
	byName := map[string][]meta{}
	for _, s := range u.series {
		name := s.labels.Get(nameLabel)
		if metric != "" && name != metric {
			continue
		}
		m := meta{s.help, s.unit}
		dup := false
		for _, o := range byName[name] {
			dup = dup || o == m
		}
		if !dup {
			byName[name] = append(byName[name], m)
		}
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	if limit > 0 && len(names) > limit {
		names = names[:limit]
	}
	b := []byte(`{"status":"success","data":{`)
	for i, n := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = api.AppendJSONString(b, n)
		b = append(b, ":["...)
		for j, m := range byName[n] {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"type":"gauge","help":`...)
			b = api.AppendJSONString(b, m.help)
			b = append(b, `,"unit":`...)
			b = api.AppendJSONString(b, m.unit)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, '}')
	return writeBody(w, appendWarnings(b, u.warnings))
}

// --- encoding ---

func writeBody(w http.ResponseWriter, b []byte) error {
	w.Header().Set("Content-Type", "application/json")
	_, err := w.Write(append(b, "}\n"...))
	if err != nil {
		return nil // the client went away
	}
	return nil
}

func appendWarnings(b []byte, ws []string) []byte {
	if len(ws) == 0 {
		return b
	}
	b = append(b, `,"warnings":[`...)
	for i, s := range ws {
		if i > 0 {
			b = append(b, ',')
		}
		b = api.AppendJSONString(b, s)
	}
	return append(b, ']')
}

func appendMetric(b []byte, ls Labels) []byte {
	b = append(b, `{"metric":`...)
	return appendLabels(b, ls)
}

func appendLabels(b []byte, ls Labels) []byte {
	b = append(b, '{')
	for i, l := range ls {
		if i > 0 {
			b = append(b, ',')
		}
		b = api.AppendJSONString(b, l.Name)
		b = append(b, ':')
		b = api.AppendJSONString(b, l.Value)
	}
	return append(b, '}')
}

// appendSample writes [<unix seconds>, "<value>"] as Prometheus does.
func appendSample(b []byte, t int64, v float64) []byte {
	b = append(b, '[')
	b = strconv.AppendFloat(b, float64(t/1e6)/1e3, 'f', -1, 64)
	b = append(b, `,"`...)
	b = append(b, formatNumber(v)...)
	return append(b, `"]`...)
}

// formatNumber writes a value as Prometheus does.
func formatNumber(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

var statusOf = map[errorType]int{
	errBadData: http.StatusBadRequest, errExec: http.StatusUnprocessableEntity,
	errTimeout: http.StatusServiceUnavailable, errCanceled: 499, errInternal: http.StatusInternalServerError,
}

// writeError answers {"status":"error","errorType":...,"error":...}.
func writeError(w http.ResponseWriter, err error) {
	typ := errInternal
	var ae *apiError
	if errors.As(err, &ae) {
		typ = ae.typ
	}
	writeJSONError(w, statusOf[typ], string(typ), err.Error())
}

func writeJSONError(w http.ResponseWriter, code int, typ, msg string) {
	b := []byte(`{"status":"error","errorType":`)
	b = api.AppendJSONString(b, typ)
	b = append(b, `,"error":`...)
	b = api.AppendJSONString(b, msg)
	b = append(b, "}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(b)
}

// --- parameters ---

// parseTime reads a Prometheus time: Unix seconds (with a fraction) or
// RFC 3339. The result is in ns, on a whole millisecond, as Prometheus
// keeps times.
func parseTime(s string) (int64, error) {
	if s == "" {
		return 0, errors.New("missing")
	}
	var ms int64
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(f) || f*1e3 < float64(minTime/1e6) || f*1e3 > float64(maxTime/1e6) {
			return 0, errors.New("cannot parse " + strconv.Quote(s) + " to a valid timestamp between 1950 and 2150")
		}
		ms = int64(math.Round(f * 1e3))
	} else {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return 0, errors.New("cannot parse " + strconv.Quote(s) + " to a valid timestamp")
		}
		if t.Before(time.Unix(0, minTime)) || t.After(time.Unix(0, maxTime)) {
			return 0, errors.New("cannot parse " + strconv.Quote(s) + " to a valid timestamp between 1950 and 2150")
		}
		ms = t.UnixMilli()
	}
	return ms * 1e6, nil
}

// parseStep reads a step or duration: seconds (with a fraction) or a
// Prometheus duration (15s, 1m30s), to whole milliseconds.
func parseStep(s string) (time.Duration, error) {
	if s == "" {
		return 0, errors.New("missing")
	}
	var d time.Duration
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > float64(maxTime-minTime)/1e9 {
			return 0, errors.New("cannot parse " + strconv.Quote(s) + " to a valid duration")
		}
		d = time.Duration(math.Round(f*1e3)) * time.Millisecond
	} else {
		var err error
		if d, err = parseDuration(s); err != nil {
			return 0, errors.New("cannot parse " + strconv.Quote(s) + " to a valid duration")
		}
		d = d.Truncate(time.Millisecond)
	}
	return d, nil
}
