package api

import (
	"context"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-edge/sluice/connectors/point"
)

// A now with nanosecond noise, as a clock gives it, on a Wednesday, in a
// zone other than UTC (rounding is in UTC all the same).
var noisyNow = time.Date(2026, 11, 25, 10, 37, 42, 981714622, time.UTC).In(time.FixedZone("UTC+5", 5*3600))

func TestParseTimeRounds(t *testing.T) {
	utc := func(h, m, s, ns int) time.Time { return time.Date(2026, 11, 25, h, m, s, ns, time.UTC) }
	for _, tc := range []struct {
		in   string
		want time.Time
		err  bool
	}{
		{"now", noisyNow, false}, // exact: a read to now includes what was just written
		{"-3m", utc(10, 34, 42, 0), false},
		{"now-3m", utc(10, 34, 42, 0), false},
		{"+15m", utc(10, 52, 42, 0), false},
		{"now-0s", utc(10, 37, 42, 0), false},
		{"-1d", utc(10, 37, 42, 0).AddDate(0, 0, -1), false},
		{"-1.5s", utc(10, 37, 41, 481000000), false},  // to the millisecond
		{"-250us", utc(10, 37, 42, 981464000), false}, // to the microsecond
		{"-1ns", utc(10, 37, 42, 981714621), false},
		{"now/s", utc(10, 37, 42, 0), false},
		{"now/m", utc(10, 37, 0, 0), false},
		{"now/h", utc(10, 0, 0, 0), false},
		{"now/d", utc(0, 0, 0, 0), false},                               // midnight UTC, whatever the zone of now
		{"now/w", time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC), false}, // Monday
		{"now-1h/h", utc(9, 0, 0, 0), false},
		{"-1h/h", utc(9, 0, 0, 0), false},
		{"-3m/m", utc(10, 34, 0, 0), false},
		{"now-1d/d", time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC), false},
		{"+1d/d", time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC), false},
		{"-86400", time.Unix(-86400, 0), false}, // a negative epoch, not a relative time
		{"now/x", time.Time{}, true},
		{"now/", time.Time{}, true},
		{"-1h/", time.Time{}, true},
		{"-1x/h", time.Time{}, true},
		{"now/m/m", time.Time{}, true},
		{"2026-11-25T10:00:00Z/h", time.Time{}, true},
		{"-300000w", time.Time{}, true}, // out of range
	} {
		got, err := ParseTime(tc.in, noisyNow)
		if (err != nil) != tc.err || (!tc.err && got != tc.want.UnixNano()) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v (err %v)", tc.in, time.Unix(0, got).UTC(), err, tc.want.UTC(), tc.err)
		}
	}
}

// A clock that moves on at every reading: a handler that read it twice
// would resolve -1h and -5m against different instants.
type tickingClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *tickingClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(1300 * time.Millisecond)
	return c.t
}

func TestReadResolvesOneNow(t *testing.T) {
	clk := &tickingClock{t: noisyNow}
	f := newFixture(t, func(o *Options) { o.Now = clk.now })
	ctx := context.Background()
	if _, err := f.st.CreateStream(ctx, point.StreamSpec{Name: "s", Kind: point.KindFloat}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		q    url.Values
		span time.Duration
	}{
		{"start and end", url.Values{"start": {"-1h"}, "end": {"-5m"}, "interval": {"55m"}}, 55 * time.Minute},
		{"the default start", url.Values{"end": {"now-0s"}, "interval": {"24h"}}, 24 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.q.Set("align", "start") // one interval, from start to end
			tc.q.Set("time", "ns")
			var got struct {
				Summaries []SummaryJSON `json:"summaries"`
			}
			if err := f.c.JSON(ctx, "GET", StreamPath("s", "summaries"), tc.q, nil, &got); err != nil {
				t.Fatal(err)
			}
			if len(got.Summaries) != 1 {
				t.Fatalf("%d summaries, want 1: %+v", len(got.Summaries), got)
			}
			start, err1 := strconv.ParseInt(got.Summaries[0].Start, 10, 64)
			end, err2 := strconv.ParseInt(got.Summaries[0].End, 10, 64)
			if err1 != nil || err2 != nil {
				t.Fatalf("times: %v %v", err1, err2)
			}
			if d := time.Duration(end - start); d != tc.span || start%int64(time.Second) != 0 {
				t.Errorf("summary from %s to %s (%s); want %s from a whole second",
					time.Unix(0, start).UTC(), time.Unix(0, end).UTC(), d, tc.span)
			}
		})
	}
}

