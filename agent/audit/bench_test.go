package audit

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// BenchmarkAppend: partner-read entries, each Append durable (fsync) before
// it returns, from 1, 4 and 16 concurrent appenders; group commit shares
// the fsyncs. checkpoints=default signs every commit that holds a partner
// read (in the same write and fsync); checkpoints=sparse is the schedule
// before that, a checkpoint every 1,000 entries or 10 minutes. Reports
// entries/s, entries per fsync and lines written per entry (checkpoints
// included).
func BenchmarkAppend(b *testing.B) {
	for _, sched := range []struct {
		name string
		opts Options
	}{
		{"default", Options{}},
		{"sparse", Options{CheckpointEvery: 1000, CheckpointInterval: 10 * time.Minute, LazyCrossTenant: true}},
	} {
		for _, appenders := range []int{1, 4, 16} {
			b.Run(fmt.Sprintf("checkpoints=%s/appenders=%d", sched.name, appenders), func(b *testing.B) {
				opts := sched.opts
				opts.Signer = newKey(1)
				l := openLog(b, opts)
				e := read(1)
				var next atomic.Int64
				var wg sync.WaitGroup
				b.ResetTimer()
				start := time.Now()
				for range appenders {
					wg.Go(func() {
						for next.Add(1) <= int64(b.N) {
							if err := l.Append(context.Background(), e); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				elapsed := time.Since(start)
				b.StopTimer()
				head, _ := l.Head()
				b.ReportMetric(float64(b.N)/elapsed.Seconds(), "entries/s")
				b.ReportMetric(float64(b.N)/testutil.ToFloat64(l.metrics.commits), "entries/fsync")
				b.ReportMetric(float64(head)/float64(b.N), "lines/entry")
			})
		}
	}
}
