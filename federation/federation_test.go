package federation

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/sluice-edge/sluice/federation/gossip"
	"github.com/sluice-edge/sluice/federation/identity"
	"github.com/sluice-edge/sluice/policy"
)

// These tests run several tenants' federation nodes in one process, on
// real mTLS and gossip sockets on 127.0.0.1, and drive them through the
// local API as the CLI does. Every way around policy that a partner could
// try is tried.

// echoReader is the stream store of a test tenant: it has the streams it
// is told about and answers a read with the query it was asked, so a test
// sees exactly the range policy let through.
type echoReader struct{ streams map[string]bool }

func (e echoReader) ServeRead(w http.ResponseWriter, r *http.Request, q ReadQuery) (int, error) {
	if !e.streams[q.Stream] {
		return 0, &StatusError{Code: 404, Err: fmt.Errorf("stream %q not found", q.Stream)}
	}
	w.Header().Set("Content-Type", "application/json")
	// An answer "covers" one point per second of the range asked.
	return int((q.End - q.Start) / int64(time.Second)), json.NewEncoder(w).Encode(q)
}

func (e echoReader) StreamInfo(ctx context.Context, name string) (StreamInfo, error) {
	if !e.streams[name] {
		return StreamInfo{}, fmt.Errorf("stream %q not found", name)
	}
	// "point-id" is no valid label key: a partner's agent must clean what
	// an owner sends.
	return StreamInfo{Kind: "float", Unit: "degC", Description: "test stream " + name,
		Labels: map[string]string{"site": "plant1", "point": strings.ReplaceAll(name, "/", "_"), "point-id": "x"}}, nil
}

// clock is a settable clock shared by a test's nodes.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type tnode struct {
	*Node
	t   *testing.T
	reg *prometheus.Registry
	// caller, if set, names the local user and its roles in a community,
	// as the agent's users would; nil is a tenant admin, vouched as nobody.
	caller func(c policy.CommunityID) (string, policy.RoleSet)
}

var bg = context.Background()

