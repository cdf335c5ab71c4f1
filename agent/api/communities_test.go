package api

import (
	"net/url"
	"testing"

	"github.com/sluice-edge/sluice/federation"
)

// TestCatalogFilter: a catalog query keeps the entries whose labels match
// every label= term and whose text holds the search; a bad label term is
// refused with 400 bad_label.
func TestCatalogFilter(t *testing.T) {
	cat := []federation.CatalogEntry{{Tenant: "t1", TenantName: "acme", Stream: "boiler/temp",
		StreamInfo: federation.StreamInfo{Kind: "float", Unit: "degC", Description: "test stream boiler/temp",
			Labels: map[string]string{"site": "plant1", "point": "boiler_temp", "point_id": "x"}}}}
	for _, tc := range []struct {
		q    url.Values
		want int
	}{
		{url.Values{}, 1},
		{url.Values{"label": {"site=plant1"}}, 1},
		{url.Values{"label": {"site=plant1", "point=boiler_temp"}}, 1},
		{url.Values{"label": {"point=boiler_press"}}, 0},
		{url.Values{"label": {"site=plant2"}}, 0},
		{url.Values{"label": {"point_id"}}, 1},
		{url.Values{"search": {"point=boiler_t"}}, 1},
		{url.Values{"search": {"DEGC"}}, 1},
		{url.Values{"search": {"press"}}, 0},
	} {
		keep, err := catalogFilter(tc.q)
		if err != nil {
			t.Fatalf("catalog?%s: %v", tc.q.Encode(), err)
		}
		if got := keep(cat); len(got) != tc.want || got == nil {
			t.Errorf("catalog?%s: %d entries, want %d", tc.q.Encode(), len(got), tc.want)
		}
	}
	_, err := catalogFilter(url.Values{"label": {"point-id"}})
	if code, reason := classify(err); code != 400 || reason != "bad_label" {
		t.Errorf("a bad label term: %d %s (%v)", code, reason, err)
	}
}
