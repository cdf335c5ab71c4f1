package opcua

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-edge/sluice/connectors/connectortest"
)

// BenchmarkIngest measures the source against node-opcua with 1,000
// variables all changing every 100 ms (10,000 changes/s), discovered under
// Objects/Bench and subscribed with sampling interval 0 (the server reports
// every change) and a 100 ms publishing interval, into a sink that fsyncs
// every batch (standing in for the store with SyncWrites).
//
// One iteration is a 10 s window of steady state (so -benchtime=1x is one
// window). Metrics:
//
//	notifications/s     data changes received
//	points/s            points durably written
//	stored/received     points written / data changes received, over the
//	                    whole run after the final drain (target 1: no loss)
//	received/produced   data changes received / changes the server made in
//	                    the window (±1 round of 1,000 at the edges)
//	cpu-ms/1000pts      this process's CPU (source, sink, test harness) per
//	                    1,000 points written
//	server-cpu-ms/1000  node-opcua's CPU per 1,000 changes, for scale
func BenchmarkIngest(b *testing.B) {
	const vars, interval = 1000, 100
	window := 10 * time.Second
	if s := os.Getenv("SLUICE_BENCH_WINDOW"); s != "" {
		if d, err := time.ParseDuration(s); err == nil {
			window = d
		}
	}
	b.StopTimer()
	setup := time.Now()
	srv := startNodeServer(b, nodeOpts{TickMS: 60000, Bench: &benchOpts{Count: vars, IntervalMS: interval}})
	sink := connectortest.NewSink(b, connectortest.Options{File: filepath.Join(b.TempDir(), "points.tsv"), CountOnly: true})
	r := runSource(b, "bench", testConfig(srv.endpoint, noSecurity, `
subscription: {publishing_interval: 100ms, sampling_interval: 0s, queue_size: 10, max_keepalive_count: 10, lifetime_count: 100}
watchdog_margin: 5s
nodes: [{browse: Objects/Bench, stream: "bench/{name}", depth: 1}]
`), sink, "")
	b.Logf("server up in %v", time.Since(setup))
	sink.WaitFor(b, time.Minute, "every bench stream", func() bool { return len(sink.StreamNames()) == vars })
	b.Logf("streams up in %v", time.Since(setup))
	time.Sleep(time.Second) // steady state

	var elapsed time.Duration
	var notif, stored, produced float64
	var cpu, srvCPU time.Duration
	for i := 0; i < b.N; i++ {
		n0, w0, p0 := r.counter(r.m.Notifications), float64(sink.Received()), srv.produced()
		c0, s0 := processCPU(), srv.cpu()
		start := time.Now()
		b.StartTimer()
		time.Sleep(window)
		b.StopTimer()
		elapsed += time.Since(start)
		notif += r.counter(r.m.Notifications) - n0
		stored += float64(sink.Received()) - w0
		produced += srv.produced() - p0
		cpu += processCPU() - c0
		srvCPU += srv.cpu() - s0
	}
	r.stop() // drains the queue
	totalNotif, totalWritten := r.counter(r.m.Notifications), r.counter(r.m.Written)
	if r.errors("watchdog")+r.errors("session_lost") > 0 {
		b.Errorf("the session was lost during the benchmark")
	}
	if d := gauge(r.m.Dropped.WithLabelValues("bench", "queue_full")); d > 0 {
		b.Errorf("dropped %v", d)
	}
	if o := r.errors("queue_overflow"); o > 0 {
		b.Logf("the server's queues overflowed %v times", o)
	}
	b.ReportMetric(notif/elapsed.Seconds(), "notifications/s")
	b.ReportMetric(stored/elapsed.Seconds(), "points/s")
	b.ReportMetric(totalWritten/totalNotif, "stored/received")
	b.ReportMetric(notif/produced, "received/produced")
	b.ReportMetric(float64(cpu.Microseconds())/1000/stored*1000, "cpu-ms/1000pts")
	b.ReportMetric(float64(srvCPU.Microseconds())/1000/produced*1000, "server-cpu-ms/1000")
	b.ReportMetric(0, "ns/op")
}

// processCPU is this process's user and system CPU time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// produced is the number of bench value changes the server has made.
func (n *nodeServer) produced() float64 {
	r := n.command(map[string]any{"cmd": "stats"})
	v, _ := r["produced"].(float64)
	return v
}

// cpu is the server process's CPU time so far (Linux).
func (n *nodeServer) cpu() time.Duration {
	n.mu.Lock()
	cmd := n.cmd
	n.mu.Unlock()
	if cmd == nil {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.Atoi(f[11])
	st, _ := strconv.Atoi(f[12])
	return time.Duration(ut+st) * 10 * time.Millisecond
}
