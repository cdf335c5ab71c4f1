package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/sluice-edge/sluice/agent/api"
)

func TestSplitTenantStream(t *testing.T) {
	for _, tc := range []struct {
		in, tenant, stream, err string
	}{
		{in: "acme-refinery/site1/boiler/temp", tenant: "acme-refinery", stream: "site1/boiler/temp"},
		{in: "acme/x", tenant: "acme", stream: "x"},
		{in: "Acme Refinery (Rotterdam)/a b/c%d", tenant: "Acme Refinery (Rotterdam)", stream: "a b/c%d"},
		{in: "t//double", tenant: "t", stream: "/double"},
		{in: "t/trailing/", tenant: "t", stream: "trailing/"},
		{in: "noslash", err: "is not TENANT/STREAM"},
		{in: "/stream", err: "no tenant"},
		{in: "tenant/", err: "no stream"},
		{in: "", err: "is not TENANT/STREAM"},
	} {
		tenant, stream, err := splitTenantStream(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || tenant != tc.tenant || stream != tc.stream {
			t.Errorf("%q: got %q, %q, %v; want %q, %q", tc.in, tenant, stream, err, tc.tenant, tc.stream)
		}
	}
}

func TestFederationPaths(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{communityPath("supply-chain"), "/api/v1/communities/supply-chain"},
		{communityPath("T1abc/n0nce", "members"), "/api/v1/communities/T1abc%2Fn0nce/members"},
		{communityPath("supply chain", "leave"), "/api/v1/communities/supply%20chain/leave"},
		{communityPath("a?b#c", "pause"), "/api/v1/communities/a%3Fb%23c/pause"},
		{partnerStreamPath("supply-chain", "acme-refinery", "site1/boiler/temp", "data"),
			"/api/v1/communities/supply-chain/streams/acme-refinery/site1%2Fboiler%2Ftemp/data"},
		{partnerStreamPath("T1/n", "Acme Refinery (R)", "a b/%", "latest"),
			"/api/v1/communities/T1%2Fn/streams/Acme%20Refinery%20%28R%29/a%20b%2F%25/latest"},
	} {
		if tc.got != tc.want {
			t.Errorf("path %s, want %s", tc.got, tc.want)
		}
	}
}

func TestAPIErrorReason(t *testing.T) {
	for _, tc := range []struct {
		e    api.Error
		want string
	}{
		{api.Error{Status: 403, Message: "denied", Reason: "paused"}, "denied: paused (HTTP 403)"},
		{api.Error{Status: 403, Message: "denied: paused", Reason: "paused"}, "denied: paused (HTTP 403)"},
		{api.Error{Status: 403, Reason: "not_member"}, "not_member (HTTP 403)"},
		{api.Error{Status: 404, Message: "stream not found"}, "stream not found (HTTP 404)"},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.e, got, tc.want)
		}
	}
}

func TestJSONText(t *testing.T) {
	var v struct{ A, B, C, D, E jsonText }
	if err := json.Unmarshal([]byte(`{"A":"30d","B":null,"C":60000000000,"D":{"lookback":"30d","min_interval":"","paused":false,"x":1},"E":true}`), &v); err != nil {
		t.Fatal(err)
	}
	if v.A != "30d" || v.B != "" || v.C != "60000000000" || v.D != "lookback=30d x=1" || v.E != "true" {
		t.Fatalf("%+v", v)
	}
}

// fakeAgent records the requests the CLI sends and answers each with a
// canned reply: a contract test of the CLI against docs/federation-api.md.
type fakeAgent struct {
	mu     sync.Mutex
	reqs   []recorded
	status int
	reply  string
}

type recorded struct {
	method, path, auth, ctype string
	query                     url.Values
	body                      []byte
}

