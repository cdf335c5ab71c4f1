package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// labelledStream is the canned agent's a/b with labels.
const labelledStream = `{"id":7,"name":"a/b","unit":"degC","kind":"float","created":"2026-11-01T00:00:00Z","labels":{"site":"plant1","area":"boiler"}}`

// labelAgent answers the stream routes with labelled streams, and every
// other route as cannedAgent does; it records each request's query and
// body.
type labelAgent struct {
	canned cannedAgent
	mu     sync.Mutex
	reqs   []labelReq
}

type labelReq struct{ method, path, query, body string }

func (la *labelAgent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	la.mu.Lock()
	la.reqs = append(la.reqs, labelReq{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, string(body)})
	la.mu.Unlock()
	reply := ""
	switch p := r.URL.EscapedPath(); {
	case p == "/api/v1/streams" && r.Method == "GET":
		reply = `{"streams":[` + labelledStream + `,{"id":8,"name":"c/d","kind":"int","created":"2026-11-01T00:00:00Z","labels":{}}]}`
	case p == "/api/v1/streams" && r.Method == "POST", p == "/api/v1/streams/a%2Fb":
		reply = labelledStream
	}
	if reply == "" {
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		la.canned.ServeHTTP(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, reply)
}

// TestStreamLabels: the stream verbs' tables show labels, --label of the
// listings becomes the API's repeated ?label=, --label of stream create
// the stream's labels, and a malformed label is a usage error before any
// request.
func TestStreamLabels(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		code  int
		req   labelReq // the one request, when code is 0
		out   []string // regexps stdout must match
		errIs []string // what stderr must contain, when code is not 0
	}{
		{name: "list shows a labels column", args: []string{"stream", "list"},
			req: labelReq{method: "GET", path: "/api/v1/streams", query: "after=&limit=1000&prefix="},
			out: []string{`(?m)^NAME +KIND +UNIT +SOURCE +CREATED +LABELS$`, `(?m)^a/b +float +degC +2026-11-01T00:00:00Z +area=boiler,site=plant1$`, `(?m)^c/d +int .* -$`}},
		{name: "list --label, repeated", args: []string{"stream", "list", "--label", "site=plant1", "--label", "area"},
			req: labelReq{method: "GET", path: "/api/v1/streams", query: "after=&label=site%3Dplant1&label=area&limit=1000&prefix="},
			out: []string{`a/b`}},
		{name: "list --label with = in the value", args: []string{"stream", "list", "--label=path=/a=b"},
			req: labelReq{method: "GET", path: "/api/v1/streams", query: "after=&label=path%3D%2Fa%3Db&limit=1000&prefix="}},
		{name: "show has a labels line", args: []string{"stream", "show", "a/b"},
			req: labelReq{method: "GET", path: "/api/v1/streams/a%2Fb"},
			out: []string{`(?m)^labels +area=boiler,site=plant1$`}},
		{name: "create --label", args: []string{"stream", "create", "a/b", "--unit", "degC", "--label", "site=plant1", "--label", "area=boiler"},
			req: labelReq{method: "POST", path: "/api/v1/streams", body: `{"description":"","kind":"float","labels":{"area":"boiler","site":"plant1"},"name":"a/b","unit":"degC"}`},
			out: []string{`^created a/b \(float, labels area=boiler,site=plant1\)\n$`}},
		{name: "create without labels sends none", args: []string{"stream", "create", "a/b"},
			req: labelReq{method: "POST", path: "/api/v1/streams", body: `{"description":"","kind":"float","name":"a/b","unit":""}`}},
		{name: "community catalog --label", args: []string{"community", "catalog", "c", "--label", "site=plant1", "--search", "boiler"},
			req: labelReq{method: "GET", path: "/api/v1/communities/c/catalog", query: "label=site%3Dplant1&search=boiler"},
			out: []string{`acme-refinery/a/b`}},
		{name: "community catalog without --label", args: []string{"community", "catalog", "c"},
			req: labelReq{method: "GET", path: "/api/v1/communities/c/catalog"}},

		{name: "create --label without a value", args: []string{"stream", "create", "a/b", "--label", "site"}, code: 2,
			errIs: []string{`sluice stream create: invalid value "site" for flag `, `label: want key=value, e.g. site=plant1 (see 'sluice stream create -h')`}},
		{name: "list --label with a bad key", args: []string{"stream", "list", "--label", "a-b=c"}, code: 2,
			errIs: []string{`sluice stream list: invalid value "a-b=c" for flag `, `key "a-b": want letters, digits and _`}},
		{name: "create --label with an empty value", args: []string{"stream", "create", "a/b", "--label", "site="}, code: 2,
			errIs: []string{`sluice stream create: invalid value "site=" for flag `, `site: empty value`}},
		{name: "catalog --label with a reserved key", args: []string{"community", "catalog", "c", "--label", "__name__=x"}, code: 2,
			errIs: []string{`sluice community catalog: invalid value "__name__=x" for flag `, `reserved`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			la := &labelAgent{}
			srv := httptest.NewServer(la)
			defer srv.Close()
			out, errs, code := sluiceCLI(t, "", append(tc.args, "--addr", srv.URL, "--token", "T")...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out, errs)
			}
			la.mu.Lock()
			reqs := la.reqs
			la.mu.Unlock()
			if tc.code != 0 {
				if len(reqs) != 0 {
					t.Errorf("requests %+v, want none", reqs)
				}
				for _, want := range tc.errIs {
					if !strings.Contains(errs, want) || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
						t.Errorf("stderr %q, want one line with %q", errs, want)
					}
				}
				return
			}
			if len(reqs) != 1 {
				t.Fatalf("requests %+v, want one", reqs)
			}
			got := reqs[0]
			if got.body != "" && tc.req.body != "" {
				got.body = canonicalJSON(t, got.body)
			}
			if got != tc.req {
				t.Errorf("request\n%+v, want\n%+v", got, tc.req)
			}
			for _, re := range tc.out {
				if !regexp.MustCompile(re).MatchString(out) {
					t.Errorf("stdout does not match %s:\n%s", re, out)
				}
			}
		})
	}
}