// The issue through the API: relative CSV times written against a noisy
// now, then read as summaries and interpolated values by the minute.
func TestIssueSummariesAndInterpolation(t *testing.T) {
	// The write's now lands on a whole minute after truncation to the
	// second; the reads' now is 42.98 s later.
	writeNow := time.Date(2026, 11, 25, 10, 38, 0, 981714622, time.UTC)
	now := writeNow
	f := newFixture(t, func(o *Options) { o.Now = func() time.Time { return now } })
	if code, body := f.do(t, "POST", StreamPath("s", "data")+"?create=1", "text/csv", "-3m,21.5\n-2m,21.75\n-1m,22.0\n"); code != 200 {
		t.Fatalf("write: %d %s", code, body)
	}
	now = writeNow.Add(42 * time.Second)
	minute := func(m int) string { return time.Date(2026, 11, 25, 10, m, 0, 0, time.UTC).Format(time.RFC3339) }

	// Summaries: whole minutes from the one holding -1h; the last is cut
	// at now.
	for _, tc := range []struct {
		query     string
		wantFirst string
		want      map[string]float64 // time-weighted mean by start
	}{
		{"start=-1h&interval=1m", "2026-11-25T09:38:00Z",
			map[string]float64{minute(35): 21.5, minute(36): 21.75, minute(37): 22, minute(38): 22}},
		{"start=-1h&interval=1m&align=epoch", "2026-11-25T09:38:00Z",
			map[string]float64{minute(36): 21.75}},
		{"start=-1h&interval=1m&offset=30s", "2026-11-25T09:38:30Z",
			map[string]float64{"2026-11-25T10:35:30Z": 21.625, "2026-11-25T10:36:30Z": 21.875}},
		{"start=-1h&interval=1m&offset=-30s", "2026-11-25T09:38:30Z",
			map[string]float64{"2026-11-25T10:35:30Z": 21.625}},
		{"start=-1h&interval=1m&align=start", "2026-11-25T09:38:42Z",
			map[string]float64{"2026-11-25T10:35:42Z": (21.5*18 + 21.75*42) / 60}},
		{"start=-1h&interval=1h", "2026-11-25T09:00:00Z",
			map[string]float64{"2026-11-25T10:00:00Z": (21.5*60 + 21.75*60 + 22*102.981714622) / 222.981714622}}, // from the first point
	} {
		var got struct {
			Summaries []SummaryJSON `json:"summaries"`
		}
		q, _ := url.ParseQuery(tc.query)
		if err := f.c.JSON(context.Background(), "GET", StreamPath("s", "summaries"), q, nil, &got); err != nil {
			t.Fatalf("%s: %v", tc.query, err)
		}
		sums := got.Summaries
		if len(sums) == 0 || sums[0].Start != tc.wantFirst || sums[len(sums)-1].End != "2026-11-25T10:38:42.981714622Z" {
			t.Errorf("%s: %d summaries from %+v to %+v; want the first at %s, the last ending at now", tc.query, len(sums), sums[0], sums[len(sums)-1], tc.wantFirst)
			continue
		}
		found := 0
		for _, s := range sums {
			if w, ok := tc.want[s.Start]; ok {
				found++
				if s.TimeWeightedMean == nil || math.Abs(*s.TimeWeightedMean-w) > 1e-9 {
					t.Errorf("%s: bucket at %s has time-weighted mean %v, want %v", tc.query, s.Start, ptrStr(s.TimeWeightedMean), w)
				}
			}
		}
		if found != len(tc.want) {
			t.Errorf("%s: found %d of the buckets %v in %+v", tc.query, found, tc.want, sums)
		}
	}

	// Interpolated values every minute: on whole minutes, exactly the
	// written values there.
	code, body := f.do(t, "GET", StreamPath("s", "interpolated")+"?start=-1h&interval=1m&format=csv", "", "")
	want := "timestamp,value,quality\n" + minute(35) + ",21.5,0\n" + minute(36) + ",21.75,0\n" + minute(37) + ",22,0\n" + minute(38) + ",22,0\n"
	if code != 200 || body != want {
		t.Errorf("interpolated: %d\n%s\nwant\n%s", code, body, want)
	}
	code, body = f.do(t, "GET", StreamPath("s", "interpolated")+"?start=-3m&end=-2m&interval=30s&format=csv", "", "")
	want = "timestamp,value,quality\n2026-11-25T10:36:00Z,21.75,0\n2026-11-25T10:36:30Z,21.875,0\n"
	if code != 200 || body != want {
		t.Errorf("interpolated from -3m: %d\n%s\nwant\n%s", code, body, want)
	}
}

func ptrStr(f *float64) any {
	if f == nil {
		return nil
	}
	return *f
}

func TestGridParamsRejected(t *testing.T) {
	f := newFixture(t, nil)
	if _, err := f.st.CreateStream(context.Background(), point.StreamSpec{Name: "s", Kind: point.KindFloat}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ kind, query, msg string }{
		{"summaries", "interval=1m&align=middle", `align: \"middle\" (want epoch or start)`},
		{"summaries", "interval=1m&align=start&offset=30s", "offset shifts the epoch grid"},
		{"summaries", "interval=1m&offset=soon", `offset: \"soon\" is not a duration`},
		{"interpolated", "interval=1m&align=middle", `align: \"middle\"`},
		{"interpolated", "count=3&align=start", "count spaces points from start to end"},
		{"interpolated", "count=3&offset=30s", "count spaces points from start to end"},
		{"summaries", "interval=1m&start=now/y", "round to s, m, h, d or w"},
	} {
		code, body := f.do(t, "GET", StreamPath("s", tc.kind)+"?"+tc.query, "", "")
		if code != http.StatusBadRequest || !strings.Contains(body, tc.msg) {
			t.Errorf("%s?%s: %d %s, want 400 saying %s", tc.kind, tc.query, code, body, tc.msg)
		}
	}
	// Accepted forms.
	for _, q := range []string{"interval=1m&align=epoch&offset=-90s", "interval=1d&offset=5h", "interval=1m&align=start"} {
		if code, body := f.do(t, "GET", StreamPath("s", "summaries")+"?"+q, "", ""); code != 200 {
			t.Errorf("summaries?%s: %d %s", q, code, body)
		}
	}
}