func (fa *fakeAgent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	fa.mu.Lock()
	fa.reqs = append(fa.reqs, recorded{r.Method, r.URL.EscapedPath(), r.Header.Get("Authorization"), r.Header.Get("Content-Type"), r.URL.Query(), b})
	status, reply := fa.status, fa.reply
	fa.mu.Unlock()
	if status == 0 {
		status = 200
	}
	if status == http.StatusNoContent {
		w.WriteHeader(status)
		return
	}
	if strings.HasPrefix(reply, "{") || strings.HasPrefix(reply, "[") {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	io.WriteString(w, reply)
}

const (
	tenantReply    = `{"id":"T1","name":"acme-refinery","federation_addr":"127.0.0.1:7443","gossip_addr":"127.0.0.1:7946"}`
	communityReply = `{"id":"T1/n0","name":"supply-chain","owner":"T1","owner_name":"acme-refinery","role":"owner","status":"active",
		"members":[{"tenant":"T1","name":"acme-refinery","status":"owner"},{"tenant":"T2","name":"northwind-chemicals","status":"accepted"}],
		"invitations":[{"id":"inv1","email":"ops@northwind.example","status":"accepted","expires":"2026-12-01T00:00:00Z","tenant":"T2"}],
		"shares":[{"tenant":"T1","stream":"site1/boiler/temp","lookback":"30d","paused":false}]}`
)

func TestFederationVerbsContract(t *testing.T) {
	type body = map[string]any
	for _, tc := range []struct {
		name   string
		args   []string
		stdin  string
		status int
		reply  string
		method string
		path   string
		query  url.Values
		body   body // nil: no body
		out    string
		outHas []string
		errHas []string
	}{
		{name: "tenant show", args: []string{"tenant", "show"}, reply: tenantReply,
			method: "GET", path: "/api/v1/tenant",
			out: "id          T1\nname        acme-refinery\nfederation  127.0.0.1:7443\ngossip      127.0.0.1:7946\n"},
		{name: "tenant show json", args: []string{"tenant", "show", "--json"}, reply: tenantReply,
			method: "GET", path: "/api/v1/tenant", outHas: []string{`"federation_addr": "127.0.0.1:7443"`}},
		{name: "tenant card", args: []string{"tenant", "card"}, reply: tenantReply,
			method: "GET", path: "/api/v1/tenant", out: "T1\n127.0.0.1:7443\n"},
		{name: "create", args: []string{"community", "create", "supply-chain"}, status: 201, reply: communityReply,
			method: "POST", path: "/api/v1/communities", body: body{"name": "supply-chain"},
			out: "created community supply-chain (id T1/n0)\n", errHas: []string{"sluice community invite supply-chain --email"}},
		{name: "list", args: []string{"community", "list"}, reply: "[" + communityReply + "]",
			method: "GET", path: "/api/v1/communities", outHas: []string{"NAME", "supply-chain  owner  active  acme-refinery  T1/n0"}},
		{name: "show by id", args: []string{"community", "show", "T1/n0"}, reply: communityReply,
			method: "GET", path: "/api/v1/communities/T1%2Fn0",
			outHas: []string{"owner       acme-refinery (T1)", "northwind-chemicals  accepted  T2", "inv1", "ops@northwind.example",
				"acme-refinery  site1/boiler/temp  -             30d"},
			errHas: []string{"sluice community confirm supply-chain northwind-chemicals"}},
		{name: "show json", args: []string{"community", "show", "--json", "supply-chain"}, reply: communityReply,
			method: "GET", path: "/api/v1/communities/supply-chain", outHas: []string{`"owner_name": "acme-refinery"`}},
		{name: "invite pinned", args: []string{"community", "invite", "supply-chain", "--email", "ops@northwind.example", "--tenant", "T2"},
			status: 201, reply: `{"id":"inv1","token":"tok.EN-1","expires":"2026-12-01T00:00:00Z"}`,
			method: "POST", path: "/api/v1/communities/supply-chain/invitations", body: body{"email": "ops@northwind.example", "tenant": "T2"},
			out: "tok.EN-1\n", errHas: []string{"invitation inv1 for ops@northwind.example expires 2026-12-01T00:00:00Z", "sluice invitation accept"}},
		{name: "invite flags first", args: []string{"community", "invite", "--email", "a@b.example", "supply chain"},
			status: 201, reply: `{"id":"inv2","token":"tok2","expires":"2026-12-01T00:00:00Z"}`,
			method: "POST", path: "/api/v1/communities/supply%20chain/invitations", body: body{"email": "a@b.example"}, out: "tok2\n"},
		{name: "invitations", args: []string{"community", "invitations", "supply-chain"},
			reply:  `[{"id":"inv1","email":"ops@northwind.example","status":"pending","expires":"2026-12-01T00:00:00Z","tenant":""}]`,
			method: "GET", path: "/api/v1/communities/supply-chain/invitations", outHas: []string{"inv1  ops@northwind.example  pending  2026-12-01T00:00:00Z  -"}},
		{name: "revoke-invite", args: []string{"community", "revoke-invite", "supply-chain", "inv/1"}, status: 204,
			method: "DELETE", path: "/api/v1/communities/supply-chain/invitations/inv%2F1", out: "revoked invitation inv/1 to supply-chain\n"},
		{name: "members", args: []string{"community", "members", "supply-chain"},
			reply:  `[{"tenant":"T2","name":"northwind-chemicals","status":"confirmed"}]`,
			method: "GET", path: "/api/v1/communities/supply-chain/members", outHas: []string{"northwind-chemicals  confirmed  T2"}},
		{name: "confirm by name", args: []string{"community", "confirm", "supply-chain", "Northwind Chemicals"},
			reply:  `{"tenant":"T2","name":"Northwind Chemicals","status":"confirmed"}`,
			method: "POST", path: "/api/v1/communities/supply-chain/members/Northwind%20Chemicals/confirm",
			out: "confirmed Northwind Chemicals (T2) in supply-chain\n"},
		{name: "remove", args: []string{"community", "remove", "supply-chain", "T2"}, status: 204,
			method: "DELETE", path: "/api/v1/communities/supply-chain/members/T2", out: "removed T2 from supply-chain\n"},
		{name: "leave", args: []string{"community", "leave", "T1/n0"}, status: 204,
			method: "POST", path: "/api/v1/communities/T1%2Fn0/leave", out: "left T1/n0\n"},
		{name: "delete", args: []string{"community", "delete", "supply-chain"}, status: 204,
			method: "DELETE", path: "/api/v1/communities/supply-chain", out: "deleted community supply-chain\n"},
		{name: "pause", args: []string{"community", "pause", "supply-chain"}, status: 204,
			method: "POST", path: "/api/v1/communities/supply-chain/pause", outHas: []string{"paused"}},
		{name: "resume", args: []string{"community", "resume", "supply-chain"}, status: 204,
			method: "POST", path: "/api/v1/communities/supply-chain/resume", outHas: []string{"resumed"}},
		{name: "catalog search", args: []string{"community", "catalog", "supply-chain", "--search", "boiler temp"},
			reply:  `[{"tenant":"T1","tenant_name":"acme-refinery","stream":"site1/boiler/temp","kind":"float","unit":"degC","description":"boiler 1","constraints":{"lookback":"30d"}}]`,
			method: "GET", path: "/api/v1/communities/supply-chain/catalog", query: url.Values{"search": {"boiler temp"}},
			outHas: []string{"acme-refinery/site1/boiler/temp  float  degC  lookback=30d  boiler 1"}},
		{name: "catalog", args: []string{"community", "catalog", "supply-chain"}, reply: `[]`,
			method: "GET", path: "/api/v1/communities/supply-chain/catalog", out: "TENANT/STREAM  KIND  UNIT  CONSTRAINTS  DESCRIPTION\n"},
		{name: "read", args: []string{"community", "read", "--limit", "5", "supply-chain", "acme-refinery/site1/boiler/temp", "--start", "-2h"},
			reply:  "timestamp,value,quality\n2026-11-01T00:00:00Z,20,0\n",
			method: "GET", path: "/api/v1/communities/supply-chain/streams/acme-refinery/site1%2Fboiler%2Ftemp/data",
			query: url.Values{"start": {"-2h"}, "end": {"now"}, "format": {"csv"}, "time": {"rfc3339"}, "limit": {"5"}},
			out:   "timestamp,value,quality\n2026-11-01T00:00:00Z,20,0\n"},
		{name: "read by ids", args: []string{"community", "read", "T1/n0", "T1/a b", "--format", "json", "--time", "ns", "--end", "2026-11-02T00:00:00Z"},
			reply:  `{"points":[]}`,
			method: "GET", path: "/api/v1/communities/T1%2Fn0/streams/T1/a%20b/data",
			query: url.Values{"start": {"-1h"}, "end": {"2026-11-02T00:00:00Z"}, "format": {"json"}, "time": {"ns"}},
			out:   `{"points":[]}`},
		{name: "latest", args: []string{"community", "latest", "supply-chain", "northwind-chemicals/rotterdam/feed/flow"},
			reply:  "timestamp,value,quality\n",
			method: "GET", path: "/api/v1/communities/supply-chain/streams/northwind-chemicals/rotterdam%2Ffeed%2Fflow/latest",
			query: url.Values{"format": {"csv"}, "time": {"rfc3339"}}},
		{name: "interpolated count", args: []string{"community", "interpolated", "supply-chain", "acme/x/y", "--count", "3", "--start", "-10m"},
			method: "GET", path: "/api/v1/communities/supply-chain/streams/acme/x%2Fy/interpolated",
			query: url.Values{"start": {"-10m"}, "end": {"now"}, "format": {"csv"}, "time": {"rfc3339"}, "count": {"3"}}},
		{name: "interpolated interval", args: []string{"community", "interpolated", "supply-chain", "acme/x", "--interval", "1m"},
			method: "GET", path: "/api/v1/communities/supply-chain/streams/acme/x/interpolated",
			query: url.Values{"start": {"-1h"}, "end": {"now"}, "format": {"csv"}, "time": {"rfc3339"}, "interval": {"1m"}}},
		{name: "summaries", args: []string{"community", "summaries", "supply-chain", "acme/x", "--interval", "5m"},
			method: "GET", path: "/api/v1/communities/supply-chain/streams/acme/x/summaries",
			query: url.Values{"start": {"-24h"}, "end": {"now"}, "format": {"csv"}, "time": {"rfc3339"}, "interval": {"5m"}}},
		{name: "accept", args: []string{"invitation", "accept", "tok.EN-1"},
			reply:  `{"community":"T1/n0","name":"supply-chain","owner":"acme-refinery"}`,
			method: "POST", path: "/api/v1/invitations/accept", body: body{"token": "tok.EN-1"},
			out: "accepted: joined community supply-chain (id T1/n0) owned by acme-refinery\n", errHas: []string{"owner must confirm"}},
		{name: "accept stdin", args: []string{"invitation", "accept", "-"}, stdin: "  tok.EN-1\n",
			reply:  `{"community":"T1/n0","name":"supply-chain","owner":"acme-refinery"}`,
			method: "POST", path: "/api/v1/invitations/accept", body: body{"token": "tok.EN-1"}, outHas: []string{"accepted"}},
		{name: "decline", args: []string{"invitation", "decline", "-"}, stdin: "tok2", status: 204,
			method: "POST", path: "/api/v1/invitations/decline", body: body{"token": "tok2"}, out: "declined the invitation\n"},
		{name: "share all limits", args: []string{"share", "site1/boiler/temp", "--community", "supply-chain",
			"--history-from", "2026-01-01T00:00:00Z", "--lookback", "30d", "--expires", "-1h", "--min-interval", "1m"},
			status: 201, reply: `{"tenant":"T1","stream":"site1/boiler/temp","lookback":"30d","min_interval":"1m","paused":false}`,
			method: "POST", path: "/api/v1/communities/supply-chain/shares",
			body: body{"stream": "site1/boiler/temp", "history_from": "2026-01-01T00:00:00Z", "lookback": "30d", "expires": "-1h", "min_interval": "1m"},
			out:  "shared site1/boiler/temp into supply-chain (lookback 30d, min interval 1m)\n"},
		{name: "share plain", args: []string{"share", "--community", "T1/n0", "a/b"},
			status: 201, reply: `{"tenant":"T1","stream":"a/b","paused":true}`,
			method: "POST", path: "/api/v1/communities/T1%2Fn0/shares", body: body{"stream": "a/b"},
			outHas: []string{"shared a/b into T1/n0; note: this tenant's sharing into T1/n0 is paused"}},
		{name: "unshare", args: []string{"unshare", "site1/boiler/temp", "--community", "supply-chain"}, status: 204,
			method: "DELETE", path: "/api/v1/communities/supply-chain/shares/site1%2Fboiler%2Ftemp",
			out: "stopped sharing site1/boiler/temp into supply-chain\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fa := &fakeAgent{status: tc.status, reply: tc.reply}
			srv := httptest.NewServer(fa)
			defer srv.Close()
			var stdout, stderr bytes.Buffer
			f := &fedCLI{stdin: strings.NewReader(tc.stdin), stdout: &stdout, stderr: &stderr}
			// The flags path, as a user runs it.
			args := append(append([]string{}, tc.args[1:]...), "--addr", srv.URL, "--token", "sekret")
			if err := f.cliCommands()[tc.args[0]].run(context.Background(), args); err != nil {
				t.Fatalf("%v\nstderr: %s", err, stderr.String())
			}
			if len(fa.reqs) != 1 {
				t.Fatalf("%d requests, want 1: %+v", len(fa.reqs), fa.reqs)
			}
			r := fa.reqs[0]
			if r.method != tc.method || r.path != tc.path {
				t.Errorf("request %s %s, want %s %s", r.method, r.path, tc.method, tc.path)
			}
			if r.auth != "Bearer sekret" {
				t.Errorf("Authorization %q", r.auth)
			}
			wantQ := tc.query
			if wantQ == nil {
				wantQ = url.Values{}
			}
			if !reflect.DeepEqual(r.query, wantQ) {
				t.Errorf("query %v, want %v", r.query, wantQ)
			}
			if tc.body == nil {
				if len(r.body) != 0 {
					t.Errorf("unexpected body %s", r.body)
				}
			} else {
				var got map[string]any
				if err := json.Unmarshal(r.body, &got); err != nil || r.ctype != "application/json" {
					t.Fatalf("body %q (%s): %v", r.body, r.ctype, err)
				}
				if !reflect.DeepEqual(got, tc.body) {
					t.Errorf("body %v, want %v", got, tc.body)
				}
			}
			if tc.out != "" && stdout.String() != tc.out {
				t.Errorf("stdout %q, want %q", stdout.String(), tc.out)
			}
			for _, s := range tc.outHas {
				if !strings.Contains(stdout.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, stdout.String())
				}
			}
			for _, s := range tc.errHas {
				if !strings.Contains(stderr.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr.String())
				}
			}
		})
	}
}

