package gossip

import (
	"bytes"
	"errors"
	"net"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A community key rotation that leaves the holder of the old key out:
// a, b and c share K1; a and b rotate to K2 (install, use, remove K1) while
// c keeps only K1. a and b hear each other at every step; afterwards c
// hears nothing new from them, and they accept nothing from c.
func TestKeyRotationShutsOutOldKeyHolder(t *testing.T) {
	k1, k2 := testKey(1), testKey(2)
	ma, mb, mc := newTestManager(t, ""), newTestManager(t, ""), newTestManager(t, "")
	ra, rb, rc := newRecorder(), newRecorder(), newRecorder()
	ca := join(t, ma, "x", k1, "a", ra)
	cb := join(t, mb, "x", k1, "b", rb, ma.Addr())
	cc := join(t, mc, "x", k1, "c", rc, ma.Addr())
	all := "a=alive,b=alive,c=alive"
	waitFor(t, 5*time.Second, "three members", func() bool {
		return memberStates(ca) == all && memberStates(cb) == all && memberStates(cc) == all
	})

	// Positive controls: with K1, c and the others hear each other by
	// gossip, by direct packet and stream, and by push/pull.
	ra.set("state-a-before")
	rc.set("state-c-before")
	mustBroadcast(t, ca, "a-before")
	mustBroadcast(t, cc, "c-before")
	sendRaw(t, cc, ma, "a", "udp", "c-packet-before")
	sendRaw(t, cc, mb, "b", "tcp", "c-stream-before")
	waitFor(t, 5*time.Second, "traffic before the rotation", func() bool {
		return rc.got("a-before") && rc.hasState("state-a-before") &&
			ra.got("c-before") && rb.got("c-before") && rb.hasState("state-c-before") &&
			ra.got("c-packet-before") && rb.got("c-stream-before")
	})
	for _, m := range []*Manager{ma, mb, mc} {
		if n := decryptFailures(m, "udp") + decryptFailures(m, "tcp"); n != 0 {
			t.Errorf("%s: %v decrypt failures before the rotation", m.Addr(), n)
		}
	}

	// The rotation, one member at a time, as the federation layer drives
	// it: each phase on every member before the next phase starts.
	var secret []string // sent once neither a nor b encrypts with K1
	for _, phase := range []struct {
		name string
		do   func(*Cluster) error
	}{
		{"install", func(c *Cluster) error { return c.InstallKey(k2) }},
		{"use", func(c *Cluster) error { return c.UseKey(k2) }},
		{"remove", func(c *Cluster) error { return c.RemoveKey(k1) }},
	} {
		if phase.name == "remove" {
			// Up to here a and b have had every key the others send with.
			for _, m := range []*Manager{ma, mb} {
				if n := decryptFailures(m, "udp") + decryptFailures(m, "tcp"); n != 0 {
					t.Errorf("%s: %v decrypt failures during the changeover", m.Addr(), n)
				}
			}
		}
		for _, cl := range []*Cluster{ca, cb} {
			if err := phase.do(cl); err != nil {
				t.Fatalf("%s on %s: %v", phase.name, cl.LocalName(), err)
			}
			// No partition at any step.
			msgs := exchange(t, phase.name+" on "+cl.LocalName(), ca, ra, cb, rb)
			if phase.name == "remove" || (phase.name == "use" && cl == cb) {
				secret = append(secret, msgs...)
			}
		}
	}
	checkKeys(t, ca, k2)
	checkKeys(t, cb, k2)
	checkKeys(t, cc, k1)

	// (a) a and b still exchange broadcasts and push/pull state; (b) c,
	// which keeps receiving their traffic, reads none of it.
	cRejected := decryptFailures(mc, "udp") + decryptFailures(mc, "tcp")
	ra.set("state-a-after")
	rb.set("state-b-after")
	mustBroadcast(t, ca, "a-after")
	mustBroadcast(t, cb, "b-after")
	mustBroadcast(t, ca, "a-marker")
	mustBroadcast(t, cb, "b-marker")
	secret = append(secret, "a-after", "b-after", "a-marker", "b-marker")
	waitFor(t, 10*time.Second, "a and b to hear each other after the rotation", func() bool {
		return rb.got("a-after") && rb.got("a-marker") && rb.hasState("state-a-after") &&
			ra.got("b-after") && ra.got("b-marker") && ra.hasState("state-b-after")
	})
	waitFor(t, 5*time.Second, "c to reject more of a's and b's traffic", func() bool {
		return decryptFailures(mc, "udp")+decryptFailures(mc, "tcp") > cRejected
	})
	for _, m := range rc.messages() {
		if slices.Contains(secret, m) {
			t.Errorf("c read %q, sent after a and b switched to K2", m)
		}
	}
	if rc.hasState("state-a-after") || rc.hasState("state-b-after") {
		t.Error("c merged state set after the rotation")
	}

	// (c) What c sends with K1, gossiped or sent straight, is rejected.
	aUDP, aTCP := decryptFailures(ma, "udp"), decryptFailures(ma, "tcp")
	bUDP, bTCP := decryptFailures(mb, "udp"), decryptFailures(mb, "tcp")
	rc.set("state-c-after")
	mustBroadcast(t, cc, "c-after")
	for _, to := range []struct {
		m    *Manager
		name string
	}{{ma, "a"}, {mb, "b"}} {
		sendRaw(t, cc, to.m, to.name, "udp", "c-packet-after")
		sendRaw(t, cc, to.m, to.name, "tcp", "c-stream-after")
	}
	waitFor(t, 5*time.Second, "a and b to reject c's packets and streams", func() bool {
		return decryptFailures(ma, "udp") > aUDP && decryptFailures(ma, "tcp") > aTCP &&
			decryptFailures(mb, "udp") > bUDP && decryptFailures(mb, "tcp") > bTCP
	})
	exchange(t, "after c's attempts", ca, ra, cb, rb)
	waitFor(t, 10*time.Second, "a and b to declare c dead", func() bool {
		want := "a=alive,b=alive,c=dead"
		return memberStates(ca) == want && memberStates(cb) == want
	})
	for _, r := range []*recorder{ra, rb} {
		for _, m := range []string{"c-after", "c-packet-after", "c-stream-after"} {
			if r.got(m) {
				t.Errorf("%q from c was delivered after K1 was removed", m)
			}
		}
		if r.hasState("state-c-after") {
			t.Error("c's state was merged after K1 was removed")
		}
	}
}

// An agent that restarts mid-rotation comes back with the keys it had
// (ClusterConfig.SecondaryKeys) and talks to members already a phase ahead.
func TestRestartMidRotation(t *testing.T) {
	k1, k2 := testKey(1), testKey(2)
	ma, mb := newTestManager(t, ""), newTestManager(t, "")
	mc1, err := NewManager(Options{BindAddr: "127.0.0.1:0", Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer mc1.Shutdown()
	ra, rb := newRecorder(), newRecorder()
	ca := join(t, ma, "x", k1, "a", ra)
	cb := join(t, mb, "x", k1, "b", rb, ma.Addr())
	cc1 := join(t, mc1, "x", k1, "c", nil, ma.Addr())
	all := "a=alive,b=alive,c=alive"
	waitFor(t, 5*time.Second, "three members", func() bool {
		return memberStates(ca) == all && memberStates(cb) == all
	})

	// Phase 1 everywhere; c saves its keys, then is killed.
	for _, cl := range []*Cluster{ca, cb, cc1} {
		if err := cl.InstallKey(k2); err != nil {
			t.Fatal(err)
		}
	}
	saved := cc1.Keys()
	addrC := mc1.Addr()
	mc1.Shutdown()
	// Phase 2 on a and b while c is down.
	for _, cl := range []*Cluster{ca, cb} {
		if err := cl.UseKey(k2); err != nil {
			t.Fatal(err)
		}
	}

	// c restarts with K1 primary and K2 secondary.
	mc := newTestManager(t, addrC)
	rc := newRecorder()
	cc := joinKeys(t, mc, "x", saved, "c", rc, ma.Addr())
	checkKeys(t, cc, k1, k2)
	waitFor(t, 10*time.Second, "c back everywhere", func() bool {
		return memberStates(ca) == all && memberStates(cb) == all && memberStates(cc) == all
	})
	rc.set("state-c")
	ra.set("state-a")
	exchange(t, "c restarted", ca, ra, cc, rc)
	exchange(t, "c restarted", cb, rb, cc, rc)
	waitFor(t, 5*time.Second, "push/pull with the restarted c", func() bool {
		return ra.hasState("state-c") && rb.hasState("state-c") && rc.hasState("state-a")
	})

	// c catches up with phase 2, then everyone does phase 3.
	if err := cc.UseKey(k2); err != nil {
		t.Fatal(err)
	}
	for _, m := range []*Manager{ma, mb, mc} {
		if n := decryptFailures(m, "udp") + decryptFailures(m, "tcp"); n != 0 {
			t.Errorf("%s: %v decrypt failures during the changeover", m.Addr(), n)
		}
	}
	for _, cl := range []*Cluster{ca, cb, cc} {
		if err := cl.RemoveKey(k1); err != nil {
			t.Fatal(err)
		}
		checkKeys(t, cl, k2)
	}
	exchange(t, "K1 removed", ca, ra, cc, rc)
	exchange(t, "K1 removed", cb, rb, cc, rc)
}

// The key methods: ordering, idempotence, errors, and removal of a key
// that is not the last one while traffic is being decrypted with a key
// behind it.
func TestClusterKeys(t *testing.T) {
	k1, k2, k3 := testKey(1), testKey(2), testKey(3)
	ma, mb := newTestManager(t, ""), newTestManager(t, "")
	ra, rb := newRecorder(), newRecorder()
	// a sends with K3, the last key on b's ring: b tries all three.
	ca := joinKeys(t, ma, "x", [][]byte{k3, k1}, "a", ra)
	cb := joinKeys(t, mb, "x", [][]byte{k1, k2, k3, k1}, "b", rb, ma.Addr())
	waitFor(t, 5*time.Second, "two members", func() bool {
		return memberStates(ca) == "a=alive,b=alive" && memberStates(cb) == "a=alive,b=alive"
	})
	checkKeys(t, cb, k1, k2, k3) // the duplicate is ignored
	exchange(t, "three keys", ca, ra, cb, rb)

	// Remove a middle key again and again while b decrypts a's traffic
	// with the key behind it, so that the race detector sees any write to
	// the key array b's decrypting goroutines read (see keys.go). a holds
	// every key and always sends with the one last on b's ring.
	if err := ca.InstallKey(k2); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		mid, last := k2, k3 // b: [k1 k2 k3] -> [k1 k3 k2]
		if i%2 == 1 {
			mid, last = k3, k2 // b: [k1 k3 k2] -> [k1 k2 k3]
		}
		if err := cb.RemoveKey(mid); err != nil {
			t.Fatal(err)
		}
		checkKeys(t, cb, k1, last)
		if err := cb.InstallKey(mid); err != nil {
			t.Fatal(err)
		}
		if err := ca.UseKey(mid); err != nil {
			t.Fatal(err)
		}
		exchange(t, "middle key removed "+strconv.Itoa(i), ca, ra, cb, rb)
	}
	checkKeys(t, cb, k1, k2, k3)
	if err := ca.UseKey(k3); err != nil {
		t.Fatal(err)
	}
	if err := cb.RemoveKey(k2); err != nil {
		t.Fatal(err)
	}
	checkKeys(t, cb, k1, k3)
	exchange(t, "middle key removed", ca, ra, cb, rb)

	for _, tc := range []struct {
		what string
		err  error
		got  error
	}{
		{"RemoveKey(primary)", ErrPrimaryKey, cb.RemoveKey(k1)},
		{"RemoveKey(absent)", nil, cb.RemoveKey(k2)},
		{"UseKey(absent)", ErrUnknownKey, cb.UseKey(k2)},
		{"UseKey(primary)", nil, cb.UseKey(k1)},
		{"InstallKey(installed)", nil, cb.InstallKey(k3)},
		{"InstallKey(16 bytes)", ErrInvalidKey, cb.InstallKey(k2[:16])},
		{"UseKey(nil)", ErrInvalidKey, cb.UseKey(nil)},
		{"RemoveKey(33 bytes)", ErrInvalidKey, cb.RemoveKey(append(bytes.Clone(k1), 0))},
	} {
		if !errors.Is(tc.got, tc.err) || (tc.err == nil && tc.got != nil) {
			t.Errorf("%s: %v, want %v", tc.what, tc.got, tc.err)
		}
	}
	checkKeys(t, cb, k1, k3)

	keys := cb.Keys()
	keys[0][0] ^= 0xff
	checkKeys(t, cb, k1, k3) // Keys returns copies
	installed := bytes.Clone(k2)
	if err := cb.InstallKey(installed); err != nil {
		t.Fatal(err)
	}
	installed[0] ^= 0xff
	checkKeys(t, cb, k1, k3, k2) // InstallKey copies

	if err := cb.UseKey(k3); err != nil {
		t.Fatal(err)
	}
	checkKeys(t, cb, k3, k1, k2)
	exchange(t, "b uses K3", ca, ra, cb, rb)

	cb.Shutdown()
	if err := cb.InstallKey(k2); !errors.Is(err, ErrShutdown) {
		t.Errorf("InstallKey after Shutdown: %v", err)
	}
	if got := testutil.CollectAndCount(mb.met.decrypt); got != 0 {
		t.Errorf("%d decrypt failure series left after Shutdown", got)
	}
}

func TestDecryptFailureLines(t *testing.T) {
	for _, tc := range []struct {
		line, proto string
	}{
		{"[ERR] memberlist: Decrypt packet failed: no installed keys could decrypt the message from=127.0.0.1:7946\n", "udp"},
		{"[ERR] memberlist: Decrypt packet failed: payload is too small to decrypt: 3 from=127.0.0.1:7946\n", "udp"},
		{"[ERR] memberlist: failed to receive: no installed keys could decrypt the message from=127.0.0.1:7946\n", "tcp"},
		{"[ERR] memberlist: failed to receive: encryption is configured but remote state is not encrypted from=127.0.0.1:7946\n", "tcp"},
		{"[ERR] memberlist: Push/Pull with b failed: no installed keys could decrypt the message\n", "tcp"},
		{"[DEBUG] memberlist: failed to join 127.0.0.1:7946: no installed keys could decrypt the message\n", "tcp"},
		{"[ERR] memberlist: Push/Pull with b failed: remote error: no installed keys could decrypt the message\n", ""},
		{"[DEBUG] memberlist: Stream connection from=127.0.0.1:7946\n", ""},
		{"[ERR] memberlist: discarding packet with unacceptable label \"y\": from=127.0.0.1:7946\n", ""},
	} {
		proto, ok := decryptFailure(tc.line)
		if proto != tc.proto || ok != (tc.proto != "") {
			t.Errorf("%q: %q %v, want %q", tc.line, proto, ok, tc.proto)
		}
	}
}

// decryptFailures is sluice_gossip_decrypt_failures_total{community="x"} on m.
func decryptFailures(m *Manager, proto string) float64 {
	return testutil.ToFloat64(m.met.decrypt.WithLabelValues("x", proto))
}

func checkKeys(t *testing.T, c *Cluster, want ...[]byte) {
	t.Helper()
	if got := c.Keys(); !slices.EqualFunc(got, want, bytes.Equal) {
		t.Errorf("%s keys: %x, want %x", c.LocalName(), got, want)
	}
}

func mustBroadcast(t *testing.T, c *Cluster, msg string) {
	t.Helper()
	if err := c.Broadcast([]byte(msg)); err != nil {
		t.Fatalf("%s: Broadcast(%q): %v", c.LocalName(), msg, err)
	}
}

// exchange has a broadcast a fresh message to b and b one to a, waits
// until both have arrived, and returns them. what makes them unique.
func exchange(t *testing.T, what string, ca *Cluster, ra *recorder, cb *Cluster, rb *recorder) []string {
	t.Helper()
	ab := what + ": " + ca.LocalName() + "->" + cb.LocalName()
	ba := what + ": " + cb.LocalName() + "->" + ca.LocalName()
	mustBroadcast(t, ca, ab)
	mustBroadcast(t, cb, ba)
	waitFor(t, 5*time.Second, "exchange "+what, func() bool { return rb.got(ab) && ra.got(ba) })
	return []string{ab, ba}
}

// sendRaw sends msg in an envelope straight from one cluster to the agent
// of m named name, in one packet (udp) or over a stream (tcp), not by
// gossip: how a holder of an old key would try to inject a message.
func sendRaw(t *testing.T, from *Cluster, to *Manager, name, proto, msg string) {
	t.Helper()
	id := newMsgID()
	env := append(append([]byte{envDirect}, id[:]...), msg...)
	var err error
	switch proto {
	case "udp":
		err = from.ml.SendToAddress(memberlist.Address{Addr: to.Addr(), Name: name}, env)
	case "tcp":
		host, port, _ := net.SplitHostPort(to.Addr())
		p, _ := strconv.Atoi(port)
		err = from.ml.SendReliable(&memberlist.Node{Name: name, Addr: net.ParseIP(host), Port: uint16(p)}, env)
	}
	if err != nil {
		t.Fatalf("%s to %s by %s: %v", from.LocalName(), name, proto, err)
	}
}
