package agent

// A whole agent whose store sits on a small file system that fills up
// while a real Mosquitto broker delivers QoS 1 messages: writes are
// refused (507 on the API, 503 on OMF, no PUBACK on MQTT), reads go on,
// and once space returns every published point is stored, without a
// restart.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/sluice-edge/sluice/agent/api"
	"github.com/sluice-edge/sluice/agent/store"

	"github.com/sluice-edge/sluice/connectors/connectortest"
	_ "github.com/sluice-edge/sluice/connectors/mqtt"   // type: mqtt
	_ "github.com/sluice-edge/sluice/connectors/pi/omf" // type: omf
)

// lockedBuffer collects the agent's log lines for the test to wait on.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
}

func mountTmpfs(t *testing.T, dir string, size int64) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test mounts a small file system, which needs root")
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0700", size), "tmpfs", dir).CombinedOutput(); err != nil {
		img := filepath.Join(t.TempDir(), "fs.img")
		if out2, err2 := exec.Command("sh", "-c", fmt.Sprintf("fallocate -l %d %s && mkfs.ext4 -q %s && mount -o loop %s %s", size, img, img, img, dir)).CombinedOutput(); err2 != nil {
			t.Fatalf("cannot mount a small file system: tmpfs: %v %s; loop ext4: %v %s", err, out, err2, out2)
		}
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
}

func freeOn(t *testing.T, dir string) int64 {
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		t.Fatal(err)
	}
	return int64(fs.Bavail) * int64(fs.Bsize)
}

