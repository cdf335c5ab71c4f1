package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/sluice-edge/sluice/connectors/connectortest"
)

func TestMQTTAgentKilledMidStream(t *testing.T) {
	broker := connectortest.Mosquitto(t, true)
	data := filepath.Join(t.TempDir(), "data")
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
	// "agent ready" comes before the source has connected: the session of
	// this new client id has no subscription until the SUBACK, and the
	// broker drops (after PUBACKing them to the publisher) the messages
	// published before that. At-least-once starts at the subscription.
	waitSubscribed(t, a)

	pub := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + broker).SetClientID("e2e-publisher"))
	if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publisher connect: %v", tok.Error())
	}
	defer pub.Disconnect(100)
	const total = 3000
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	// publish returns an error rather than failing the test: it also runs
	// off the test goroutine.
	publish := func(from, to int) error {
		for i := from; i < to; i++ {
			body, _ := json.Marshal(map[string]any{"v": float64(i) / 10, "t": base.Add(time.Duration(i) * time.Second).UnixMilli()})
			tok := pub.Publish(fmt.Sprintf("plant/unit%d/temp", i%3), 1, false, body)
			if !tok.WaitTimeout(30 * time.Second) {
				return fmt.Errorf("publish %d: no PUBACK within 30s", i)
			}
			if err := tok.Error(); err != nil {
				return fmt.Errorf("publish %d: %w", i, err)
			}
		}
		return nil
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
	if err := publish(0, 1000); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for count(a) < 500 {
		if time.Now().After(deadline) {
			t.Fatalf("agent stored nothing\n%s", a.logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Kill the agent while messages are still flowing to it: a tenth into
	// the next thousand. (Waiting for the store to reach a count instead
	// is too slow under load: the CLI reads take longer than publishing
	// the thousand, and the agent would be killed idle.)
	flowing := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		err := publish(1000, 1100)
		close(flowing)
		if err == nil {
			err = publish(1100, 2000)
		}
		done <- err
	}()
	<-flowing
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-a.exited
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := publish(2000, total); err != nil { // published while the agent is down
		t.Fatal(err)
	}

	b := startAgent(t, data, cfg)
	deadline = time.Now().Add(60 * time.Second)
	for count(b) < total {
		if time.Now().After(deadline) {
			t.Fatalf("after restart only %d of %d points\n%s", count(b), total, b.logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Exactly once: every timestamp once, with its value.
	seen := map[string]bool{}
	for u := 0; u < 3; u++ {
		out := b.ok("", "stream", "read", fmt.Sprintf("plant/unit%d/temp", u), "--start", "2026-11-01T00:00:00Z", "--end", "2026-11-02T00:00:00Z", "--time", "ns")
		for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
			f := strings.Split(line, ",")
			var ns int64
			fmt.Sscan(f[0], &ns)
			i := int(time.Unix(0, ns).Sub(base) / time.Second)
			if want := fmt.Sprint(float64(i) / 10); f[1] != want || i%3 != u {
				t.Fatalf("unit%d: point %s, want value %s", u, line, want)
			}
			if seen[f[0]] {
				t.Fatalf("duplicate point %s", line)
			}
			seen[f[0]] = true
		}
	}
	if len(seen) != total {
		t.Fatalf("%d distinct points, want %d", len(seen), total)
	}
}

// waitSubscribed waits until the agent's MQTT source has subscribed: it
// logs "mqtt connected" once the broker has answered SUBSCRIBE.
func waitSubscribed(t *testing.T, a *agentProc) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(a.logs(), `msg="mqtt connected"`) {
		if time.Now().After(deadline) {
			t.Fatalf("the agent's MQTT source did not subscribe within 30s\n%s", a.logs())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
