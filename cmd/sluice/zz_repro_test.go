package main

// TEMPORARY reproduction harness (not to be committed).

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

func reproMosquitto(t *testing.T, dir string) string {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	conf := filepath.Join(dir, "mosquitto.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location %s/\nmax_queued_messages 100000\nlog_dest file %s/mosquitto.log\nlog_type all\nlog_timestamp_format %%H:%%M:%%S\n", port, dir, dir)), 0o600)
	cmd := exec.Command("/usr/sbin/mosquitto", "-c", conf)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for i := 0; i < 500; i++ {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return addr
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no broker")
	return ""
}

func TestReproKilled(t *testing.T) {
	keep := os.Getenv("REPRO_DIR")
	if keep == "" {
		t.Skip("REPRO_DIR not set")
	}
	os.RemoveAll(keep)
	os.MkdirAll(keep, 0o777)
	os.Chmod(keep, 0o777)
	broker := reproMosquitto(t, keep)
	data := filepath.Join(keep, "data")
	cfg := fmt.Sprintf(`sources:
  - name: plant
    type: mqtt
    mqtt:
      brokers: [tcp://%s]
      client_id: sluice-e2e-kill
      qos: 1
      clean_session: false
      subscriptions:
        - topic: plant/+/temp
          stream: "plant/{1}/temp"
          format: json
          json: {value: v, time: t}
`, broker)
	a := startAgent(t, data, cfg)
	if os.Getenv("REPRO_FIXED") != "" {
		waitSubscribed(t, a)
	}
	pub := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + broker).SetClientID("e2e-publisher"))
	if tok := pub.Connect(); tok.WaitTimeout(10*time.Second) && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer pub.Disconnect(100)
	const total = 3000
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	publish := func(from, to int) {
		for i := from; i < to; i++ {
			body, _ := json.Marshal(map[string]any{"v": float64(i) / 10, "t": base.Add(time.Duration(i) * time.Second).UnixMilli()})
			tok := pub.Publish(fmt.Sprintf("plant/unit%d/temp", i%3), 1, false, body)
			if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
				t.Errorf("publish %d: %v", i, tok.Error())
				return
			}
		}
	}
	count := func(p *agentProc) int {
		n := 0
		for u := 0; u < 3; u++ {
			out, _, code := p.cli("", "stream", "read", fmt.Sprintf("plant/unit%d/temp", u), "--start", "2026-11-01T00:00:00Z", "--end", "2026-11-02T00:00:00Z")
			if code == 0 {
				n += strings.Count(out, "\n") - 1
			}
		}
		return n
	}
	missing := func(p *agentProc) []int {
		seen := map[int]bool{}
		for u := 0; u < 3; u++ {
			out, _, _ := p.cli("", "stream", "read", fmt.Sprintf("plant/unit%d/temp", u), "--start", "2026-11-01T00:00:00Z", "--end", "2026-11-02T00:00:00Z", "--time", "ns")
			for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
				f := strings.Split(line, ",")
				var ns int64
				fmt.Sscan(f[0], &ns)
				seen[int(time.Unix(0, ns).Sub(base)/time.Second)] = true
			}
		}
		var m []int
		for i := 0; i < total; i++ {
			if !seen[i] {
				m = append(m, i)
			}
		}
		return m
	}
	publish(0, 1000)
	done := make(chan struct{})
	go func() { publish(1000, 2000); close(done) }()
	deadline := time.Now().Add(30 * time.Second)
	for count(a) < 500 {
		if time.Now().After(deadline) {
			t.Fatalf("agent stored nothing")
		}
		time.Sleep(20 * time.Millisecond)
	}
	killedAt := count(a)
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-a.exited
	os.WriteFile(filepath.Join(keep, "agentA.log"), []byte(a.logs()), 0o644)
	<-done
	publish(2000, total)
	b := startAgent(t, data, cfg)
	deadline = time.Now().Add(60 * time.Second)
	for count(b) < total {
		if time.Now().After(deadline) {
			os.WriteFile(filepath.Join(keep, "agentB.log"), []byte(b.logs()), 0o644)
			t.Fatalf("killed at %d; after restart only %d of %d points; missing %v", killedAt, count(b), total, missing(b))
		}
		time.Sleep(100 * time.Millisecond)
	}
	os.WriteFile(filepath.Join(keep, "agentB.log"), []byte(b.logs()), 0o644)
	t.Logf("ok, killed at %d", killedAt)
}
