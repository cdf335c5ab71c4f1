package agent

import (
	"context"
	"testing"
	"time"

	"github.com/sluice-edge/sluice/federation/gossip"
)

// runAgent runs a whole agent in-process until the test ends and returns
// its API address once it is ready. Unset OnReady and GossipTiming are
// filled in (fast gossip for loopback tests). The agent's error on stop
// fails the test.
func runAgent(tb testing.TB, opts Options) (*Agent, string) {
	tb.Helper()
	ready := make(chan string, 1)
	opts.OnReady = func(addr string) { ready <- addr }
	if opts.GossipTiming == (gossip.Timing{}) {
		opts.GossipTiming = gossip.FastTiming()
	}
	a, err := New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	select {
	case addr := <-ready:
		tb.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				tb.Errorf("agent %s: %v", opts.Config.Tenant.Name, err)
			}
		})
		return a, addr
	case err := <-done:
		cancel()
		tb.Fatalf("agent %s stopped: %v", opts.Config.Tenant.Name, err)
	case <-time.After(30 * time.Second):
		cancel()
		<-done
		tb.Fatalf("agent %s not ready", opts.Config.Tenant.Name)
	}
	return nil, ""
}