func parseTestTime(s string, now time.Time) (int64, error) {
	if s == "now" {
		return now.UnixNano(), nil
	}
	if strings.HasPrefix(s, "-") {
		d, err := time.ParseDuration(s[1:])
		return now.Add(-d).UnixNano(), err
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t.UnixNano(), err
}

func newNode(t *testing.T, name string, clk *clock, streams ...string) *tnode {
	t.Helper()
	return newNodeOpts(t, name, clk, nil, streams...)
}

func newNodeOpts(t *testing.T, name string, clk *clock, mod func(*Options), streams ...string) *tnode {
	t.Helper()
	reg := prometheus.NewRegistry()
	rd := echoReader{streams: map[string]bool{}}
	for _, s := range streams {
		rd.streams[s] = true
	}
	opts := Options{
		DataDir: t.TempDir(), Name: name, Listen: "127.0.0.1:0", Gossip: "127.0.0.1:0", Advertise: "127.0.0.1",
		Reader: rd, Registerer: reg, Now: clk.now, GossipTiming: gossip.FastTiming(),
	}
	if mod != nil {
		mod(&opts)
	}
	n, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return &tnode{Node: n, t: t, reg: reg}
}

// ok fails the test on an error of the node's API.
func (n *tnode) ok(err error) {
	n.t.Helper()
	if err != nil {
		code, reason, _, _ := ErrorStatus(err)
		n.t.Fatalf("%d %s: %v", code, reason, err)
	}
}

// must is ok for calls that return a value.
func (n *tnode) must(_ any, err error) { n.t.Helper(); n.ok(err) }

func (n *tnode) create(name string) { n.t.Helper(); n.must(n.CreateCommunity(bg, name)) }

func (n *tnode) share(c, stream string) {
	n.t.Helper()
	n.must(n.Share(bg, c, ShareRequest{Stream: stream}))
}

// roles are the caller's roles, as the local API passes them.
func (n *tnode) roles() Roles {
	if n.caller == nil {
		return nil
	}
	return func(c policy.CommunityID) policy.RoleSet { _, rs := n.caller(c); return rs }
}

// read asks this node to read owner's stream through community c, as
// the agent's local API does (agent/api parses the query; here a test's
// subset of it), and returns the status and the body.
func (n *tnode) read(c, owner, stream, kind string, q url.Values) (int, string) {
	n.t.Helper()
	return n.readVia(c, owner, stream, kind, q)
}

// cread reads owner's stream over the connection to owner.
func (n *tnode) cread(owner, stream, kind string, q url.Values) (int, string) {
	n.t.Helper()
	return n.readVia("", owner, stream, kind, q)
}

func (n *tnode) readVia(c, ownerRef, stream, kind string, q url.Values) (int, string) {
	n.t.Helper()
	rq, err := n.partnerRead(c, ownerRef, stream, kind, q)
	if err != nil {
		return errAnswer(err)
	}
	ans, err := n.Read(context.Background(), rq)
	if err != nil {
		return errAnswer(err)
	}
	b, err := io.ReadAll(ans.Body)
	ans.Close(err)
	if err != nil {
		return -1, err.Error()
	}
	return 200, string(b)
}

func (n *tnode) partnerRead(c, ownerRef, stream, kind string, q url.Values) (PartnerRead, error) {
	ctx := context.Background()
	var rq PartnerRead
	var err error
	if c != "" {
		if rq.Community, err = n.ResolveCommunity(ctx, c); err != nil {
			return rq, err
		}
	}
	if rq.Owner, err = n.ResolveTenant(ownerRef); err != nil {
		return rq, err
	}
	k, ok := map[string]policy.ReadKind{"data": policy.ReadWindow, "latest": policy.ReadLatest,
		"interpolated": policy.ReadInterpolated, "summaries": policy.ReadSummaries}[kind]
	if !ok {
		n.t.Fatalf("test reads an unknown kind %q", kind)
	}
	now := n.opts.Now()
	rq.ReadQuery = ReadQuery{Stream: stream, Kind: k, Format: q.Get("format")}
	if k != policy.ReadLatest {
		start, end := q.Get("start"), q.Get("end")
		if start == "" {
			start = map[bool]string{true: "-24h", false: "-1h"}[k == policy.ReadSummaries]
		}
		if end == "" {
			end = "now"
		}
		if rq.Start, err = parseTestTime(start, now); err != nil {
			n.t.Fatal(err)
		}
		if rq.End, err = parseTestTime(end, now); err != nil {
			n.t.Fatal(err)
		}
	}
	if v := q.Get("interval"); v != "" {
		if rq.Interval, err = time.ParseDuration(v); err != nil {
			n.t.Fatal(err)
		}
	}
	if n.caller != nil {
		rq.User, rq.Roles = n.caller(rq.Community)
	}
	return rq, nil
}

// errAnswer is an error as the local API answers it (200 for none).
func errAnswer(err error) (int, string) {
	if err == nil {
		return 200, ""
	}
	code, reason, _, _ := ErrorStatus(err)
	b, _ := json.Marshal(map[string]string{"error": err.Error(), "reason": reason})
	return code, string(b)
}

// answer is errAnswer for calls that return a value.
func answer(_ any, err error) (int, string) { return errAnswer(err) }

func (n *tnode) invite(c string) string {
	n.t.Helper()
	inv, err := n.Invite(bg, c, InviteRequest{Email: "ops@partner.example"})
	n.ok(err)
	return inv.Token
}

// join runs the whole handshake: owner invites, member accepts, owner
// confirms.
func join(t *testing.T, owner, member *tnode, c string) {
	t.Helper()
	tok := owner.invite(c)
	member.must(member.AcceptInvitation(bg, tok))
	owner.must(owner.Confirm(bg, c, string(member.ID())))
}

// eventually retries cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func wantDenied(t *testing.T, code int, body, reason string) {
	t.Helper()
	if code != 403 || !strings.Contains(body, `"reason":"`+reason+`"`) {
		t.Fatalf("want 403 %s, got %d %s", reason, code, body)
	}
}

