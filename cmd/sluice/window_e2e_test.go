package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestPartnerReadsStayInWindow: a stream shared with a history window
// (--lookback or --history-from, and --expires) holds a marker value, 999,
// before the window and after its end, and ordinary values (10 to 12)
// inside it. No partner read of any kind may show the marker or be
// influenced by it, neither as a point nor as the value carried into the
// window or interpolated towards. The owner's own reads of the same range
// still carry the earlier value in, which shows the marker would leak if
// the partner path did the same.
func TestPartnerReadsStayInWindow(t *testing.T) {
	quickExit(t)
	acme := startFedAgent(t, "acme-refinery")
	north := startFedAgent(t, "northwind-chemicals")

	now := time.Now().Truncate(time.Second)
	var csv strings.Builder
	fmt.Fprintf(&csv, "%s,999\n", now.Add(-2*time.Hour).Format(time.RFC3339))
	const inWindow = 30 // one a minute over the last half hour
	for i := inWindow; i > 0; i-- {
		fmt.Fprintf(&csv, "%s,%d\n", now.Add(-time.Duration(i)*time.Minute).Format(time.RFC3339), 10+i%3)
	}
	fmt.Fprintf(&csv, "%s,999\n", now.Add(2*time.Hour).Format(time.RFC3339)) // past the share's end
	streams := []struct{ name, shareFlag, from string }{
		{"site1/boiler/temp", "--lookback", "45m"},
		{"site1/boiler/press", "--history-from", now.Add(-45 * time.Minute).Format(time.RFC3339)},
	}
	for _, s := range streams {
		acme.ok(csv.String(), "stream", "write", s.name, "--create")
	}
	acme.ok("", "community", "create", testCommunity)
	for _, s := range streams {
		acme.ok("", "share", s.name, "--community", testCommunity, s.shareFlag, s.from, "--expires", "+1h")
	}
	fedJoin(acme, north, "ops@northwind.example", "acme-refinery/"+streams[0].name)

	inRange := func(v float64) bool { return v >= 10 && v <= 12 }
	firstInWindow := now.Add(-inWindow * time.Minute).UnixNano()
	for _, s := range streams {
		t.Run(strings.TrimPrefix(s.shareFlag, "--"), func(t *testing.T) {
			stream := "acme-refinery/" + s.name
			partner := func(kind string, args ...string) string {
				t.Helper()
				return north.ok("", append([]string{"community", kind, testCommunity, stream, "--format", "json", "--time", "ns"}, args...)...)
			}

			// Summaries, asked from before the window to after its end:
			// every statistic from the window's points alone.
			for _, iv := range []string{"1h", "10m", "6h"} {
				out := partner("summaries", "--start", "-3h", "--end", "+3h", "--interval", iv)
				total := 0
				for _, sm := range decodeSummaries(t, out) {
					total += sm.Count
					for name, v := range map[string]*float64{"min": sm.Min, "max": sm.Max, "mean": sm.Mean, "time_weighted_mean": sm.TWA} {
						if v != nil && !inRange(*v) {
							t.Errorf("summaries by %s, interval at %d: %s %v, not one of the window's values 10..12", iv, sm.Start, name, *v)
						}
					}
					for name, p := range map[string]*pointJSON{"first": sm.First, "last": sm.Last} {
						if p != nil && !inRange(p.Value) {
							t.Errorf("summaries by %s, interval at %d: %s %v", iv, sm.Start, name, p.Value)
						}
					}
					if sm.End <= firstInWindow && sm.TWA != nil {
						t.Errorf("summaries by %s: interval [%d, %d) ends before the window's first point, yet has a time-weighted mean %v",
							iv, sm.Start, sm.End, *sm.TWA)
					}
				}
				if total != inWindow {
					t.Errorf("summaries by %s: %d points summarised, want the window's %d:\n%s", iv, total, inWindow, out)
				}
			}

			// Interpolated, asked from before the window to after its end.
			for _, tc := range []struct {
				args     []string
				wantSome bool
			}{
				{[]string{"--interval", "5m"}, true},
				{[]string{"--interval", "7m"}, true},
				{[]string{"--count", "9"}, true},
				{[]string{"--count", "1"}, false}, // at the window's start, before its first point
			} {
				out := partner("interpolated", append([]string{"--start", "-3h", "--end", "+3h"}, tc.args...)...)
				pts := decodePoints(t, out)
				if tc.wantSome && len(pts) == 0 {
					t.Errorf("interpolated %v: no values", tc.args)
				}
				for _, p := range pts {
					if !inRange(p.Value) || p.Time < firstInWindow {
						t.Errorf("interpolated %v: %v at %d, not from the window's points (the first at %d):\n%s",
							tc.args, p.Value, p.Time, firstInWindow, out)
						break
					}
				}
			}

			// Window and latest: the window's points only.
			pts := decodePoints(t, partner("read", "--start", "-3h", "--end", "+3h"))
			if len(pts) != inWindow {
				t.Errorf("window: %d points, want %d", len(pts), inWindow)
			}
			for _, p := range pts {
				if !inRange(p.Value) {
					t.Errorf("window: %v at %d", p.Value, p.Time)
				}
			}
			latest := decodePoints(t, partner("latest"))
			if want := now.Add(-time.Minute).UnixNano(); len(latest) != 1 || latest[0].Time != want || !inRange(latest[0].Value) {
				t.Errorf("latest: %+v, want the newest point in the window, at %d", latest, want)
			}

			// The owner's own reads still carry the earlier value in: the
			// marker is there to leak.
			local := decodePoints(t, acme.ok("", "stream", "interpolated", s.name, "--start", now.Add(-40*time.Minute).Format(time.RFC3339),
				"--end", now.Add(-35*time.Minute).Format(time.RFC3339), "--count", "2", "--format", "json", "--time", "ns"))
			if len(local) != 2 || local[0].Value <= 12 {
				t.Errorf("owner's interpolated read before the window's first point: %+v, want values carried from 999", local)
			}
		})
	}
}

type pointJSON struct {
	Time  int64   `json:"time"`
	Value float64 `json:"value"`
}

func decodePoints(t *testing.T, out string) []pointJSON {
	t.Helper()
	var v struct {
		Points []pointJSON `json:"points"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("points: %v\n%s", err, out)
	}
	return v.Points
}

// summaryJSON is one interval of a summaries answer with time=ns.
type summaryJSON struct {
	Start int64      `json:"start,string"`
	End   int64      `json:"end,string"`
	Count int        `json:"count"`
	Min   *float64   `json:"min"`
	Max   *float64   `json:"max"`
	Mean  *float64   `json:"mean"`
	TWA   *float64   `json:"time_weighted_mean"`
	First *pointJSON `json:"first"`
	Last  *pointJSON `json:"last"`
}

func decodeSummaries(t *testing.T, out string) []summaryJSON {
	t.Helper()
	var v struct {
		Summaries []summaryJSON `json:"summaries"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("summaries: %v\n%s", err, out)
	}
	return v.Summaries
}
