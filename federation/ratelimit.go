package federation

import (
	"sync"
	"time"

	"github.com/sluice-edge/sluice/policy"
)

// recordsPerMinute bounds the records one peer tenant may push to this
// agent (on /fed/v1/records) per minute, with a burst of as many. An
// action issues one record, so real partners stay far below it.
const recordsPerMinute = 600

// maxLimited bounds the peers tracked at once: a stranger can make
// identities for free, and each must not cost memory for good.
const maxLimited = 4096

// limiter is a token bucket per peer tenant.
type limiter struct {
	perMinute float64
	mu        sync.Mutex
	peers     map[policy.TenantID]*bucket
}

func newLimiter(perMinute float64) *limiter {
	return &limiter{perMinute: perMinute, peers: map[policy.TenantID]*bucket{}}
}

// take charges n tokens to peer at now, or says how long to wait until
// they would be there. A request larger than the burst never passes.
func (l *limiter) take(peer policy.TenantID, n int, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	rate := l.perMinute / 60 // tokens per second
	b := l.peers[peer]
	if b == nil {
		if len(l.peers) >= maxLimited {
			l.pruneLocked(now)
		}
		b = &bucket{level: l.perMinute, at: now}
		l.peers[peer] = b
	}
	b.level = min(l.perMinute, b.level+now.Sub(b.at).Seconds()*rate)
	b.at = now
	if need := float64(n); b.level < need {
		return time.Duration((need - b.level) / rate * float64(time.Second)), false
	}
	b.level -= float64(n)
	return 0, true
}

// pruneLocked forgets peers whose buckets have refilled: forgetting them
// changes nothing.
func (l *limiter) pruneLocked(now time.Time) {
	for t, b := range l.peers {
		if b.level+now.Sub(b.at).Seconds()*l.perMinute/60 >= l.perMinute {
			delete(l.peers, t)
		}
	}
}
