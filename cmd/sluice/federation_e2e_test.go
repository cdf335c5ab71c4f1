package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Federation end to end: several real agent processes on 127.0.0.1, each
// its own tenant with its own federation and gossip ports, driven through
// the CLI as the tenants' administrators would.

const testCommunity = "supply-chain"

// converge bounds the wait for what one agent learns from another
// (confirmation, a partner's share). Denials after pause, unshare, remove
// and leave are not waited for: the design says the very next read.
const fedConverge = 20 * time.Second

// quickExit drops the race detector's one-second sleep at a clean exit
// (GORACE atexit_sleep_ms) for the many short CLI processes a test runs.
func quickExit(t *testing.T) {
	t.Setenv("GORACE", "atexit_sleep_ms=0")
}

// startFedAgent starts an agent for tenant name with federation and
// gossip on free loopback ports.
func startFedAgent(t *testing.T, name string) *agentProc {
	t.Helper()
	// Port 0: the agent binds and advertises free ports itself. Ports
	// found free here and bound later by the agent can be taken in
	// between (as the source port of any outgoing connection on the
	// machine: they are in the ephemeral range).
	cfg := fmt.Sprintf("tenant: {name: %s}\nfederation: {listen: 127.0.0.1:0, gossip: 127.0.0.1:0, advertise: 127.0.0.1}\n", name)
	return startAgent(t, filepath.Join(t.TempDir(), "data"), cfg)
}

// fedFeed writes n points, 1 s apart, ending now, creating the stream.
func fedFeed(a *agentProc, stream string, n int) {
	a.t.Helper()
	var csv strings.Builder
	now := time.Now().Truncate(time.Second)
	for i := n; i > 0; i-- {
		fmt.Fprintf(&csv, "%s,%d.5\n", now.Add(-time.Duration(i)*time.Second).Format(time.RFC3339), i%50)
	}
	a.ok(csv.String(), "stream", "write", stream, "--create")
}

// fails runs a command that must fail with exit code 1 and one line on
// stderr, and nothing on stdout.
func (a *agentProc) fails(args ...string) string {
	a.t.Helper()
	out, errs, code := a.cli("", args...)
	if code != 1 || out != "" || strings.Count(strings.TrimRight(errs, "\n"), "\n") != 0 {
		a.t.Fatalf("sluice %s: exit %d, want 1 with one line on stderr and nothing on stdout\nstdout: %s\nstderr: %s",
			strings.Join(args, " "), code, out, errs)
	}
	return strings.TrimSpace(errs)
}

// refused runs a command that a federation rule must refuse: exit 1, one
// line naming the verb, and an HTTP 4xx from the agent (not a crash or an
// unreachable agent).
func (a *agentProc) refused(args ...string) string {
	a.t.Helper()
	errs := a.fails(args...)
	if !regexp.MustCompile(`\(HTTP 4\d\d\)$`).MatchString(errs) || !strings.HasPrefix(errs, "sluice "+args[0]) {
		a.t.Fatalf("sluice %s: want a one-line refusal with an HTTP 4xx, got %q", strings.Join(args, " "), errs)
	}
	return errs
}

// denied runs a partner read that must be denied with reason, as
// "sluice community read: ...: reason (HTTP 403)", and yield no data.
func (a *agentProc) denied(reason string, args ...string) {
	a.t.Helper()
	errs := a.fails(args...)
	if !strings.HasPrefix(errs, "sluice community "+args[1]+": ") || !strings.HasSuffix(errs, reason+" (HTTP 403)") {
		a.t.Fatalf("sluice %s: want denied with reason %q (HTTP 403), got %q", strings.Join(args, " "), reason, errs)
	}
}