func TestHandshakeAndPartnerReads(t *testing.T) {
	clk := &clock{t: time.Now()}
	acme := newNode(t, "acme", clk, "boiler/temp", "boiler/press")
	north := newNode(t, "northwind", clk)
	outsider := newNode(t, "outsider", clk)
	acme.create("supply")

	// Before anything: the partner is nobody in this community.
	tok := acme.invite("supply")
	code, body := north.read("supply", "acme", "boiler/temp", "data", nil)
	if code != 404 {
		t.Fatalf("read before accepting: %d %s", code, body)
	}
	north.must(north.AcceptInvitation(bg, tok))
	// Accepted but not confirmed: no data, no catalog.
	code, body = north.read("supply", "acme", "boiler/temp", "data", nil)
	wantDenied(t, code, body, "not_confirmed")

	acme.must(acme.Confirm(bg, "supply", "northwind"))
	code, body = north.read("supply", "acme", "boiler/temp", "data", nil)
	wantDenied(t, code, body, "not_shared")
	acme.share("supply", "boiler/temp")

	// Now it flows, and the owner served the range asked.
	start, end := clk.now().Add(-time.Hour), clk.now()
	q := url.Values{"start": {strconv.FormatInt(start.UnixNano(), 10)}, "end": {strconv.FormatInt(end.UnixNano(), 10)}}
	code, body = north.read("supply", "acme", "boiler/temp", "data", q)
	var got ReadQuery
	if code != 200 || json.Unmarshal([]byte(body), &got) != nil || got.Start != start.UnixNano() || got.End != end.UnixNano() || got.Kind != policy.ReadWindow {
		t.Fatalf("allowed read: %d %s", code, body)
	}
	// An unshared stream of the same owner stays closed.
	code, body = north.read("supply", "acme", "boiler/press", "data", nil)
	wantDenied(t, code, body, "not_shared")
	// The catalog shows the shared stream once, with its metadata.
	typed, err := north.Catalog(bg, "supply")
	if cat := typed.Entries; err != nil || len(cat) != 1 || cat[0].Stream != "boiler/temp" || cat[0].Unit != "degC" || cat[0].TenantName != "acme" {
		t.Fatalf("catalog: %+v %v", typed, err)
	}
	if want := map[string]string{"site": "plant1", "point": "boiler_temp", "point_id": "x"}; !maps.Equal(typed.Entries[0].Labels, want) {
		t.Fatalf("labels of the shared stream: %v, want %v", typed.Entries[0].Labels, want)
	}
	// (Filtering the catalog on labels and text: agent/api TestCatalogFilter.)
	if typed, err := north.Catalog(bg, communityID(t, acme, "supply")); err != nil ||
		len(typed.Entries) != 1 || typed.Entries[0].Labels["point_id"] != "x" || len(typed.Entries[0].Labels) != 3 {
		t.Errorf("typed catalog: %+v %v", typed, err)
	}

	// A tenant that is not a member gets nothing, even knowing the ids.
	outsider.local.setTenant(acme.ID(), tenantInfo{Name: "acme", Fed: acme.FedAddr()})
	cid := string(policy.NewCommunityID(acme.ID(), "x"))
	resp, err := outsider.callMember(context.Background(), policy.CommunityID(cid), acme.ID(), "GET",
		"/fed/v1/read/"+url.PathEscape(communityID(t, acme, "supply"))+"/boiler%2Ftemp/data", q)
	if pe, ok := err.(*PeerError); !ok || pe.Status != 403 || pe.Reason != "not_member" {
		t.Fatalf("outsider read: %v %v", resp, err)
	}

	// Pause acts on the very next read; resume restores it.
	acme.ok(acme.Pause(bg, "supply"))
	code, body = north.read("supply", "acme", "boiler/temp", "latest", nil)
	wantDenied(t, code, body, "paused")
	acme.ok(acme.Resume(bg, "supply"))
	if code, body = north.read("supply", "acme", "boiler/temp", "latest", nil); code != 200 {
		t.Fatalf("after resume: %d %s", code, body)
	}
	// Unshare acts on the next read, and the history goes with it.
	acme.ok(acme.Unshare(bg, "supply", "boiler/temp"))
	code, body = north.read("supply", "acme", "boiler/temp", "data", q)
	wantDenied(t, code, body, "not_shared")

	// Counted by outcome on the owner's side.
	if n := testutil.ToFloat64(acme.m.reads.WithLabelValues(communityID(t, acme, "supply"), string(north.ID()), "paused")); n != 1 {
		t.Errorf("paused reads counted %v", n)
	}
}

