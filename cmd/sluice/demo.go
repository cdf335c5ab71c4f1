package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sluice-edge/sluice/agent"
	"github.com/sluice-edge/sluice/agent/api"
)

// `sluice demo` runs two tenants' agents on this machine, as child
// processes of its own binary, and walks the community handshake, sharing,
// partner reads and a pause through the same code as the CLI verbs,
// printing each step as the command a user would type and its output.

const (
	demoCommunity = "supply-chain"
	demoReadyWait = 60 * time.Second
	demoConverge  = 30 * time.Second // for steps that wait on the partner's agent
)

var demoReadyRE = regexp.MustCompile(`msg="agent ready" api=(\S+)`)

func runDemo(ctx context.Context, args []string) error {
	fs := newFlags("demo", "[--keep] [--quiet]\n\n"+
		"Starts two tenants' agents on loopback ports (acme-refinery and\n"+
		"northwind-chemicals), feeds each a simulated stream, and walks the\n"+
		"whole community handshake: create, invite, accept, confirm, share,\n"+
		"partner reads both ways, pause (reads are denied) and resume. Each step\n"+
		"prints the equivalent sluice command and its output. The agents are\n"+
		"stopped and their data removed at the end.")
	keep := fs.Bool("keep", false, "keep the agents' data dirs and print where they are")
	quiet := fs.Bool("quiet", false, "print only the outcome")
	if _, err := parseFlags(fs, args, 0, 0); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	d := &demo{out: os.Stdout, quiet: *quiet}
	err := d.run(ctx)
	if err == nil && *quiet {
		fmt.Fprintln(d.out, "demo ok: handshake, sharing both ways, partner reads, pause and resume all worked")
	}
	d.cleanup(*keep)
	if err != nil && ctx.Err() == nil {
		d.dumpLogs(os.Stderr)
	}
	return err
}

type demo struct {
	out         io.Writer
	quiet       bool
	abbrevToken bool // show only the start of a step's stdout
	root        string
	agents      []*demoAgent
}

// demoAgent is one tenant's agent, run as a child process.
type demoAgent struct {
	name    string
	dir     string // config and data live here
	fedAddr string
	cmd     *exec.Cmd
	client  *api.Client
	exited  chan struct{}
	waitErr error

	logMu sync.Mutex
	log   []string // the last lines of its log
}

func (d *demo) say(format string, a ...any) {
	if !d.quiet {
		fmt.Fprintf(d.out, format, a...)
	}
}

