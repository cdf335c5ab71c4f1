package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// These tests run the real binary (built by TestMain) against a fake
// agent that answers every route the CLI calls with a canned reply, so
// that they see exactly what a user sees: stdout, stderr, the exit code,
// and the request that reached the agent.

// cannedAgent answers by path and records each request.
type cannedAgent struct {
	mu   sync.Mutex
	reqs []string // "METHOD path Authorization"
	// status overrides 200 for a path.
	status map[string]int
}

const (
	streamReply = `{"id":7,"name":"a/b","description":"boiler outlet","unit":"degC","kind":"float","created":"2026-11-01T00:00:00Z"}`
	userReply   = `{"name":"olivia","created":"2026-11-01T00:00:00Z","has_password":true,"roles":[{"role":"community-member"}]}`
	tokenReply  = `[{"id":"abc123","user":"olivia","label":"laptop","created":"2026-11-01T00:00:00Z","expires":"2027-01-30T00:00:00Z","active":true}]`
	auditReply  = `{"time":"2026-11-01T00:00:00Z","seq":1,"kind":"admin","actor":"admin"}` + "\n" +
		`{"time":"2026-11-01T00:00:01Z","seq":2,"kind":"partner_read","tenant":"T2","stream":"a/b","points":3}` + "\n"
)

// replies by path; the first match wins, in this order.
var cannedReplies = []struct{ path, reply string }{
	{"/api/v1/streams/a%2Fb/data", "timestamp,value,quality\n2026-11-01T00:00:00Z,20,0\n"},
	{"/api/v1/streams/a%2Fb", streamReply},
	{"/api/v1/streams", `{"streams":[` + streamReply + `]}`},
	{"/api/v1/status", `{"ready":true,"version":"dev","tenant":"acme-refinery","streams":1,"store_bytes":1048576,"data_dir":"/var/lib/sluice","sources":[]}`},
	{"/api/v1/tenant", tenantReply},
	{"/api/v1/communities/c/members", `[{"tenant":"T2","name":"northwind","status":"confirmed"}]`},
	{"/api/v1/communities/c/invitations", `[{"id":"inv1","email":"ops@northwind.example","status":"pending","expires":"2026-12-01T00:00:00Z"}]`},
	{"/api/v1/communities/c/catalog", `[{"tenant":"T1","tenant_name":"acme-refinery","stream":"a/b","kind":"float","unit":"degC"}]`},
	{"/api/v1/communities/c/shares", `{"tenant":"T1","stream":"a/b","paused":false}`},
	{"/api/v1/communities/c", communityReply},
	{"/api/v1/communities", "[" + communityReply + "]"},
	{"/api/v1/connections/T2/catalog", `[{"tenant":"T2","tenant_name":"northwind","stream":"x/y","kind":"float"}]`},
	{"/api/v1/connections", `{"paired":[{"from":"T1","to":"T2","status":"paired","access":"catalog"}]}`},
	{"/api/v1/users/olivia/tokens", tokenReply},
	{"/api/v1/users/olivia", userReply},
	{"/api/v1/users", "[" + userReply + "]"},
	{"/api/v1/tokens", tokenReply},
	{"/api/v1/audit", auditReply},
}

func (ca *cannedAgent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	p := r.URL.EscapedPath()
	ca.mu.Lock()
	ca.reqs = append(ca.reqs, r.Method+" "+p+" "+r.Header.Get("Authorization"))
	code := ca.status[p]
	ca.mu.Unlock()
	if code != 0 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		io.WriteString(w, `{"error":"stream \"a/b\" not found (add ?create=1 to create streams on first write)","reason":"not_found"}`)
		return
	}
	for _, c := range cannedReplies {
		if p == c.path {
			if c.reply[0] == '{' || c.reply[0] == '[' {
				w.Header().Set("Content-Type", "application/json")
			}
			io.WriteString(w, c.reply)
			return
		}
	}
	w.WriteHeader(http.StatusTeapot)
	io.WriteString(w, `{"error":"the canned agent has no reply for `+p+`"}`)
}

