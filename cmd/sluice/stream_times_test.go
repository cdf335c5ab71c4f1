package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestResolveLineTime(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 37, 42, 981714622, time.UTC)
	for _, tc := range []struct{ in, want string }{
		{"-3m,21.5\n", "2026-11-25T10:34:42Z,21.5\n"},
		{"now-2m,21.75,192\r\n", "2026-11-25T10:35:42Z,21.75,192\r\n"},
		{" +1h ,1", "2026-11-25T11:37:42Z,1"},
		{"-1h/h,1\n", "2026-11-25T09:00:00Z,1\n"},
		{"now,1\n", "2026-11-25T10:37:42.981714622Z,1\n"},
		{"timestamp,value\n", "timestamp,value\n"},
		{"2026-11-25T10:00:00Z,1\n", "2026-11-25T10:00:00Z,1\n"},
		{"1763892000,1\n", "1763892000,1\n"},
		{"-86400,1\n", "-86400,1\n"}, // a negative epoch
		{"nonsense,1\n", "nonsense,1\n"},
		{"-3m\n", "-3m\n"}, // no value: the agent says what is wrong
		{"\"-3m\",1\n", "\"-3m\",1\n"},
	} {
		got, err := resolveLineTime([]byte(tc.in), now)
		if err != nil || string(got) != tc.want {
			t.Errorf("resolveLineTime(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"now-3x,1\n", "-3m/y,1\n", "now+,1\n"} {
		if got, err := resolveLineTime([]byte(in), now); err == nil {
			t.Errorf("resolveLineTime(%q) = %q, want an error", in, got)
		}
	}
}

// TestStreamWriteOneNow: however many requests the input takes, its
// relative times count from one instant and reach the agent resolved, so
// the agent's own clock between batches cannot move them.
func TestStreamWriteOneNow(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"written": 1}`)
	}))
	defer srv.Close()
	cmd := exec.Command(sluiceBin, "stream", "write", "s", "--batch", "1", "--now", "2026-11-25T10:38:00.5Z", "--addr", srv.URL, "--token", "t")
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	cmd.Stdin = strings.NewReader("-3m,21.5\n-2m,21.75\n-1m,22.0\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := []string{"2026-11-25T10:35:00Z,21.5\n", "2026-11-25T10:36:00Z,21.75\n", "2026-11-25T10:37:00Z,22.0\n"}
	if fmt.Sprint(bodies) != fmt.Sprint(want) {
		t.Fatalf("bodies %q, want %q", bodies, want)
	}

	// A bad relative time names its line, and nothing after it is sent.
	bodies = nil
	cmd = exec.Command(sluiceBin, "stream", "write", "s", "--batch", "1", "--addr", srv.URL, "--token", "t")
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	cmd.Stdin = strings.NewReader("-3m,21.5\nnow-2q,21.75\n-1m,22.0\n")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "line 2: time \"now-2q\"") || len(bodies) != 1 {
		t.Fatalf("bad time: %v %s; %d bodies sent", err, out, len(bodies))
	}
}

// TestRelativeTimesEndToEnd runs the commands against a real
// agent: relative times resolve to whole seconds against one now per
// command, summaries fall on whole minutes, and with the write's now on a
// whole minute (--now, so that the test does not depend on when it runs)
// the bucket holding only 21.75 reads 21.75 and the interpolated value at
// the point written as 21.5 is 21.5.
func TestRelativeTimesEndToEnd(t *testing.T) {
	a := startAgent(t, filepath.Join(t.TempDir(), "data"), "")
	const input = "-3m,21.5\n-2m,21.75\n-1m,22.0\n" // printf '%s\n' "-3m,21.5" "-2m,21.75" "-1m,22.0"

	// As the user ran it: whole seconds, one minute apart, even across
	// requests.
	a.ok(input, "stream", "write", "s", "--create", "--batch", "2")
	var got struct {
		Points []struct {
			Time  int64   `json:"time"`
			Value float64 `json:"value"`
		} `json:"points"`
	}
	if err := json.Unmarshal([]byte(a.ok("", "stream", "read", "s", "--start", "-1h", "--format", "json", "--time", "ns")), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Points) != 3 {
		t.Fatalf("read back %+v", got)
	}
	for i, p := range got.Points {
		if p.Time%int64(time.Second) != 0 || p.Time-got.Points[0].Time != int64(i)*int64(time.Minute) {
			t.Errorf("point %d at %s: want whole seconds one minute apart (%+v)", i, time.Unix(0, p.Time).UTC().Format(time.RFC3339Nano), got.Points)
		}
	}

	// The same with the write's now on a whole minute.
	now := time.Now().UTC().Truncate(time.Minute)
	a.ok(input, "stream", "write", "p", "--create", "--now", now.Format(time.RFC3339))
	at := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339) }

	rows := readCSV(t, a.ok("", "stream", "summaries", "p", "--start", "-1h", "--interval", "1m"))
	if h := strings.Join(rows[0], ","); h != "start,end,count,bad,min,max,mean,stddev,time_weighted_mean,first,last" {
		t.Fatalf("summaries header %q", h)
	}
	twa := map[string]string{}
	for i, r := range rows[1:] {
		start, err1 := time.Parse(time.RFC3339Nano, r[0])
		end, err2 := time.Parse(time.RFC3339Nano, r[1])
		if err1 != nil || err2 != nil {
			t.Fatalf("row %v: %v %v", r, err1, err2)
		}
		if start.Truncate(time.Minute) != start || (i < len(rows)-2 && end != start.Add(time.Minute)) {
			t.Errorf("bucket %s to %s: want whole minutes", r[0], r[1])
		}
		if r[2] != "0" {
			twa[r[0]] = r[2] + " " + r[8]
		}
	}
	want := map[string]string{at(-3 * time.Minute): "1 21.5", at(-2 * time.Minute): "1 21.75", at(-time.Minute): "1 22"}
	if fmt.Sprint(twa) != fmt.Sprint(want) {
		t.Errorf("buckets with points (count and time-weighted mean) %v, want %v", twa, want)
	}

	vals := map[string]string{}
	for _, r := range readCSV(t, a.ok("", "stream", "interpolated", "p", "--start", "-1h", "--interval", "1m"))[1:] {
		vals[r[0]] = r[1]
	}
	for d, v := range map[time.Duration]string{-3 * time.Minute: "21.5", -2 * time.Minute: "21.75", -time.Minute: "22"} {
		if vals[at(d)] != v {
			t.Errorf("interpolated at %s: %q, want %s (all: %v)", at(d), vals[at(d)], v, vals)
		}
	}
	one := readCSV(t, a.ok("", "stream", "interpolated", "p", "--start", at(-3*time.Minute), "--end", at(-3*time.Minute), "--count", "1"))
	if len(one) != 2 || one[1][0] != at(-3*time.Minute) || one[1][1] != "21.5" {
		t.Errorf("interpolated at the written point: %v", one)
	}
}

func readCSV(t *testing.T, s string) [][]string {
	t.Helper()
	rows, err := csv.NewReader(bytes.NewReader([]byte(s))).ReadAll()
	if err != nil || len(rows) < 2 {
		t.Fatalf("csv %q: %v", s, err)
	}
	return rows
}
