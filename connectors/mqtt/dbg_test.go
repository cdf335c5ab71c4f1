package mqtt

import (
	"context"
	"fmt"
	"sync"
	"time"
	"testing"

	"github.com/sluice-edge/sluice/connectors"
)

type sizeSink struct {
	connectors.Sink
	mu    sync.Mutex
	sizes []int
	durs  []time.Duration
}

func (s *sizeSink) Write(ctx context.Context, p []connectors.Point) error {
	t := time.Now()
	err := s.Sink.Write(ctx, p)
	s.mu.Lock()
	s.sizes = append(s.sizes, len(p))
	s.durs = append(s.durs, time.Since(t))
	s.mu.Unlock()
	return err
}

func (s *sizeSink) dump(t testing.TB) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.sizes)
	if n > 30 { n = 30 }
	t.Logf("writes=%d first sizes %v durs %v", len(s.sizes), s.sizes[:n], s.durs[:n])
	_ = fmt.Sprint
}