func communityID(t *testing.T, n *tnode, name string) string {
	ci, _, err := n.resolve(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(ci.ID)
}

func TestShareConstraints(t *testing.T) {
	clk := &clock{t: time.Now()}
	acme := newNode(t, "acme", clk, "s")
	north := newNode(t, "northwind", clk)
	acme.create("c")
	join(t, acme, north, "c")
	acme.must(acme.Share(bg, "c", ShareRequest{Stream: "s", Constraints: policy.Constraints{Lookback: 24 * time.Hour, MinInterval: time.Minute}}))
	now := clk.now()
	q := url.Values{"start": {strconv.FormatInt(now.Add(-72*time.Hour).UnixNano(), 10)}, "end": {strconv.FormatInt(now.UnixNano(), 10)}}
	// Raw points are not allowed at all, summaries finer than 1m neither.
	code, body := north.read("c", "acme", "s", "data", q)
	wantDenied(t, code, body, "resolution_too_fine")
	q.Set("interval", "10s")
	code, body = north.read("c", "acme", "s", "summaries", q)
	wantDenied(t, code, body, "resolution_too_fine")
	// 5-minute summaries over 3 days come back clipped to the last day.
	q.Set("interval", "5m")
	code, body = north.read("c", "acme", "s", "summaries", q)
	var got ReadQuery
	json.Unmarshal([]byte(body), &got)
	if code != 200 || got.Start != now.Add(-24*time.Hour).UnixNano() || got.End != now.UnixNano() || got.Interval != 5*time.Minute {
		t.Fatalf("clipped summaries: %d %s", code, body)
	}
	// Entirely before the window: nothing.
	q.Set("end", strconv.FormatInt(now.Add(-48*time.Hour).UnixNano(), 10))
	code, body = north.read("c", "acme", "s", "summaries", q)
	wantDenied(t, code, body, "outside_window")
}

func TestInvitationMisuse(t *testing.T) {
	clk := &clock{t: time.Now()}
	acme := newNode(t, "acme", clk)
	north := newNode(t, "northwind", clk)
	third := newNode(t, "third", clk)
	acme.create("c")

	// A token used twice: the second acceptance is refused.
	tok := acme.invite("c")
	north.must(north.AcceptInvitation(bg, tok))
	code, body := answer(third.AcceptInvitation(bg, tok))
	if code != 409 || !strings.Contains(body, "already used") {
		t.Fatalf("reused token: %d %s", code, body)
	}

	// A revoked invitation cannot be accepted.
	tok = acme.invite("c")
	invs, err := acme.Invitations("c")
	acme.ok(err)
	for _, inv := range invs {
		if inv.Status == "pending" {
			acme.ok(acme.RevokeInvitation(bg, "c", inv.ID))
		}
	}
	code, body = answer(third.AcceptInvitation(bg, tok))
	if code != 410 || !strings.Contains(body, "revoked") {
		t.Fatalf("revoked token: %d %s", code, body)
	}

	// An expired invitation (the clock moves past 14 days).
	tok = acme.invite("c")
	clk.add(15 * 24 * time.Hour)
	code, body = answer(third.AcceptInvitation(bg, tok))
	if code != 410 || !strings.Contains(body, "expired") {
		t.Fatalf("expired token: %d %s", code, body)
	}

	// A tampered token fails its signature check.
	tok = acme.invite("c")
	tk, _, _ := parseToken(tok)
	tk.Env.Record[len(tk.Env.Record)-1] ^= 1
	code, body = answer(third.AcceptInvitation(bg, tk.encode()))
	if code != 400 {
		t.Fatalf("tampered token: %d %s", code, body)
	}

	// Only the owner confirms: a member's agent cannot.
	code, _ = answer(north.Confirm(bg, "c", "third"))
	if code != 403 && code != 404 {
		t.Fatalf("member confirming: %d", code)
	}
}

// TestForgedAndReplayedRecords sends the owner's agent records it must
// refuse: a signature by the wrong key, a record whose issuer has no
// authority, another tenant's acceptance replayed by a third tenant, and
// gossip bytes that were tampered with.
func TestForgedAndReplayedRecords(t *testing.T) {
	clk := &clock{t: time.Now()}
	acme := newNode(t, "acme", clk, "s")
	north := newNode(t, "northwind", clk)
	mallory := newNode(t, "mallory", clk)
	acme.create("c")
	cid := policy.CommunityID(communityID(t, acme, "c"))
	before := acme.book.snapshot().Len()
	mallory.local.setTenant(acme.ID(), tenantInfo{Fed: acme.FedAddr()})

	post := func(envs []Envelope) int {
		var res struct{ Accepted int }
		if err := mallory.postJSON(context.Background(), acme.ID(), "/fed/v1/records", envs, &res); err != nil {
			t.Fatal(err)
		}
		return res.Accepted
	}
	// Mallory confirms itself into acme's community: no authority.
	rec := policy.Record{Kind: policy.KindMemberConfirmed, Issuer: mallory.ID(), Version: 1, Time: clk.now().UnixNano(),
		Community: cid, Invitation: "x", Tenant: mallory.ID()}
	if post([]Envelope{mallory.seal(rec)}) != 0 {
		t.Fatal("a confirmation by a non-owner was accepted")
	}
	// Mallory signs a record claiming to be acme: the key is not acme's.
	rec.Issuer = acme.ID()
	if post([]Envelope{mallory.seal(rec)}) != 0 {
		t.Fatal("a record signed with another tenant's key was accepted")
	}
	if acme.book.snapshot().Len() != before {
		t.Fatal("forged records changed the owner's state")
	}
	if n := testutil.ToFloat64(acme.m.records.WithLabelValues("rejected_authority")); n < 2 {
		t.Errorf("rejected_authority counted %v, want 2", n)
	}

	// Northwind's acceptance, replayed by mallory to acme's agent: the
	// signer is not the certificate's tenant.
	tok := acme.invite("c")
	_, inv, _ := parseToken(tok)
	ans := policy.Record{Kind: policy.KindInvitationAccepted, Issuer: north.ID(), Version: 1, Time: clk.now().UnixNano(),
		Community: cid, Invitation: inv.Invitation, Expires: inv.Expires}
	body, _ := json.Marshal(acceptRequest{Envelope: north.seal(ans), Name: "northwind"})
	_, err := mallory.call(context.Background(), acme.ID(), "", "POST", "/fed/v1/accept", nil, bytes.NewReader(body))
	if pe, ok := err.(*PeerError); !ok || pe.Status != 403 || pe.Reason != "issuer_mismatch" {
		t.Fatalf("replayed acceptance: %v", err)
	}
	if acme.book.snapshot().MemberStatus(cid, north.ID()) != policy.MemberNone {
		t.Fatal("the replayed acceptance took effect")
	}

	// Tampered gossip: flip a byte of a valid record on its way in.
	join(t, acme, north, "c")
	env := acme.seal(policy.Record{Kind: policy.KindStreamShared, Issuer: acme.ID(), Version: acme.book.snapshot().NextVersion(acme.ID(), clk.now().UnixNano()),
		Time: clk.now().UnixNano(), Community: cid, Stream: policy.StreamRef{Owner: acme.ID(), Name: "s"}})
	// The stream name changed on the way, the signature kept: still a
	// well-formed record, so only the signature can catch it.
	tampered, _ := policy.ParseRecord(env.Record)
	tampered.Stream.Name = "t"
	bad := env
	bad.Record = tampered.SigningBytes()
	payload, _ := json.Marshal([]Envelope{bad})
	(&delegate{n: north.Node, c: cid}).NotifyMsg(payload)
	if len(north.book.snapshot().Shares(policy.Scope{Community: cid})) != 0 {
		t.Fatal("a tampered gossip record was applied")
	}
	if n := testutil.ToFloat64(north.m.records.WithLabelValues("rejected_signature")); n < 1 {
		t.Errorf("rejected_signature counted %v", n)
	}
	payload, _ = json.Marshal([]Envelope{env})
	(&delegate{n: north.Node, c: cid}).NotifyMsg(payload)
	if len(north.book.snapshot().Shares(policy.Scope{Community: cid})) != 1 {
		t.Fatal("the genuine gossip record was not applied")
	}
	// Records of another community never travel in this one's cluster.
	other := acme.seal(policy.Record{Kind: policy.KindCommunityCreated, Issuer: acme.ID(), Version: acme.book.snapshot().NextVersion(acme.ID(), clk.now().UnixNano()),
		Time: clk.now().UnixNano(), Community: policy.NewCommunityID(acme.ID(), "other"), Name: "secret"})
	payload, _ = json.Marshal([]Envelope{other})
	(&delegate{n: north.Node, c: cid}).NotifyMsg(payload)
	if _, ok := north.book.snapshot().Community(policy.NewCommunityID(acme.ID(), "other")); ok {
		t.Fatal("a record of another community was applied from this community's gossip")
	}
}

// TestWrongCertificate: the partner endpoint refuses a client without a
// tenant certificate, and a client pinned to one tenant refuses another.
func TestWrongCertificate(t *testing.T) {
	clk := &clock{t: time.Now()}
	acme := newNode(t, "acme", clk)
	north := newNode(t, "northwind", clk)
	// No client certificate at all.
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}}}
	resp, err := c.Post("https://"+acme.FedAddr()+"/fed/v1/records", "application/json", strings.NewReader("[]"))
	if err == nil {
		resp.Body.Close()
		t.Fatalf("no client certificate: %s", resp.Status)
	}
	// North dials acme's address but pins itself: the server is not it.
	north.local.setTenant(north.ID(), tenantInfo{Fed: acme.FedAddr()})
	north.clients.Delete(north.ID())
	_, err = north.call(context.Background(), north.ID(), acme.FedAddr(), "POST", "/fed/v1/records", nil, strings.NewReader("[]"))
	if err == nil || !strings.Contains(err.Error(), identity.ErrWrongTenant.Error()) {
		t.Fatalf("pinned to the wrong tenant: %v", err)
	}
}