func (d *demo) run(ctx context.Context) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find this program to run the agents: %w", err)
	}
	if d.root, err = os.MkdirTemp("", "sluice-demo-"); err != nil {
		return err
	}
	ports, err := freeLoopbackPorts(4)
	if err != nil {
		return err
	}
	d.say("Sluice demo: two companies, each with its own agent on this machine.\n\n")
	acme, err := d.start(ctx, exe, "acme-refinery", ports[0], ports[1])
	if err != nil {
		return err
	}
	north, err := d.start(ctx, exe, "northwind-chemicals", ports[2], ports[3])
	if err != nil {
		return err
	}
	d.say("\n")

	// Each tenant's plant feeds its agent.
	now := time.Now().Truncate(time.Second)
	if err := d.feed(ctx, acme, "site1/boiler/temp", "degC", "boiler 1 outlet temperature", now,
		func(t float64) float64 { return 182 + 6*math.Sin(2*math.Pi*t/300) + 0.7*math.Sin(2*math.Pi*t/23) }); err != nil {
		return err
	}
	if err := d.feed(ctx, north, "rotterdam/feed/flow", "m3/h", "feedstock flow into line 2", now,
		func(t float64) float64 { return 42.5 + 3*math.Sin(2*math.Pi*t/420) + 0.4*math.Cos(2*math.Pi*t/17) }); err != nil {
		return err
	}

	// The handshake.
	card, err := d.step(ctx, north, false, "tenant", "card")
	if err != nil {
		return err
	}
	northID, _, _ := strings.Cut(card, "\n")
	if _, err := d.step(ctx, acme, false, "community", "create", demoCommunity); err != nil {
		return err
	}
	// The token is long (it carries the signed invitation and the owner's
	// addresses); the demo shows its start.
	d.abbrevToken = true
	token, err := d.step(ctx, acme, false, "community", "invite", demoCommunity, "--email", "ops@northwind.example", "--tenant", northID)
	d.abbrevToken = false
	if err != nil {
		return err
	}
	token = strings.TrimSpace(token)
	if _, err := d.stepShown(ctx, north, false, []string{"invitation", "accept", abbrev(token)}, "invitation", "accept", token); err != nil {
		return err
	}
	if _, err := d.step(ctx, acme, true, "community", "confirm", demoCommunity, "northwind-chemicals"); err != nil {
		return err
	}
	if _, err := d.step(ctx, acme, true, "community", "members", demoCommunity); err != nil {
		return err
	}

	// Sharing, one stream each way, and reads from each side.
	if _, err := d.step(ctx, acme, false, "share", "site1/boiler/temp", "--community", demoCommunity); err != nil {
		return err
	}
	if _, err := d.step(ctx, north, false, "share", "rotterdam/feed/flow", "--community", demoCommunity, "--lookback", "30d"); err != nil {
		return err
	}
	if _, err := d.step(ctx, north, true, "community", "catalog", demoCommunity); err != nil {
		return err
	}
	northRead := []string{"community", "read", demoCommunity, "acme-refinery/site1/boiler/temp", "--start", "-10m", "--limit", "5"}
	if _, err := d.step(ctx, north, true, northRead...); err != nil {
		return err
	}
	if _, err := d.step(ctx, acme, true, "community", "read", demoCommunity, "northwind-chemicals/rotterdam/feed/flow", "--start", "-10m", "--limit", "5"); err != nil {
		return err
	}
	if _, err := d.step(ctx, acme, true, "community", "summaries", demoCommunity, "northwind-chemicals/rotterdam/feed/flow", "--start", "-10m", "--interval", "5m"); err != nil {
		return err
	}

	// Pause: the owner's agent refuses the very next read, and says why.
	if _, err := d.step(ctx, acme, false, "community", "pause", demoCommunity); err != nil {
		return err
	}
	if err := d.denied(ctx, north, "paused", northRead...); err != nil {
		return err
	}
	if _, err := d.step(ctx, acme, false, "community", "resume", demoCommunity); err != nil {
		return err
	}
	if _, err := d.step(ctx, north, false, northRead...); err != nil {
		return err
	}
	if _, err := d.step(ctx, acme, false, "community", "show", demoCommunity); err != nil {
		return err
	}

	// Stop the agents as systemd would.
	for _, a := range d.agents {
		if err := a.stop(); err != nil {
			return err
		}
		d.say("stopped %s's agent\n", a.name)
	}
	return nil
}

// start runs one tenant's agent and waits until it is ready.
func (d *demo) start(ctx context.Context, exe, name string, fedPort, gossipPort int) (*demoAgent, error) {
	a := &demoAgent{name: name, dir: filepath.Join(d.root, name), exited: make(chan struct{})}
	a.fedAddr = fmt.Sprintf("127.0.0.1:%d", fedPort)
	data := filepath.Join(a.dir, "data")
	if err := os.MkdirAll(a.dir, 0o700); err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(a.dir, "agent.yaml")
	cfg := fmt.Sprintf("tenant: {name: %s}\nfederation: {listen: %s, gossip: 127.0.0.1:%d, advertise: 127.0.0.1}\n", name, a.fedAddr, gossipPort)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	a.cmd = exec.Command(exe, "agent", "--config", cfgPath, "--log-level", "info", "--log-format", "text")
	a.cmd.Dir = a.dir
	a.cmd.Env = append(os.Environ(), "SLUICE_API_LISTEN=127.0.0.1:0", "SLUICE_DATA_DIR="+data)
	stderr, err := a.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := a.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s's agent: %w", name, err)
	}
	d.agents = append(d.agents, a)
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			a.logMu.Lock()
			a.log = append(a.log, line)
			if len(a.log) > 200 {
				a.log = a.log[len(a.log)-100:]
			}
			a.logMu.Unlock()
			if m := demoReadyRE.FindStringSubmatch(line); m != nil {
				select {
				case ready <- m[1]:
				default:
				}
			}
		}
		io.Copy(io.Discard, stderr)
		a.waitErr = a.cmd.Wait()
		close(a.exited)
	}()
	select {
	case addr := <-ready:
		a.client = &api.Client{Base: "http://" + addr}
	case <-a.exited:
		return nil, fmt.Errorf("%s's agent exited before it was ready: %v", name, a.waitErr)
	case <-time.After(demoReadyWait):
		return nil, fmt.Errorf("%s's agent not ready after %s", name, demoReadyWait)
	case <-ctx.Done():
		return nil, errors.New("interrupted")
	}
	tok, err := os.ReadFile(filepath.Join(data, agent.TokenFile))
	if err != nil {
		return nil, fmt.Errorf("read %s's admin token: %w", name, err)
	}
	a.client.Token = strings.TrimSpace(string(tok))
	d.say("%-20s agent at %s, federation %s, data in %s\n", name, trimScheme(a.client.Base), a.fedAddr, data)
	return a, nil
}

