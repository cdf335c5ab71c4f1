// Package agent composes one tenant's agent: config -> store -> API ->
// connectors (-> federation), started in that order and stopped in
// reverse. cmd/sluice owns signals and exit codes; the agent owns the
// lifecycle.
package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/sluice-edge/sluice/agent/api"
	"github.com/sluice-edge/sluice/agent/audit"
	"github.com/sluice-edge/sluice/agent/console"
	"github.com/sluice-edge/sluice/agent/promapi"
	"github.com/sluice-edge/sluice/agent/store"
	"github.com/sluice-edge/sluice/agent/users"
	"github.com/sluice-edge/sluice/agent/views"
	"github.com/sluice-edge/sluice/configs"
	"github.com/sluice-edge/sluice/connectors"
	"github.com/sluice-edge/sluice/federation"
	"github.com/sluice-edge/sluice/federation/gossip"
	"github.com/sluice-edge/sluice/policy"
)

// Version is set at build time (-ldflags "-X .../agent.Version=v1.2.3").
var Version = "dev"

// TokenFile is the admin token's file name in the data dir.
const TokenFile = "admin.token"

// Options configure an Agent.
type Options struct {
	Config configs.Config
	Logger *slog.Logger // nil: discard
	// Registry receives every metric; nil makes a fresh one. /metrics
	// serves it.
	Registry *prometheus.Registry
	// Notify sends systemd notifications; nil sends none. cmd/sluice
	// passes SystemdNotifier when $NOTIFY_SOCKET is set.
	Notify func(state string) error
	// OnReady is called once the agent serves (tests use it to learn the
	// bound address).
	OnReady func(apiAddr string)
	// GossipTiming tunes the community clusters; tests pass
	// gossip.FastTiming(). Zero fields take the defaults.
	GossipTiming gossip.Timing
}

// Agent is one running agent.
type Agent struct {
	opts    Options
	cfg     configs.Config
	log     *slog.Logger
	reg     *registry
	started time.Time

	store   *store.Store
	api     *api.Server
	http    *http.Server
	apiLn   net.Listener // bound early, served once every route is mounted
	apiAddr string
	ready   atomic.Bool
	sources *supervisor
	fed     *federation.Node
	users   *users.Directory
	audit   *audit.Log

	notifyWarned atomic.Bool
}

// New checks the config, builds every source's connector to validate its
// section, and returns an agent that has touched nothing on disk yet.
func New(opts Options) (*Agent, error) {
	if err := opts.Config.Validate(); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	a := &Agent{opts: opts, cfg: opts.Config, log: opts.Logger, reg: &registry{Registry: opts.Registry}}
	a.sources = newSupervisor(a.log, connectors.NewMetrics(a.reg), opts.Config.DataDir)
	if _, err := a.sources.build(opts.Config.Sources); err != nil {
		return nil, err
	}
	return a, nil
}

// Run starts the agent and serves until ctx ends, then stops gracefully
// within the configured shutdown timeout.
func (a *Agent) Run(ctx context.Context) error {
	a.started = time.Now()
	if err := a.start(ctx); err != nil {
		a.stop()
		return err
	}
	<-ctx.Done()
	a.log.Info("stopping", "grace", a.cfg.ShutdownTimeout.Std())
	a.ready.Store(false) // no watchdog ping after STOPPING
	a.notify("STOPPING=1")
	done := make(chan error, 1)
	go func() { done <- a.stop() }()
	select {
	case err := <-done:
		return err
	case <-time.After(a.cfg.ShutdownTimeout.Std()):
		return fmt.Errorf("shutdown took longer than %s", a.cfg.ShutdownTimeout.Std())
	}
}

