package promapi

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sluice-edge/sluice/connectors/point"
)

func TestWithStreamLabels(t *testing.T) {
	base := newLabels(nameLabel, "m", streamLabel, "s", tenantLabel, "acme")
	for _, tc := range []struct {
		name   string
		stream map[string]string
		want   string
	}{
		{"none", nil, `{__name__="m",stream="s",tenant="acme"}`},
		{"plain", map[string]string{"site": "p1", "host": "gw1"}, `{__name__="m",host="gw1",site="p1",stream="s",tenant="acme"}`},
		// Reserved names are kept as exported_<name>, whether or not the
		// series has that label (unit is absent here).
		{"collisions", map[string]string{"tenant": "x", "unit": "degF", "community": "c", "stream": "y"},
			`{__name__="m",exported_community="c",exported_stream="y",exported_tenant="x",exported_unit="degF",stream="s",tenant="acme"}`},
		{"exported taken", map[string]string{"tenant": "x", "exported_tenant": "z"}, `{__name__="m",exported_tenant="z",stream="s",tenant="acme"}`},
		{"invalid dropped", map[string]string{"__name__": "x", "bad-key": "v", "9": "v", "empty": ""}, `{__name__="m",stream="s",tenant="acme"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := withStreamLabels(append(Labels(nil), base...), tc.stream).String(); got != tc.want {
				t.Fatalf("%s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestStreamLabelsAsPrometheusLabels: Grafana selects and lists streams by
// their labels, local and shared alike.
func TestStreamLabelsAsPrometheusLabels(t *testing.T) {
	f := newFixture(t)
	if err := f.local.EnsureStream(context.Background(), point.StreamSpec{Name: "site1/boiler/temp", Kind: point.KindFloat,
		Labels: map[string]string{"site": "plant1", "unit": "degF"}}); err != nil {
		t.Fatal(err)
	}
	f.partners.labels = map[string]string{"site": "north1", "line": "2", "bad-key": "partners send anything"}
	code, r := f.post(t, "series", url.Values{"match[]": {`{site=~".+"}`}, "start": {"1"}, "end": {"2"}})
	want := `[{"__name__":"line2_feed_flow","community":"supply-chain","line":"2","site":"north1","stream":"line2/feed/flow","tenant":"northwind-chemicals","unit":"m3/h"},` +
		`{"__name__":"site1_boiler_temp","exported_unit":"degF","site":"plant1","stream":"site1/boiler/temp","tenant":"acme-refinery","unit":"degC"}]`
	if code != 200 || string(r.Data) != want {
		t.Fatalf("series: %d %s\nwant %s", code, r.Data, want)
	}
	code, r = f.get(t, "/prometheus/api/v1/label/site/values")
	if code != 200 || string(r.Data) != `["north1","plant1"]` {
		t.Fatalf("site values: %d %s", code, r.Data)
	}
	code, r = f.post(t, "query", url.Values{"query": {`last_over_time({site="plant1"}[1m])`}, "time": {secs(base.Add(time.Minute))}})
	if code != 200 || !strings.Contains(string(r.Data), `"stream":"site1/boiler/temp"`) || strings.Contains(string(r.Data), "line2") {
		t.Fatalf("query by label: %d %s", code, r.Data)
	}
}
