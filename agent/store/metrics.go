package store

import "github.com/prometheus/client_golang/prometheus"

// metrics are the store's Prometheus collectors. They always exist; they
// are registered only when Options.Registerer is set.
type metrics struct {
	pointsWritten   prometheus.Counter
	writeErrors     prometheus.Counter
	commits         prometheus.Counter
	commitErrors    prometheus.Counter
	commitSeconds   prometheus.Histogram
	compactions     prometheus.Counter
	compactedChunks prometheus.Counter
	expiredChunks   prometheus.Counter
	gcRuns          prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		pointsWritten: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sluice_store_points_written_total", Help: "Points durably written to the store.",
		}),
		writeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sluice_store_write_errors_total", Help: "Write batches rejected or failed.",
		}),
		commits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sluice_store_commits_total", Help: "Transactions committed (each one fsync, shared by all writers in it).",
		}),
		commitErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sluice_store_commit_errors_total", Help: "Transactions that failed to commit.",
		}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "sluice_store_commit_duration_seconds", Help: "Time to commit and fsync one transaction.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		compactions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sluice_store_compactions_total", Help: "Compaction passes that replaced chunks.",
		}),
		compactedChunks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sluice_store_compacted_chunks_total", Help: "Chunks merged away by compaction.",
		}),
		expiredChunks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sluice_store_expired_chunks_total", Help: "Chunks dropped by retention.",
		}),
		gcRuns: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sluice_store_value_log_gc_total", Help: "Value-log files rewritten by garbage collection.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.pointsWritten, m.writeErrors, m.commits, m.commitErrors, m.commitSeconds,
			m.compactions, m.compactedChunks, m.expiredChunks, m.gcRuns)
	}
	return m
}

// registerStore adds gauges that read the store's live state.
func (m *metrics) registerStore(reg prometheus.Registerer, s *Store) {
	if reg == nil {
		return
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sluice_store_size_bytes", Help: "Bytes the store holds on disk (LSM and value log).",
		}, func() float64 { return float64(s.Size()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sluice_store_streams", Help: "Number of streams.",
		}, func() float64 { return float64(s.StreamCount()) }),
	)
}
