package agent

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// registry is the agent's metrics registry (Options.Registry) that also
// remembers the name of every metric registered with it, series or not:
// a vector without children yet (no partner has read, no source has
// dropped a point) is registered but absent from /metrics, and the
// docs must list it all the same (metricNames; docs_test.go).
type registry struct {
	*prometheus.Registry

	mu    sync.Mutex
	descs []*prometheus.Desc
}

// Register registers c and remembers its descriptors.
func (r *registry) Register(c prometheus.Collector) error {
	if err := r.Registry.Register(c); err != nil {
		return err
	}
	ch := make(chan *prometheus.Desc, 16)
	go func() { c.Describe(ch); close(ch) }()
	r.mu.Lock()
	defer r.mu.Unlock()
	for d := range ch {
		r.descs = append(r.descs, d)
	}
	return nil
}

// MustRegister is Register that panics, as prometheus.Registry's does.
func (r *registry) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

var _ prometheus.Registerer = (*registry)(nil)
var _ prometheus.Gatherer = (*registry)(nil)