// feed creates a stream and writes 10 minutes of simulated 1 s points
// ending at now, as `sluice stream create` and `sluice stream write` do.
func (d *demo) feed(ctx context.Context, a *demoAgent, stream, unit, desc string, now time.Time, f func(t float64) float64) error {
	d.prompt(a, "sluice stream create %s --unit %s --description %s", stream, shellQuote(unit), shellQuote(desc))
	req := map[string]string{"name": stream, "kind": "float", "unit": unit, "description": desc}
	if err := a.client.JSON(ctx, "POST", "/api/v1/streams", nil, req, nil); err != nil {
		return d.failed(a, "stream create", err)
	}
	d.output("created %s (float)\n", stream)
	var csv bytes.Buffer
	csv.WriteString("timestamp,value\n")
	const n = 600
	for i := 0; i < n; i++ {
		t := now.Add(time.Duration(i-n) * time.Second)
		fmt.Fprintf(&csv, "%s,%.2f\n", t.Format(time.RFC3339), f(float64(t.Unix())))
	}
	file := strings.ReplaceAll(stream, "/", "-") + ".csv"
	d.prompt(a, "sluice stream write %s < %s    # %d simulated points, 1 s apart", stream, file, n)
	var res api.WriteResult
	resp, err := a.client.Do(ctx, "POST", api.StreamPath(stream, "data"), nil, "text/csv", &csv)
	if err == nil {
		err = json.NewDecoder(resp.Body).Decode(&res)
		resp.Body.Close()
	}
	if err != nil {
		return d.failed(a, "stream write", err)
	}
	d.output("wrote %d points to %s\n", res.Written, stream)
	return nil
}

// step runs a CLI verb against agent a, showing the command line and its
// output. With converge set, a failure is retried for a while: the step
// waits on something the partner's agent must learn first.
func (d *demo) step(ctx context.Context, a *demoAgent, converge bool, args ...string) (string, error) {
	return d.stepShown(ctx, a, converge, args, args...)
}

