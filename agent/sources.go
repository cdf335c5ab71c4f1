package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sluice-edge/sluice/configs"
	"github.com/sluice-edge/sluice/connectors"
	"github.com/sluice-edge/sluice/connectors/point"
	"go.yaml.in/yaml/v3"
)

// supervisor runs the configured sources, restarts one whose Run fails
// (with backoff), and applies config changes by name.
type supervisor struct {
	log     *slog.Logger
	metrics *connectors.Metrics
	dataDir string
	routes  *sourceRoutes // nil until the API is up
	// authenticate checks the agent's user tokens for HTTP sources; nil
	// until the users directory is open.
	authenticate func(bearer string) (string, func(stream string) bool, error)

	mu      sync.Mutex
	running map[string]*running
}

type running struct {
	cfg    configs.SourceConfig
	key    string // the section as YAML, to see whether it changed
	cancel context.CancelFunc
	done   chan struct{}
	state  atomic.Value // string
}

func newSupervisor(log *slog.Logger, m *connectors.Metrics, dataDir string) *supervisor {
	return &supervisor{log: log, metrics: m, dataDir: dataDir, running: map[string]*running{}}
}

func (s *supervisor) env(name string) connectors.Env {
	return connectors.Env{Name: name, DataDir: s.dataDir, Logger: s.log.With("source", name), Metrics: s.metrics,
		Authenticate: s.authenticate}
}

// build creates every source, which validates their sections.
func (s *supervisor) build(cfgs []configs.SourceConfig) (map[string]connectors.Source, error) {
	out := map[string]connectors.Source{}
	var errs []error
	paths := map[string]string{} // HTTP pattern -> source
	for _, c := range cfgs {
		reg, ok := connectors.Lookup(c.Type)
		if !ok {
			errs = append(errs, fmt.Errorf("%s.type: unknown source type %q (known: %s)", strings.TrimSuffix(c.Path(), "."+c.Section), c.Type, strings.Join(connectors.Types(), ", ")))
			continue
		}
		if reg.Section != c.Section {
			errs = append(errs, fmt.Errorf("%s: type %s takes its settings under %q, not %q", strings.TrimSuffix(c.Path(), "."+c.Section), c.Type, reg.Section, c.Section))
			continue
		}
		src, err := reg.New(s.env(c.Name), c.Decode)
		if err != nil {
			errs = append(errs, prefixErr(c.Path(), err))
			continue
		}
		if hs, ok := src.(connectors.HTTPSource); ok {
			for p := range hs.Routes() {
				if other, dup := paths[p]; dup {
					errs = append(errs, fmt.Errorf("%s: path %s is already served by source %q", c.Path(), p, other))
				}
				paths[p] = c.Name
			}
		}
		out[c.Name] = src
	}
	return out, errors.Join(errs...)
}

// prefixErr names the section in each of a connector's errors (New may
// join several, one per bad key) unless it already does.
func prefixErr(path string, err error) error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, prefixErr(path, e))
		}
		return errors.Join(out...)
	}
	if strings.HasPrefix(err.Error(), path) {
		return err
	}
	return fmt.Errorf("%s.%w", path, err)
}

// apply starts new and changed sources and stops removed and changed ones.
func (s *supervisor) apply(cfgs []configs.SourceConfig, sink connectors.Sink) error {
	built, err := s.build(cfgs)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	want := map[string]configs.SourceConfig{}
	for _, c := range cfgs {
		want[c.Name] = c
	}
	for name, r := range s.running {
		c, ok := want[name]
		if ok && sectionKey(c) == r.key && c.Type == r.cfg.Type {
			delete(built, name) // unchanged: keep it running
			continue
		}
		r.cancel()
		<-r.done
		s.routes.drop(name)
		delete(s.running, name)
		if !ok {
			s.metrics.Forget(name)
		}
		s.log.Info("source stopped", "source", name, "reason", map[bool]string{true: "changed", false: "removed"}[ok])
	}
	for name, src := range built {
		ctx, cancel := context.WithCancel(context.Background())
		r := &running{cfg: want[name], key: sectionKey(want[name]), cancel: cancel, done: make(chan struct{})}
		r.state.Store("starting")
		if hs, ok := src.(connectors.HTTPSource); ok {
			if err := s.routes.set(name, hs.Routes()); err != nil {
				cancel()
				return err
			}
		}
		s.running[name] = r
		s.metrics.Init(name)
		go s.run(ctx, r, src, lastPointSink{Sink: sink, last: s.metrics.LastPoint.WithLabelValues(name)})
		s.log.Info("source started", "source", name, "type", r.cfg.Type)
	}
	return nil
}