// TestRemoveAndLeave: removal by the owner and leaving by the member both
// end reads at once; the agents converge on the membership by gossip.
func TestRemoveAndLeave(t *testing.T) {
	clk := &clock{t: time.Now()}
	acme := newNode(t, "acme", clk, "s")
	north := newNode(t, "northwind", clk, "n")
	third := newNode(t, "third", clk)
	acme.create("c")
	join(t, acme, north, "c")
	join(t, acme, third, "c")
	acme.share("c", "s")
	north.share("c", "n")
	cid := policy.CommunityID(communityID(t, acme, "c"))
	// Third learns of north's share and may read it, member to member.
	eventually(t, "third sees north's share and north knows third is confirmed", func() bool {
		return len(third.book.snapshot().Shares(policy.Scope{Community: cid})) == 2 &&
			north.book.snapshot().MemberStatus(cid, third.ID()) == policy.MemberConfirmed
	})
	third.local.setTenant(north.ID(), tenantInfo{Name: "northwind"})
	if code, body := third.read("c", "northwind", "n", "latest", nil); code != 200 {
		t.Fatalf("member-to-member read: %d %s", code, body)
	}
	acme.ok(acme.Remove(bg, "c", string(third.ID())))
	code, body := third.read("c", "acme", "s", "latest", nil)
	wantDenied(t, code, body, "removed")
	// North hears of the removal and denies third too.
	eventually(t, "north applies the removal", func() bool {
		return north.book.snapshot().MemberStatus(cid, third.ID()) == policy.MemberRemoved
	})
	code, body = third.read("c", "northwind", "n", "latest", nil)
	wantDenied(t, code, body, "removed")

	north.ok(north.Leave(bg, "c"))
	code, body = north.read("c", "acme", "s", "latest", nil)
	wantDenied(t, code, body, "left")
	// Deleting ends everything for everyone.
	acme.ok(acme.DeleteCommunity(bg, "c"))
	code, body = north.read("c", "acme", "s", "latest", nil)
	if code != 403 && code != 404 {
		t.Fatalf("after delete: %d %s", code, body)
	}
}