// stepShown is step with a different command line to show (a long token
// abbreviated).
func (d *demo) stepShown(ctx context.Context, a *demoAgent, converge bool, shown []string, args ...string) (string, error) {
	d.prompt(a, "sluice %s", quoteArgs(shown))
	deadline := time.Now().Add(demoConverge)
	for {
		stdout, stderr, err := d.invoke(ctx, a, args)
		if err == nil || !converge || time.Now().After(deadline) || ctx.Err() != nil {
			if d.abbrevToken {
				d.output("%s    (%d characters)\n", abbrev(strings.TrimSpace(stdout)), len(strings.TrimSpace(stdout)))
			} else {
				d.output("%s", stdout)
			}
			d.output("%s", stderr)
			if err != nil {
				return "", d.failed(a, args[0]+" "+args[1], err)
			}
			return stdout, nil
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// denied runs a read that the agent must refuse with reason.
func (d *demo) denied(ctx context.Context, a *demoAgent, reason string, args ...string) error {
	d.prompt(a, "sluice %s", quoteArgs(args))
	stdout, stderr, err := d.invoke(ctx, a, args)
	d.output("%s", stdout)
	d.output("%s", stderr)
	var ae *api.Error
	switch {
	case err == nil:
		return fmt.Errorf("%s's agent answered a read that must be denied (%s)", a.name, reason)
	case !errors.As(err, &ae) || ae.Status != 403 || ae.Reason != reason:
		return fmt.Errorf("%s's read should be denied with reason %q, got: sluice %s %v", a.name, reason, args[0], err)
	}
	d.output("sluice %s\n", err)
	return nil
}

// invoke runs one verb with a's client, its output captured.
func (d *demo) invoke(ctx context.Context, a *demoAgent, args []string) (string, string, error) {
	var stdout, stderr bytes.Buffer
	f := &fedCLI{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, client: a.client}
	cmd, ok := f.commands()[args[0]]
	if !ok {
		return "", "", fmt.Errorf("demo: no verb %q", args[0])
	}
	err := cmd.run(ctx, args[1:])
	return stdout.String(), stderr.String(), err
}

func (d *demo) prompt(a *demoAgent, format string, args ...any) {
	d.say("%s$ %s\n", a.name, fmt.Sprintf(format, args...))
}

// output prints a step's output indented.
func (d *demo) output(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	if s == "" {
		return
	}
	for _, line := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		d.say("    %s\n", line)
	}
}

// failed says which step failed where, as "on acme-refinery: sluice
// community confirm: ... (HTTP 409)".
func (d *demo) failed(a *demoAgent, what string, err error) error {
	var ve *verbError
	if errors.As(err, &ve) {
		return fmt.Errorf("on %s: sluice %s", a.name, ve)
	}
	return fmt.Errorf("on %s: sluice %s: %s", a.name, what, oneLine(err))
}

// dumpLogs shows the end of each agent's log after a failure.
func (d *demo) dumpLogs(w io.Writer) {
	for _, a := range d.agents {
		a.logMu.Lock()
		lines := a.log
		if len(lines) > 15 {
			lines = lines[len(lines)-15:]
		}
		fmt.Fprintf(w, "--- last lines of %s's agent log:\n", a.name)
		for _, l := range lines {
			fmt.Fprintf(w, "  %s\n", l)
		}
		a.logMu.Unlock()
	}
}

// cleanup stops agents still running and removes (or shows) the data.
func (d *demo) cleanup(keep bool) {
	for _, a := range d.agents {
		a.stop()
	}
	if d.root == "" {
		return
	}
	if keep {
		fmt.Fprintf(d.out, "\nkept the agents' config and data in %s:\n", d.root)
		for _, a := range d.agents {
			fmt.Fprintf(d.out, "  %-20s sluice agent --config %s   (with SLUICE_DATA_DIR=%s)\n",
				a.name, filepath.Join(a.dir, "agent.yaml"), filepath.Join(a.dir, "data"))
		}
		return
	}
	os.RemoveAll(d.root)
}

// stop sends SIGTERM and waits for the agent to exit; after 30 s it kills
// it. An agent that already exited is left alone.
func (a *demoAgent) stop() error {
	select {
	case <-a.exited:
		return nil
	default:
	}
	a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.exited:
		if a.waitErr != nil {
			return fmt.Errorf("%s's agent did not stop cleanly: %v", a.name, a.waitErr)
		}
		return nil
	case <-time.After(30 * time.Second):
		a.cmd.Process.Kill()
		<-a.exited
		return fmt.Errorf("%s's agent did not stop within 30s of SIGTERM; killed it", a.name)
	}
}

// freeLoopbackPorts finds n distinct ports free on 127.0.0.1 for both TCP
// and UDP (gossip uses both), for agents started next. They are released
// before return, so they are taken from below the kernel's ephemeral
// range: a port the kernel hands out for ":0" could be taken meanwhile as
// the source port of any outgoing connection on the machine.
func freeLoopbackPorts(n int) ([]int, error) {
	lo, hi := 32768, 0
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		fmt.Sscan(string(b), &lo, &hi)
	}
	if lo <= 11000 {
		lo = 32768
	}
	var ports []int
	for tries := 0; len(ports) < n; tries++ {
		if tries > 200 {
			return nil, errors.New("cannot find free loopback ports")
		}
		port := 10000 + rand.IntN(lo-10000)
		if slices.Contains(ports, port) {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		ports = append(ports, port)
	}
	return ports, nil
}

func quoteArgs(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}

// abbrev shortens a long token for display.
func abbrev(s string) string {
	if len(s) <= 48 {
		return s
	}
	return s[:40] + "..."
}
