package federation

import (
	"time"

	"github.com/sluice-edge/sluice/policy"
)

// bucket is a per-partner point budget, charged after each read with the
// points actually served (the size of an answer is only known then); a
// partner in debt waits until the budget refills.
type bucket struct {
	level float64 // points available; negative is debt
	at    time.Time
}

// acquireRead admits a read if the partner is under its concurrency bound
// and not in debt; otherwise it says how long to wait.
func (n *Node) acquireRead(t policy.TenantID) (time.Duration, bool) {
	n.readsMu.Lock()
	defer n.readsMu.Unlock()
	if n.reads[t] >= n.opts.MaxPartnerReads {
		return time.Second, false
	}
	if rate := n.opts.PartnerPointsPerSecond; rate > 0 {
		b := n.refill(t)
		if b.level < 0 {
			return time.Duration(-b.level / rate * float64(time.Second)), false
		}
	}
	n.reads[t]++
	return 0, true
}

func (n *Node) refill(t policy.TenantID) *bucket {
	now := n.opts.Now()
	b := n.budget[t]
	if b == nil {
		b = &bucket{level: n.opts.PartnerBurst, at: now}
		n.budget[t] = b
	}
	b.level = min(n.opts.PartnerBurst, b.level+now.Sub(b.at).Seconds()*n.opts.PartnerPointsPerSecond)
	b.at = now
	return b
}

func (n *Node) releaseRead(t policy.TenantID, points int) {
	n.readsMu.Lock()
	defer n.readsMu.Unlock()
	n.reads[t]--
	if n.opts.PartnerPointsPerSecond > 0 {
		n.refill(t).level -= float64(points)
	}
}