// run keeps one source running until its context ends. A source retries
// its own server; if Run still fails, it is rebuilt after a backoff, so
// one broken source never takes the agent down.
func (s *supervisor) run(ctx context.Context, r *running, src connectors.Source, sink connectors.Sink) {
	defer close(r.done)
	backoff := time.Second
	for {
		r.state.Store("running")
		err := src.Run(ctx, sink)
		if ctx.Err() != nil {
			r.state.Store("stopped")
			return
		}
		r.state.Store("failed: " + fmt.Sprint(err))
		s.metrics.Errors.WithLabelValues(r.cfg.Name, "run").Inc()
		s.log.Error("source failed; restarting", "source", r.cfg.Name, "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			r.state.Store("stopped")
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, time.Minute)
		if built, err := s.build([]configs.SourceConfig{r.cfg}); err == nil {
			src = built[r.cfg.Name]
			if hs, ok := src.(connectors.HTTPSource); ok {
				s.routes.set(r.cfg.Name, hs.Routes()) // same patterns, so it cannot fail
			}
		}
	}
}

// lastPointSink is a source's view of the sink: it stamps
// sluice_source_last_point_timestamp_seconds when the source's points
// are stored, with the agent's clock rather than the points' own times,
// so a device with a wrong clock or a backfill neither raises nor hides
// a "source went quiet" alert.
type lastPointSink struct {
	connectors.Sink
	last prometheus.Gauge
}

func (l lastPointSink) Write(ctx context.Context, points []point.Point) error {
	err := l.Sink.Write(ctx, points)
	if err == nil && len(points) > 0 {
		l.last.SetToCurrentTime()
	}
	return err
}

func (s *supervisor) stopAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.running {
		r.cancel()
	}
	for name, r := range s.running {
		<-r.done
		delete(s.running, name)
	}
}

func (s *supervisor) status() []map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]string
	for name, r := range s.running {
		out = append(out, map[string]string{"name": name, "type": r.cfg.Type, "state": r.state.Load().(string)})
	}
	return out
}

// sourceRoutes mounts the handlers of sources that serve HTTP
// (connectors.HTTPSource) on the API mux. A mux cannot unmount, so each
// pattern is mounted once, on a slot that dispatches to the handler of the
// running source that owns it, or answers 404 while none does.
type sourceRoutes struct {
	mount func(pattern string, h http.Handler) // api.Server.Handle

	mu    sync.Mutex
	slots map[string]*routeSlot
}

type routeSlot struct {
	owner string                       // source name; guarded by sourceRoutes.mu
	h     atomic.Pointer[http.Handler] // nil: 404
}

func (sl *routeSlot) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h := sl.h.Load(); h != nil {
		(*h).ServeHTTP(w, r)
		return
	}
	http.NotFound(w, r)
}

// set points the source's patterns at its handlers.
func (sr *sourceRoutes) set(name string, routes map[string]http.Handler) (err error) {
	if sr == nil {
		return nil
	}
	sr.mu.Lock()
	defer sr.mu.Unlock()
	for p, h := range routes {
		sl := sr.slots[p]
		if sl == nil {
			sl = &routeSlot{}
			func() {
				defer func() { // the mux panics on a pattern that clashes with its own
					if v := recover(); v != nil {
						err = fmt.Errorf("source %s: cannot serve %s: %v", name, p, v)
					}
				}()
				sr.mount(p, sl)
			}()
			if err != nil {
				return err
			}
			sr.slots[p] = sl
		}
		if sl.owner != "" && sl.owner != name {
			return fmt.Errorf("source %s: path %s is already served by source %s", name, p, sl.owner)
		}
		sl.owner = name
		sl.h.Store(&h)
	}
	return nil
}

// drop unmounts a stopped source's handlers.
func (sr *sourceRoutes) drop(name string) {
	if sr == nil {
		return
	}
	sr.mu.Lock()
	defer sr.mu.Unlock()
	for _, sl := range sr.slots {
		if sl.owner == name {
			sl.owner = ""
			sl.h.Store(nil)
		}
	}
}

func sectionKey(c configs.SourceConfig) string {
	b, err := yaml.Marshal(&c.Node)
	if err != nil {
		return ""
	}
	return string(b)
}