// TestRestartKeepsState: a node restarted on the same data dir has the
// same identity and community state and serves again.
func TestRestartKeepsState(t *testing.T) {
	clk := &clock{t: time.Now()}
	dir := t.TempDir()
	mk := func() *Node {
		n, err := New(Options{DataDir: dir, Name: "acme", Listen: "127.0.0.1:0", Gossip: "127.0.0.1:0", Advertise: "127.0.0.1",
			Reader: echoReader{}, Now: clk.now, GossipTiming: gossip.FastTiming()})
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		return n
	}
	n := mk()
	id := n.ID()
	tn := &tnode{Node: n, t: t}
	tn.create("c")
	tn.invite("c")
	n.Close()
	n = mk()
	defer n.Close()
	if n.ID() != id {
		t.Fatalf("identity changed across restart: %s -> %s", id, n.ID())
	}
	ci, st, err := n.resolve("c")
	if err != nil || ci.Owner != id || len(st.Invitations(ci.ID, clk.now().UnixNano())) != 1 {
		t.Fatalf("state after restart: %+v %v", ci, err)
	}
}

// TestConvergence20 measures how long a confirmation and a removal take to
// reach 20 agents of one community (in-process, loopback, fast gossip
// timings). The numbers are logged; speed targets live in the benchmark.
func TestConvergence20(t *testing.T) {
	clk := &clock{t: time.Now()}
	owner := newNode(t, "owner", clk)
	owner.create("big")
	cid := policy.CommunityID(communityID(t, owner, "big"))
	var members []*tnode
	for i := 0; i < 19; i++ {
		m := newNode(t, fmt.Sprintf("m%02d", i), clk)
		join(t, owner, m, "big")
		members = append(members, m)
	}
	all := append([]*tnode{owner}, members...)
	waitAll := func(what string, cond func(*tnode) bool) time.Duration {
		start := time.Now()
		eventually(t, what, func() bool {
			for _, n := range all {
				if !cond(n) {
					return false
				}
			}
			return true
		})
		return time.Since(start)
	}
	waitAll("all confirmations everywhere", func(n *tnode) bool {
		for _, m := range members {
			if n.book.snapshot().MemberStatus(cid, m.ID()) != policy.MemberConfirmed {
				return false
			}
		}
		return true
	})
	late := newNode(t, "late", clk)
	all = append(all, late)
	start := time.Now()
	join(t, owner, late, "big")
	d := waitAll("the new confirmation everywhere", func(n *tnode) bool {
		return n.book.snapshot().MemberStatus(cid, late.ID()) == policy.MemberConfirmed
	})
	t.Logf("confirmation reached all 20 other agents %v after the confirm returned (%v with the handshake)", d, time.Since(start))
	owner.ok(owner.Remove(bg, "big", string(members[0].ID())))
	d = waitAll("the removal everywhere", func(n *tnode) bool {
		return n.book.snapshot().MemberStatus(cid, members[0].ID()) == policy.MemberRemoved
	})
	t.Logf("removal reached all 21 agents in %v", d)
}

