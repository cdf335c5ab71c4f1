package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-edge/sluice/federation/identity"
	"github.com/sluice-edge/sluice/policy"
)

// The attacks below come from outside, the way an outsider or a curious
// member would make them: a tenant identity of its own making (or a real
// member's key, read from its data dir), mutual TLS to the owner's real
// federation port, and records it signs itself.

// peerClient speaks the partner protocol to one tenant's agent as the
// tenant whose identity it holds.
type peerClient struct {
	t    *testing.T
	id   *identity.Tenant
	http *http.Client
	addr string
}

func newPeerClient(t *testing.T, id *identity.Tenant, ownerID, ownerAddr string) *peerClient {
	t.Helper()
	cfg, err := id.ClientConfig(ownerID)
	if err != nil {
		t.Fatal(err)
	}
	return &peerClient{t: t, id: id, addr: ownerAddr,
		http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}}
}

// stranger makes a fresh tenant identity, standing in nothing.
func stranger(t *testing.T, ownerID, ownerAddr string) *peerClient {
	t.Helper()
	id, err := identity.Init(t.TempDir(), "mallory", identity.Options{Advertise: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	return newPeerClient(t, id, ownerID, ownerAddr)
}

// envelope is a signed record as it travels (federation.Envelope).
type envelope struct {
	R []byte `json:"r"`
	K []byte `json:"k"`
	S []byte `json:"s"`
}

func (p *peerClient) seal(r policy.Record) envelope {
	r.Issuer = policy.TenantID(p.id.ID())
	if r.Time == 0 {
		r.Time = time.Now().UnixNano()
	}
	b := r.SigningBytes()
	return envelope{R: b, K: p.id.PublicKey(), S: p.id.Sign(b)}
}

func (p *peerClient) post(path string, body any) (int, string) {
	p.t.Helper()
	b, _ := json.Marshal(body)
	resp, err := p.http.Post("https://"+p.addr+path, "application/json", bytes.NewReader(b))
	if err != nil {
		p.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

// push posts records to /fed/v1/records and returns how many the owner
// took, failing the test on anything but 200.
func (p *peerClient) push(recs ...policy.Record) int {
	p.t.Helper()
	envs := make([]envelope, len(recs))
	for i, r := range recs {
		envs[i] = p.seal(r)
	}
	code, body := p.post("/fed/v1/records", envs)
	if code != 200 {
		p.t.Fatalf("push: HTTP %d: %s", code, body)
	}
	var res struct{ Accepted int }
	if err := json.Unmarshal([]byte(body), &res); err != nil {
		p.t.Fatalf("push: %v: %s", err, body)
	}
	return res.Accepted
}

func communityIDOf(t *testing.T, a *agentProc, name string) policy.CommunityID {
	t.Helper()
	var list []struct{ ID, Name string }
	if err := json.Unmarshal([]byte(a.ok("", "community", "list", "--json")), &list); err != nil {
		t.Fatal(err)
	}
	for _, c := range list {
		if c.Name == name {
			return policy.CommunityID(c.ID)
		}
	}
	t.Fatalf("no community %q", name)
	return ""
}

// metric returns the value of one sample line of the agent's /metrics.
func metric(t *testing.T, a *agentProc, sample string) float64 {
	t.Helper()
	resp, err := http.Get(a.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`).FindStringSubmatch(string(b))
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// TestStrangerRecordsChangeNothing: records signed by a tenant with
// standing in nothing — at the largest version, of every kind it could
// sign, in a flood — change nothing at the owner: its pause, resume and
// unshare keep taking effect on the next read, and none of it reaches the
// owner's disk.
func TestStrangerRecordsChangeNothing(t *testing.T) {
	quickExit(t)
	acme := startFedAgent(t, "acme-refinery")
	north := startFedAgent(t, "northwind-chemicals")
	fedFeed(acme, "site1/boiler/temp", 120)
	acme.ok("", "community", "create", testCommunity)
	acme.ok("", "share", "site1/boiler/temp", "--community", testCommunity)
	fedJoin(acme, north, "ops@northwind.example", "acme-refinery/site1/boiler/temp")
	acmeID, acmeAddr := fedCard(acme)
	northID, _ := fedCard(north)
	cid := communityIDOf(t, acme, testCommunity)
	read := []string{"community", "read", testCommunity, "acme-refinery/site1/boiler/temp", "--start", "-1h", "--limit", "5"}

	m := stranger(t, acmeID, acmeAddr)
	mid := policy.TenantID(m.id.ID())
	top := uint64(math.MaxUint64)
	junk := []policy.Record{
		{Kind: policy.KindRoleGranted, Version: top, User: policy.UserID{Tenant: mid, Name: "eve"}, Role: policy.RoleTenantAdmin},
		{Kind: policy.KindRoleGranted, Version: top, Community: cid, User: policy.UserID{Tenant: mid, Name: "eve"}, Role: policy.RoleCommunityMember},
		{Kind: policy.KindStreamShared, Version: top, Community: cid, Stream: policy.StreamRef{Owner: mid, Name: "bait"}},
		{Kind: policy.KindSharingPaused, Version: top, Community: cid},
		{Kind: policy.KindMemberLeft, Version: top, Community: cid},
		{Kind: policy.KindConnectionRequested, Version: top, Tenant: policy.TenantID(northID)},
		{Kind: policy.KindStreamShared, Version: 2, Community: cid, Stream: policy.StreamRef{Owner: mid, Name: "bait"}},
	}
	if n := m.push(junk...); n != 0 {
		t.Fatalf("the owner took %d of a stranger's records", n)
	}

	// The owner's own actions still take effect, twice over: the clock was
	// not moved, and each action says what it did.
	for range 2 {
		if out := acme.ok("", "community", "pause", testCommunity); !strings.Contains(out, "paused") {
			t.Fatalf("pause: %q", out)
		}
		north.denied("paused", read...)
		acme.refused("community", "pause", testCommunity)
		acme.ok("", "community", "resume", testCommunity)
		north.ok("", read...)
		acme.refused("community", "resume", testCommunity)
	}

	// A flood: one huge push is refused outright, then the per-minute
	// budget runs out; partner reads are served throughout.
	flood := make([]envelope, 20000)
	for i := range flood {
		flood[i] = m.seal(policy.Record{Kind: policy.KindRoleGranted, Version: top,
			User: policy.UserID{Tenant: mid, Name: fmt.Sprintf("u%d", i)}, Role: policy.RoleTenantAdmin})
	}
	start := time.Now()
	if code, body := m.post("/fed/v1/records", flood); code != 413 {
		t.Fatalf("a 20,000-record push: HTTP %d, want 413: %.200s", code, body)
	}
	limited := false
	for i := 0; i < 10 && !limited; i++ {
		code, body := m.post("/fed/v1/records", flood[i*256:(i+1)*256])
		switch code {
		case 200:
		case 429:
			limited = true
		default:
			t.Fatalf("push %d: HTTP %d: %s", i, code, body)
		}
	}
	if !limited {
		t.Fatal("2,560 records pushed in a burst were never rate limited")
	}
	north.ok("", read...)
	t.Logf("flood refused and a partner read served in %s", time.Since(start).Round(time.Millisecond))

	// Unshare holds against anything the stranger signed.
	acme.ok("", "unshare", "site1/boiler/temp", "--community", testCommunity)
	north.denied("not_shared", read...)

	// Nothing of the stranger reached the owner's disk, and every refusal
	// was counted.
	records, err := os.ReadFile(filepath.Join(acme.dataDir, "federation", "records.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(records)), "\n") {
		var e envelope
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		if r, err := policy.ParseRecord(e.R); err != nil || r.Issuer == mid {
			t.Fatalf("records.jsonl holds a stranger's record (%v): %+v", err, r)
		}
	}
	if n := metric(t, acme, `sluice_federation_records_total{outcome="rejected_standing"}`); n < float64(len(junk)-1) {
		t.Errorf("rejected_standing counted %v, want >= %d", n, len(junk)-1)
	}
	if n := metric(t, acme, `sluice_federation_records_total{outcome="rejected_rate"}`); n < 256 {
		t.Errorf("rejected_rate counted %v", n)
	}
}

// TestInvitationSquatting: a confirmed member sees an open invitation by
// gossip and hands the owner its own acceptance, on every path a record
// can take; a stranger tries the handshake without the token. The owner
// takes none of it, and the real invitee then accepts as usual.
func TestInvitationSquatting(t *testing.T) {
	quickExit(t)
	acme := startFedAgent(t, "acme-refinery")
	north := startFedAgent(t, "northwind-chemicals")
	initech := startFedAgent(t, "initech")
	fedFeed(acme, "site1/boiler/temp", 60)
	acme.ok("", "community", "create", testCommunity)
	acme.ok("", "share", "site1/boiler/temp", "--community", testCommunity)
	fedJoin(acme, north, "ops@northwind.example", "acme-refinery/site1/boiler/temp")
	acmeID, acmeAddr := fedCard(acme)
	cid := communityIDOf(t, acme, testCommunity)

	// An open invitation (not pinned to a tenant), as e-mail invitations are.
	tok, errs, code := acme.cli("", "community", "invite", testCommunity, "--email", "ops@initech.example")
	if code != 0 {
		t.Fatalf("invite: %s", errs)
	}
	tok = strings.TrimSpace(tok)
	var invs []struct{ ID, Email, Status string }
	if err := json.Unmarshal([]byte(acme.ok("", "community", "invitations", testCommunity, "--json")), &invs); err != nil {
		t.Fatal(err)
	}
	var inv policy.Record
	for _, i := range invs {
		if i.Email == "ops@initech.example" {
			inv = policy.Record{Community: cid, Invitation: i.ID}
		}
	}
	if inv.Invitation == "" {
		t.Fatalf("no open invitation in %+v", invs)
	}
	// The member's agent holds the invitation record by gossip, with its
	// expiry: that is all a squatter needs besides its own key.
	northID, err := identity.Load(north.dataDir, identity.Options{})
	if err != nil {
		t.Fatal(err)
	}
	squatter := newPeerClient(t, northID, acmeID, acmeAddr)
	expires := time.Now().Add(14 * 24 * time.Hour).UnixNano()
	accept := policy.Record{Kind: policy.KindInvitationAccepted, Version: uint64(time.Now().UnixNano()),
		Community: cid, Invitation: inv.Invitation, Expires: expires}
	if n := squatter.push(accept); n != 0 {
		t.Fatal("the owner took a member's acceptance of another's invitation from a push")
	}
	// The handshake path without the token's secret.
	for _, p := range []*peerClient{squatter, stranger(t, acmeID, acmeAddr)} {
		body := map[string]any{"envelope": p.seal(accept), "name": "squatter"}
		if code, out := p.post("/fed/v1/accept", body); code != 403 || !strings.Contains(out, "secret") {
			t.Fatalf("acceptance without the token's secret: HTTP %d: %s", code, out)
		}
	}
	// An acceptance dated before its expiry by the signer's clock, long
	// after it by the owner's, is refused by the owner's clock.
	past := accept
	past.Time, past.Expires = time.Now().Add(-30*24*time.Hour).UnixNano(), time.Now().Add(-16*24*time.Hour).UnixNano()
	if n := squatter.push(past); n != 0 {
		t.Fatal("the owner took an acceptance of an expired invitation")
	}
	if out := acme.ok("", "community", "invitations", testCommunity); !regexp.MustCompile(`ops@initech\.example\s+pending`).MatchString(out) {
		t.Fatalf("the invitation is no longer pending after the squat attempts:\n%s", out)
	}

	// The real invitee accepts with the token, and is the one the owner sees.
	initech.ok("", "invitation", "accept", tok)
	if out := acme.ok("", "community", "members", testCommunity); !regexp.MustCompile(`initech\s+accepted`).MatchString(out) {
		t.Fatalf("members after the real acceptance:\n%s", out)
	}
	// Single use: nobody accepts it again, with the token or without.
	north.refused("invitation", "accept", tok)
}
