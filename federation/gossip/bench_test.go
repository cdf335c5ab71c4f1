package gossip

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// counter is a Delegate that signals when every node has a given message.
type counter struct {
	want atomic.Pointer[string]
	hits *atomic.Int64
	done chan struct{}
	need int64
}

func (c *counter) LocalState() []byte          { return nil }
func (c *counter) MergeRemoteState(buf []byte) {}
func (c *counter) NotifyMsg(msg []byte) {
	if w := c.want.Load(); w != nil && string(msg) == *w {
		if c.hits.Add(1) == c.need {
			select {
			case c.done <- struct{}{}:
			default:
			}
		}
	}
}

// BenchmarkConvergence measures, for N in-process agents in one community
// on loopback with DefaultTiming, the time from Broadcast on one agent until
// every other agent's Delegate has the message.
//
//	go test -run '^$' -bench Convergence -benchtime 5x ./federation/gossip/
func BenchmarkConvergence(b *testing.B) {
	for _, n := range []int{5, 20, 50} {
		b.Run(fmt.Sprintf("agents=%d", n), func(b *testing.B) {
			hits := new(atomic.Int64)
			done := make(chan struct{}, 1)
			var ds []*counter
			var cs []*Cluster
			var seed string
			for i := range n {
				m := newTestManager(b, "")
				d := &counter{hits: hits, done: done, need: int64(n - 1)}
				var seeds []string
				if i == 0 {
					seed = m.Addr()
				} else {
					seeds = []string{seed}
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				c, err := m.Join(ctx, ClusterConfig{
					ID: "bench", Key: testKey(7), NodeName: fmt.Sprintf("agent-%02d", i),
					Delegate: d, Seeds: seeds, Timing: DefaultTiming(),
				})
				cancel()
				if err != nil {
					b.Fatal(err)
				}
				ds, cs = append(ds, d), append(cs, c)
			}
			// Formation is normally about a second; an alive message missed
			// by some agent is repaired by push/pull, within a minute here.
			waitFor(b, 90*time.Second, "cluster formation", func() bool {
				for _, c := range cs {
					if c.NumAlive() != n {
						return false
					}
				}
				return true
			})

			var total time.Duration
			i := 0
			for b.Loop() {
				msg := fmt.Sprintf("msg-%d", i)
				for _, d := range ds {
					d.want.Store(&msg)
				}
				hits.Store(0)
				// The sender's own delegate does not get its broadcast.
				start := time.Now()
				if err := cs[i%n].Broadcast([]byte(msg)); err != nil {
					b.Fatal(err)
				}
				select {
				case <-done:
				case <-time.After(10 * time.Second):
					b.Fatalf("broadcast %d reached %d of %d agents", i, hits.Load(), n-1)
				}
				total += time.Since(start)
				i++
			}
			b.ReportMetric(float64(total.Microseconds())/1000/float64(i), "ms/convergence")
		})
	}
}