func (a *Agent) start(ctx context.Context) error {
	cfg := a.cfg
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "sluice_build_info", Help: "Build information; always 1.",
		ConstLabels: prometheus.Labels{"version": Version, "tenant": cfg.Tenant.Name},
	}, func() float64 { return 1 }))
	// No uptime gauge: process_start_time_seconds (the process
	// collector) says the same, and time() - it is the uptime.

	// 0. Every port is free, before anything is written (listeners.go).
	if err := checkListeners(cfg); err != nil {
		return err
	}
	// 1. Store.
	if err := privateDataDir(cfg.DataDir, a.log); err != nil {
		return err
	}
	if err := checkStoreFiles(cfg.DataDir); err != nil { // backupapi.go
		return err
	}
	st, err := store.Open(ctx, store.Options{
		Dir:             filepath.Join(cfg.DataDir, "store"),
		NoSync:          !cfg.Store.SyncWrites,
		Retention:       cfg.Store.Retention.Std(),
		CompactInterval: cfg.Store.CompactInterval.Std(),
		GCInterval:      cfg.Store.GCInterval.Std(),
		MaxSize:         int64(cfg.Store.MaxSize),
		MinFree:         int64(cfg.Store.MinFree),
		Rules:           storeRules(cfg.Store.RetentionRules),
		Logger:          a.log.With("component", "store"),
		Registerer:      a.reg,
	})
	if err != nil {
		return err
	}
	a.store = st

	// 2. Users, then the API with each route behind their gate.
	dir, err := users.Open(filepath.Join(cfg.DataDir, "users.json"), users.Options{
		Logger: a.log.With("component", "users"), Registerer: a.reg,
		CookieSuffix: cookieSuffix(cfg.DataDir),
	})
	if err != nil {
		return damaged(err)
	}
	a.users = dir
	if err := dir.EnsureBootstrap(filepath.Join(cfg.DataDir, TokenFile)); err != nil {
		return fmt.Errorf("admin token: %w", err)
	}
	// HTTP sources (OMF) accept the tokens of users who may write data:
	// tenant admins any stream, ingest users the streams within their
	// prefixes (as on the API's write routes), which the source checks.
	a.sources.authenticate = func(bearer string) (string, func(string) bool, error) {
		p, err := dir.Authenticate(bearer)
		if err != nil {
			return "", nil, err
		}
		switch rs := p.RoleSet(""); {
		case rs.Can(policy.ActionAdminister):
			return p.User, nil, nil
		case rs.Can(policy.ActionWrite):
			return p.User, p.MayWrite, nil
		}
		return "", nil, fmt.Errorf("user %s may not write data", p.User)
	}
	// Federation's identity first: the audit log signs with the tenant key.
	fed, err := federation.New(federation.Options{
		DataDir:      cfg.DataDir,
		Name:         cfg.Tenant.Name,
		Listen:       cfg.Federation.Listen,
		Gossip:       cfg.Federation.Gossip,
		Advertise:    cfg.Federation.Advertise,
		Reader:       reader{a: a},
		Logger:       a.log.With("component", "federation"),
		Registerer:   a.reg,
		GossipTiming: a.opts.GossipTiming,

		Audit:                  a.auditEvent,
		SendMail:               mailer(cfg.SMTP),
		MaxPartnerReads:        cfg.Federation.PartnerReads,
		PartnerPointsPerSecond: cfg.Federation.PartnerPointsPerSecond,
	})
	if err != nil {
		return damaged(err)
	}
	a.fed = fed
	al, err := audit.Open(audit.Options{
		Dir:        filepath.Join(cfg.DataDir, "audit"),
		Retention:  cfg.Audit.Retention.Std(),
		Signer:     fed,
		Logger:     a.log.With("component", "audit"),
		Registerer: a.reg,
	})
	if err != nil {
		return damaged(fmt.Errorf("audit log: %w", err))
	}
	a.audit = al
	// /metrics names partner tenants and communities in its labels.
	var metricsAuth func(*http.Request) bool
	if cfg.Metrics.Auth == configs.MetricsAuthToken {
		mt, err := ensureMetricsToken(filepath.Join(cfg.DataDir, MetricsTokenFile), a.log)
		if err != nil {
			return err
		}
		metricsAuth = mt.allow
	}
	a.api = api.New(api.Options{
		Store: st,
		// Each row's handler behind its users checks: authentication,
		// roles in the row's scope, step-up.
		Gate: users.NewGate(dir, a.resolveCommunity),
		// Every stream of a write, bulk included: ingest tokens' prefixes.
		MayWrite:     users.MayWrite,
		Logger:       a.log.With("component", "api"),
		Registerer:   a.reg,
		Gatherer:     a.reg,
		MetricsAuth:  metricsAuth,
		Ready:        a.readyErr,
		Status:       a.status,
		Audit:        a.auditAction,
		MaxBodyBytes: cfg.API.MaxBodyBytes,
		MaxInFlight:  cfg.API.MaxInflight,
	})
	ln, err := net.Listen("tcp", cfg.API.Listen)
	if err != nil {
		return &ListenError{Key: "api.listen", Addr: cfg.API.Listen, Net: "tcp", Err: listenCause(err)}
	}
	a.apiAddr = ln.Addr().String()
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && metricsAuth == nil && !tcp.IP.IsLoopback() {
		a.log.Warn("/metrics is open to anyone who reaches the API, and its labels name partner tenants and communities; set metrics.auth: token",
			"api", a.apiAddr)
	}
	// Bound now, so a taken port fails early; served once every route is
	// mounted (below), so no request meets a half-built mux.
	a.apiLn = ln

	a.mountAudit()
	a.mountBackup()
	if err := fed.Start(ctx); err != nil {
		return err
	}
	dir.Mount(a.api.Mount)
	a.api.MountFederation(fed, caller)
	if err := a.mountViews(); err != nil {
		return err
	}
	// Grafana's Prometheus data source (agent/promapi): the caller's own
	// roles, shared streams through federation as partner reads.
	promapi.New(promapi.Options{Store: st, Partners: promapi.NodePartners(fed), Tenant: fed.Name(),
		Logger: a.log.With("component", "promapi"),
		Caller: func(r *http.Request) (promapi.Caller, bool) {
			acc, ok := users.Authorized(r)
			return promapi.Caller{User: acc.Principal.User, Roles: acc.Principal.RoleSet}, ok
		}}).Mount(a.api.Mount)
	a.api.Handle("/", console.Handler())
	if missing := a.api.Unmounted(); len(missing) > 0 {
		return fmt.Errorf("api: route registry rows without a handler: %s", strings.Join(missing, ", "))
	}

	// 4. Sources, last: everything they write to is up. Sources that
	// serve HTTP (OMF) get their paths on the API mux.
	a.sources.routes = &sourceRoutes{mount: a.api.Handle, slots: map[string]*routeSlot{}}
	if err := a.sources.apply(cfg.Sources, st); err != nil {
		return err
	}

	a.http = &http.Server{
		Handler:           promapi.Front(a.api.Handler()),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	go func() {
		if err := a.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("api server stopped", "err", err)
		}
	}()
	a.ready.Store(true)
	a.notify("READY=1\nSTATUS=serving")
	a.startWatchdog(ctx)
	a.log.Info("agent ready", "api", a.apiAddr, "data_dir", cfg.DataDir, "tenant", cfg.Tenant.Name,
		"sources", len(cfg.Sources), "version", Version)
	if a.opts.OnReady != nil {
		a.opts.OnReady(a.apiAddr)
	}
	return nil
}

