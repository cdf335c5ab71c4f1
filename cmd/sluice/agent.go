package main

import (
	"context"
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

func runAgent(ctx context.Context, args []string) error {
	fs := newFlags("agent", "[--config FILE] [flags]")
	cfgPath := fs.String("config", "", "config file (YAML); without one the agent runs on embedded defaults")
	logLevel := fs.String("log-level", "", "debug, info, warn or error (overrides log.level)")
	logFormat := fs.String("log-format", "", "text or json (overrides log.format)")
	printExample := fs.Bool("print-example-config", false, "print the documented example config and exit")
	check := fs.Bool("check-config", false, "validate the config (and every source's section) and exit")
	if _, err := parseFlags(fs, args, 0, 0); err != nil {
		return err
	}
	if *printExample {
		fmt.Print(configs.Example)
		return nil
	}
	agent.Version = version()
	cfg, err := configs.Load(*cfgPath)
	if err != nil {
		return fmt.Errorf("invalid config:\n%w", err)
	}
	if *logLevel != "" {
		cfg.Log.Level = *logLevel
	}
	if *logFormat != "" {
		cfg.Log.Format = *logFormat
	}
	logger, err := newLogger(cfg.Log)
	if err != nil {
		return usageErr("%v", err)
	}
	a, err := agent.New(agent.Options{Config: cfg, Logger: logger, Notify: agent.SystemdNotifier()})
	if err != nil {
		return fmt.Errorf("invalid config:\n%w", err)
	}
	if *check {
		fmt.Println("config ok")
		return nil
	}

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
				newCfg, err := configs.Load(*cfgPath)
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
		return err
	}
	return nil
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