func TestFullDiskWithMQTTInFlight(t *testing.T) {
	broker := connectortest.Mosquitto(t, false)
	dir := t.TempDir()
	storeDir := filepath.Join(dir, "store")
	if err := os.Mkdir(storeDir, 0o700); err != nil {
		t.Fatal(err)
	}
	mountTmpfs(t, storeDir, 8<<20)
	cfg := omfAgentConfig(t, dir, fmt.Sprintf(`store: {min_free: 1MiB}
sources:
  - name: plant
    type: mqtt
    mqtt:
      brokers: [tcp://%s]
      client_id: sluice-fulldisk
      qos: 1
      clean_session: false
      subscriptions:
        - topic: plant/+/temp
          stream: "plant/{1}/temp"
          format: json
          json: {value: v, time: t}
  - name: plant-omf
    type: omf
    omf:
      paths: [/omf]
      auth:
        basic: [{username: fledge, password: s3cret}]
`, broker))
	logs := &lockedBuffer{}
	ctx := context.Background()
	a, addr := runAgent(t, Options{Config: cfg,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	waitFor(t, 30*time.Second, "the MQTT source did not subscribe", func() bool { return strings.Contains(logs.String(), `msg="mqtt connected"`) })
	tok, err := AdminToken(dir)
	if err != nil {
		t.Fatal(err)
	}
	ac := &api.Client{Base: "http://" + addr, Token: tok}
	httpc := &http.Client{Transport: &http.Transport{}}
	defer httpc.CloseIdleConnections()
	post := func(path string, hdr map[string]string, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+path, strings.NewReader(body))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := httpc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	apiWrite := func(t0 int) (int, string) {
		return post("/api/v1/streams/api%2Fx/data?create=1", map[string]string{"Authorization": "Bearer " + tok, "Content-Type": "application/json"},
			fmt.Sprintf(`[{"time": %d, "value": 1.5}]`, t0))
	}
	if code, body := apiWrite(1_800_000_000_000); code != 200 {
		t.Fatalf("write before the disk fills: %d %s", code, body)
	}

	// Another program fills the file system, leaving a little more than
	// the store keeps free.
	filler := filepath.Join(storeDir, "filler")
	func() {
		f, err := os.Create(filler)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		buf := make([]byte, 64<<10)
		for freeOn(t, storeDir) > 1<<20+768<<10 {
			if _, err := f.Write(buf); err != nil {
				t.Fatal(err)
			}
		}
	}()

	// A publisher keeps QoS 1 messages in flight until the store has
	// refused a write, and 1,000 more while the disk is full (the broker
	// keeps them for the agent), ending on a whole round of the four
	// units. How
	// many points fill the disk depends on how the writer batched them
	// (a busy machine makes fewer, larger batches, which take less room
	// per point), so the count is not fixed: a fixed 4,000 filled it with
	// about 2,150 on an idle machine and not at all, once in ten runs of
	// the whole suite, on a loaded one.
	pub := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + broker).SetClientID("fulldisk-publisher"))
	if tk := pub.Connect(); !tk.WaitTimeout(10*time.Second) || tk.Error() != nil {
		t.Fatalf("publisher connect: %v", tk.Error())
	}
	defer pub.Disconnect(100)
	const most = 40_000 // far more than the disk holds; only a bound
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var stop atomic.Bool
	published := make(chan int, 1)    // how many, once all are acknowledged by the broker
	publishErr := make(chan error, 1) // or why not
	go func() {
		i, end := 0, most
		for ; i < end; i++ {
			if end == most && stop.Load() {
				// 1,000 more while the disk is full, ending on a whole round.
				end = i + 1000 + (4-i%4)%4
			}
			body, _ := json.Marshal(map[string]any{"v": float64(i) / 10, "t": base.Add(time.Duration(i) * time.Second).UnixMilli(),
				"pad": strings.Repeat("x", 200)})
			tk := pub.Publish(fmt.Sprintf("plant/unit%d/temp", i%4), 1, false, body)
			if !tk.WaitTimeout(30 * time.Second) {
				publishErr <- fmt.Errorf("publish %d: no PUBACK from the broker", i)
				return
			}
			if err := tk.Error(); err != nil {
				publishErr <- fmt.Errorf("publish %d: %w", i, err)
				return
			}
		}
		published <- i
	}()

	refusals := func() float64 {
		mfs, err := a.reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "sluice_store_write_refusals_total" {
				for _, m := range mf.Metric {
					if m.Label[0].GetValue() == store.ReasonDiskFull {
						return m.Counter.GetValue()
					}
				}
			}
		}
		return 0
	}
	waitFor(t, 60*time.Second, "the store never refused a write while the disk filled", func() bool { return refusals() > 0 })
	stop.Store(true)

	// Full: the API says 507 and why, OMF 503, reads go on.
	code, body := apiWrite(1_800_000_001_000)
	if code != http.StatusInsufficientStorage || !strings.Contains(body, "file system full") || !strings.Contains(body, "store.min_free") {
		t.Fatalf("write on a full disk: %d %s", code, body)
	}
	omf := map[string]string{"messagetype": "data", "messageformat": "JSON", "omfversion": "1.2", "Authorization": "Basic ZmxlZGdlOnMzY3JldA=="}
	if code, body := post("/omf", map[string]string{"messagetype": "type", "messageformat": "JSON", "omfversion": "1.2", "Authorization": omf["Authorization"]},
		`[{"id": "P", "type": "object", "classification": "dynamic", "properties": {"Timestamp": {"type": "string", "format": "date-time", "isindex": true}, "V": {"type": "number"}}}]`); code >= 300 {
		t.Fatalf("omf type: %d %s", code, body)
	}
	if code, body := post("/omf", map[string]string{"messagetype": "container", "messageformat": "JSON", "omfversion": "1.2", "Authorization": omf["Authorization"]},
		`[{"id": "T1", "typeid": "P"}]`); code >= 300 {
		t.Fatalf("omf container: %d %s", code, body)
	}
	if code, body := post("/omf", omf, `[{"containerid": "T1", "values": [{"Timestamp": "2026-11-23T10:00:00Z", "V": 1}]}]`); code != http.StatusServiceUnavailable {
		t.Fatalf("omf data on a full disk: %d %s, want 503 (the sender keeps the data and retries)", code, body)
	}
	var latest map[string]any
	if err := ac.JSON(ctx, http.MethodGet, "/api/v1/streams/api%2Fx/latest", nil, nil, &latest); err != nil {
		t.Fatalf("read on a full disk: %v", err)
	}
	var status map[string]any
	if err := ac.JSON(ctx, http.MethodGet, "/api/v1/status", nil, nil, &status); err != nil {
		t.Fatal(err)
	}
	if sp, _ := status["store"].(map[string]any); sp == nil || !strings.Contains(fmt.Sprint(sp["refused"]), "file system full") {
		t.Fatalf("status does not say writes are refused: %v", status["store"])
	}
	if b, _ := status["store_bytes"].(float64); b <= 0 {
		t.Fatalf("status store_bytes = %v", status["store_bytes"])
	}
	stored := func() int {
		n := 0
		for u := 0; u < 4; u++ {
			it, err := a.store.Window(ctx, fmt.Sprintf("plant/unit%d/temp", u), store.WindowQuery{Start: math.MinInt64, End: math.MaxInt64})
			if err != nil {
				continue // not created yet
			}
			for it.Next() {
				n++
			}
			it.Close()
		}
		return n
	}
	var total int
	select {
	case total = <-published:
	case err := <-publishErr:
		t.Fatal(err)
	}
	if total == most {
		t.Fatalf("%d points published and the store still had room", most)
	}
	during := stored()
	if during >= total {
		t.Fatalf("all %d points stored although the disk was full", during)
	}

	// Space returns: no restart, everything published arrives.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 120*time.Second, fmt.Sprintf("not every published point arrived after space returned (%d were in while full)", during), func() bool { return stored() >= total })
	// Exactly the points published, each with its value.
	for u := 0; u < 4; u++ {
		it, err := a.store.Window(ctx, fmt.Sprintf("plant/unit%d/temp", u), store.WindowQuery{Start: math.MinInt64, End: math.MaxInt64})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for it.Next() {
			p := it.At()
			i := int(time.Unix(0, p.Time).Sub(base) / time.Second)
			if i%4 != u || p.Value.F != float64(i)/10 {
				t.Fatalf("unit%d: point %d has value %v", u, i, p.Value.F)
			}
			n++
		}
		it.Close()
		if n != total/4 {
			t.Fatalf("unit%d: %d points, want %d", u, n, total/4)
		}
	}
	if code, body := apiWrite(1_800_000_002_000); code != 200 {
		t.Fatalf("API write after space returned: %d %s", code, body)
	}
	t.Logf("%d of %d points were stored while the disk was full; all %d after; %v refused batches", during, total, total, refusals())
}