// eventually runs a command until it succeeds and check accepts its
// output.
func (a *agentProc) eventually(check func(string) bool, args ...string) string {
	a.t.Helper()
	deadline := time.Now().Add(fedConverge)
	for {
		out, errs, code := a.cli("", args...)
		if code == 0 && (check == nil || check(out)) {
			return out
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("sluice %s: not as expected after %s: exit %d\nstdout: %s\nstderr: %s",
				strings.Join(args, " "), fedConverge, code, out, errs)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func fedHas(subs ...string) func(string) bool {
	return func(s string) bool {
		for _, sub := range subs {
			if !strings.Contains(s, sub) {
				return false
			}
		}
		return true
	}
}

// fedCard returns a tenant's id and federation address from `tenant card`.
func fedCard(a *agentProc) (id, addr string) {
	a.t.Helper()
	out := a.ok("", "tenant", "card")
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 2 || strings.ContainsAny(lines[0], " \t") || lines[0] == "" ||
		!regexp.MustCompile(`^127\.0\.0\.1:\d+$`).MatchString(lines[1]) {
		a.t.Fatalf("tenant card: want two lines, tenant id and 127.0.0.1:PORT, got %q", out)
	}
	return lines[0], lines[1]
}

// fedInvite has owner invite partner (pinned to its id) and returns the token.
func fedInvite(owner, partner *agentProc, email string) string {
	owner.t.Helper()
	id, _ := fedCard(partner)
	tok, errs, code := owner.cli("", "community", "invite", testCommunity, "--email", email, "--tenant", id)
	if code != 0 {
		owner.t.Fatalf("invite: exit %d: %s", code, errs)
	}
	if strings.Count(tok, "\n") != 1 || !strings.HasSuffix(tok, "\n") || strings.TrimSpace(tok) == "" || strings.ContainsAny(strings.TrimSpace(tok), " \t") {
		owner.t.Fatalf("invite must print the token alone on one line, got %q", tok)
	}
	if !strings.Contains(errs, "sluice invitation accept") {
		owner.t.Fatalf("invite: no hint on stderr: %q", errs)
	}
	return strings.TrimSpace(tok)
}

// fedJoin walks the handshake for partner and waits until it reads stream.
func fedJoin(owner, partner *agentProc, email, stream string) {
	owner.t.Helper()
	tok := fedInvite(owner, partner, email)
	partner.ok("", "invitation", "accept", tok)
	name := fedTenantName(partner)
	owner.ok("", "community", "confirm", testCommunity, name)
	partner.eventually(fedHas("timestamp,value,quality\n"), "community", "read", testCommunity, stream, "--start", "-1h")
}

func fedTenantName(a *agentProc) string {
	a.t.Helper()
	for _, line := range strings.Split(a.ok("", "tenant", "show"), "\n") {
		if name, ok := strings.CutPrefix(line, "name"); ok {
			return strings.TrimSpace(name)
		}
	}
	a.t.Fatal("tenant show: no name")
	return ""
}

func TestFederationHandshake(t *testing.T) {
	quickExit(t)
	acme := startFedAgent(t, "acme-refinery")
	north := startFedAgent(t, "northwind-chemicals")
	initech := startFedAgent(t, "initech")

	acmeID, acmeAddr := fedCard(acme)
	northID, _ := fedCard(north)
	if acmeID == northID {
		t.Fatalf("two tenants share id %s", acmeID)
	}
	if out := acme.ok("", "tenant", "show"); !fedHas("id          "+acmeID, "name        acme-refinery", "federation  "+acmeAddr, "gossip      127.0.0.1:")(out) {
		t.Fatalf("tenant show: %s", out)
	}
	fedFeed(acme, "site1/boiler/temp", 300)
	fedFeed(north, "line2/feed/flow", 300)

	if out := acme.ok("", "community", "create", testCommunity); !strings.Contains(out, "created community "+testCommunity) {
		t.Fatalf("create: %s", out)
	}
	if out := acme.ok("", "community", "list"); !fedHas(testCommunity, "owner")(out) {
		t.Fatalf("list: %s", out)
	}
	// Shared before anyone joined: nothing flows until a confirmation.
	acme.ok("", "share", "site1/boiler/temp", "--community", testCommunity)
	tok := fedInvite(acme, north, "ops@northwind.example")
	if out := acme.ok("", "community", "invitations", testCommunity); !strings.Contains(out, "ops@northwind.example") {
		t.Fatalf("invitations: %s", out)
	}

	// The invitation is pinned to northwind: another tenant cannot use it.
	initech.refused("invitation", "accept", tok)

	// Northwind accepts on its own agent, the token piped in.
	if out := north.ok(tok+"\n", "invitation", "accept", "-"); !strings.Contains(out, testCommunity) {
		t.Fatalf("accept: %s", out)
	}
	// The acceptance went straight to the owner's agent.
	if out := acme.ok("", "community", "members", testCommunity); !regexp.MustCompile(`northwind-chemicals\s+accepted`).MatchString(out) {
		t.Fatalf("members after accept: %s", out)
	}
	partnerRead := []string{"community", "read", testCommunity, "acme-refinery/site1/boiler/temp", "--start", "-1h"}
	// No data before the owner confirms.
	north.denied("not_confirmed", partnerRead...)
	north.denied("not_confirmed", "community", "latest", testCommunity, "acme-refinery/site1/boiler/temp")

	// The token is spent: a second acceptance fails clearly, by anyone.
	north.refused("invitation", "accept", tok)
	initech.refused("invitation", "accept", tok)

	if out := acme.ok("", "community", "confirm", testCommunity, "northwind-chemicals"); !strings.Contains(out, "confirmed") {
		t.Fatalf("confirm: %s", out)
	}
	out := north.eventually(fedHas("timestamp,value,quality\n"), partnerRead...)
	if n := strings.Count(out, "\n") - 1; n < 290 || n > 300 {
		t.Fatalf("partner read after confirm: %d points, want about 300:\n%s", n, out)
	}
	// By tenant id too, and every read shape.
	north.ok("", "community", "read", testCommunity, acmeID+"/site1/boiler/temp", "--start", "-1h", "--limit", "3")
	if out := north.ok("", "community", "latest", testCommunity, "acme-refinery/site1/boiler/temp"); strings.Count(out, "\n") != 2 {
		t.Fatalf("partner latest: %q", out)
	}
	if out := north.ok("", "community", "interpolated", testCommunity, "acme-refinery/site1/boiler/temp", "--start", "-2m", "--end", "-1m", "--count", "3"); strings.Count(out, "\n") != 4 {
		t.Fatalf("partner interpolated: %q", out)
	}
	if out := north.ok("", "community", "summaries", testCommunity, "acme-refinery/site1/boiler/temp", "--start", "-10m", "--interval", "5m"); strings.Count(out, "\n") < 2 {
		t.Fatalf("partner summaries: %q", out)
	}

	// The other way round: northwind shares, acme reads.
	if out := north.ok("", "share", "line2/feed/flow", "--community", testCommunity, "--lookback", "30d"); !strings.Contains(out, "shared line2/feed/flow") {
		t.Fatalf("share: %s", out)
	}
	acme.eventually(fedHas("timestamp,value,quality\n"), "community", "read", testCommunity, "northwind-chemicals/line2/feed/flow", "--start", "-1h", "--limit", "5")

	acme.eventually(func(s string) bool {
		return regexp.MustCompile(`northwind-chemicals\s+confirmed`).MatchString(s) &&
			fedHas("site1/boiler/temp", "line2/feed/flow")(s)
	}, "community", "show", testCommunity)
	if out := acme.ok("", "community", "show", testCommunity, "--json"); !json.Valid([]byte(out)) {
		t.Fatalf("show --json: %s", out)
	}
	north.eventually(fedHas("acme-refinery/site1/boiler/temp"), "community", "catalog", testCommunity)
	if out := north.ok("", "community", "catalog", testCommunity, "--search", "boiler"); !strings.Contains(out, "site1/boiler/temp") || strings.Contains(out, "line2/feed/flow") {
		t.Fatalf("catalog --search boiler: %s", out)
	}

	// A tenant that is not a member gets nothing, by name or by id.
	var list []struct{ ID, Name string }
	if err := json.Unmarshal([]byte(acme.ok("", "community", "list", "--json")), &list); err != nil || len(list) != 1 {
		t.Fatalf("community list --json: %v %+v", err, list)
	}
	for _, c := range []string{testCommunity, list[0].ID} {
		initech.refused("community", "read", c, "acme-refinery/site1/boiler/temp", "--start", "-1h")
		initech.refused("community", "read", c, acmeID+"/site1/boiler/temp", "--start", "-1h")
		initech.refused("community", "catalog", c)
	}
	if out := initech.ok("", "community", "list"); strings.Contains(out, testCommunity) {
		t.Fatalf("a non-member lists the community: %s", out)
	}
}

func TestFederationRevocations(t *testing.T) {
	quickExit(t)
	acme := startFedAgent(t, "acme-refinery")
	north := startFedAgent(t, "northwind-chemicals")
	globex := startFedAgent(t, "globex")
	fedFeed(acme, "site1/boiler/temp", 120)
	acme.ok("", "community", "create", testCommunity)
	acme.ok("", "share", "site1/boiler/temp", "--community", testCommunity)
	const stream = "acme-refinery/site1/boiler/temp"
	fedJoin(acme, north, "ops@northwind.example", stream)
	fedJoin(acme, globex, "data@globex.example", stream)
	read := []string{"community", "read", testCommunity, stream, "--start", "-1h"}

	// Pause stops all of acme's sharing at once, resume brings it back.
	acme.ok("", "community", "pause", testCommunity)
	north.denied("paused", read...)
	globex.denied("paused", "community", "summaries", testCommunity, stream, "--interval", "1m")
	acme.ok("", "community", "resume", testCommunity)
	north.ok("", read...)
	globex.ok("", read...)

	// Unsharing takes the stream away at once; sharing again restores it.
	if out := acme.ok("", "unshare", "site1/boiler/temp", "--community", testCommunity); !strings.Contains(out, "stopped sharing") {
		t.Fatalf("unshare: %s", out)
	}
	north.denied("not_shared", read...)
	globex.denied("not_shared", "community", "latest", testCommunity, stream)
	acme.ok("", "share", "site1/boiler/temp", "--community", testCommunity)
	north.ok("", read...)

	// A member that leaves reads no more.
	globex.ok("", "community", "leave", testCommunity)
	globex.denied("left", read...)
	acme.eventually(func(s string) bool { return regexp.MustCompile(`globex\s+left`).MatchString(s) }, "community", "members", testCommunity)
	north.ok("", read...)

	// The owner removes a member: its next read is denied.
	acme.ok("", "community", "remove", testCommunity, "northwind-chemicals")
	north.denied("removed", read...)
	if out := acme.ok("", "community", "members", testCommunity); !regexp.MustCompile(`northwind-chemicals\s+removed`).MatchString(out) {
		t.Fatalf("members after remove: %s", out)
	}
}

// TestDemo runs `sluice demo` as a user would: two agents, the whole
// handshake, and nothing left behind.
func TestDemo(t *testing.T) {
	quickExit(t)
	tmp := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, sluiceBin, "demo")
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp, "SLUICE_ADDR=", "SLUICE_TOKEN=", "SLUICE_DATA_DIR=")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("sluice demo: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errb.String())
	}
	for _, want := range []string{
		"acme-refinery$ sluice community create supply-chain",
		"northwind-chemicals$ sluice invitation accept ",
		"acme-refinery$ sluice community confirm supply-chain northwind-chemicals",
		"northwind-chemicals$ sluice community read supply-chain acme-refinery/site1/boiler/temp",
		"acme-refinery$ sluice community read supply-chain northwind-chemicals/rotterdam/feed/flow",
		"acme-refinery$ sluice community pause supply-chain",
		"    sluice community read: ",
		"paused (HTTP 403)",
		"acme-refinery$ sluice community resume supply-chain",
		"stopped northwind-chemicals's agent",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("demo output:\n%s", out.String())
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("demo left %d entries in TMPDIR, e.g. %s", len(left), left[0].Name())
	}
}
