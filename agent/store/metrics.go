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
	sizeDropped     prometheus.Counter
	downsampled     prometheus.Counter
	refusals        *prometheus.CounterVec
	gcRuns          prometheus.Counter
}

// refused counts a write refused for want of space.
func (m *metrics) refused(err error) {
	m.refusals.WithLabelValues(refusalReason(err)).Inc()
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
		sizeDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sluice_store_size_dropped_chunks_total", Help: "Chunks dropped, oldest first, to keep store.max_size or a retention rule's max_size.",
		}),
		downsampled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sluice_store_downsampled_intervals_total", Help: "Intervals summarized by downsampling before their raw points expire.",
		}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_store_write_refusals_total", Help: "Write batches refused for want of space, by reason: disk_full (the file system is short of store.min_free) or max_size (a size bound reached with nothing left to drop).",
		}, []string{"reason"}),
		gcRuns: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sluice_store_value_log_gc_total", Help: "Value-log files rewritten by garbage collection.",
		}),
	}
	// Both reasons exist at 0, so an alert on the rate needs no absent().
	m.refusals.WithLabelValues(ReasonDiskFull)
	m.refusals.WithLabelValues(ReasonMaxSize)
	if reg != nil {
		reg.MustRegister(m.pointsWritten, m.writeErrors, m.commits, m.commitErrors, m.commitSeconds,
			m.compactions, m.compactedChunks, m.expiredChunks, m.sizeDropped, m.downsampled, m.refusals, m.gcRuns)
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
			Name: "sluice_store_size_bytes", Help: "Bytes allocated on disk to the store's files (du, not the apparent size of Badger's sparse files), measured every store size interval and after retention sweeps.",
		}, func() float64 { return float64(s.Size()) }),
		oldestCollector{s},
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sluice_store_streams", Help: "Number of streams.",
		}, func() float64 { return float64(s.StreamCount()) }),
	)
}

// oldestCollector exports the oldest point served per retention rule,
// from the last measurement: one series per rule plus "default", so the
// cardinality is the config's.
type oldestCollector struct{ s *Store }

var oldestDesc = prometheus.NewDesc("sluice_store_oldest_timestamp_seconds",
	"Unix time of the oldest point the store serves, per retention rule (\"default\": streams no rule matches); absent while the rule's streams hold no point.",
	[]string{"rule"}, nil)

func (c oldestCollector) Describe(ch chan<- *prometheus.Desc) { ch <- oldestDesc }

func (c oldestCollector) Collect(ch chan<- prometheus.Metric) {
	for label, t := range c.s.disk.get().oldest {
		ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, float64(t)/1e9, label)
	}
}
