package federation

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/sluice-edge/sluice/configs"
	"github.com/sluice-edge/sluice/connectors/point"
	"github.com/sluice-edge/sluice/federation/gossip"
	"github.com/sluice-edge/sluice/policy"
)

// CatalogEntry is one shared stream as its owner describes it (in the
// partner protocol and in the local API alike).
type CatalogEntry struct {
	Tenant     policy.TenantID `json:"tenant"`
	TenantName string          `json:"tenant_name"`
	Stream     string          `json:"stream"`
	StreamInfo
	Constraints Limits `json:"constraints"`
	// MinInterval is Constraints.MinInterval as this agent reads it: only
	// summaries at this interval or coarser are answered (0: any read).
	MinInterval time.Duration `json:"-"`
}

// Catalog is a community's catalog as this tenant may see it.
type Catalog struct {
	Entries []CatalogEntry // sorted by tenant name, then stream
	// Unreachable names the members whose agents did not answer (their
	// streams are missing from Entries), as "name (short id)", sorted.
	Unreachable []string
}

// Catalog gathers the streams shared into a community: this tenant's own
// from its state, every other member's from its agent, which decides with
// its own state (paused, unshared and expired shares are left out). It
// asks the members in parallel, each for at most 10 s within ctx. An
// error is a denial of the whole catalog (this tenant is no member) or an
// unknown community. It decides nothing for the local user: the caller
// checks its user's roles first, as the route table does.
func (n *Node) Catalog(ctx context.Context, ref string) (Catalog, error) {
	ci, st, err := n.resolve(ref)
	if err != nil {
		return Catalog{}, err
	}
	var out Catalog
	shares, dec := policy.Catalog(st, policy.CatalogRequest{Requester: n.self, Community: ci.ID, Owner: n.self, Now: n.opts.Now().UnixNano()})
	switch {
	case dec.Allow:
		out.Entries = n.catalogEntries(ctx, shares)
	case dec.Reason != policy.ReasonAllowed:
		return Catalog{}, deny(403, string(dec.Reason), "catalog of %q: %s", ci.Name, dec.Reason)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, t := range participants(st, ci.ID) {
		if t == n.self {
			continue
		}
		wg.Add(1)
		go func(t policy.TenantID) {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			resp, err := n.callMember(ctx, ci.ID, t, "GET", "/fed/v1/catalog/"+url.PathEscape(string(ci.ID)), nil)
			var entries []CatalogEntry
			if err == nil {
				err = json.NewDecoder(resp.Body).Decode(&entries)
				resp.Body.Close()
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				out.Unreachable = append(out.Unreachable, n.displayTenant(t))
				n.log.Warn("catalog of a member not available", "tenant", t, "err", err)
				return
			}
			for _, e := range entries {
				if e.Tenant == t { // a member describes only its own streams
					out.Entries = append(out.Entries, partnerEntry(e))
				}
			}
		}(t)
	}
	wg.Wait()
	sort.Slice(out.Entries, func(i, j int) bool {
		a, b := out.Entries[i], out.Entries[j]
		if a.TenantName != b.TenantName {
			return a.TenantName < b.TenantName
		}
		if a.Stream != b.Stream {
			return a.Stream < b.Stream
		}
		return a.Tenant < b.Tenant
	})
	sort.Strings(out.Unreachable)
	return out, nil
}

// ConnectionCatalog lists what a tenant shares with this one over the
// connection from this tenant to it, as that tenant's agent decides.
func (n *Node) ConnectionCatalog(ctx context.Context, tenant string) ([]CatalogEntry, error) {
	peer, err := n.ResolveTenant(tenant)
	if err != nil {
		return nil, err
	}
	resp, err := n.call(ctx, peer, "", "GET", "/fed/v1/ccatalog", nil, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var entries []CatalogEntry
	if err := json.NewDecoder(resp.Body).Decode(&entries); err != nil {
		return nil, fmt.Errorf("catalog of %s: %w", n.displayTenant(peer), err)
	}
	for i := range entries {
		entries[i] = partnerEntry(entries[i])
	}
	return entries, nil
}

// catalogEntries describes this tenant's own streams among shares.
func (n *Node) catalogEntries(ctx context.Context, shares []policy.Share) []CatalogEntry {
	out := []CatalogEntry{}
	for _, s := range shares {
		if s.Stream.Owner != n.self {
			continue
		}
		info, err := n.opts.Reader.StreamInfo(ctx, s.Stream.Name)
		if err != nil {
			continue // shared but since deleted locally
		}
		out = append(out, CatalogEntry{Tenant: n.self, TenantName: n.id.Name(), Stream: s.Stream.Name,
			StreamInfo: info, Constraints: limitsOf(s.Constraints), MinInterval: s.Constraints.MinInterval})
	}
	return out
}

// partnerEntry bounds what a partner's agent says of a stream, and reads
// its minimum interval.
func partnerEntry(e CatalogEntry) CatalogEntry {
	e.StreamInfo = cleanInfo(e.StreamInfo)
	// An owner's spelling this agent cannot read counts as "any": the
	// owner enforces its constraint anyway.
	e.MinInterval = 0
	if e.Constraints.MinInterval != "" {
		e.MinInterval, _ = configs.ParseDuration(e.Constraints.MinInterval)
	}
	return e
}

// cleanInfo bounds what a partner's agent says of a stream: labels that
// are not valid here are cleaned (point.Labels) or dropped, so that
// a partner cannot put into this tenant's answers, nor its Prometheus
// API, what its own store would refuse.
func cleanInfo(in StreamInfo) StreamInfo {
	if point.ValidateLabels(in.Labels) == nil {
		return in
	}
	var b point.Labels
	for _, k := range slices.Sorted(maps.Keys(in.Labels)) {
		b.Add(k, in.Labels[k])
	}
	in.Labels, _ = b.Map()
	return in
}

// callMember calls a member's agent at its known address, or at the
// address its agent announces in the community's gossip.
func (n *Node) callMember(ctx context.Context, c policy.CommunityID, t policy.TenantID, method, path string, q url.Values) (*http.Response, error) {
	addr := ""
	if info, ok := n.local.tenant(t); ok {
		addr = info.Fed
	}
	if addr == "" {
		if cl, ok := n.clusters.Load(c); ok {
			for _, m := range cl.(*gossip.Cluster).Members() {
				var meta nodeMeta
				if json.Unmarshal(m.Meta, &meta) == nil && meta.Tenant == t && meta.Fed != "" {
					addr = meta.Fed
					n.local.setTenant(t, tenantInfo{Name: meta.Name, Fed: meta.Fed})
				}
			}
		}
	}
	return n.call(ctx, t, addr, method, path, q, nil)
}