// TestPartnerRateLimit: a partner that read more points than its budget
// allows is told to come back (429 with Retry-After) until the budget has
// refilled.
func TestPartnerRateLimit(t *testing.T) {
	clk := &clock{t: time.Now()}
	acme := newNodeOpts(t, "acme", clk, func(o *Options) { o.PartnerPointsPerSecond = 100 }, "s")
	north := newNode(t, "northwind", clk)
	acme.create("c")
	join(t, acme, north, "c")
	acme.share("c", "s")
	hour := url.Values{"start": {"-1h"}, "end": {"now"}} // the test reader serves 3,600 points
	if code, body := north.read("c", "acme", "s", "data", hour); code != 200 {
		t.Fatalf("first read: %d %s", code, body)
	}
	// Budget 1,000 (10 s at 100 points/s) - 3,600 = 2,600 points of debt: 26 s.
	code, body := north.read("c", "acme", "s", "data", hour)
	if code != 429 || !strings.Contains(body, "throttled") {
		t.Fatalf("second read: %d %s", code, body)
	}
	clk.add(20 * time.Second)
	if code, _ := north.read("c", "acme", "s", "data", hour); code != 429 {
		t.Fatalf("after 20 s: %d, still want 429", code)
	}
	clk.add(10 * time.Second)
	if code, body := north.read("c", "acme", "s", "data", hour); code != 200 {
		t.Fatalf("after the budget refilled: %d %s", code, body)
	}
}

func requestConn(from, to *tnode, comment string) (int, string) {
	return answer(from.RequestConnection(bg, ConnectionRequest{Tenant: string(to.ID()), Address: to.FedAddr(), Comment: comment}))
}

func TestConnections(t *testing.T) {
	clk := &clock{t: time.Now()}
	acme := newNode(t, "acme", clk)
	north := newNode(t, "northwind", clk, "flow", "secret")
	globex := newNode(t, "globex", clk)

	// acme asks northwind; both sides show the same pending request.
	if code, body := requestConn(acme, north, "we buy your feedstock"); code != 200 {
		t.Fatalf("request: %d %s", code, body)
	}
	if out := acme.Connections().Outgoing; len(out) != 1 || out[0].To != north.ID() || out[0].Comment != "we buy your feedstock" {
		t.Fatalf("acme outgoing: %+v", out)
	}
	if in := north.Connections().Incoming; len(in) != 1 || in[0].From != acme.ID() || in[0].FromName != "acme" {
		t.Fatalf("northwind incoming: %+v", in)
	}
	// A review needs a comment and a level.
	if code, _ := answer(north.ReviewConnection(bg, "acme", Review{Accept: true, Level: "catalog"})); code != 400 {
		t.Fatalf("review without comment: %d", code)
	}
	north.must(north.ReviewConnection(bg, "acme", Review{Accept: true, Level: "catalog", Comment: "catalog first"}))
	eventually(t, "acme sees the connection paired", func() bool {
		p := acme.Connections().Paired
		return len(p) == 1 && p[0].Access == "catalog"
	})
	north.must(north.ShareConnection(bg, "acme", ShareRequest{Stream: "flow"}))
	eventually(t, "acme's catalog lists the shared stream", func() bool {
		cat, err := acme.ConnectionCatalog(bg, "northwind")
		return err == nil && len(cat) == 1 && cat[0].Stream == "flow" // and not "secret", which is not shared
	})
	// Catalog access is not data access.
	code, body := acme.cread("northwind", "flow", "data", nil)
	wantDenied(t, code, body, "catalog_only")
	// A tenant with no connection gets nothing.
	globex.local.setTenant(north.ID(), tenantInfo{Name: "northwind", Fed: north.FedAddr()})
	code, body = globex.cread("northwind", "flow", "data", nil)
	wantDenied(t, code, body, "no_connection")
	code, body = answer(globex.ConnectionCatalog(bg, "northwind"))
	wantDenied(t, code, body, "no_connection")

	// A one-way link: northwind sees nothing of acme without its own request.
	if c := north.book.snapshot().Connection(north.ID(), acme.ID()); c.Status != policy.ConnectionNone {
		t.Fatalf("reverse direction exists: %+v", c)
	}

	// Globex cannot slip records about acme's link into northwind's agent.
	fake := globex.seal(policy.Record{Kind: policy.KindConnectionAccepted, Issuer: globex.ID(), Version: 1, Time: clk.now().UnixNano(),
		Tenant: acme.ID(), Access: policy.AccessCatalogData, Comment: "x"})
	err := globex.postJSON(context.Background(), north.ID(), "/fed/v1/connect", connectRequest{Records: []Envelope{fake}}, nil)
	if pe, ok := err.(*PeerError); !ok || pe.Status != 403 {
		t.Fatalf("foreign connection record: %v", err)
	}
}

