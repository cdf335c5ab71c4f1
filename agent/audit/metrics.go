package audit

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the log's Prometheus collectors. They always exist; they
// are registered only when Options.Registerer is set. Reopening a log with
// the same Registerer reuses the collectors registered the first time.
type metrics struct {
	entries         *prometheus.CounterVec
	appendSeconds   prometheus.Histogram
	commits         prometheus.Counter
	appendErrors    prometheus.Counter
	segmentsRemoved prometheus.Counter
}

// knownKinds get their own label value; any other kind counts as "other",
// so callers cannot blow up the label set.
var knownKinds = []string{KindAdmin, KindPartnerRead, KindReadDenied, KindRecordRejected, KindCheckpoint, KindRetention}

func kindLabel(kind string) string {
	for _, k := range knownKinds {
		if k == kind {
			return k
		}
	}
	return "other"
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		entries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_audit_entries_total", Help: "Audit entries durably appended, by kind.",
		}, []string{"kind"}),
		appendSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "sluice_audit_append_duration_seconds", Help: "Time for Append to make one entry durable, group commit included.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		commits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sluice_audit_commits_total", Help: "Audit writes fsync'd (each shared by all entries committed together).",
		}),
		appendErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sluice_audit_append_errors_total", Help: "Append calls that failed.",
		}),
		segmentsRemoved: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sluice_audit_segments_removed_total", Help: "Audit segments removed by retention.",
		}),
	}
	if reg != nil {
		m.entries = register(reg, m.entries)
		m.appendSeconds = register(reg, m.appendSeconds)
		m.commits = register(reg, m.commits)
		m.appendErrors = register(reg, m.appendErrors)
		m.segmentsRemoved = register(reg, m.segmentsRemoved)
	}
	for _, k := range append(knownKinds, "other") {
		m.entries.WithLabelValues(k)
	}
	return m
}

// register registers c, or returns the equal collector registered before.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}
