package api

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/sluice-edge/sluice/agent/store"
	"github.com/sluice-edge/sluice/connectors/point"
)

// TestMayWrite: Options.MayWrite is asked for every stream of a write,
// before any lookup: one stream it refuses, however far into the body,
// fails the whole body with 403 naming the stream, and nothing is stored
// or created. The rule is the one an ingest token of site1/ has.
func TestMayWrite(t *testing.T) {
	var asked []string
	f := newFixture(t, func(o *Options) {
		o.MayWrite = func(ctx context.Context, stream string) error {
			asked = append(asked, stream)
			if !strings.HasPrefix(stream, "site1/") {
				return fmt.Errorf("may not write stream %q", stream)
			}
			return nil
		}
	})
	ctx := context.Background()
	f.st.CreateStream(ctx, point.StreamSpec{Name: "site2/known", Kind: point.KindFloat})
	long := csvLines(batchPoints+10, 1763892000) // spooled past the first batch
	for _, tc := range []struct {
		name, path, ctype, body, refused string
	}{
		{"bulk JSON", "/api/v1/data?create=1", "application/json",
			`[{"stream": "site1/a", "time": 1763892000, "value": 1}, {"stream": "site2/b", "time": 1763892000, "value": 2}]`, "site2/b"},
		{"bulk CSV", "/api/v1/data?create=1", "text/csv", "site1/a,1763892000,1\nsite1/b,1763892000,1\nother,1763892000,1\n", "other"},
		// An existing stream outside is refused too, not reported as found.
		{"existing stream", "/api/v1/data", "text/csv", "site2/known,1763892000,1\n", "site2/known"},
		// Unknown outside: 403, not the 404 that would say it does not exist.
		{"unknown stream", "/api/v1/data", "text/csv", "site3/x,1763892000,1\n", "site3/x"},
		{"past the first batch", "/api/v1/data?create=1", "text/csv",
			bulkOf("site1/long", long.String()) + "site9/late,1763892000,1\n", "site9/late"},
		{"one stream", StreamPath("site2/x", "data") + "?create=1", "text/csv", "1763892000,1\n", "site2/x"},
	} {
		code, body := f.do(t, "POST", tc.path, tc.ctype, tc.body)
		if code != 403 || !strings.Contains(body, `may not write stream \"`+tc.refused+`\"`) {
			t.Errorf("%s: %d %.300s, want 403 naming %q", tc.name, code, body, tc.refused)
		}
	}
	for _, name := range []string{"site1/a", "site1/b", "site1/long", "site2/b", "site3/x", "site9/late", "site2/x"} {
		if _, err := f.st.GetStream(ctx, name); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("refused write created %s: %v", name, err)
		}
	}
	if n := countPoints(t, f.st, "site2/known", nil); n != 0 {
		t.Errorf("refused write stored %d points", n)
	}
	if got := testutil.ToFloat64(f.srv.rejected.WithLabelValues("write_bulk", "forbidden")); got != 5 {
		t.Errorf("forbidden bulk writes counted %v, want 5", got)
	}

	// Inside the prefix it writes, and each stream is asked about.
	asked = nil
	code, body := f.do(t, "POST", "/api/v1/data?create=1", "text/csv", "site1/a,1763892000,1\nsite1/b,1763892000,2\nsite1/a,1763892001,3\n")
	if code != 200 || !strings.Contains(body, `"written": 3`) {
		t.Fatalf("inside the prefix: %d %s", code, body)
	}
	if strings.Join(asked, " ") != "site1/a site1/b" {
		t.Errorf("asked about %q, want each stream of the batch once", asked)
	}
	if n := countPoints(t, f.st, "site1/a", nil); n != 2 {
		t.Errorf("site1/a has %d points", n)
	}
}

// bulkOf turns a "timestamp,value" CSV body into bulk lines of stream.
func bulkOf(stream, csv string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSuffix(csv, "\n"), "\n")[1:] {
		b.WriteString(stream + "," + l + "\n")
	}
	return b.String()
}