// canonicalJSON re-encodes a JSON object with sorted keys.
func canonicalJSON(t *testing.T, s string) string {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("body %q: %v", s, err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func TestFmtLabels(t *testing.T) {
	for _, tc := range []struct {
		in   map[string]string
		want string
	}{
		{nil, "-"},
		{map[string]string{}, "-"},
		{map[string]string{"site": "plant1"}, "site=plant1"},
		{map[string]string{"site": "plant1", "area": "boiler", "line": "2"}, "area=boiler,line=2,site=plant1"},
		{map[string]string{"desc": "a, b", "q": `say "hi"`, "path": "/a=b"}, `desc="a, b",path=/a=b,q="say \"hi\""`},
	} {
		if got := fmtLabels(tc.in); got != tc.want {
			t.Errorf("fmtLabels(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestStreamLabelsEndToEnd: labels set with stream create come back in
// the tables and in -o json, --label narrows the list on the agent, and
// a share's labels are in the community's catalog and filtered there.
func TestStreamLabelsEndToEnd(t *testing.T) {
	a := startAgent(t, filepath.Join(t.TempDir(), "data"), "")
	a.ok("", "stream", "create", "site1/boiler/temp", "--unit", "degC", "--label", "site=plant1", "--label", "area=boiler")
	a.ok("", "stream", "create", "site1/tank/level", "--label", "site=plant1", "--label", "area=tank")
	a.ok("", "stream", "create", "site2/flow", "--label", "site=plant2")
	a.ok("", "stream", "create", "misc/plain")

	names := func(out string) string {
		var ns []string
		for _, l := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
			ns = append(ns, strings.Fields(l)[0])
		}
		return strings.Join(ns, " ")
	}
	for _, tc := range []struct {
		labels []string
		want   string
	}{
		{nil, "misc/plain site1/boiler/temp site1/tank/level site2/flow"},
		{[]string{"site=plant1"}, "site1/boiler/temp site1/tank/level"},
		{[]string{"site=plant1", "area=tank"}, "site1/tank/level"},
		{[]string{"site"}, "site1/boiler/temp site1/tank/level site2/flow"},
		{[]string{"area=nowhere"}, ""},
	} {
		args := []string{"stream", "list"}
		for _, l := range tc.labels {
			args = append(args, "--label", l)
		}
		if got := names(a.ok("", args...)); got != tc.want {
			t.Errorf("stream list --label %v: %q, want %q", tc.labels, got, tc.want)
		}
	}
	out := a.ok("", "stream", "list", "--prefix", "site1/boiler/")
	if !regexp.MustCompile(`(?m)^site1/boiler/temp +float +degC +\S+ +area=boiler,site=plant1$`).MatchString(out) {
		t.Errorf("stream list: the labels column:\n%s", out)
	}
	if out := a.ok("", "stream", "list", "--prefix", "misc/"); !regexp.MustCompile(`(?m)^misc/plain .* -$`).MatchString(out) {
		t.Errorf("stream list: a stream without labels:\n%s", out)
	}
	if out := a.ok("", "stream", "show", "site1/tank/level"); !regexp.MustCompile(`(?m)^labels +area=tank,site=plant1$`).MatchString(out) {
		t.Errorf("stream show:\n%s", out)
	}
	var st struct{ Labels map[string]string }
	if err := json.Unmarshal([]byte(a.ok("", "stream", "show", "site2/flow", "-o", "json")), &st); err != nil || st.Labels["site"] != "plant2" || len(st.Labels) != 1 {
		t.Errorf("stream show -o json: %+v %v", st, err)
	}

	// The owner's catalog holds its own shares with their labels.
	a.ok("", "community", "create", "plant-net")
	a.ok("", "share", "site1/boiler/temp", "--community", "plant-net")
	a.ok("", "share", "site2/flow", "--community", "plant-net")
	catalog := func(labels ...string) string {
		args := []string{"community", "catalog", "plant-net", "-o", "json"}
		for _, l := range labels {
			args = append(args, "--label", l)
		}
		var list []struct {
			Stream string
			Labels map[string]string
		}
		if err := json.Unmarshal([]byte(a.ok("", args...)), &list); err != nil {
			t.Fatal(err)
		}
		var ns []string
		for _, e := range list {
			ns = append(ns, e.Stream)
		}
		return strings.Join(ns, " ")
	}
	if got := catalog(); got != "site1/boiler/temp site2/flow" {
		t.Errorf("catalog: %q", got)
	}
	if got := catalog("site=plant2"); got != "site2/flow" {
		t.Errorf("catalog --label site=plant2: %q", got)
	}
	if got := catalog("site", "area=boiler"); got != "site1/boiler/temp" {
		t.Errorf("catalog --label site --label area=boiler: %q", got)
	}
}

func TestHumanBytes(t *testing.T) {
	for _, tc := range []struct {
		b    float64
		want string
	}{
		{0, "0 B"}, {512, "512 B"}, {28672, "28.0 KiB"}, {1 << 20, "1.0 MiB"},
		{20 * (1 << 30), "20.0 GiB"}, {3 * (1 << 40), "3.0 TiB"}, {5000 * (1 << 40), "5000.0 TiB"},
	} {
		if got := humanBytes(tc.b); got != tc.want {
			t.Errorf("humanBytes(%v) = %q, want %q", tc.b, got, tc.want)
		}
	}
}