// TestFederationVerbErrors: one line naming the verb, exit 1 for what the
// agent refused, 2 for a usage mistake, and no request for the latter.
func TestFederationVerbErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		stdin  string
		status int
		reply  string
		code   int
		errOut string // the whole of stderr's last line
		noReq  bool
	}{
		{name: "denied read", args: []string{"community", "read", "supply-chain", "acme/x"}, status: 403,
			reply: `{"error":"denied","reason":"paused"}`, code: 1, errOut: "sluice community read: denied: paused (HTTP 403)"},
		{name: "denied latest, reason only", args: []string{"community", "latest", "supply-chain", "acme/x"}, status: 403,
			reply: `{"reason":"not_member"}`, code: 1, errOut: "sluice community latest: not_member (HTTP 403)"},
		{name: "reused token", args: []string{"invitation", "accept", "tok"}, status: 409,
			reply: `{"error":"invitation already accepted"}`, code: 1, errOut: "sluice invitation accept: invitation already accepted (HTTP 409)"},
		{name: "ambiguous name", args: []string{"share", "a", "--community", "dup"}, status: 409,
			reply: `{"error":"\"dup\" names 2 communities: T1/a, T2/b"}`, code: 1, errOut: `sluice share: "dup" names 2 communities: T1/a, T2/b (HTTP 409)`},
		{name: "plain text error", args: []string{"tenant", "card"}, status: 502, reply: "bad gateway", code: 1,
			errOut: "sluice tenant card: bad gateway (HTTP 502)"},
		{name: "no slash", args: []string{"community", "read", "c", "acme"}, code: 2, noReq: true,
			errOut: `sluice community read: "acme" is not TENANT/STREAM (e.g. acme-refinery/site1/boiler/temp)`},
		{name: "empty stream", args: []string{"community", "summaries", "c", "acme/"}, code: 2, noReq: true,
			errOut: `sluice community summaries: "acme/" has no stream after the first slash`},
		{name: "interpolated needs one", args: []string{"community", "interpolated", "c", "a/b"}, code: 2, noReq: true,
			errOut: "sluice community interpolated: give one of --interval or --count"},
		{name: "interpolated not both", args: []string{"community", "interpolated", "c", "a/b", "--count", "2", "--interval", "1m"}, code: 2, noReq: true,
			errOut: "sluice community interpolated: give one of --interval or --count"},
		{name: "invite needs email", args: []string{"community", "invite", "c"}, code: 2, noReq: true,
			errOut: "sluice community invite: --email is required"},
		{name: "share needs community", args: []string{"share", "a/b"}, code: 2, noReq: true,
			errOut: "sluice share: give one of --community or --connection"},
		{name: "unshare needs community", args: []string{"unshare", "a/b"}, code: 2, noReq: true,
			errOut: "sluice unshare: give one of --community or --connection"},
		{name: "too many args", args: []string{"community", "leave", "a", "b"}, code: 2, noReq: true,
			errOut: "sluice community leave: wrong number of arguments"},
		{name: "empty community", args: []string{"community", "members", ""}, code: 2, noReq: true,
			errOut: "sluice community members: COMMUNITY must not be empty"},
		{name: "empty stdin token", args: []string{"invitation", "accept", "-"}, stdin: "\n", code: 1, noReq: true,
			errOut: "sluice invitation accept: no token on stdin"},
		{name: "unknown verb", args: []string{"community", "frobnicate"}, code: 2, noReq: true,
			errOut: `sluice community: unknown command "frobnicate" (see 'sluice community -h')`},
		{name: "bad flag", args: []string{"community", "list", "--bogus"}, code: 2, noReq: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fa := &fakeAgent{status: tc.status, reply: tc.reply}
			srv := httptest.NewServer(fa)
			defer srv.Close()
			var stdout, stderr bytes.Buffer
			f := &fedCLI{stdin: strings.NewReader(tc.stdin), stdout: &stdout, stderr: &stderr,
				client: &api.Client{Base: srv.URL, Token: "t"}}
			err := f.cliCommands()[tc.args[0]].run(context.Background(), tc.args[1:])
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != tc.code || ee.err != nil {
				t.Fatalf("err %#v, want exit %d already reported", err, tc.code)
			}
			lines := strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n")
			if last := lines[len(lines)-1]; tc.errOut != "" && last != tc.errOut {
				t.Errorf("stderr ends %q, want %q\n%s", last, tc.errOut, stderr.String())
			}
			if tc.noReq != (len(fa.reqs) == 0) {
				t.Errorf("%d requests sent", len(fa.reqs))
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout on failure: %q", stdout.String())
			}
		})
	}
}

// TestFederationVerbsInCommandTable checks that main dispatches the verbs
// and that their help exits 0.
func TestFederationVerbsInCommandTable(t *testing.T) {
	for _, v := range []string{"tenant", "community", "invitation", "share", "unshare", "demo"} {
		if _, ok := commands[v]; !ok {
			t.Errorf("sluice %s is not in the command table", v)
		}
	}
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"community", "read", "-h"}, &stderr); code != 0 {
		t.Errorf("community read -h: exit %d", code)
	}
	if code := run(context.Background(), []string{"community", "read", "c", "noslash"}, &stderr); code != 2 {
		t.Errorf("community read c noslash: exit %d", code)
	}
	if strings.Contains(stderr.String(), "sluice community:") {
		t.Errorf("error reported twice or without its verb: %q", stderr.String())
	}
}
