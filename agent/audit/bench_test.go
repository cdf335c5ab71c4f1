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
// the fsyncs. Reports entries/s and entries per fsync.
func BenchmarkAppend(b *testing.B) {
	for _, appenders := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("appenders=%d", appenders), func(b *testing.B) {
			l := openLog(b, Options{Signer: newKey(1)})
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
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "entries/s")
			b.ReportMetric(float64(b.N)/testutil.ToFloat64(l.metrics.commits), "entries/fsync")
		})
	}
}
