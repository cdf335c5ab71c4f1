package federation

import (
	"context"
	"encoding/json"
	"net/url"
	"sort"
	"sync"
	"time"

	"github.com/sluice-edge/sluice/configs"
	"github.com/sluice-edge/sluice/policy"
)

// Typed, in-process views of what the local API's community routes show
// (docs/federation-api.md), for components of the agent that read shared
// streams without going through HTTP (agent/promapi). They decide
// nothing: the caller checks its user's roles first, as the route table
// does for the HTTP routes, and each owner decides what it describes and
// answers with its own state.

// Community is a community this tenant takes part in.
type Community struct {
	ID        policy.CommunityID
	Name      string
	Owner     policy.TenantID
	OwnerName string // "" when not known yet
}

// Communities lists the communities this tenant owns or is a confirmed
// member of, sorted by name then id; deleted ones are left out. It does
// not block.
func (n *Node) Communities() []Community {
	st := n.book.snapshot()
	var out []Community
	for _, ci := range st.Communities() {
		if ci.Deleted || (ci.Owner != n.self && st.MemberStatus(ci.ID, n.self) != policy.MemberConfirmed) {
			continue
		}
		out = append(out, Community{ID: ci.ID, Name: ci.Name, Owner: ci.Owner, OwnerName: n.tenantName(ci.Owner)})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// CatalogEntry is one stream shared into a community, as its owner
// describes it.
type CatalogEntry struct {
	Tenant     policy.TenantID
	TenantName string
	Stream     string
	StreamInfo
	// MinInterval is the share's constraint: only summaries at this
	// interval or coarser are answered (0: any read).
	MinInterval time.Duration
}

// Catalog is a community's catalog as this tenant may see it.
type Catalog struct {
	Entries []CatalogEntry // sorted by tenant name, then stream
	// Unreachable names the members whose agents did not answer (their
	// streams are missing from Entries), as "name (short id)".
	Unreachable []string
}

// Catalog gathers the streams shared into community c, as the local
// API's GET /api/v1/communities/{c}/catalog does: this tenant's own from
// its state, every other member's from its agent, which decides with its
// own state (paused, unshared and expired shares are left out). It asks
// the members in parallel, each for at most 10 s within ctx. An error is
// a denial of the whole catalog (this tenant is no member) or an unknown
// community.
func (n *Node) Catalog(ctx context.Context, c policy.CommunityID) (Catalog, error) {
	ci, st, err := n.resolve(string(c))
	if err != nil {
		return Catalog{}, err
	}
	var out Catalog
	shares, dec := policy.Catalog(st, policy.CatalogRequest{Requester: n.self, Community: ci.ID, Owner: n.self, Now: n.opts.Now().UnixNano()})
	switch {
	case dec.Allow:
		for _, e := range n.catalogEntries(ctx, shares) {
			out.Entries = append(out.Entries, typedEntry(e))
		}
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
			var entries []catalogEntry
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
					out.Entries = append(out.Entries, typedEntry(e))
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

func typedEntry(e catalogEntry) CatalogEntry {
	out := CatalogEntry{Tenant: e.Tenant, TenantName: e.TenantName, Stream: e.Stream, StreamInfo: cleanInfo(e.StreamInfo)}
	if e.Constraints.MinInterval != "" {
		// An owner's spelling this agent cannot read counts as "any":
		// the owner enforces its constraint anyway.
		out.MinInterval, _ = configs.ParseDuration(e.Constraints.MinInterval)
	}
	return out
}
