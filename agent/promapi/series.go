package promapi

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/sluice-edge/sluice/agent/store"
	"github.com/sluice-edge/sluice/connectors/point"
	"github.com/sluice-edge/sluice/federation"
	"github.com/sluice-edge/sluice/policy"
)

// The labels of a series (docs/api.md has the table).
const (
	nameLabel      = "__name__"  // the stream name made a valid metric name
	streamLabel    = "stream"    // the stream name as it is
	tenantLabel    = "tenant"    // the owner tenant's display name
	communityLabel = "community" // the community's name; shared streams only
	unitLabel      = "unit"      // when the stream has one
)

// Label is one label of a series.
type Label struct{ Name, Value string }

// Labels is a label set sorted by name.
type Labels []Label

// Get returns the value of a label, "" when absent.
func (ls Labels) Get(name string) string {
	for _, l := range ls {
		if l.Name == name {
			return l.Value
		}
	}
	return ""
}

func (ls Labels) without(name string) Labels {
	out := make(Labels, 0, len(ls))
	for _, l := range ls {
		if l.Name != name {
			out = append(out, l)
		}
	}
	return out
}

func (ls Labels) String() string {
	var b strings.Builder
	b.WriteByte('{')
	for i, l := range ls {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", l.Name, l.Value)
	}
	b.WriteByte('}')
	return b.String()
}

func less(a, b Labels) bool {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i].Name != b[i].Name {
			return a[i].Name < b[i].Name
		}
		if a[i].Value != b[i].Value {
			return a[i].Value < b[i].Value
		}
	}
	return len(a) < len(b)
}

// withStreamLabels adds a stream's own labels to the labels the API
// gives every series. A stream label whose key is one of those (or the
// API could take for one later) is renamed exported_<key>, as Prometheus
// does with a scraped label that collides with a target label; keys that
// are no valid label name here (a partner's, say) are left out.
func withStreamLabels(ls Labels, stream map[string]string) Labels {
	if len(stream) == 0 {
		return ls
	}
	taken := make(map[string]bool, len(ls)+len(stream))
	for _, l := range ls {
		taken[l.Name] = true
	}
	keys := make([]string, 0, len(stream))
	for k := range stream {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := stream[k]
		name := k
		if strings.HasPrefix(k, "__") {
			continue // Prometheus' own, never a stream's
		}
		if reservedLabel(name) {
			name = "exported_" + k
		}
		if v == "" || !validLabelName(name) || taken[name] {
			continue
		}
		taken[name] = true
		ls = append(ls, Label{name, v})
	}
	sort.Slice(ls, func(i, j int) bool { return ls[i].Name < ls[j].Name })
	return ls
}

// reservedLabel reports whether the API sets a label of that name itself.
func reservedLabel(name string) bool {
	switch name {
	case nameLabel, streamLabel, tenantLabel, communityLabel, unitLabel:
		return true
	}
	return false
}

func newLabels(kv ...string) Labels {
	var ls Labels
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			ls = append(ls, Label{kv[i], kv[i+1]})
		}
	}
	sort.Slice(ls, func(i, j int) bool { return ls[i].Name < ls[j].Name })
	return ls
}