func (ca *cannedAgent) requests() []string {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	return append([]string(nil), ca.reqs...)
}

// sluiceCLI runs the binary with args, none of the SLUICE_ variables and
// a home of its own (no `sluice login` tokens), and returns stdout,
// stderr and the exit code.
func sluiceCLI(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(sluiceBin, args...)
	home := t.TempDir()
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "SLUICE_") && !strings.HasPrefix(e, "HOME=") && !strings.HasPrefix(e, "XDG_CONFIG_HOME=") {
			cmd.Env = append(cmd.Env, e)
		}
	}
	cmd.Env = append(cmd.Env, "HOME="+home, "XDG_CONFIG_HOME="+home, "GORACE=atexit_sleep_ms=0")
	cmd.Dir = home // no ./sluice-data with a token to find
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// expand puts the fake agent's address where an argument says ADDR.
func expand(args []string, addr string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = strings.ReplaceAll(a, "ADDR", addr)
	}
	return out
}

// TestGlobalFlagsAnywhere: --addr, --token, --data-dir and -o before the
// verb, between verb and subcommand, or among the command's own flags;
// and a flag mistake is one line naming the flag and the command, with
// exit code 2 and no request sent.
func TestGlobalFlagsAnywhere(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		stdin  string
		req    string // the one request the agent must see; "" for none
		code   int
		outHas string
		errOut string // stderr's last line, exactly
	}{
		{name: "before the verb", args: []string{"--addr", "ADDR", "--token", "T", "stream", "list"},
			req: "GET /api/v1/streams Bearer T", outHas: "a/b"},
		{name: "before the verb, = form", args: []string{"--addr=ADDR", "--token=T", "stream", "show", "a/b"},
			req: "GET /api/v1/streams/a%2Fb Bearer T", outHas: "boiler outlet"},
		{name: "single dash", args: []string{"-addr", "ADDR", "-token", "T", "status"},
			req: "GET /api/v1/status Bearer T", outHas: "acme-refinery"},
		{name: "between verb and subcommand", args: []string{"stream", "--addr", "ADDR", "--token", "T", "read", "a/b", "--start", "-1h"},
			req: "GET /api/v1/streams/a%2Fb/data Bearer T", outHas: "2026-11-01T00:00:00Z,20,0"},
		{name: "after the positional", args: []string{"stream", "read", "a/b", "--addr", "ADDR", "--token", "T"},
			req: "GET /api/v1/streams/a%2Fb/data Bearer T"},
		{name: "everywhere at once", args: []string{"--addr", "ADDR", "stream", "-o", "json", "list", "--token", "T"},
			req: "GET /api/v1/streams Bearer T", outHas: `"name": "a/b"`},
		{name: "-o on a read is --format", args: []string{"-o", "json", "stream", "read", "a/b", "--addr", "ADDR", "--token", "T"},
			req: "GET /api/v1/streams/a%2Fb/data Bearer T"},
		{name: "a federation verb", args: []string{"--addr", "ADDR", "--token", "T", "community", "list", "-o", "json"},
			req: "GET /api/v1/communities Bearer T", outHas: `"owner_name": "acme-refinery"`},
		{name: "a one-word verb", args: []string{"--token", "T", "--addr", "ADDR", "share", "a/b", "--community", "c"},
			req: "POST /api/v1/communities/c/shares Bearer T", outHas: "shared a/b into c"},
		{name: "a group between", args: []string{"--token", "T", "user", "--addr", "ADDR", "list"},
			req: "GET /api/v1/users Bearer T", outHas: "olivia"},
		{name: "the agent takes --data-dir too", args: []string{"--data-dir", "/nonexistent", "agent", "-h"}},
		{name: "the later flag wins", args: []string{"--token", "OLD", "stream", "list", "--addr", "ADDR", "--token", "NEW"},
			req: "GET /api/v1/streams Bearer NEW"},

		{name: "unknown flag before the verb", args: []string{"--bogus", "stream", "list"}, code: 2,
			errOut: "sluice: unknown flag --bogus here: only the global flags (--addr, --token, --data-dir, -o) may come before a command; its own flags go after it (see 'sluice -h')"},
		{name: "a command's own flag before it", args: []string{"stream", "--prefix", "x", "list"}, code: 2,
			errOut: "sluice stream: unknown flag --prefix here: only the global flags (--addr, --token, --data-dir, -o) may come before a command; its own flags go after it (see 'sluice stream -h')"},
		{name: "unknown flag after the command", args: []string{"stream", "list", "--bogus", "--addr", "ADDR"}, code: 2,
			errOut: "sluice stream list: unknown flag --bogus (see 'sluice stream list -h')"},
		{name: "unknown flag of a federation verb", args: []string{"community", "list", "-x", "--addr", "ADDR"}, code: 2,
			errOut: "sluice community list: unknown flag -x (see 'sluice community list -h')"},
		{name: "a global flag the command does not take", args: []string{"-o", "json", "stream", "delete", "a/b", "--addr", "ADDR"}, code: 2,
			errOut: "sluice stream delete: unknown flag -o: this command does not take it (see 'sluice stream delete -h')"},
		{name: "a global flag without its value", args: []string{"stream", "list", "--addr"}, code: 2,
			errOut: "sluice stream list: flag --addr needs a value (see 'sluice stream list -h')"},
		{name: "a global flag without its value before the verb", args: []string{"--addr"}, code: 2,
			errOut: "sluice: flag --addr needs a value (see 'sluice -h')"},
		{name: "a bad -o", args: []string{"stream", "list", "-o", "yaml", "--addr", "ADDR"}, code: 2,
			errOut: `sluice stream list: invalid value "yaml" for flag -o: want json or table (see 'sluice stream list -h')`},
		{name: "-o table on a read", args: []string{"stream", "read", "a/b", "-o", "table", "--addr", "ADDR"}, code: 2,
			errOut: `sluice stream read: invalid value "table" for flag -o: reads print csv (the table) or json (see 'sluice stream read -h')`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ca := &cannedAgent{}
			srv := httptest.NewServer(ca)
			defer srv.Close()
			out, errs, code := sluiceCLI(t, tc.stdin, expand(tc.args, srv.URL)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out, errs)
			}
			reqs := ca.requests()
			switch {
			case tc.req == "" && len(reqs) != 0:
				t.Errorf("requests %q, want none", reqs)
			case tc.req != "" && (len(reqs) != 1 || reqs[0] != tc.req):
				t.Errorf("requests %q, want [%q]", reqs, tc.req)
			}
			if !strings.Contains(out, tc.outHas) {
				t.Errorf("stdout lacks %q:\n%s", tc.outHas, out)
			}
			if tc.errOut != "" {
				lines := strings.Split(strings.TrimRight(errs, "\n"), "\n")
				if last := lines[len(lines)-1]; last != tc.errOut {
					t.Errorf("stderr ends\n%q, want\n%q", last, tc.errOut)
				}
				if strings.Contains(errs, "Usage:") || strings.Contains(errs, "flag provided but not defined") {
					t.Errorf("a flag mistake should be one line, not the flag package's text and usage:\n%s", errs)
				}
			}
		})
	}
}

