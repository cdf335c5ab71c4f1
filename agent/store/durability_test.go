package store

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-edge/sluice/connectors/point"
)

// The kill -9 test re-executes the test binary as a writer child (see
// TestMain): the child writes batches in a loop and prints the number of
// every batch whose Write returned nil. The parent SIGKILLs it mid-loop,
// reopens the database and checks that every acknowledged batch is there
// and that no batch is there in part.

const childEnv = "SLUICE_STORE_WRITER_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		os.Exit(writerChild(dir))
	}
	os.Exit(m.Run())
}

const (
	childStreams = 3
	childPoints  = 50 // per stream per batch
)

func writerChild(dir string) int {
	ctx := context.Background()
	s, err := Open(ctx, Options{Dir: dir, CompactInterval: 20 * time.Millisecond, ChunkPoints: 256})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	for i := 0; i < childStreams; i++ {
		if err := s.EnsureStream(ctx, point.StreamSpec{Name: fmt.Sprintf("d/%d", i), Kind: point.KindInt}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
	}
	out := bufio.NewWriter(os.Stdout)
	for b := 0; ; b++ {
		pts := make([]point.Point, 0, childStreams*childPoints)
		for i := 0; i < childStreams; i++ {
			for j := 0; j < childPoints; j++ {
				pts = append(pts, point.Point{Stream: fmt.Sprintf("d/%d", i), Time: int64(b*childPoints + j), Value: point.Int(int64(b))})
			}
		}
		if err := s.Write(ctx, pts); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		fmt.Fprintf(out, "ack %d\n", b)
		out.Flush()
	}
}

func TestKill9KeepsAcknowledgedWrites(t *testing.T) {
	dir := t.TempDir()
	for run := 0; run < 2; run++ { // the second run resumes on the first's data
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+dir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		acked := -1
		for sc.Scan() {
			n, err := strconv.Atoi(strings.TrimPrefix(sc.Text(), "ack "))
			if err != nil {
				t.Fatalf("child said %q", sc.Text())
			}
			acked = n
			if n == 150+run*37 { // somewhere in the middle of the loop
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				break
			}
		}
		// Acks printed after our read but before the kill count too.
		for sc.Scan() {
			if n, err := strconv.Atoi(strings.TrimPrefix(sc.Text(), "ack ")); err == nil {
				acked = n
			}
		}
		_ = cmd.Wait()
		if acked < 150 {
			t.Fatalf("child stopped early at batch %d: %s", acked, stderr.String())
		}

		s, err := Open(context.Background(), Options{Dir: dir, CompactInterval: time.Hour})
		if err != nil {
			t.Fatalf("reopen after kill -9: %v", err)
		}
		batches := make([]map[int64]int, childStreams)
		for i := 0; i < childStreams; i++ {
			batches[i] = map[int64]int{}
			it, err := s.Window(context.Background(), fmt.Sprintf("d/%d", i), WindowQuery{Start: math.MinInt64, End: math.MaxInt64})
			if err != nil {
				t.Fatal(err)
			}
			for it.Next() {
				p := it.At()
				if p.Value.I != p.Time/childPoints {
					t.Fatalf("stream %d point %+v has the wrong value", i, p)
				}
				batches[i][p.Value.I]++
			}
			if err := it.Err(); err != nil {
				t.Fatal(err)
			}
			it.Close()
		}
		s.Close()
		maxSeen := int64(-1)
		for i := range batches {
			for b, n := range batches[i] {
				maxSeen = max(maxSeen, b)
				if n != childPoints {
					t.Errorf("run %d: stream %d batch %d has %d of %d points: half-written", run, i, b, n, childPoints)
				}
				for j := range batches {
					if batches[j][b] != n {
						t.Errorf("run %d: batch %d is in stream %d but not stream %d: half-written", run, b, i, j)
					}
				}
			}
		}
		for b := int64(0); b <= int64(acked); b++ {
			if batches[0][b] != childPoints {
				t.Fatalf("run %d: acknowledged batch %d lost (acked up to %d)", run, b, acked)
			}
		}
		if maxSeen > int64(acked)+1 {
			t.Fatalf("run %d: batch %d stored but only %d acknowledged and one in flight", run, maxSeen, acked)
		}
		t.Logf("run %d: acknowledged %d batches, found %d", run, acked+1, maxSeen+1)
	}
}
