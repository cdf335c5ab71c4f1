package gossip

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func labelled(label string, body []byte) []byte {
	return append([]byte{labelMagic, byte(len(label))}, append([]byte(label), body...)...)
}

// Packets and streams with unknown, missing, malformed or slow labels are
// dropped and counted; the gossip port keeps serving its communities.
func TestUnknownLabelsDroppedAndCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, err := NewManager(Options{BindAddr: "127.0.0.1:0", Logger: testLogger(), Registerer: reg, StreamLabelTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Shutdown()
	ca := join(t, a, "x", testKey(1), "a", nil)

	udp, err := net.Dial("udp", a.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	for _, p := range [][]byte{
		labelled("nope", []byte("payload")),         // unknown label
		[]byte("no label at all"),                   // unlabelled
		{labelMagic, 40, 'x'},                       // truncated header
		labelled("x", []byte("garbage, wrong key")), // right label, not decryptable
	} {
		if _, err := udp.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, "udp drops counted", func() bool {
		return testutil.ToFloat64(a.met.unknownLabel.WithLabelValues("udp")) == 2 &&
			testutil.ToFloat64(a.met.dropped.WithLabelValues(dropMalformedLabel)) == 1
	})

	// Streams: the server must close each one, not hang.
	slow, err := net.Dial("tcp", a.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	for _, s := range [][]byte{
		labelled("nope", []byte("payload")),
		[]byte("GET / HTTP/1.0\r\n\r\n"),
		labelled("x", []byte("garbage, wrong key")),
	} {
		conn, err := net.Dial("tcp", a.Addr())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write(s); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		// EOF or, with our unread bytes in its buffer, a reset.
		if _, err := io.Copy(io.Discard, conn); err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("stream %.10q: server did not close it: %v", s, err)
		}
		conn.Close()
	}
	if got := testutil.ToFloat64(a.met.unknownLabel.WithLabelValues("tcp")); got != 2 {
		t.Errorf("unknown tcp = %v, want 2", got)
	}
	waitFor(t, 5*time.Second, "the silent stream to time out", func() bool {
		return testutil.ToFloat64(a.met.dropped.WithLabelValues(dropStreamTimeout)) == 1
	})

	// Still serving: a real member joins.
	b := newTestManager(t, "")
	join(t, b, "x", testKey(1), "b", nil, a.Addr())
	waitFor(t, 5*time.Second, "b to join", func() bool { return memberStates(ca) == "a=alive,b=alive" })

	// The metrics are registered where we said.
	if n, err := testutil.GatherAndCount(reg, "sluice_gossip_unknown_label_total"); err != nil || n != 2 {
		t.Errorf("gathered %d unknown-label series, err %v", n, err)
	}
}

func TestParseLabel(t *testing.T) {
	for _, tc := range []struct {
		in      []byte
		label   string
		wantErr bool
	}{
		{nil, "", false},
		{[]byte{1, 2, 3}, "", false},
		{labelled("community", []byte{0}), "community", false},
		{labelled("c", nil), "c", false},
		{[]byte{labelMagic}, "", true},
		{[]byte{labelMagic, 0}, "", true},
		{[]byte{labelMagic, 5, 'a'}, "", true},
	} {
		got, err := parseLabel(tc.in)
		if string(got) != tc.label || (err != nil) != tc.wantErr {
			t.Errorf("parseLabel(%v) = %q, %v", tc.in, got, err)
		}
	}
}

func TestParseMemberlistLine(t *testing.T) {
	for _, tc := range []struct {
		in    string
		level slog.Level
		msg   string
	}{
		{"[DEBUG] memberlist: Stream connection from=x", slog.LevelDebug, "Stream connection from=x"},
		{"[WARN] memberlist: Refuting", slog.LevelWarn, "Refuting"},
		{"[ERR] memberlist: Decrypt packet failed", slog.LevelError, "Decrypt packet failed"},
		{"[INFO] memberlist: Marking b as failed", slog.LevelInfo, "Marking b as failed"},
		{"Err: Could not set the deadline", slog.LevelInfo, "Err: Could not set the deadline"},
	} {
		level, msg := parseMemberlistLine(tc.in)
		if level != tc.level || msg != tc.msg {
			t.Errorf("%q -> %v %q", tc.in, level, msg)
		}
	}
}