// mountViews serves the data views (agent/views). An export reads each
// stream through the API in process (api.Server.Read), as the caller: the
// gate judges every read by its own route's row. The registry audits
// exports (users.Route.Audited).
func (a *Agent) mountViews() error {
	vs, err := views.Open(filepath.Join(a.cfg.DataDir, "views.json"))
	if err != nil {
		return damaged(fmt.Errorf("views: %w", err))
	}
	h := &views.Handler{Store: vs, Reads: a.api}
	h.Mount(a.api.Mount)
	return nil
}

// stop shuts down in reverse order: sources, API, store. It is safe to
// call on a partly started agent.
func (a *Agent) stop() error {
	a.ready.Store(false)
	var errs []error
	a.sources.stopAll()
	if a.fed != nil {
		if err := a.fed.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if a.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := a.http.Shutdown(ctx); err != nil {
			a.http.Close()
		}
		cancel()
	} else if a.apiLn != nil {
		a.apiLn.Close() // bound, never served: start failed on the way
	}
	if a.users != nil {
		if err := a.users.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if a.audit != nil {
		if err := a.audit.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if a.store != nil {
		if err := a.store.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	a.log.Info("stopped")
	return errors.Join(errs...)
}

// Reload applies a new config's sources without a restart (SIGHUP).
// Other changes need a restart and are reported as such.
func (a *Agent) Reload(cfg configs.Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if a.store == nil {
		return errors.New("agent is not running")
	}
	var ignored []string
	if cfg.DataDir != a.cfg.DataDir {
		ignored = append(ignored, "data_dir")
	}
	if cfg.API != a.cfg.API {
		ignored = append(ignored, "api")
	}
	if cfg.Metrics != a.cfg.Metrics {
		ignored = append(ignored, "metrics")
	}
	if !reflect.DeepEqual(cfg.Store, a.cfg.Store) {
		ignored = append(ignored, "store")
	}
	if len(ignored) > 0 {
		a.log.Warn("reload: these keys change only after a restart", "keys", strings.Join(ignored, ","))
	}
	// Tell systemd a reload is under way, so `systemctl reload` waits for
	// its outcome.
	a.notify(fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d", monotonicUsec()))
	if err := a.sources.apply(cfg.Sources, a.store); err != nil {
		a.notify("READY=1\nSTATUS=reload failed: " + err.Error())
		return err
	}
	a.notify(fmt.Sprintf("READY=1\nSTATUS=serving, reloaded %d sources", len(cfg.Sources)))
	a.log.Info("reloaded", "sources", len(cfg.Sources))
	return nil
}

// cookieSuffix names this agent's console session cookie after its data
// dir, so several agents on one host keep their sessions apart.
func cookieSuffix(dataDir string) string {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		abs = dataDir
	}
	sum := sha256.Sum256([]byte(abs))
	return hex.EncodeToString(sum[:4])
}

// resolveCommunity lets the users gate check roles of a community
// named in a path; until federation is up there are none.
func (a *Agent) resolveCommunity(ctx context.Context, ref string) (policy.CommunityID, error) {
	if a.fed == nil {
		return "", errors.New("federation is not running")
	}
	return a.fed.ResolveCommunity(ctx, ref)
}

// APIAddr is the address the API is bound to.
func (a *Agent) APIAddr() string { return a.apiAddr }

func (a *Agent) readyErr() error {
	if !a.ready.Load() {
		return errors.New("starting or stopping")
	}
	return nil
}

func (a *Agent) status() map[string]any {
	st := map[string]any{
		"version":        Version,
		"tenant":         a.cfg.Tenant.Name,
		"uptime_seconds": int64(time.Since(a.started).Seconds()),
		"sources":        a.sources.status(),
		"data_dir":       a.cfg.DataDir,
	}
	if a.store != nil {
		st["store"] = a.store.Space() // disk use, free space, retention per rule
	}
	if a.fed != nil {
		st["tenant_id"] = a.fed.ID()
		st["federation_addr"] = a.fed.FedAddr()
		st["gossip_addr"] = a.fed.GossipAddr()
	}
	return st
}

// storeRules maps store.retention_rules to the store's rules.
func storeRules(rs []configs.RetentionRule) []store.RetentionRule {
	out := make([]store.RetentionRule, len(rs))
	for i, r := range rs {
		out[i] = store.RetentionRule{Prefix: r.Prefix, Source: r.Source, MaxAge: r.MaxAge.Std(), MaxSize: int64(r.MaxSize)}
		for _, l := range r.Downsample {
			out[i].Downsample = append(out[i].Downsample, store.DownsampleLevel{Interval: l.Interval.Std(), MaxAge: l.MaxAge.Std()})
		}
	}
	return out
}

// reader serves partner reads from the store through the API's encoders,
// with the range policy allowed.
type reader struct{ a *Agent }

func (rd reader) ServeRead(w http.ResponseWriter, r *http.Request, q federation.ReadQuery) (int, error) {
	n, err := rd.a.api.ServeRead(w, r, q)
	if err != nil {
		return n, &federation.StatusError{Code: api.StatusOf(err), Err: err}
	}
	return n, nil
}

func (rd reader) StreamInfo(ctx context.Context, name string) (federation.StreamInfo, error) {
	st, err := rd.a.store.GetStream(ctx, name)
	if err != nil {
		return federation.StreamInfo{}, err
	}
	return federation.StreamInfo{Kind: st.Kind.String(), Unit: st.Unit, Description: st.Description, Labels: st.Labels}, nil
}

func (a *Agent) notify(state string) {
	if a.opts.Notify == nil {
		return
	}
	if err := a.opts.Notify(state); err != nil && !a.notifyWarned.Swap(true) {
		a.log.Warn("systemd notify failed (further failures are not logged)", "err", err)
	}
}

// startWatchdog pings systemd at half the watchdog interval while the agent
// is ready.
func (a *Agent) startWatchdog(ctx context.Context) {
	iv := WatchdogInterval()
	if iv <= 0 || a.opts.Notify == nil {
		return
	}
	go func() {
		t := time.NewTicker(iv / 2)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				// Ping only when the agent can actually serve: a wedged
				// store must let the watchdog restart us.
				if a.ready.Load() && a.store.Healthy() == nil {
					a.notify("WATCHDOG=1")
				}
			}
		}
	}()
}

// AdminToken reads the built-in admin's token from dataDir, where the
// agent writes it (mode 0600) on first start (users.EnsureBootstrap). A
// missing file is an error wrapping fs.ErrNotExist.
func AdminToken(dataDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, TokenFile))
	if err != nil {
		return "", fmt.Errorf("read admin token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("read admin token: %s is empty", filepath.Join(dataDir, TokenFile))
	}
	return tok, nil
}
