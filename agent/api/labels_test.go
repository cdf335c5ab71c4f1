package api

import (
	"context"
	"maps"
	"net/url"
	"strings"
	"testing"

	"github.com/sluice-edge/sluice/connectors/point"
)

// TestStreamLabels: labels are taken at creation, shown by the stream and
// list routes, filtered on with ?label=, and bad ones are a clear 400.
func TestStreamLabels(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	var s StreamJSON
	body := map[string]any{"name": "p1/line2/temp", "labels": map[string]string{"site": "plant1", "line": "line2"}}
	if err := f.c.JSON(ctx, "POST", "/api/v1/streams", nil, body, &s); err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(s.Labels, map[string]string{"site": "plant1", "line": "line2"}) {
		t.Fatalf("created %+v", s)
	}
	// A source's ensure adds labels to the stream.
	if err := f.st.EnsureStream(ctx, point.StreamSpec{Name: "p1/line2/temp", Kind: point.KindFloat, Labels: map[string]string{"host": "gw1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.CreateStream(ctx, point.StreamSpec{Name: "p2/x", Labels: map[string]string{"site": "plant2"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.CreateStream(ctx, point.StreamSpec{Name: "bare"}); err != nil {
		t.Fatal(err)
	}
	if err := f.c.JSON(ctx, "GET", StreamPath("p1/line2/temp", ""), nil, nil, &s); err != nil ||
		!maps.Equal(s.Labels, map[string]string{"site": "plant1", "line": "line2", "host": "gw1"}) {
		t.Fatalf("get: %v %+v", err, s)
	}
	// A stream without labels shows an empty object, not null.
	if code, b := f.do(t, "GET", StreamPath("bare", ""), "", ""); code != 200 || !strings.Contains(b, `"labels": {}`) {
		t.Fatalf("bare: %d %s", code, b)
	}
	for _, tc := range []struct {
		q    url.Values
		want string
	}{
		{url.Values{}, "bare p1/line2/temp p2/x"},
		{url.Values{"label": {"site=plant1"}}, "p1/line2/temp"},
		{url.Values{"label": {"site=plant1", "host=gw1"}}, "p1/line2/temp"},
		{url.Values{"label": {"site=plant1", "host=gw2"}}, ""},
		{url.Values{"label": {"site"}}, "p1/line2/temp p2/x"},
		{url.Values{"label": {"site"}, "limit": {"1"}}, "p1/line2/temp"}, // pages over the matching streams
	} {
		var page StreamList
		if err := f.c.JSON(ctx, "GET", "/api/v1/streams", tc.q, nil, &page); err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, st := range page.Streams {
			names = append(names, st.Name)
		}
		if got := strings.Join(names, " "); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.q, got, tc.want)
		}
	}
	for _, tc := range []struct {
		method, path, body, want string
	}{
		{"GET", "/api/v1/streams?label=plant-site=x", "", "bad_label"},
		{"GET", "/api/v1/streams?label==x", "", "empty key"},
		{"POST", "/api/v1/streams", `{"name": "a/b", "labels": {"1st": "x"}}`, `key \"1st\"`},
		{"POST", "/api/v1/streams", `{"name": "a/b", "labels": {"site": ""}}`, "site: empty value"},
	} {
		code, b := f.do(t, tc.method, tc.path, "application/json", tc.body)
		if code != 400 || !strings.Contains(b, tc.want) {
			t.Errorf("%s %s %s: %d %s, want 400 with %q", tc.method, tc.path, tc.body, code, b, tc.want)
		}
	}
}
