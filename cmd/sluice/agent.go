package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/sluice-edge/sluice/agent"
	"github.com/sluice-edge/sluice/configs"
)

func version() string {
	if agent.Version != "dev" {
		return agent.Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return agent.Version
}

// listenKeys are the agent's listen addresses: config key, flag and
// environment variable, which the flags and the errors of a port that is
// taken both name.
var listenKeys = []struct{ key, flag, env, usage string }{
	{"api.listen", "api-listen", configs.EnvAPIListen, "host:port of the local API (overrides api.listen and $" + configs.EnvAPIListen + ")"},
	{"federation.listen", "federation-listen", configs.EnvFederationListen, "host:port of partner reads, mTLS (overrides federation.listen and $" + configs.EnvFederationListen + ")"},
	{"federation.gossip", "gossip-listen", configs.EnvGossipListen, "host:port of gossip, TCP and UDP (overrides federation.gossip and $" + configs.EnvGossipListen + ")"},
}

func runAgent(ctx context.Context, args []string) error {
	fs := newFlags("agent", "[--config FILE] [flags]")
	cfgPath := fs.String("config", "", "config file (YAML); without one the agent runs on embedded defaults")
	// --data-dir as the other verbs take it, so `sluice --data-dir D agent`
	// and `sluice --data-dir D stream list` mean the same agent.
	dataDir := fs.String("data-dir", "", "the data dir (overrides data_dir and $"+configs.EnvDataDir+")")
	logLevel := fs.String("log-level", "", "debug, info, warn or error (overrides log.level and $"+configs.EnvLogLevel+")")
	logFormat := fs.String("log-format", "", "text or json (overrides log.format)")
	listen := make([]*string, len(listenKeys))
	for i, l := range listenKeys {
		listen[i] = fs.String(l.flag, "", l.usage)
	}
	printExample := fs.Bool("print-example-config", false, "print the documented example config (every key) and exit")
	printMinimal := fs.Bool("print-minimal-config", false, "print a minimal config to start from (configs/agent.minimal.yaml) and exit")
	check := fs.Bool("check-config", false, "validate the config (and every source's section), print warnings, and exit")
	if _, err := parseFlags(fs, args, 0, 0); err != nil {
		return err
	}
	if *printExample {
		fmt.Print(configs.Example)
		return nil
	}
	if *printMinimal {
		fmt.Print(configs.Minimal)
		return nil
	}
	agent.Version = version()
	// The file, the environment, these flags and every source's section
	// are checked in one pass: one error lists every problem.
	opts := agent.ConfigOptions()
	opts.Overrides = []configs.Override{
		{Path: "log.level", Value: *logLevel, From: "--log-level"},
		{Path: "log.format", Value: *logFormat, From: "--log-format"},
		{Path: "data_dir", Value: *dataDir, From: "--data-dir"},
	}
	for i, l := range listenKeys {
		opts.Overrides = append(opts.Overrides, configs.Override{Path: l.key, Value: *listen[i], From: "--" + l.flag})
	}
	cfg, err := configs.LoadWith(*cfgPath, opts)
	if err != nil {
		return fmt.Errorf("invalid config:\n%w", err)
	}
	logger, err := newLogger(cfg.Log)
	if err != nil {
		return usageErr("%v", err)
	}
	a, err := agent.New(agent.Options{Config: cfg, Logger: logger, Notify: agent.SystemdNotifier()})
	if err != nil {
		return fmt.Errorf("invalid config:\n%w", err)
	}
	warnings := cfg.Warnings()
	if *check {
		for _, w := range warnings {
			if *cfgPath != "" && w.Line > 0 {
				w.File = *cfgPath
			}
			fmt.Fprintf(os.Stderr, "warning: %v\n", w)
		}
		if len(warnings) > 0 {
			fmt.Printf("config ok, with %d warning(s)\n", len(warnings))
		} else {
			fmt.Println("config ok")
		}
		return nil
	}
	for _, w := range warnings {
		logger.Warn("config: "+w.Error(), "key", w.Path)
	}
	privateUmask() // before anything creates a file: see its comment

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	go func() {
		stopping := false
		for sig := range sigs {
			switch {
			case sig == syscall.SIGHUP:
				if *cfgPath == "" {
					logger.Warn("SIGHUP: no config file to reload")
					continue
				}
				newCfg, err := configs.LoadWith(*cfgPath, opts)
				if err == nil {
					err = a.Reload(newCfg)
				}
				if err != nil {
					logger.Error("reload failed; keeping the running config", "err", err)
				}
			case !stopping:
				stopping = true
				logger.Info("signal received, shutting down", "signal", sig.String())
				cancel()
			default:
				// A second INT/TERM: the operator wants out now.
				logger.Error("second signal, exiting without a clean shutdown", "signal", sig.String())
				os.Exit(1)
			}
		}
	}()
	if err := a.Run(ctx); err != nil {
		return listenHints(err, cfg)
	}
	return nil
}

// listenHints adds to each agent.ListenError in err which key, flag and
// variable set the address, and where else it may be changed:
// "api.listen 127.0.0.1:7080: address already in use; set api.listen in
// the config, --api-listen or SLUICE_API_LISTEN".
func listenHints(err error, cfg configs.Config) error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, listenHints(e, cfg))
		}
		return errors.Join(out...)
	}
	var le *agent.ListenError
	if !errors.As(err, &le) {
		return err
	}
	for _, l := range listenKeys {
		if l.key == le.Key {
			from := ""
			if by := cfg.SetBy(l.key); by != "" {
				from = " (from " + by + ")"
			}
			return fmt.Errorf("%w%s; set %s in the config, --%s or %s", err, from, l.key, l.flag, l.env)
		}
	}
	return err
}

func newLogger(c configs.LogConfig) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Level)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", c.Level)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.Format {
	case "", "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want text or json", c.Format)
}
