package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-edge/sluice/configs"
)

// These tests play systemd's side of the sd_notify protocol: a unixgram
// socket named by $NOTIFY_SOCKET, one datagram per message, the sender
// known from SCM_CREDENTIALS.

// notifySocket is the listening end of $NOTIFY_SOCKET.
type notifySocket struct {
	conn *net.UnixConn
	msgs chan notifyMsg
}

type notifyMsg struct {
	text string
	pid  int32 // sender's PID as the kernel reports it, as systemd sees it
	err  error
}

// listenNotify listens on name (a path, or "@name" for the abstract
// namespace), with SO_PASSCRED on as systemd has it, and points
// $NOTIFY_SOCKET at it.
func listenNotify(t *testing.T, name string) *notifySocket {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listen on notify socket %q: %v", name, err)
	}
	raw, err := conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_PASSCRED, 1)
	}); err != nil || serr != nil {
		t.Fatalf("SO_PASSCRED: %v %v", err, serr)
	}
	s := &notifySocket{conn: conn, msgs: make(chan notifyMsg, 1024)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		oob := make([]byte, syscall.CmsgSpace(syscall.SizeofUcred))
		for {
			n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					s.msgs <- notifyMsg{err: err}
				}
				return
			}
			m := notifyMsg{text: string(buf[:n]), pid: -1}
			if cmsgs, err := syscall.ParseSocketControlMessage(oob[:oobn]); err == nil {
				for i := range cmsgs {
					if cred, err := syscall.ParseUnixCredentials(&cmsgs[i]); err == nil {
						m.pid = cred.Pid
					}
				}
			}
			s.msgs <- m
		}
	}()
	t.Cleanup(func() {
		conn.Close()
		<-done
	})
	t.Setenv("NOTIFY_SOCKET", name)
	return s
}

// next returns the next message, failing the test after d.
func (s *notifySocket) next(t *testing.T, d time.Duration, waitingFor string) notifyMsg {
	t.Helper()
	select {
	case m := <-s.msgs:
		if m.err != nil {
			t.Fatalf("reading the notify socket: %v", m.err)
		}
		return m
	case <-time.After(d):
		t.Fatalf("no sd_notify message within %s (waiting for %s)", d, waitingFor)
		return notifyMsg{}
	}
}

// notifyFields parses a message's newline-separated VAR=value lines.
func notifyFields(text string) map[string]string {
	out := map[string]string{}
	for line := range strings.SplitSeq(text, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			out[k] = v
		}
	}
	return out
}

// unsetenv removes key for the rest of the test and restores it after.
func unsetenv(t *testing.T, key string) {
	t.Setenv(key, "")
	os.Unsetenv(key)
}

func TestSystemdNotifierUnset(t *testing.T) {
	unsetenv(t, "NOTIFY_SOCKET")
	if SystemdNotifier() != nil {
		t.Fatal("SystemdNotifier() without $NOTIFY_SOCKET: want nil (not started by systemd)")
	}
	t.Setenv("NOTIFY_SOCKET", "")
	if SystemdNotifier() != nil {
		t.Fatal("SystemdNotifier() with an empty $NOTIFY_SOCKET: want nil")
	}
}

func TestSystemdNotifierPath(t *testing.T) {
	sock := listenNotify(t, filepath.Join(t.TempDir(), "notify"))
	testNotifier(t, sock)
}

func TestSystemdNotifierAbstract(t *testing.T) {
	// The abstract namespace is shared by every process in the network
	// namespace: make the name unique.
	var b [8]byte
	rand.Read(b[:])
	sock := listenNotify(t, "@sluice-test/notify/"+hex.EncodeToString(b[:]))
	testNotifier(t, sock)
}

func testNotifier(t *testing.T, sock *notifySocket) {
	t.Helper()
	notify := SystemdNotifier()
	if notify == nil {
		t.Fatalf("SystemdNotifier() = nil with NOTIFY_SOCKET=%s", os.Getenv("NOTIFY_SOCKET"))
	}
	// Each call is one datagram, delivered whole and in order.
	sent := []string{"READY=1\nSTATUS=serving", "WATCHDOG=1", "STATUS=a status with spaces = and signs", "STOPPING=1"}
	for _, s := range sent {
		if err := notify(s); err != nil {
			t.Fatalf("notify(%q): %v", s, err)
		}
	}
	for _, want := range sent {
		m := sock.next(t, 5*time.Second, strconv.Quote(want))
		if m.text != want {
			t.Errorf("received %q, want %q", m.text, want)
		}
		// NotifyAccess=main: systemd accepts a message only when the
		// kernel names the main process as its sender.
		if int(m.pid) != os.Getpid() {
			t.Errorf("%q: sender PID %d, want this process (%d)", m.text, m.pid, os.Getpid())
		}
	}
}

func TestSystemdNotifierNoListener(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gone")
	t.Setenv("NOTIFY_SOCKET", path)
	notify := SystemdNotifier()
	if notify == nil {
		t.Fatal("SystemdNotifier() = nil with NOTIFY_SOCKET set")
	}
	err := notify("READY=1")
	if err == nil {
		t.Fatal("notify to a socket nobody listens on: want an error")
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the socket %s", err, path)
	}
}

