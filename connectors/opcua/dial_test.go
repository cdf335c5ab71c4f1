package opcua

import (
	"context"
	"testing"
	"time"

	"github.com/gopcua/opcua/uacp"

	"github.com/sluice-edge/sluice/connectors"
	"github.com/sluice-edge/sluice/connectors/connectortest"
)

// TestStopLetsAnOpenFinish: a stop while the source is opening a secure
// channel (here to a server that completes the HEL/ACK handshake, then
// never answers) cancels the attempt after dialGrace, not at once: gopcua
// leaks a goroutine when an open is cancelled just as its answer arrives
// (see dialGrace). Nor does the stop wait for the attempt's own timeout.
func TestStopLetsAnOpenFinish(t *testing.T) {
	ln, err := uacp.Listen(context.Background(), "opc.tcp://127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan *uacp.Conn, 4)
	go func() {
		for {
			c, err := ln.Accept(context.Background())
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c // held open, never answered
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		for c := range accepted {
			c.Close()
		}
	})
	cfg := DefaultConfig()
	yaml := testConfig("opc.tcp://"+ln.Addr().String(), noSecurity, "dial_timeout: 30s\nrequest_timeout: 30s\nnodes: [{node_id: 'ns=1;s=x', stream: 'x'}]\n")
	if err := connectortest.DecodeYAML(yaml)(&cfg); err != nil {
		t.Fatal(err)
	}
	s, err := New(connectors.Env{Name: "dial", Metrics: connectors.NewMetrics(nil)}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := s.dialGopcua(ctx)
		done <- err
	}()
	select {
	case c := <-accepted:
		accepted <- c // for the cleanup
	case <-time.After(10 * time.Second):
		t.Fatal("the source never connected")
	}
	cancel()
	stopped := time.Now()
	select {
	case err := <-done:
		if waited := time.Since(stopped); err == nil || waited < dialGrace {
			t.Fatalf("dial ended %v after the stop with %v; want an error after at least %v", waited, err, dialGrace)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the stop waited for the attempt's own timeout")
	}
}
