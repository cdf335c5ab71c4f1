package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/sluice-edge/sluice/agent/store"
	"github.com/sluice-edge/sluice/connectors/point"
)

// peakHeapUnderLimit runs fn and returns the peak growth of the heap in
// use while it ran (see watchHeap). The GC gets a soft memory limit slack
// bytes above what the runtime uses at the start (all it holds but free
// heap pages, which it returns to the system to stay under the limit), as
// an operator sets GOMEMLIMIT: garbage is then collected before it piles
// up past the limit, so what can push the heap far above it is memory
// that fn really holds, not the GC's pacing, which depends on the rest of
// the process.
func peakHeapUnderLimit(slack int64, fn func()) uint64 {
	old := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(old)
	h := watchHeap()
	s := []metrics.Sample{
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
	}
	metrics.Read(s)
	debug.SetMemoryLimit(int64(s[0].Value.Uint64()-s[1].Value.Uint64()-s[2].Value.Uint64()) + slack)
	fn()
	return h.Stop()
}

// countPoints reads a stream's whole window and checks each point with
// check, which returns an error for a wrong one.
func countPoints(t *testing.T, st *store.Store, name string, check func(i int, p store.Sample) error) int {
	t.Helper()
	it, err := st.Window(context.Background(), name, store.WindowQuery{Start: math.MinInt64 + 1, End: math.MaxInt64})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	n := 0
	for it.Next() {
		if check != nil {
			if err := check(n, it.At()); err != nil {
				t.Fatalf("%s: point %d: %v", name, n, err)
			}
		}
		n++
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestLargeWriteBoundedMemory: a 64 MiB body, CSV and JSON, is stored
// whole while the heap grows by far less than the body: the old
// parse-it-all-first path held about 12 times the body.
func TestLargeWriteBoundedMemory(t *testing.T) {
	const size, bound = 64<<20 + 1, 128 << 20
	f := newFixture(t, func(o *Options) { o.MaxBodyBytes = 1 << 30 })
	for _, format := range []string{"csv", "json"} {
		t.Run(format, func(t *testing.T) {
			name := "big/" + format
			if _, err := f.st.CreateStream(context.Background(), point.StreamSpec{Name: name, Kind: point.KindFloat}); err != nil {
				t.Fatal(err)
			}
			body := newBigBody(size, format == "json")
			ctype := map[string]string{"csv": "text/csv", "json": "application/json"}[format]
			var code int
			var ans string
			peak := peakHeapUnderLimit(64<<20, func() {
				code, ans = postBody(t, f.ts.URL+StreamPath(name, "data"), ctype, body)
			})
			if body.n < size {
				t.Fatalf("sent %d bytes, want %d", body.n, size)
			}
			if code != 200 || !strings.Contains(ans, fmt.Sprintf(`"written": %d`, body.points)) {
				t.Fatalf("write of %d points: %d %s", body.points, code, ans)
			}
			t.Logf("%d MiB body, %d points: peak heap growth %.1f MiB", body.n>>20, body.points, float64(peak)/(1<<20))
			if peak > bound {
				t.Errorf("peak heap growth %.1f MiB, want under %d MiB", float64(peak)/(1<<20), bound>>20)
			}
			want := newBigBody(size, false)
			n := countPoints(t, f.st, name, func(i int, p store.Sample) error {
				if p.Time != want.t || p.Value.F != want.v {
					return fmt.Errorf("got %d %v, want %d %v", p.Time, p.Value.F, want.t, want.v)
				}
				want.step()
				return nil
			})
			if n != body.points {
				t.Fatalf("stored %d points, want %d", n, body.points)
			}
		})
	}
}

// csvLines is a CSV body of n points of one stream, a second apart from
// t0 (epoch seconds), values i*0.5.
func csvLines(n int, t0 int64) *strings.Builder {
	var b strings.Builder
	b.WriteString("timestamp,value\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "%d,%g\n", t0+int64(i), float64(i)*0.5)
	}
	return &b
}

// TestWriteBatches: a body longer than a batch is stored whole, in
// order, so the last of equal timestamps wins across batches too.
func TestWriteBatches(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	const n, t0 = 2*batchPoints + 1000, int64(1763892000)
	b := csvLines(n, t0)
	fmt.Fprintf(b, "%d,-1\n", t0+5) // overwrites point 5, two batches back
	code, body := f.do(t, "POST", StreamPath("a/csv", "data")+"?create=1", "text/csv", b.String())
	if code != 200 || !strings.Contains(body, fmt.Sprintf(`"written": %d`, n+1)) || !strings.Contains(body, `"a/csv"`) {
		t.Fatalf("write: %d %s", code, body)
	}
	got := countPoints(t, f.st, "a/csv", func(i int, p store.Sample) error {
		want := float64(i) * 0.5
		if i == 5 {
			want = -1
		}
		if p.Time != (t0+int64(i))*1e9 || p.Value.F != want {
			return fmt.Errorf("got %d %v, want %d %v", p.Time, p.Value.F, (t0+int64(i))*1e9, want)
		}
		return nil
	})
	if got != n {
		t.Fatalf("stored %d points, want %d", got, n)
	}

	// JSON, bulk, every kind and qualities, created on the fly: the
	// batches past the first go through the spool and must come back as
	// they were.
	if _, err := f.st.CreateStream(ctx, point.StreamSpec{Name: "k/int", Kind: point.KindInt}); err != nil {
		t.Fatal(err)
	}
	const per = batchPoints/4 + 500 // per stream: the body is just over a batch
	var js bytes.Buffer
	js.WriteByte('[')
	for i := 0; i < per; i++ {
		t := t0 + int64(i)
		if i > 0 {
			js.WriteByte(',')
		}
		fmt.Fprintf(&js, `{"stream":"k/float","time":%d,"value":%g},`, t, float64(i)/4)
		fmt.Fprintf(&js, `{"stream":"k/int","time":%d,"value":%d,"quality":%d},`, t, -i*1000003, i%3<<30)
		fmt.Fprintf(&js, `{"stream":"k/bool","time":%d,"value":%t},`, t, i%3 == 0)
		fmt.Fprintf(&js, `{"stream":"k/str","time":"%s","value":"s%d \"q\" ü"}`, strconv.FormatInt(t, 10), i)
	}
	js.WriteByte(']')
	code, body = f.do(t, "POST", "/api/v1/data?create=1", "application/json", js.String())
	var res WriteResult
	json.Unmarshal([]byte(body), &res)
	if code != 200 || res.Written != 4*per || !reflect.DeepEqual(res.Created, []string{"k/float", "k/bool", "k/str"}) {
		t.Fatalf("bulk json: %d %s", code, body)
	}
	for name, want := range map[string]func(i int) (point.Value, uint32){
		"k/float": func(i int) (point.Value, uint32) { return point.Float(float64(i) / 4), 0 },
		"k/int": func(i int) (point.Value, uint32) {
			return point.Int(int64(-i * 1000003)), uint32(i % 3 << 30)
		},
		"k/bool": func(i int) (point.Value, uint32) { return point.Bool(i%3 == 0), 0 },
		"k/str":  func(i int) (point.Value, uint32) { return point.String(fmt.Sprintf(`s%d "q" ü`, i)), 0 },
	} {
		got := countPoints(t, f.st, name, func(i int, p store.Sample) error {
			v, q := want(i)
			if p.Time != (t0+int64(i))*1e9 || p.Value != v || p.Quality != q {
				return fmt.Errorf("got %d %+v q%d, want %d %+v q%d", p.Time, p.Value, p.Quality, (t0+int64(i))*1e9, v, q)
			}
			return nil
		})
		if got != per {
			t.Errorf("%s: %d points, want %d", name, got, per)
		}
	}
}

// TestWriteBatchStreams: a batch holds at most batchStreams streams, so
// a body over more streams than one store transaction takes (one chunk
// each) is cut into batches and stored whole, where it used to be a 413.
func TestWriteBatchStreams(t *testing.T) {
	f := newFixture(t, nil)
	const n = 4*batchStreams + 100 // one transaction takes about 30,000
	// Created from many goroutines, so that the store commits them in
	// groups: one by one, each waits for its own fsync.
	next := make(chan int)
	errs := make(chan error, 64)
	for w := 0; w < cap(errs); w++ {
		go func() {
			var err error
			for i := range next {
				if err == nil {
					_, err = f.st.CreateStream(context.Background(), point.StreamSpec{Name: fmt.Sprintf("s/%05d", i)})
				}
			}
			errs <- err
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	for w := 0; w < cap(errs); w++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "s/%05d,1763892000,%d\n", i, i)
	}
	code, body := f.do(t, "POST", "/api/v1/data", "text/csv", b.String())
	if code != 200 || !strings.Contains(body, fmt.Sprintf(`"written": %d`, n)) {
		t.Fatalf("write: %d %.300s", code, body)
	}
	for _, i := range []int{0, batchStreams - 1, batchStreams, n - 1} {
		name := fmt.Sprintf("s/%05d", i)
		if p, ok, err := f.st.Latest(context.Background(), name); err != nil || !ok || p.Value.F != float64(i) {
			t.Errorf("%s: %+v %v %v", name, p, ok, err)
		}
	}
}

// TestLongBadWriteChangesNothing: a bad point far past the first batch
// still rejects the whole body: nothing is stored, no stream created.
func TestLongBadWriteChangesNothing(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	f.st.CreateStream(ctx, point.StreamSpec{Name: "old", Kind: point.KindFloat})
	const n = 2*batchPoints + 10
	b := csvLines(n, 1763892000)
	b.WriteString("yesterday,1\n")
	for _, name := range []string{"old", "new"} {
		code, body := f.do(t, "POST", StreamPath(name, "data")+"?create=1", "text/csv", b.String())
		if want := fmt.Sprintf("line %d: ", n+2); code != 400 || !strings.Contains(body, want) {
			t.Fatalf("%s: %d %s, want 400 naming %q", name, code, body, want)
		}
	}
	if _, err := f.st.GetStream(ctx, "new"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("stream of a rejected write was created: %v", err)
	}
	// JSON: a value that does not fit the stream, at the very end.
	var js strings.Builder
	js.WriteByte('[')
	for i := 0; i < n; i++ {
		fmt.Fprintf(&js, `{"time":%d,"value":%d},`, 1763892000+i, i)
	}
	js.WriteString(`{"time":1,"value":"x"}]`)
	code, body := f.do(t, "POST", StreamPath("old", "data"), "application/json", js.String())
	if want := fmt.Sprintf(`points[%d] (stream \"old\"`, n); code != 400 || !strings.Contains(body, want) || !strings.Contains(body, "not a number") {
		t.Fatalf("json: %d %s, want 400 naming %q", code, body, want)
	}
	if got := countPoints(t, f.st, "old", nil); got != 0 {
		t.Fatalf("rejected writes stored %d points", got)
	}
}

// TestWriteWithoutSpool: a body longer than a batch needs the temporary
// file; when none can be made it is refused whole, while a body that
// fits one batch does not need it.
func TestWriteWithoutSpool(t *testing.T) {
	f := newFixture(t, nil)
	t.Setenv("TMPDIR", filepath.Join(t.TempDir(), "missing"))
	code, body := f.do(t, "POST", StreamPath("s", "data")+"?create=1", "text/csv", csvLines(batchPoints+1, 1763892000).String())
	if code != 500 || !strings.Contains(body, "spool the write body") {
		t.Fatalf("long body: %d %s", code, body)
	}
	if _, err := f.st.GetStream(context.Background(), "s"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("refused write created its stream: %v", err)
	}
	code, body = f.do(t, "POST", StreamPath("s", "data")+"?create=1", "text/csv", csvLines(batchPoints, 1763892000).String())
	if code != 200 || !strings.Contains(body, fmt.Sprintf(`"written": %d`, batchPoints)) {
		t.Fatalf("one batch: %d %s", code, body)
	}
}

// TestWriteBodyLimits: long lines within the bound pass, beyond it they
// are a 400; a JSON body over the size limit is a 413 like a CSV one;
// JSON must be one array and nothing after it.
func TestWriteBodyLimits(t *testing.T) {
	f := newFixture(t, nil)
	f.st.CreateStream(context.Background(), point.StreamSpec{Name: "txt", Kind: point.KindString})
	long := strings.Repeat("x", 200<<10) // longer than the read buffer
	if code, body := f.do(t, "POST", StreamPath("txt", "data"), "text/csv", "1763892000,"+long+"\n1763892001,y\n"); code != 200 || !strings.Contains(body, `"written": 2`) {
		t.Fatalf("long line: %d %s", code, body)
	}
	if p, ok, _ := f.st.Latest(context.Background(), "txt"); !ok || p.Value.S != "y" {
		t.Fatalf("latest %+v", p)
	}
	if n := countPoints(t, f.st, "txt", func(i int, p store.Sample) error {
		if i == 0 && p.Value.S != long {
			return fmt.Errorf("long value of %d bytes came back as %d", len(long), len(p.Value.S))
		}
		return nil
	}); n != 2 {
		t.Fatalf("%d points", n)
	}
	huge := strings.Repeat("x", maxPointBytes+1)
	for _, tc := range []struct{ ctype, body, want string }{
		{"text/csv", "1763892000,a\n1763892001," + huge + "\n", "line 2: longer than 1048576 bytes"},
		{"application/json", `[{"time": 1763892000, "value": "a"}, {"time": 1763892001, "value": "` + huge + `"}]`, "points[1]: longer than 1048576 bytes"},
		{"application/json", `[{"time": 1763892000, "value": "a"}] [`, "data after the array"},
		{"application/json", `null`, "JSON array"},
		{"application/json", ``, "body: empty"},
		{"application/json", `[{"time": 1763892000, "value": "a"}`, "unexpected EOF"},
	} {
		if code, body := f.do(t, "POST", StreamPath("txt", "data"), tc.ctype, tc.body); code != 400 || !strings.Contains(body, tc.want) {
			t.Errorf("%.60q: %d %.200s, want 400 with %q", tc.body, code, body, tc.want)
		}
	}
	small := newFixture(t, func(o *Options) { o.MaxBodyBytes = 100 })
	small.st.CreateStream(context.Background(), point.StreamSpec{Name: "s"})
	js := "[" + strings.Repeat(`{"time": 1763892000, "value": 1},`, 10) + `{"time": 1763892000, "value": 1}]`
	if code, body := small.do(t, "POST", StreamPath("s", "data"), "application/json", js); code != 413 || !strings.Contains(body, "over the limit of 100 bytes") {
		t.Fatalf("big json body: %d %s", code, body)
	}
}

// parseWith parses a body read through wrap (one byte at a time, say).
func parseWith(body string, stream string, asJSON bool, wrap func(io.Reader) io.Reader) ([]point.Point, error) {
	r := wrap(strings.NewReader(body))
	if asJSON {
		return parseAll(newJSONParser(r, stream, testNow))
	}
	return parseAll(newCSVParser(r, stream, testNow))
}

// streamingSame checks that a body parses to the same points, or the
// same error, however its bytes arrive.
func streamingSame(t *testing.T, body string, stream string, asJSON bool) {
	t.Helper()
	whole, werr := parseWith(body, stream, asJSON, func(r io.Reader) io.Reader { return r })
	for name, wrap := range map[string]func(io.Reader) io.Reader{
		"one byte": iotest.OneByteReader, "half": iotest.HalfReader, "data+EOF": iotest.DataErrReader,
	} {
		got, err := parseWith(body, stream, asJSON, wrap)
		if fmt.Sprint(err) != fmt.Sprint(werr) || !reflect.DeepEqual(got, whole) {
			t.Fatalf("%s reads of %q: %v %+v; whole: %v %+v", name, body, err, got, werr, whole)
		}
	}
}

func TestParsersStream(t *testing.T) {
	for _, body := range []string{
		"timestamp,value\n2026-11-23T10:00:00Z,1\r\n\n1763892001,2.5,3\n1763892002,\"x,y\"\n1763892003,true",
		"1763892001,2\nyesterday,3\n",
		"1763892001,\"unterminated\n",
	} {
		streamingSame(t, body, "s", false)
	}
	streamingSame(t, "stream,timestamp,value\na,1,1\nb,now,x\na,-1h,2,5\n", "", false)
	for _, body := range []string{
		`[{"time": "2026-11-23T10:00:00Z", "value": 1}, {"time": 1763892000.5, "value": "x", "quality": 7}]`,
		` [ ] `, `[{"time": 1, "value": 1}] x`, `[{"time": 1, "value": 1}`, `{"time": 1}`, `[{"time": 1, "value": 1, "extra": 2}]`,
	} {
		streamingSame(t, body, "s", true)
	}
	streamingSame(t, `[{"stream": "a\u00fc", "time": 1, "value": 1}, {"stream": "b", "time": 2, "value": false}]`, "", true)
}

// FuzzParseStreaming: the parsers give the same answer whatever the
// sizes of the reads their body arrives in.
func FuzzParseStreaming(f *testing.F) {
	for _, s := range []string{
		"timestamp,value\n2026-11-23T10:00:00Z,1\n", "a,1763892000,1.5,0\nb,now,true\n", "\"q,uoted\",1,x\n",
		`[{"time": "2026-11-23T10:00:00Z", "value": 1}]`, `[{"stream": "a", "time": 1763892000, "value": "x", "quality": 5}]`, `[] []`,
	} {
		f.Add(s, true, s[0] == '[')
		f.Add(s, false, s[0] == '[')
	}
	f.Fuzz(func(t *testing.T, body string, bulk, asJSON bool) {
		stream := "s"
		if bulk {
			stream = ""
		}
		streamingSame(t, body, stream, asJSON)
	})
}

// spoolPoints makes points of every kind from fuzz bytes: 12 bytes a point.
func spoolPoints(data []byte) []point.Point {
	names := []string{"a", "b/c", "", "ü/long name of a stream"}
	var pts []point.Point
	for ; len(data) >= 12; data = data[12:] {
		p := point.Point{Stream: names[data[0]%4], Time: int64(int32(be32(data[2:]))) * int64(data[1]) << 20}
		x := be32(data[6:])
		switch data[0] >> 2 % 4 {
		case 0:
			p.Value = point.Float(math.Float64frombits(uint64(x) << 32 * uint64(data[10]|1)))
		case 1:
			p.Value = point.Int(int64(int32(x)) << (data[10] % 40))
		case 2:
			p.Value = point.Bool(x%2 == 1)
		case 3:
			p.Value = point.String(strings.Repeat(string(rune('a'+data[10]%26)), int(x%300)))
		}
		if data[11]&1 == 1 {
			p.Quality = x
		}
		pts = append(pts, p)
	}
	return pts
}

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// FuzzSpool: points come back from the spool as they went in, batch by
// batch.
func FuzzSpool(f *testing.F) {
	f.Add([]byte("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"), uint8(3))
	f.Add(bytes.Repeat([]byte{0xff, 0x80, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 20), uint8(1))
	f.Add(bytes.Repeat([]byte{4, 1, 0x7f, 0xff, 0xff, 0xff, 0x80, 0, 0, 0, 39, 1}, 5), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, cut uint8) {
		pts := spoolPoints(data)
		per := int(cut%7) + 1
		sp, err := newSpool()
		if err != nil {
			t.Fatal(err)
		}
		defer sp.Close()
		var want [][]point.Point
		for i := range pts {
			if i%per == 0 {
				sp.endBatch()
				want = append(want, nil)
			}
			if err := sp.add(&pts[i]); err != nil {
				t.Fatal(err)
			}
			want[len(want)-1] = append(want[len(want)-1], pts[i])
		}
		sp.endBatch()
		if err := sp.rewind(); err != nil {
			t.Fatal(err)
		}
		for i := 0; ; i++ {
			got, err := sp.next(nil)
			if err == io.EOF {
				if i != len(want) {
					t.Fatalf("%d batches back, want %d", i, len(want))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if i >= len(want) || !samePoints(got, want[i]) {
				t.Fatalf("batch %d: got %+v, want %+v", i, got, want[min(i, len(want)-1)])
			}
		}
	})
}

// samePoints compares points, floats by their bits (NaN included).
func samePoints(a, b []point.Point) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if math.Float64bits(x.Value.F) != math.Float64bits(y.Value.F) {
			return false
		}
		x.Value.F, y.Value.F = 0, 0
		if x != y {
			return false
		}
	}
	return true
}