// MetricName makes a stream name a valid Prometheus metric name: every
// character other than ASCII letters, digits and "_" becomes "_", and a
// leading digit gets a "_" before it ("site1/boiler/temp" ->
// "site1_boiler_temp", "3rd/line" -> "_3rd_line").
func MetricName(stream string) string {
	var b strings.Builder
	for i, r := range stream {
		switch {
		case r < utf8.RuneSelf && (isAlpha(byte(r)) || isDigit(byte(r))):
			if i == 0 && isDigit(byte(r)) {
				b.WriteByte('_')
			}
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

func validMetricName(s string) bool {
	if s == "" || isDigit(s[0]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) && s[i] != ':' {
			return false
		}
	}
	return true
}

func validLabelName(s string) bool {
	if s == "" || isDigit(s[0]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) {
			return false
		}
	}
	return true
}

// series is one stream the caller may read.
type series struct {
	labels Labels
	stream string
	help   string // the stream's description
	unit   string
	// Shared streams: where to ask. Local streams have owner "".
	community   policy.CommunityID
	owner       policy.TenantID
	ownerName   string
	commName    string
	minInterval time.Duration
}

func (s *series) shared() bool { return s.owner != "" }

// describe names the series in warnings.
func (s *series) describe() string {
	if s.shared() {
		return fmt.Sprintf("%s of %s in %s", s.stream, s.ownerName, s.commName)
	}
	return s.stream
}

func numeric(kind string) bool { return kind != point.KindString.String() }

// universe is what a request may see: the local streams if the caller
// reads tenant-wide, and the streams shared into each community where it
// reads. Catalogs are gathered only for communities a selector could
// match (by its matchers on the community and tenant labels); nil sels
// means every one.
type universe struct {
	series   []*series
	warnings []string
}

func (h *Handler) universe(ctx context.Context, c Caller, sels []*Selector) (*universe, error) {
	u := &universe{}
	if c.Roles("").Can(policy.ActionRead) && couldMatch(sels, "", h.opts.Tenant) {
		after := ""
		for {
			list, more, err := h.opts.Store.ListStreams(ctx, store.ListOptions{After: after, Limit: 1000})
			if err != nil {
				return nil, err
			}
			for _, st := range list {
				if st.Kind == point.KindString {
					continue
				}
				u.series = append(u.series, &series{stream: st.Name, help: st.Description, unit: st.Unit,
					labels: withStreamLabels(newLabels(nameLabel, MetricName(st.Name), streamLabel, st.Name, tenantLabel, h.opts.Tenant, unitLabel, st.Unit), st.Labels)})
				after = st.Name
			}
			if !more || len(list) == 0 {
				break
			}
		}
	}
	if h.opts.Partners == nil {
		return u, nil
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, cm := range h.opts.Partners.Communities() {
		if !c.Roles(cm.ID).Can(policy.ActionRead) || !couldMatch(sels, cm.Name, "") {
			continue
		}
		wg.Add(1)
		go func(cm federation.Community) {
			defer wg.Done()
			cat, err := h.opts.Partners.Catalog(ctx, cm.ID)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				u.warnings = append(u.warnings, fmt.Sprintf("catalog of community %s: %v", cm.Name, err))
				return
			}
			for _, who := range cat.Unreachable {
				u.warnings = append(u.warnings, fmt.Sprintf("community %s: the agent of %s did not answer; its streams are missing", cm.Name, who))
			}
			for _, e := range cat.Entries {
				if e.Tenant == h.opts.Partners.ID() || !numeric(e.Kind) {
					continue // our own shares are the local streams
				}
				u.series = append(u.series, &series{stream: e.Stream, help: e.Description, unit: e.Unit,
					community: cm.ID, commName: cm.Name, owner: e.Tenant, ownerName: e.TenantName, minInterval: e.MinInterval,
					labels: withStreamLabels(newLabels(nameLabel, MetricName(e.Stream), streamLabel, e.Stream, tenantLabel, e.TenantName,
						communityLabel, cm.Name, unitLabel, e.Unit), e.Labels)})
			}
		}(cm)
	}
	wg.Wait()
	sort.Slice(u.series, func(i, j int) bool { return less(u.series[i].labels, u.series[j].labels) })
	sort.Strings(u.warnings)
	return u, nil
}

// couldMatch reports whether a series of the community named community
// ("" for local streams) and, if tenant is not "", of that tenant could
// match one of sels, judging by their matchers on those labels only.
func couldMatch(sels []*Selector, community, tenant string) bool {
	if sels == nil {
		return true
	}
next:
	for _, s := range sels {
		for _, m := range s.Matchers {
			if m.Name == communityLabel && !m.Matches(community) || tenant != "" && m.Name == tenantLabel && !m.Matches(tenant) {
				continue next
			}
		}
		return true
	}
	return false
}

// match returns the series every matcher of sel accepts.
func (u *universe) match(sel *Selector) []*series {
	var out []*series
	for _, s := range u.series {
		if matches(sel.Matchers, s.labels) {
			out = append(out, s)
		}
	}
	return out
}

func matches(ms []*Matcher, ls Labels) bool {
	for _, m := range ms {
		if !m.Matches(ls.Get(m.Name)) {
			return false
		}
	}
	return true
}

// selectors lists the selectors of an expression.
func selectors(e Expr) []*Selector {
	switch e := e.(type) {
	case *Selector:
		return []*Selector{e}
	case *Call:
		return []*Selector{e.Sel}
	case *Unary:
		return selectors(e.X)
	case *Binary:
		return append(selectors(e.LHS), selectors(e.RHS)...)
	}
	return nil
}