func TestWatchdogInterval(t *testing.T) {
	self := strconv.Itoa(os.Getpid())
	const unset = "\x00unset"
	for _, tc := range []struct {
		name      string
		usec, pid string
		want      time.Duration
	}{
		{"off", unset, unset, 0},
		{"empty", "", "", 0},
		{"30s", "30000000", unset, 30 * time.Second},
		{"200ms", "200000", unset, 200 * time.Millisecond},
		{"empty pid", "200000", "", 200 * time.Millisecond},
		{"this pid", "200000", self, 200 * time.Millisecond},
		{"other pid", "200000", strconv.Itoa(os.Getpid() + 1), 0},
		{"zero", "0", unset, 0},
		{"negative", "-1", unset, 0},
		{"unit", "2s", unset, 0},
		{"float", "1e6", unset, 0},
		{"overflow", "18446744073709551615", unset, 0},
		{"pid only", unset, self, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range map[string]string{"WATCHDOG_USEC": tc.usec, "WATCHDOG_PID": tc.pid} {
				if v == unset {
					unsetenv(t, k)
				} else {
					t.Setenv(k, v)
				}
			}
			if got := WatchdogInterval(); got != tc.want {
				t.Errorf("WatchdogInterval() = %s, want %s", got, tc.want)
			}
		})
	}
}

// TestAgentNotifiesSystemd runs a real agent against a fake systemd and
// checks the Type=notify contract the unit relies on: READY=1 only once
// the API answers, WATCHDOG=1 at half of $WATCHDOG_USEC while serving, and
// STOPPING=1 when asked to stop, after which Run returns cleanly.
func TestAgentNotifiesSystemd(t *testing.T) {
	for _, k := range []string{configs.EnvDataDir, configs.EnvAPIListen, configs.EnvLogLevel, configs.EnvFederationListen, configs.EnvGossipListen} {
		unsetenv(t, k)
	}
	sock := listenNotify(t, filepath.Join(t.TempDir(), "notify"))
	t.Setenv("WATCHDOG_USEC", "200000")
	unsetenv(t, "WATCHDOG_PID")

	cfg, err := configs.Parse(fmt.Appendf(nil, "data_dir: %q\napi:\n  listen: 127.0.0.1:0\nfederation: {listen: \"127.0.0.1:0\", gossip: \"127.0.0.1:0\"}\nshutdown_timeout: 20s\n", t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	readyz := func(addr string) error {
		resp, err := client.Get("http://" + addr + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /readyz: %s", resp.Status)
		}
		return nil
	}

	notify := SystemdNotifier()
	if notify == nil {
		t.Fatal("SystemdNotifier() = nil")
	}
	var a *Agent
	// The agent calls Notify synchronously, so probing /readyz inside it
	// sees the agent exactly as it is when it declares itself ready. If
	// READY=1 ever moved ahead of the listener or of Serve, this probe
	// fails (or times out) instead of racing the agent.
	probeAtReady := make(chan error, 1)
	addrs := make(chan string, 1)
	a, err = New(Options{
		Config: cfg,
		Notify: func(state string) error {
			if notifyFields(state)["READY"] == "1" {
				select {
				case probeAtReady <- readyz(a.APIAddr()):
				default: // a second READY=1; the first one counts
				}
			}
			return notify(state)
		},
		OnReady: func(addr string) { addrs <- addr },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- a.Run(ctx) }()

	// READY=1 is the first message: no watchdog ping before it.
	var m notifyMsg
	select {
	case m = <-sock.msgs:
	case err := <-runErr:
		t.Fatalf("Run returned before READY=1: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("no READY=1 within 30s of Run")
	}
	if m.err != nil {
		t.Fatal(m.err)
	}
	if f := notifyFields(m.text); f["READY"] != "1" {
		t.Fatalf("first message %q, want READY=1", m.text)
	}
	if err := <-probeAtReady; err != nil {
		t.Fatalf("READY=1 was sent while the API did not serve /readyz: %v", err)
	}
	var addr string
	select {
	case addr = <-addrs:
	case <-time.After(10 * time.Second):
		t.Fatal("OnReady not called within 10s of READY=1")
	}
	if err := readyz(addr); err != nil {
		t.Fatalf("READY=1 received, but the bound address %s does not answer: %v", addr, err)
	}

	// WATCHDOG_USEC=200ms: a ping every 100ms. Wait for two, to see that it
	// repeats, with a deadline far above the interval for a loaded machine.
	for i := range 2 {
		m := sock.next(t, 10*time.Second, "WATCHDOG=1")
		if notifyFields(m.text)["WATCHDOG"] != "1" {
			t.Fatalf("message %q after READY=1, want WATCHDOG=1 (ping %d)", m.text, i+1)
		}
	}

	cancel()
	deadline := time.After(30 * time.Second)
	for stopping := false; !stopping; {
		select {
		case m := <-sock.msgs:
			if m.err != nil {
				t.Fatal(m.err)
			}
			f := notifyFields(m.text)
			switch {
			case f["STOPPING"] == "1":
				stopping = true
			case f["WATCHDOG"] == "1":
				// A ping may still be in flight when the stop begins.
			default:
				t.Fatalf("message %q while stopping, want STOPPING=1", m.text)
			}
		case <-deadline:
			t.Fatal("no STOPPING=1 within 30s of cancelling Run's context")
		}
	}
	select {
	case err := <-runErr:
		if err != nil {
			t.Fatalf("Run after cancel: %v, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return within 30s of STOPPING=1")
	}
}
