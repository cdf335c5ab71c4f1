package policy

import (
	"cmp"
	"math"
	"slices"
)

// Scope is where a tenant shares streams: a community, or the one-way
// connection that Reader requested to the sharing tenant. Exactly one field
// is set. In records, a community scope is Record.Community and a
// connection scope is Record.Tenant (the reader).
type Scope struct {
	Community CommunityID
	Reader    TenantID
}

// Share is a stream shared into a scope, with its constraints.
type Share struct {
	Scope
	Stream      StreamRef
	Constraints Constraints
	Version     uint64
	Time        int64 // when it was shared, on the owner's clock
}

func shareOf(r Record) Share {
	return Share{Scope: Scope{Community: r.Community, Reader: r.Tenant}, Stream: r.Stream,
		Constraints: r.Constraints, Version: r.Version, Time: r.Time}
}

// share returns the share of st into sc if its latest record shares it.
// Unsharing removes the stream and its whole history from the scope at once:
// nothing of an earlier share survives an unshare.
func (s State) share(sc Scope, st StreamRef) (Share, bool) {
	r, ok := s.get(key{slot: slotShare, community: sc.Community, peer: sc.Reader, stream: st})
	if !ok || r.Kind != KindStreamShared {
		return Share{}, false
	}
	return shareOf(r), true
}

// Shares lists the streams currently shared into sc by any tenant, by
// stream, without judging who may see them: the owner's console uses it for
// its own shares; readers use Catalog.
func (s State) Shares(sc Scope) []Share {
	var out []Share
	for k, r := range s.buckets[sc.Community] {
		if k.slot == slotShare && k.peer == sc.Reader && r.Kind == KindStreamShared {
			out = append(out, shareOf(r))
		}
	}
	slices.SortFunc(out, func(a, b Share) int {
		return cmp.Or(cmp.Compare(a.Stream.Owner, b.Stream.Owner), cmp.Compare(a.Stream.Name, b.Stream.Name))
	})
	return out
}

// Paused reports whether tenant t has paused all its sharing into sc. A
// pause does not touch the shares themselves, so resuming restores exactly
// what was shared before.
func (s State) Paused(sc Scope, t TenantID) bool {
	r, ok := s.get(key{slot: slotPause, community: sc.Community, tenant: t, peer: sc.Reader})
	return ok && r.Kind == KindSharingPaused
}

// Window returns the data time range [lo, hi) the constraints permit at
// now: from the later of NotBefore and now-Lookback, to Expires (the share
// covers no data past its own end). Unbounded ends are math.MinInt64 and
// math.MaxInt64.
func (c Constraints) Window(now int64) (lo, hi int64) {
	lo, hi = math.MinInt64, math.MaxInt64
	if c.NotBefore != 0 {
		lo = c.NotBefore
	}
	if c.Lookback != 0 {
		from := int64(math.MinInt64)
		if now >= math.MinInt64+int64(c.Lookback) {
			from = now - int64(c.Lookback)
		}
		lo = max(lo, from)
	}
	if c.Expires != 0 {
		hi = c.Expires
	}
	return lo, hi
}
