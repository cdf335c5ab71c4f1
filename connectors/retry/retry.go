// Package retry holds the reconnect and rewrite backoff every connector
// uses, so they all wait the same way: exponential with jitter, and never
// past their context.
package retry

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff is exponential with jitter: attempt n waits a random time in
// [d/2, d] where d = min(Max, Min*2^n).
type Backoff struct{ Min, Max time.Duration }

// Delay is the wait before attempt n (counting from 0).
func (b Backoff) Delay(attempt int) time.Duration {
	d := b.Min
	for i := 0; i < attempt && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	half := d / 2
	return half + rand.N(d-half+1)
}

// Sleep waits d or until ctx ends, reporting whether d passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