// TestErrorsNameTheCommand: the one-line error names both words of the
// command that failed, for the stream, user, token and audit verbs as for
// the federation verbs.
func TestErrorsNameTheCommand(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		stdin  string
		status map[string]int
		errOut string
	}{
		{name: "stream read", args: []string{"stream", "read", "a/b"}, status: map[string]int{"/api/v1/streams/a%2Fb/data": 404},
			errOut: `sluice stream read: stream "a/b" not found (add ?create=1 to create streams on first write): not_found (HTTP 404)`},
		{name: "stream show", args: []string{"stream", "show", "a/b"}, status: map[string]int{"/api/v1/streams/a%2Fb": 500},
			errOut: "sluice stream show: "},
		{name: "user show", args: []string{"user", "show", "olivia"}, status: map[string]int{"/api/v1/users/olivia": 404},
			errOut: "sluice user show: "},
		{name: "token list", args: []string{"token", "list"}, status: map[string]int{"/api/v1/tokens": 500},
			errOut: "sluice token list: "},
		{name: "audit log", args: []string{"audit", "log"}, status: map[string]int{"/api/v1/audit": 500},
			errOut: "sluice audit log: "},
		// The API tells HTTP clients to add ?create=1; the CLI's user
		// hears of the flag.
		{name: "stream write, no such stream", args: []string{"stream", "write", "a/b"}, stdin: "2026-11-01T00:00:00Z,1\n",
			status: map[string]int{"/api/v1/streams/a%2Fb/data": 404},
			errOut: `sluice stream write: stream "a/b" does not exist: add --create to create it with the first write (or run 'sluice stream create a/b' first)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ca := &cannedAgent{status: tc.status}
			srv := httptest.NewServer(ca)
			defer srv.Close()
			_, errs, code := sluiceCLI(t, tc.stdin, append(tc.args, "--addr", srv.URL, "--token", "T")...)
			if code != 1 {
				t.Fatalf("exit %d, want 1\n%s", code, errs)
			}
			line := strings.TrimRight(errs, "\n")
			if strings.Contains(line, "\n") || !strings.HasPrefix(line, tc.errOut) {
				t.Errorf("stderr %q, want one line starting %q", errs, tc.errOut)
			}
			if tc.name == "stream write, no such stream" && strings.Contains(errs, "?create=1") {
				t.Errorf("the CLI's user is told of the API's query parameter: %q", errs)
			}
		})
	}
}

// TestOutputFormats: every listing and show verb prints a table (or
// key/value lines) by default and machine-readable JSON with -o json,
// --json being the older spelling of it.
func TestOutputFormats(t *testing.T) {
	for _, args := range [][]string{
		{"stream", "list"},
		{"stream", "show", "a/b"},
		{"status"},
		{"tenant", "show"},
		{"community", "list"},
		{"community", "show", "c"},
		{"community", "members", "c"},
		{"community", "invitations", "c"},
		{"community", "catalog", "c"},
		{"connection", "list"},
		{"connection", "catalog", "T2"},
		{"user", "list"},
		{"user", "show", "olivia"},
		{"token", "list"},
		{"audit", "log"},
		{"version"},
	} {
		name := strings.Join(args, " ")
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(&cannedAgent{})
			defer srv.Close()
			client := []string{"--addr", srv.URL, "--token", "T"}
			if args[0] == "version" {
				client = nil
			}
			for _, o := range [][]string{{"-o", "json"}, {"--json"}} {
				out, errs, code := sluiceCLI(t, "", append(append(append([]string{}, args...), client...), o...)...)
				if code != 0 {
					t.Fatalf("%s %s: exit %d\n%s", name, o, code, errs)
				}
				if !allJSON(out) {
					t.Errorf("%s %s: not JSON:\n%s", name, o, out)
				}
			}
			for _, o := range [][]string{nil, {"-o", "table"}} {
				out, errs, code := sluiceCLI(t, "", append(append(append([]string{}, args...), client...), o...)...)
				if code != 0 {
					t.Fatalf("%s %s: exit %d\n%s", name, o, code, errs)
				}
				if strings.TrimSpace(out) == "" || allJSON(out) {
					t.Errorf("%s %s: want a table, got:\n%s", name, o, out)
				}
			}
		})
	}
}

// allJSON reports whether out is one JSON document, or JSON lines.
func allJSON(out string) bool {
	if strings.TrimSpace(out) == "" {
		return false
	}
	if json.Valid([]byte(out)) {
		return true
	}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if !json.Valid([]byte(l)) {
			return false
		}
	}
	return true
}

// TestEveryListingVerbTakesOutput asks every command for its subcommands
// (its -h) and checks that each one that lists or shows takes -o json:
// a new listing verb without it fails here.
func TestEveryListingVerbTakesOutput(t *testing.T) {
	listing := map[string]bool{"list": true, "show": true, "catalog": true, "members": true, "invitations": true, "log": true, "tail": true}
	checked := 0
	for verb := range commands {
		subs := subcommandsOf(t, verb)
		if len(subs) == 0 && (verb == "status" || verb == "version") {
			subs = []string{""}
		}
		for _, sub := range subs {
			if sub != "" && !listing[sub] {
				continue
			}
			args := strings.Fields(verb + " " + sub)
			_, errs, code := sluiceCLI(t, "", append(args, "-o", "json", "-h")...)
			if code != 0 {
				t.Errorf("sluice %s does not take -o json: exit %d\n%s", strings.Join(args, " "), code, errs)
			}
			checked++
		}
	}
	if checked < 15 {
		t.Errorf("only %d listing verbs found: the subcommand lists were not read", checked)
	}
}

var subcommandLine = regexp.MustCompile(`^  ([a-z][a-z-]*) +\S`)

// subcommandsOf reads a command's subcommands from its -h; none for a
// command without them.
func subcommandsOf(t *testing.T, verb string) []string {
	t.Helper()
	_, errs, _ := sluiceCLI(t, "", verb, "-h")
	if !strings.Contains(errs, "Usage: sluice "+verb+" <command>") {
		return nil
	}
	var subs []string
	sc := bufio.NewScanner(strings.NewReader(errs[strings.Index(errs, "Commands:"):]))
	for sc.Scan() {
		if m := subcommandLine.FindStringSubmatch(sc.Text()); m != nil {
			subs = append(subs, m[1])
		}
	}
	return subs
}

// TestVersion: `sluice version` and `sluice --version` print the version,
// the commit the binary was built from and the Go version; -o json the
// same as an object.
func TestVersion(t *testing.T) {
	// The commit is what the go tool stamped into the binary: none in a
	// checkout it does not stamp (a tarball, a git worktree).
	commit := "unknown"
	info, err := exec.Command("go", "version", "-m", sluiceBin).Output()
	if err != nil {
		t.Fatalf("go version -m: %v", err)
	}
	if m := regexp.MustCompile(`(?m)^\s+build\s+vcs\.revision=([0-9a-f]{12})`).FindSubmatch(info); m != nil {
		commit = string(m[1])
	}
	want := regexp.MustCompile(`^sluice \S+ \(commit ` + commit + `(, modified)?\) go1\.\S+ [a-z0-9]+/[a-z0-9]+\n$`)
	for _, args := range [][]string{{"version"}, {"--version"}, {"-version"}} {
		out, errs, code := sluiceCLI(t, "", args...)
		if code != 0 || !want.MatchString(out) {
			t.Errorf("sluice %s: exit %d, %q (stderr %q); want %s", args[0], code, out, errs, want)
		}
	}
	out, _, code := sluiceCLI(t, "", "--version", "-o", "json")
	var b buildInfo
	if err := json.Unmarshal([]byte(out), &b); code != 0 || err != nil || b.Version == "" || !strings.HasPrefix(b.Go, "go1.") ||
		(commit != "unknown" && !strings.HasPrefix(b.Commit, commit)) {
		t.Errorf("--version -o json: exit %d, %q: %+v, %v", code, out, b, err)
	}
}

// docCommand is a `sluice VERB [SUB]` found in the docs.
type docCommand struct {
	verb, sub, where string
}

var (
	fence    = regexp.MustCompile("^\\s*```\\s*([a-zA-Z]*)")
	inline   = regexp.MustCompile("`([^`\n]+)`")
	cmdWord  = regexp.MustCompile(`^[a-z][a-z-]*(\|[a-z][a-z-]*)*$`)
	shellish = map[string]bool{"": true, "sh": true, "bash": true, "shell": true, "console": true}
)

// docCommands finds every `sluice VERB [SUB]` in the shell code blocks
// and inline code of a Markdown file. A SUB written a|b stands for both.
func docCommands(t *testing.T, path string) []docCommand {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []docCommand
	scan := func(text string, line int) {
		f := strings.Fields(strings.NewReplacer("`", " ", "$(", " ", "(", " ", ")", " ", ";", " ").Replace(text))
		for i := 0; i+1 < len(f); i++ {
			if (f[i] != "sluice" && f[i] != "./sluice") || f[i+1] == "sluice" || !cmdWord.MatchString(f[i+1]) {
				continue
			}
			where := path + ":" + strconv.Itoa(line)
			sub := ""
			if i+2 < len(f) && cmdWord.MatchString(f[i+2]) {
				sub = f[i+2]
			}
			for _, s := range strings.Split(sub, "|") {
				for _, v := range strings.Split(f[i+1], "|") {
					out = append(out, docCommand{v, s, where})
				}
			}
		}
	}
	inBlock, shell := false, false
	for n, l := range strings.Split(string(b), "\n") {
		if m := fence.FindStringSubmatch(l); m != nil {
			if inBlock {
				inBlock = false
			} else {
				inBlock, shell = true, shellish[strings.ToLower(m[1])]
			}
			continue
		}
		switch {
		case inBlock && shell:
			scan(l, n+1)
		case !inBlock:
			for _, m := range inline.FindAllStringSubmatchIndex(l, -1) {
				// "There is no `sluice store repair`" names what does
				// not exist, on purpose.
				if before := strings.TrimRight(l[:m[0]], " "); strings.HasSuffix(before, " no") || strings.HasSuffix(before, " not") {
					continue
				}
				scan(l[m[2]:m[3]], n+1)
			}
		}
	}
	return out
}

// TestDocsCommandsExist: every `sluice VERB SUB` that the README and the
// other Markdown files show is a command of this binary (its --help
// answers with its usage), so the docs cannot drift from the CLI.
func TestDocsCommandsExist(t *testing.T) {
	files := []string{"../../README.md"}
	for _, pat := range []string{"../../docs/*.md", "../../systemd/*.md", "../../connectors/*/README.md", "../../connectors/*/*/README.md"} {
		m, err := filepath.Glob(pat)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	seen := map[string]string{}
	for _, f := range files {
		for _, c := range docCommands(t, f) {
			k := strings.TrimSpace(c.verb + " " + c.sub)
			if _, ok := seen[k]; !ok {
				seen[k] = c.where
			}
		}
	}
	if len(seen) < 30 || seen["stream read"] == "" || seen["opcua trust"] == "" {
		t.Fatalf("found only %d commands in the docs (%v): the parser misses them", len(seen), seen)
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	groups := map[string][]string{}
	for _, k := range keys {
		verb, sub, _ := strings.Cut(k, " ")
		if _, ok := commands[verb]; !ok {
			t.Errorf("%s: the docs show `sluice %s`, but there is no command %q", seen[k], k, verb)
			continue
		}
		subs, ok := groups[verb]
		if !ok {
			subs = subcommandsOf(t, verb)
			groups[verb] = subs
		}
		switch {
		case len(subs) > 0 && sub == "":
			// `sluice user ...` in prose: the group itself.
		case len(subs) > 0:
			found := false
			for _, s := range subs {
				found = found || s == sub
			}
			if !found {
				t.Errorf("%s: the docs show `sluice %s`, but %s has no subcommand %q (it has %s)", seen[k], k, verb, sub, strings.Join(subs, ", "))
				continue
			}
			fallthrough
		default:
			// The command's own help: known and answering, without running.
			args := strings.Fields(k)
			if len(subs) == 0 {
				args = args[:1] // SUB was a positional argument
			}
			_, errs, code := sluiceCLI(t, "", append(args, "--help")...)
			if code != 0 || !strings.Contains(errs, "Usage: sluice "+args[0]) {
				t.Errorf("%s: sluice %s --help: exit %d\n%s", seen[k], strings.Join(args, " "), code, errs)
			}
		}
	}
}