func TestConnectionFlows(t *testing.T) {
	clk := &clock{t: time.Now()}
	a := newNode(t, "a", clk, "s")
	b := newNode(t, "b", clk, "s")
	// Mutual pending requests pair at once, both ways, at catalog level.
	requestConn(a, b, "hi")
	requestConn(b, a, "hi back")
	eventually(t, "both directions paired", func() bool {
		return a.book.snapshot().Connection(a.ID(), b.ID()).Status == policy.ConnectionAccepted &&
			b.book.snapshot().Connection(a.ID(), b.ID()).Status == policy.ConnectionAccepted &&
			a.book.snapshot().Connection(b.ID(), a.ID()).Status == policy.ConnectionAccepted
	})
	if c := a.book.snapshot().Connection(a.ID(), b.ID()); !c.Auto || c.Access != policy.AccessCatalog {
		t.Fatalf("mutual pairing: %+v", c)
	}

	// Reject, then a fresh request, then cancel it; after a cancellation
	// a further request waits for review even if the other side asks too.
	c1 := newNode(t, "c", clk)
	requestConn(c1, b, "first")
	eventually(t, "b sees c's request", func() bool { return len(b.Connections().Incoming) == 1 })
	b.must(b.ReviewConnection(bg, "c", Review{Accept: false, Comment: "not now"}))
	eventually(t, "c sees the rejection", func() bool {
		r := c1.Connections().Rejected
		return len(r) == 1 && r[0].Review == "not now"
	})
	requestConn(c1, b, "second")
	eventually(t, "b sees the second request", func() bool { return len(b.Connections().Incoming) == 1 })
	c1.ok(c1.CancelConnection(bg, "b"))
	eventually(t, "b sees the cancellation", func() bool { return len(b.Connections().Incoming) == 0 })
	requestConn(c1, b, "third")
	requestConn(b, c1, "mutual")
	eventually(t, "both requests arrive", func() bool {
		return b.book.snapshot().Connection(c1.ID(), b.ID()).Status == policy.ConnectionPending &&
			c1.book.snapshot().Connection(b.ID(), c1.ID()).Status == policy.ConnectionPending
	})
	if s := b.book.snapshot().Connection(c1.ID(), b.ID()); s.Status != policy.ConnectionPending || !s.NoAutoPair {
		t.Fatalf("after a cancellation, mutual requests must not pair by themselves: %+v", s)
	}
	// Data over an accepted catalog+data link.
	b.must(b.ReviewConnection(bg, "c", Review{Accept: true, Level: "catalog+data", Comment: "ok"}))
	b.must(b.ShareConnection(bg, "c", ShareRequest{Stream: "s"}))
	eventually(t, "c reads b's stream over the link", func() bool {
		code, _ := c1.cread("b", "s", "latest", nil)
		return code == 200
	})
	b.ok(b.UnshareConnection(bg, "c", "s"))
	code, body := c1.cread("b", "s", "latest", nil)
	wantDenied(t, code, body, "not_shared")
}

// TestVouchedUser: the reader's agent names its user and the user's roles;
// the owner checks the roles with policy and writes the user into its
// audit event, and learns nothing else of the reader's users.
func TestVouchedUser(t *testing.T) {
	clk := &clock{t: time.Now()}
	var mu sync.Mutex
	var events []AuditEvent
	acme := newNodeOpts(t, "acme", clk, func(o *Options) {
		o.Audit = func(ctx context.Context, e AuditEvent) { mu.Lock(); events = append(events, e); mu.Unlock() }
	}, "s")
	var roles atomic.Uint32 // the test changes olivia's roles between requests
	roles.Store(uint32(policy.NewRoleSet(policy.RoleCommunityMember)))
	north := newNode(t, "northwind", clk)
	north.caller = func(c policy.CommunityID) (string, policy.RoleSet) { return "olivia", policy.RoleSet(roles.Load()) }
	acme.create("c")
	join(t, acme, north, "c")
	acme.share("c", "s")
	if code, body := north.read("c", "acme", "s", "latest", nil); code != 200 {
		t.Fatalf("member read: %d %s", code, body)
	}
	mu.Lock()
	last := events[len(events)-1]
	mu.Unlock()
	if last.Kind != "partner_read" || last.Actor != string(north.ID())+"/olivia" {
		t.Fatalf("owner's audit event: %+v", last)
	}
	// A community admin without the member role may not read.
	roles.Store(uint32(policy.NewRoleSet(policy.RoleCommunityAdmin)))
	code, body := north.read("c", "acme", "s", "latest", nil)
	wantDenied(t, code, body, "role_forbids")
	// ...but still sees its community in the list, unlike a user with no role here.
	listed := func() bool {
		for _, c := range north.Communities(north.roles()) {
			if c.Name == "c" {
				return true
			}
		}
		return false
	}
	if !listed() {
		t.Fatalf("community admin does not see its community: %+v", north.Communities(north.roles()))
	}
	roles.Store(0)
	if listed() {
		t.Fatal("a user without a role in c sees it")
	}
}
