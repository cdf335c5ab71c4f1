// Package webapi is the PI Web API reader of Sluice (source type
// pi-webapi): it reads a PI Data Archive (PI points) and AF (attributes)
// through PI Web API. It resolves the configured paths to WebIDs once per
// run, backfills with streamsets/recorded in windows that respect the
// server's per-call cap, then follows new values with streamsets/updates
// markers, and resumes from the last stored timestamp of each stream
// after a restart (kept in <data_dir>/pi-webapi/<source>.json). See
// sample.yaml.
package webapi

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-edge/sluice/connectors"
	"github.com/sluice-edge/sluice/connectors/pi/internal/pitime"
	"github.com/sluice-edge/sluice/connectors/point"
	"github.com/sluice-edge/sluice/connectors/retry"
)

func init() {
	connectors.Register(connectors.Registration{
		Type:    "pi-webapi",
		Section: "pi_webapi",
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

// Source reads PI points and AF attributes through PI Web API.
//
// Each run resolves the configured paths to WebIDs (once), creates their
// streams, registers for stream updates (markers), reads the history of
// every stream from where it stopped (or backfill_start) with
// streamsets/recorded, then polls streamsets/updates. A failure (server
// unreachable, store error) ends the session; the next one, after a
// backoff, registers again and reads each stream's history from its last
// stored value, so nothing is missed and nothing is read twice. PI holds
// the data meanwhile: the reader never buffers what it could not store.
type Source struct {
	env  connectors.Env
	cfg  Config
	c    *compiled
	file string // state file; empty without a data dir
	m    webMetrics
	now  func() time.Time

	// The streams of the current run; only Run's goroutine uses them.
	streams []*piStream
	byName  map[string]*piStream

	logMu  sync.Mutex
	logged map[string]bool
}

type webMetrics struct {
	messages, points, written, reconnects prometheus.Counter
	errors, dropped                       *prometheus.CounterVec
	batch                                 prometheus.Observer
	connected                             prometheus.Gauge
}

// piStream is the reader's state of one configured path.
type piStream struct {
	path  piPath
	spec  point.StreamSpec
	webID string
	kind  point.Kind // the stream's kind in the store

	// last is the timestamp up to which the stream is read and stored
	// (ns); values at or before it are not written again by history
	// reads. hasLast is false before anything is known.
	last    int64
	hasLast bool

	resolved bool
	skip     bool      // unsupported type or refused name: not read
	retryAt  time.Time // next resolution attempt of a path that failed

	marker       string // stream updates marker
	needRegister bool
	needBackfill bool
	fallback     bool // registration failed: follow with recorded reads
}

// New validates cfg and builds the source. It does no I/O.
func New(env connectors.Env, cfg Config) (*Source, error) {
	c, err := cfg.compile()
	if err != nil {
		return nil, err
	}
	if env.Logger == nil {
		env.Logger = slog.New(slog.DiscardHandler)
	}
	if env.Metrics == nil {
		env.Metrics = connectors.NewMetrics(nil)
	}
	s := &Source{env: env, cfg: cfg, c: c, now: time.Now, logged: map[string]bool{}}
	if env.DataDir != "" {
		s.file = filepath.Join(env.DataDir, "pi-webapi", env.Name+".json")
	}
	m := env.Metrics
	s.m = webMetrics{
		messages:   m.Messages.WithLabelValues(env.Name),
		points:     m.Points.WithLabelValues(env.Name),
		written:    m.Written.WithLabelValues(env.Name),
		reconnects: m.Reconnects.WithLabelValues(env.Name),
		errors:     m.Errors.MustCurryWith(prometheus.Labels{"source": env.Name}),
		dropped:    m.Dropped.MustCurryWith(prometheus.Labels{"source": env.Name}),
		batch:      m.BatchSeconds.WithLabelValues(env.Name),
		connected:  m.Connected.WithLabelValues(env.Name),
	}
	return s, nil
}

// Run reads until ctx ends, then returns nil. Unreachable servers and
// store failures are retried with backoff; it returns an error only when
// its secrets or CA file cannot be read.
func (s *Source) Run(ctx context.Context, sink connectors.Sink) error {
	client, err := newWebClient(&s.cfg, s.c.base, s.env.DataDir)
	if err != nil {
		return err
	}
	defer client.close()
	streams := s.initStreams()
	defer s.m.connected.Set(0)
	bo := retry.Backoff{Min: s.cfg.ReconnectMin.Std(), Max: s.cfg.ReconnectMax.Std()}
	attempt := 0
	for {
		began := time.Now()
		err := s.session(ctx, client, sink, streams)
		if ctx.Err() != nil {
			return nil
		}
		s.m.connected.Set(0)
		s.m.reconnects.Inc()
		if time.Since(began) > s.cfg.ReconnectMax.Std() {
			attempt = 0 // it ran a good while: start the backoff over
		}
		wait := bo.Delay(attempt)
		s.logOnce("session", "PI Web API session failed; retrying", "err", err, "in", wait.Round(time.Millisecond))
		if !retry.Sleep(ctx, wait) {
			return nil
		}
		attempt++
	}
}

// initStreams builds the stream states and loads what the state file
// says was stored.
func (s *Source) initStreams() []*piStream {
	saved := s.loadState()
	from, hasFrom, _ := backfillFrom(s.c.backfill, s.now())
	var out []*piStream
	for _, p := range s.c.paths {
		t := s.c.pointT
		if p.attr {
			t = s.c.attrT
		}
		st := &piStream{path: p}
		st.spec.Name = p.streamName(t, s.cfg.StreamPrefix)
		if last, ok := saved[strings.ToLower(p.raw)]; ok {
			st.last, st.hasLast = last, true
		} else if hasFrom {
			st.last, st.hasLast = from-1, true // history from `from` on, inclusive
		}
		out = append(out, st)
	}
	s.streams, s.byName = out, map[string]*piStream{}
	for _, st := range out {
		s.byName[st.spec.Name] = st
	}
	return out
}

// session runs one connection to PI Web API until an error.
func (s *Source) session(ctx context.Context, c *webClient, sink connectors.Sink, streams []*piStream) error {
	for _, st := range streams {
		st.marker, st.needRegister, st.needBackfill = "", st.resolved && !st.skip, st.resolved && !st.skip
	}
	tick := time.NewTicker(s.cfg.PollInterval.Std())
	defer tick.Stop()
	for {
		if err := s.resolve(ctx, c, sink, streams); err != nil {
			return err
		}
		if err := s.register(ctx, c, streams); err != nil {
			return err
		}
		if err := s.backfill(ctx, c, sink, streams); err != nil {
			return err
		}
		if err := s.poll(ctx, c, sink, streams); err != nil {
			return err
		}
		s.m.connected.Set(1)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// resolveRetry is how long a path that did not resolve waits.
const resolveRetry = 10 * time.Minute

// resolve looks up the WebIDs of paths not resolved yet and creates their
// streams. A path PI does not know is retried later; the session goes on.
func (s *Source) resolve(ctx context.Context, c *webClient, sink connectors.Sink, streams []*piStream) error {
	now := s.now()
	for _, st := range streams {
		if st.resolved || st.skip || now.Before(st.retryAt) {
			continue
		}
		q := url.Values{"path": {st.path.raw}}
		var (
			webID, typ, unit, desc string
			kind                   point.Kind
			fail                   string
		)
		var err error
		if st.path.attr {
			var a afAttribute
			q.Set("selectedFields", "WebId;Name;Path;Type;DefaultUnitsName;DefaultUnitsNameAbbreviation;Description")
			err = c.call(ctx, http.MethodGet, "/attributes", q, &a)
			webID, typ, unit, desc, fail = a.WebID, a.Type, cmp.Or(a.DefaultUnitsNameAbbreviation, a.DefaultUnitsName), a.Description, failure(a.Errors, a.WebException, nil)
			kind = attributeKind(typ)
		} else {
			var p piPoint
			q.Set("selectedFields", "WebId;Name;Path;PointType;EngineeringUnits;Descriptor")
			err = c.call(ctx, http.MethodGet, "/points", q, &p)
			webID, typ, unit, desc, fail = p.WebID, p.PointType, p.EngineeringUnits, p.Descriptor, failure(p.Errors, p.WebException, nil)
			kind = pointKind(typ)
		}
		s.m.messages.Inc()
		var ae *apiError
		switch {
		case errors.As(err, &ae) && (ae.Status == http.StatusNotFound || ae.Status == http.StatusBadRequest):
			fail = ae.Error()
		case err != nil:
			return fmt.Errorf("resolving %s: %w", st.path.raw, err)
		case fail == "" && webID == "":
			fail = "the answer has no WebId"
		}
		if fail != "" {
			st.retryAt = now.Add(resolveRetry)
			s.m.errors.WithLabelValues("resolve").Inc()
			s.logOnce("resolve:"+st.path.raw, "PI path does not resolve; retrying in 10 minutes", "path", st.path.raw, "err", fail)
			continue
		}
		if kind == 0 {
			st.skip = true
			s.m.errors.WithLabelValues("unsupported").Inc()
			s.env.Logger.Error("PI path has a value type that is not read", "path", st.path.raw, "type", typ)
			continue
		}
		st.spec = point.StreamSpec{Name: st.spec.Name, Description: desc, Unit: unit, Kind: kind,
			Source: s.env.Name + ":" + st.path.raw}
		if err := sink.EnsureStream(ctx, st.spec); err != nil {
			var se *point.StreamError
			switch {
			case errors.As(err, &se) && se.Kind.Valid():
				kind = se.Kind
				s.env.Logger.Warn("stream exists with another kind; converting", "stream", st.spec.Name, "kind", se.Kind, "pi_type", typ)
			case errors.As(err, &se):
				st.skip = true
				s.m.errors.WithLabelValues("refused").Inc()
				s.env.Logger.Error("the store refuses the stream; the path is not read", "path", st.path.raw, "stream", st.spec.Name, "reason", se.Reason)
				continue
			default:
				return err
			}
		}
		st.webID, st.kind, st.resolved = webID, kind, true
		st.needRegister, st.needBackfill = true, true
		s.env.Logger.Info("PI path resolved", "path", st.path.raw, "stream", st.spec.Name, "type", typ)
	}
	return nil
}

func (st *piStream) live() bool { return st.resolved && !st.skip }

// chunks splits streams into groups of at most n.
func chunks(streams []*piStream, n int) [][]*piStream {
	var out [][]*piStream
	for len(streams) > n {
		out = append(out, streams[:n])
		streams = streams[n:]
	}
	if len(streams) > 0 {
		out = append(out, streams)
	}
	return out
}

// register registers streams for updates. A stream whose registration
// fails is followed with recorded reads instead.
func (s *Source) register(ctx context.Context, c *webClient, streams []*piStream) error {
	var need []*piStream
	for _, st := range streams {
		if st.live() && st.needRegister {
			need = append(need, st)
		}
	}
	now := s.now().UnixNano()
	for _, group := range chunks(need, s.cfg.StreamsPerRequest) {
		q := url.Values{}
		for _, st := range group {
			q.Add("webId", st.webID)
		}
		var resp updateItems
		err := c.call(ctx, http.MethodPost, "/streamsets/updates", q, &resp)
		s.m.messages.Inc()
		var ae *apiError
		if errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500 && ae.Status != http.StatusUnauthorized && ae.Status != http.StatusForbidden {
			// One bad WebID fails the whole call: follow these with
			// recorded reads.
			s.logOnce("register", "registering for stream updates failed; following with recorded reads", "err", err)
			for _, st := range group {
				st.needRegister, st.fallback, st.marker = false, true, ""
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("registering for updates: %w", err)
		}
		if f := failure(resp.Errors, resp.WebException, nil); f != "" {
			return fmt.Errorf("registering for updates: %s", f)
		}
		for i, st := range group {
			it := findUpdate(resp.Items, i, st, true)
			st.needRegister = false
			switch {
			case it == nil || it.LatestMarker == "" || failure(it.Errors, it.WebException, it.Exception) != "" ||
				!(strings.EqualFold(it.Status, "Succeeded") || strings.EqualFold(it.Status, "AlreadyRegistered") || it.Status == ""):
				why := "no marker"
				if it != nil {
					why = cmp.Or(failure(it.Errors, it.WebException, it.Exception), it.Status)
				}
				s.logOnce("register:"+st.path.raw, "registering for stream updates failed; following with recorded reads", "path", st.path.raw, "err", why)
				st.fallback, st.marker = true, ""
			default:
				st.fallback, st.marker = false, it.LatestMarker
			}
			if !st.hasLast {
				// backfill_start none: the stream starts now.
				st.last, st.hasLast = now, true
			}
		}
	}
	return nil
}

// findUpdate finds the item of a stream in an updates answer: by WebID
// (registration) or marker (retrieval), else by position.
func findUpdate(items []updateItem, i int, st *piStream, byWebID bool) *updateItem {
	for k := range items {
		if byWebID && items[k].Source == st.webID || !byWebID && items[k].RequestedMarker == st.marker && st.marker != "" {
			return &items[k]
		}
	}
	if i < len(items) && (items[i].Source == "" || items[i].Source == st.webID) {
		return &items[i]
	}
	return nil
}

// backfill reads the history of streams that need it (after a
// registration, a gap, or for streams without markers every poll).
func (s *Source) backfill(ctx context.Context, c *webClient, sink connectors.Sink, streams []*piStream) error {
	var need []*piStream
	for _, st := range streams {
		if st.live() && st.hasLast && (st.needBackfill || st.fallback) {
			need = append(need, st)
		}
	}
	for _, group := range chunks(need, s.cfg.StreamsPerRequest) {
		if err := s.recorded(ctx, c, sink, group); err != nil {
			return err
		}
	}
	return nil
}

// recorded reads the values of a group of streams from their last stored
// value to now, in windows of at most backfill_window and max_count
// values, and stores them. Each stream has a cursor: the time up to which
// its values have been read. A call asks for the window starting at the
// smallest cursor; a stream that gets max_count values continues from its
// last one, the others from the window's end; the last window ends at
// PI's "*" (now).
func (s *Source) recorded(ctx context.Context, c *webClient, sink connectors.Sink, group []*piStream) error {
	cursor := map[*piStream]int64{}
	for _, st := range group {
		cursor[st] = st.last
		st.needBackfill = false
	}
	window := int64(s.cfg.BackfillWindow)
	for len(cursor) > 0 {
		start := int64(math.MaxInt64)
		var active []*piStream
		for _, st := range group {
			if cur, ok := cursor[st]; ok {
				active = append(active, st)
				start = min(start, cur)
			}
		}
		end := start + window
		final := end >= s.now().UnixNano() || end < start
		per := max(1, s.cfg.MaxCount/len(active))
		q := url.Values{}
		for _, st := range active {
			q.Add("webId", st.webID)
		}
		q.Set("startTime", pitime.Format(start))
		if final {
			q.Set("endTime", "*")
		} else {
			q.Set("endTime", pitime.Format(end))
		}
		q.Set("boundaryType", "Inside")
		q.Set("maxCount", strconv.Itoa(per))
		var resp recordedItems
		err := c.call(ctx, http.MethodGet, "/streamsets/recorded", q, &resp)
		s.m.messages.Inc()
		if err != nil {
			return fmt.Errorf("reading recorded values: %w", err)
		}
		if f := failure(resp.Errors, resp.WebException, nil); f != "" {
			return fmt.Errorf("reading recorded values: %s", f)
		}
		var batch []point.Point
		for i, st := range active {
			it := findRecorded(resp.Items, i, st)
			if it == nil || failure(it.Errors, it.WebException, it.Exception) != "" {
				why := "missing from the answer"
				if it != nil {
					why = failure(it.Errors, it.WebException, it.Exception)
				}
				s.m.errors.WithLabelValues("stream").Inc()
				s.logOnce("recorded:"+st.path.raw, "PI returned an error for a stream; retrying it next poll", "path", st.path.raw, "err", why)
				st.needBackfill = true
				delete(cursor, st)
				continue
			}
			var complete bool
			var lastTS int64
			batch, lastTS, complete = s.decode(it.Items, st, batch, true)
			switch {
			case !complete:
				// An error inside the answer: keep what came before it and
				// read the rest next poll.
				st.needBackfill = true
				delete(cursor, st)
			case len(it.Items) >= per:
				if lastTS <= cursor[st] {
					lastTS = cursor[st] + 1 // max_count values at one time: skip ahead
					s.logOnce("stuck:"+st.path.raw, "more values at one timestamp than max_count; some are skipped", "path", st.path.raw)
				}
				cursor[st] = lastTS
			case final:
				delete(cursor, st)
			default:
				cursor[st] = end
			}
		}
		if err := s.write(ctx, sink, batch); err != nil {
			return err
		}
	}
	return nil
}

func findRecorded(items []recordedItem, i int, st *piStream) *recordedItem {
	for k := range items {
		if items[k].WebID == st.webID && st.webID != "" {
			return &items[k]
		}
	}
	if i < len(items) && items[i].WebID == "" {
		return &items[i]
	}
	return nil
}

// decode appends a stream's values to batch. With history, values at or
// before the stream's last stored time are skipped. complete is false when
// a value carries Errors (PI's mark of a failure while it wrote the
// answer); the values after it are not used.
func (s *Source) decode(values []timedValue, st *piStream, batch []point.Point, history bool) (_ []point.Point, lastTS int64, complete bool) {
	for k := range values {
		tv := &values[k]
		if len(tv.Errors) > 0 {
			s.m.errors.WithLabelValues("value").Inc()
			s.logOnce("value:"+st.path.raw, "PI reported an error inside its answer; the rest is read again", "path", st.path.raw, "err", strings.Join(tv.Errors, "; "))
			return batch, lastTS, false
		}
		t, err := valueTime(tv)
		if err != nil {
			s.m.dropped.WithLabelValues("bad_timestamp").Inc()
			continue
		}
		lastTS = t
		switch strings.ToLower(tv.Action) {
		case "delete", "remove":
			s.m.dropped.WithLabelValues("deleted_in_pi").Inc()
			continue
		}
		if history && t <= st.last {
			continue
		}
		s.m.points.Inc()
		v, q, ok := decodeValue(tv, st.kind)
		if !ok {
			s.m.dropped.WithLabelValues("bad_value").Inc()
			continue
		}
		batch = append(batch, point.Point{Stream: st.spec.Name, Time: t, Value: v, Quality: q})
	}
	return batch, lastTS, true
}

// poll retrieves stream updates with the markers.
func (s *Source) poll(ctx context.Context, c *webClient, sink connectors.Sink, streams []*piStream) error {
	var have []*piStream
	for _, st := range streams {
		if st.live() && st.marker != "" && !st.needRegister {
			have = append(have, st)
		}
	}
	for _, group := range chunks(have, s.cfg.StreamsPerRequest) {
		q := url.Values{}
		for _, st := range group {
			q.Add("marker", st.marker)
		}
		var resp updateItems
		err := c.call(ctx, http.MethodGet, "/streamsets/updates", q, &resp)
		s.m.messages.Inc()
		var ae *apiError
		if errors.As(err, &ae) && (ae.Status == http.StatusNotFound || ae.Status == http.StatusConflict || ae.Status == http.StatusBadRequest) {
			// The markers expired (PI keeps them for a while) or are
			// unknown: register again and read the gap.
			s.logOnce("markers", "stream update markers were rejected; registering again", "err", err)
			for _, st := range group {
				st.marker, st.needRegister, st.needBackfill = "", true, true
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("retrieving updates: %w", err)
		}
		if f := failure(resp.Errors, resp.WebException, nil); f != "" {
			return fmt.Errorf("retrieving updates: %s", f)
		}
		var batch []point.Point
		for i, st := range group {
			it := findUpdate(resp.Items, i, st, false)
			if it == nil || failure(it.Errors, it.WebException, it.Exception) != "" || strings.EqualFold(it.Status, "Failed") {
				why := "missing from the answer"
				if it != nil {
					why = cmp.Or(failure(it.Errors, it.WebException, it.Exception), it.Status)
				}
				// PI unregisters a stream whose retrieval failed.
				s.m.errors.WithLabelValues("stream").Inc()
				s.logOnce("updates:"+st.path.raw, "retrieving updates failed for a stream; registering again", "path", st.path.raw, "err", why)
				st.marker, st.needRegister, st.needBackfill = "", true, true
				continue
			}
			var complete bool
			batch, _, complete = s.decode(it.Events, st, batch, false)
			if !complete {
				st.marker, st.needRegister, st.needBackfill = "", true, true
				continue
			}
			if it.LatestMarker != "" {
				st.marker = it.LatestMarker
			}
		}
		if err := s.write(ctx, sink, batch); err != nil {
			return err
		}
	}
	return nil
}

// write stores a batch in chunks of batch_size and records, after each,
// the last stored time of its streams.
func (s *Source) write(ctx context.Context, sink connectors.Sink, batch []point.Point) error {
	for len(batch) > 0 {
		n := min(len(batch), s.cfg.BatchSize)
		chunk := batch[:n]
		batch = batch[n:]
		start := time.Now()
		if err := sink.Write(ctx, chunk); err != nil {
			s.m.errors.WithLabelValues("write").Inc()
			return fmt.Errorf("writing %d points: %w", len(chunk), err)
		}
		s.m.batch.Observe(time.Since(start).Seconds())
		s.m.written.Add(float64(len(chunk)))
		s.advance(chunk)
	}
	return nil
}

// advance raises the streams' last stored times and saves them.
func (s *Source) advance(chunk []point.Point) {
	for _, p := range chunk {
		st := s.byName[p.Stream]
		if st != nil && (!st.hasLast || p.Time > st.last) {
			st.last, st.hasLast = p.Time, true
		}
	}
	s.saveState()
}

// logOnce logs the first problem of each kind as a warning and the rest
// at debug level.
func (s *Source) logOnce(key, msg string, args ...any) {
	s.logMu.Lock()
	first := !s.logged[key]
	s.logged[key] = true
	s.logMu.Unlock()
	if first {
		s.env.Logger.Warn(msg+" (repeats are logged at debug level)", args...)
	} else {
		s.env.Logger.Debug(msg, args...)
	}
}
