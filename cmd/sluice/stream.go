package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sluice-edge/sluice/agent"
	"github.com/sluice-edge/sluice/agent/api"
	"github.com/sluice-edge/sluice/configs"
	"github.com/sluice-edge/sluice/connectors/point"
)

// clientFlags are the flags of every verb that talks to an agent.
type clientFlags struct {
	addr, token, dataDir *string
}

func addClientFlags(fs *flag.FlagSet) clientFlags {
	return clientFlags{
		addr:    fs.String("addr", "", "agent API address (default $SLUICE_ADDR or http://127.0.0.1:7080)"),
		token:   fs.String("token", "", "admin token (default $SLUICE_TOKEN or the agent's data dir)"),
		dataDir: fs.String("data-dir", "", "the agent's data dir, to read its admin token (default $SLUICE_DATA_DIR or ./sluice-data)"),
	}
}

// newClientFlags makes the flag set of a verb that talks to an agent.
func newClientFlags(name, synopsis string) (*flag.FlagSet, clientFlags) {
	fs := newFlags(name, synopsis)
	return fs, addClientFlags(fs)
}

// parseClient parses a verb's flags and exactly n positional arguments,
// then makes the agent's client: a usage mistake is reported before the
// address and token are looked for.
func parseClient(fs *flag.FlagSet, cf clientFlags, args []string, n int) ([]string, *api.Client, error) {
	pos, err := parseFlags(fs, args, n, n)
	if err != nil {
		return nil, nil, err
	}
	c, err := cf.client()
	if err != nil {
		return nil, nil, err
	}
	return pos, c, nil
}

// client resolves the agent's address and token the way the design says:
// flag, then environment, then the agent's data dir.
func (f clientFlags) client() (*api.Client, error) {
	addr := normAddr(first(*f.addr, os.Getenv("SLUICE_ADDR"), "http://"+configs.DefaultAPIListen))
	// Flag, environment, `sluice login`, then the agent's data dir.
	token := first(*f.token, os.Getenv("SLUICE_TOKEN"), loadLogins()[addr])
	if token == "" {
		dirs := []string{*f.dataDir, os.Getenv(configs.EnvDataDir)}
		if dirs[0] == "" && dirs[1] == "" {
			dirs = append(dirs, configs.DefaultDataDir, "/var/lib/sluice")
		}
		for _, d := range dirs {
			if d == "" {
				continue
			}
			tok, err := agent.AdminToken(d)
			if err == nil {
				token = tok
				break
			} else if !errors.Is(err, os.ErrNotExist) {
				return nil, err
			}
		}
		if token == "" {
			return nil, errors.New("no admin token: pass --token, set SLUICE_TOKEN, or point --data-dir at the agent's data dir")
		}
	}
	return &api.Client{Base: addr, Token: token, StepUp: stepUp}, nil
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func runStream(ctx context.Context, args []string) error {
	return subcommand(ctx, "stream", args, map[string]command{
		"list":         {"list streams", streamList},
		"show":         {"show one stream's metadata", streamShow},
		"create":       {"create a stream", streamCreate},
		"delete":       {"delete a stream and its points", streamDelete},
		"write":        {"write CSV lines (timestamp,value[,quality]) from stdin", streamWrite},
		"read":         {"read a time window", streamRead},
		"latest":       {"read the newest point", streamLatest},
		"interpolated": {"read values at evenly spaced times", streamInterpolated},
		"summaries":    {"read count/min/max/mean/... per interval", streamSummaries},
	})
}

// labelFlag collects repeated --label flags, checked as the agent checks
// them so that a mistake is a usage error before any request.
type labelFlag struct {
	terms      []string
	needsValue bool // key=value only (setting labels), not a bare key (selecting)
}

func (l *labelFlag) String() string { return strings.Join(l.terms, ",") }
func (l *labelFlag) Set(s string) error {
	k, v, hasValue := strings.Cut(s, "=")
	if l.needsValue && !hasValue {
		return fmt.Errorf("want key=value, e.g. site=plant1")
	}
	if err := point.ValidateLabelKey(k); err != nil {
		return err
	}
	if hasValue {
		if err := point.ValidateLabelValue(k, v); err != nil {
			return err
		}
	}
	l.terms = append(l.terms, s)
	return nil
}

// set adds the terms to a query as repeated ?label=, if there are any.
func (l *labelFlag) set(q url.Values) {
	if len(l.terms) > 0 {
		q["label"] = l.terms
	}
}

// labels is the flags as a label set (--label k=v given twice: the later wins).
func (l *labelFlag) labels() map[string]string {
	if len(l.terms) == 0 {
		return nil
	}
	m := map[string]string{}
	for _, t := range l.terms {
		k, v, _ := strings.Cut(t, "=")
		m[k] = v
	}
	return m
}

// addLabelSelectFlag is the --label of listings: key=value or key, all of
// which must hold; the agent matches them (?label=).
func addLabelSelectFlag(fs *flag.FlagSet) *labelFlag {
	l := &labelFlag{}
	fs.Var(l, "label", "only streams with this label: key=value, or key for any value (repeat: all must hold)")
	return l
}

// fmtLabels writes labels compactly for a table column: k=v,k=v in key
// order, "-" for none. A value with a comma, quote or space is quoted.
func fmtLabels(ls map[string]string) string {
	if len(ls) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(ls))
	for k := range ls {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		v := ls[k]
		if v == "" || strings.ContainsAny(v, ",\" \t") {
			v = strconv.Quote(v)
		}
		b.WriteString(k + "=" + v)
	}
	return b.String()
}

func streamList(ctx context.Context, args []string) error {
	fs, cf := newClientFlags("stream list", "[--prefix P] [--label key=value]... [-o json|table]")
	prefix := fs.String("prefix", "", "only streams whose name starts with this")
	labels := addLabelSelectFlag(fs)
	output := addOutputFlag(fs)
	_, c, err := parseClient(fs, cf, args, 0)
	if err != nil {
		return err
	}
	var all []api.StreamJSON
	after := ""
	for {
		var page api.StreamList
		q := url.Values{"prefix": {*prefix}, "after": {after}, "limit": {"1000"}}
		labels.set(q)
		if err := c.JSON(ctx, "GET", "/api/v1/streams", q, nil, &page); err != nil {
			return err
		}
		all = append(all, page.Streams...)
		if page.Next == "" {
			break
		}
		after = page.Next
	}
	if output.json() {
		return printJSON(all)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKIND\tUNIT\tSOURCE\tCREATED\tLABELS")
	for _, s := range all {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.Kind, s.Unit, s.Source, s.Created.Format(time.RFC3339), fmtLabels(s.Labels))
	}
	return tw.Flush()
}

func streamShow(ctx context.Context, args []string) error {
	fs, cf := newClientFlags("stream show", "NAME [-o json|table]")
	output := addOutputFlag(fs)
	pos, c, err := parseClient(fs, cf, args, 1)
	if err != nil {
		return err
	}
	// The raw answer for -o json: every field the agent sends, also
	// those this CLI does not know yet.
	var raw json.RawMessage
	if err := c.JSON(ctx, "GET", api.StreamPath(pos[0], ""), nil, nil, &raw); err != nil {
		return err
	}
	if output.json() {
		return printJSON(raw)
	}
	var s api.StreamJSON
	if err := json.Unmarshal(raw, &s); err != nil {
		return fmt.Errorf("decode stream: %w", err)
	}
	return printStream(os.Stdout, s)
}

// printStream prints one stream as key/value lines, as the other show
// verbs do.
func printStream(w io.Writer, s api.StreamJSON) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, kv := range [][2]string{
		{"name", s.Name}, {"kind", s.Kind.String()}, {"unit", dash(s.Unit)}, {"description", dash(s.Description)},
		{"source", first(s.Source, "API")}, {"created", fmtTime(s.Created)}, {"retention", first(s.Retention, "the agent's default")},
		{"id", strconv.FormatUint(s.ID, 10)}, {"labels", fmtLabels(s.Labels)},
	} {
		fmt.Fprintf(tw, "%s\t%s\n", kv[0], kv[1])
	}
	return tw.Flush()
}

func streamCreate(ctx context.Context, args []string) error {
	fs, cf := newClientFlags("stream create", "NAME [--kind float|int|bool|string] [--unit U] [--description D] [--label key=value]... [-o json|table]")
	kind := fs.String("kind", "float", "value kind: float, int, bool or string")
	unit := fs.String("unit", "", "unit of measure, e.g. degC")
	desc := fs.String("description", "", "what the stream measures")
	labels := &labelFlag{needsValue: true}
	fs.Var(labels, "label", "a label of the stream, key=value, e.g. site=plant1 (repeat for more)")
	output := addOutputFlag(fs)
	pos, c, err := parseClient(fs, cf, args, 1)
	if err != nil {
		return err
	}
	req := map[string]any{"name": pos[0], "kind": *kind, "unit": *unit, "description": *desc}
	if ls := labels.labels(); ls != nil {
		req["labels"] = ls
	}
	var raw json.RawMessage
	if err := c.JSON(ctx, "POST", "/api/v1/streams", nil, req, &raw); err != nil {
		return err
	}
	if output.json() {
		return printJSON(raw)
	}
	var s api.StreamJSON
	if err := json.Unmarshal(raw, &s); err != nil {
		return fmt.Errorf("decode stream: %w", err)
	}
	if len(s.Labels) > 0 {
		fmt.Printf("created %s (%s, labels %s)\n", s.Name, s.Kind, fmtLabels(s.Labels))
		return nil
	}
	fmt.Printf("created %s (%s)\n", s.Name, s.Kind)
	return nil
}

func streamDelete(ctx context.Context, args []string) error {
	return deleteNamed(ctx, args, "stream delete", "NAME", func(name string) string { return api.StreamPath(name, "") }, "deleted")
}

// deleteNamed runs a verb that deletes the one thing its argument names,
// at the API path path gives, and says done and the name.
func deleteNamed(ctx context.Context, args []string, verb, synopsis string, path func(arg string) string, done string) error {
	fs, cf := newClientFlags(verb, synopsis)
	pos, c, err := parseClient(fs, cf, args, 1)
	if err != nil {
		return err
	}
	if err := c.JSON(ctx, "DELETE", path(pos[0]), nil, nil, nil); err != nil {
		return err
	}
	fmt.Printf("%s %s\n", done, pos[0])
	return nil
}

// streamWrite sends stdin in batches, so an input of any size streams
// through in bounded memory; each batch is stored atomically. Relative
// times in the input ("-3m", "now") are resolved here, all against the one
// instant the command started at (or --now), and sent as RFC 3339: the
// agent would resolve each batch against its own now.
func streamWrite(ctx context.Context, args []string) error {
	fs, cf := newClientFlags("stream write", "NAME [--create] [--now T] < points.csv")
	create := fs.Bool("create", false, "create the stream if it does not exist")
	kind := fs.String("kind", "", "kind of a created stream (default: from the first value)")
	unit := fs.String("unit", "", "unit of a created stream")
	batch := fs.Int("batch", 50000, "lines per request")
	nowFlag := fs.String("now", "", "the instant relative times in the input count from (default: when the command starts)")
	pos, err := parseFlags(fs, args, 1, 1)
	if err != nil {
		return err
	}
	now := time.Now()
	if *nowFlag != "" {
		t, err := api.ParseTime(*nowFlag, now)
		if err != nil {
			return usageErr("--now: %v", err)
		}
		now = time.Unix(0, t)
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	q := url.Values{}
	if *create {
		q.Set("create", "1")
		if *kind != "" {
			q.Set("kind", *kind)
		}
		if *unit != "" {
			q.Set("unit", *unit)
		}
	}
	in := bufio.NewReaderSize(os.Stdin, 1<<20)
	var buf bytes.Buffer
	total, lines, lineNo := 0, 0, 0
	flush := func() error {
		if lines == 0 {
			return nil
		}
		var res api.WriteResult
		resp, err := c.Do(ctx, "POST", api.StreamPath(pos[0], "data"), q, "text/csv", bytes.NewReader(buf.Bytes()))
		if err != nil {
			return fmt.Errorf("lines %d-%d: %w", lineNo-lines+1, lineNo, streamWriteHint(err, pos[0]))
		}
		err = json.NewDecoder(resp.Body).Decode(&res)
		resp.Body.Close()
		if err != nil {
			return err
		}
		total += res.Written
		buf.Reset()
		lines = 0
		return nil
	}
	for {
		line, err := in.ReadBytes('\n')
		if len(line) > 0 {
			lineNo++
			line, perr := resolveLineTime(line, now)
			if perr != nil {
				return fmt.Errorf("line %d: %w", lineNo, perr)
			}
			buf.Write(line)
			if line[len(line)-1] != '\n' {
				buf.WriteByte('\n')
			}
			lines++
			if lines >= *batch {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read stdin: %w", err)
		}
	}
	if err := flush(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %d points to %s\n", total, pos[0])
	return nil
}

// resolveLineTime rewrites the time field that starts a CSV line
// (timestamp,value[,quality]) as RFC 3339 if it is relative ("-3m",
// "now-15m", "now"), resolved against now. Other lines are returned as
// they are, for the agent to read.
func resolveLineTime(line []byte, now time.Time) ([]byte, error) {
	end := bytes.IndexByte(line, ',')
	if end < 0 {
		return line, nil // not a point; the agent says why
	}
	field := bytes.TrimSpace(line[:end])
	if len(field) == 0 || (field[0] != '-' && field[0] != '+' && field[0] != 'n') {
		return line, nil // the fast path: an absolute time or a header
	}
	t, ok, err := api.ParseRelative(string(field), now)
	if !ok {
		return line, nil
	}
	if err != nil {
		return nil, err
	}
	out := time.Unix(0, t).UTC().AppendFormat(make([]byte, 0, len(line)+32), time.RFC3339Nano)
	return append(out, line[end:]...), nil
}

// readFlags are the flags every read verb shares.
type readFlags struct {
	start, end, format, timeFmt *string
}

func addReadFlags(fs *flag.FlagSet, defStart string) readFlags {
	rf := readFlags{
		start:   fs.String("start", defStart, "start: RFC 3339, epoch, now, or relative like -1h / now-15m / now/d"),
		end:     fs.String("end", "now", "end (exclusive for windows)"),
		format:  fs.String("format", "csv", "csv or json"),
		timeFmt: fs.String("time", "rfc3339", "time format: rfc3339 or ns (epoch nanoseconds)"),
	}
	addFormatAlias(fs, rf.format)
	return rf
}

func (r readFlags) query() url.Values {
	return url.Values{"start": {*r.start}, "end": {*r.end}, "format": {*r.format}, "time": {*r.timeFmt}}
}

func streamRead(ctx context.Context, args []string) error {
	fs, cf := newClientFlags("stream read", "NAME [--start -1h] [--end now] [--format csv|json] [--limit N]")
	rf := addReadFlags(fs, "-1h")
	limit := fs.Int("limit", 0, "at most this many points (0: the whole window)")
	pos, c, err := parseClient(fs, cf, args, 1)
	if err != nil {
		return err
	}
	q := rf.query()
	if *limit > 0 {
		q.Set("limit", strconv.Itoa(*limit))
	}
	return copyAnswer(ctx, c, api.StreamPath(pos[0], "data"), q)
}

func streamLatest(ctx context.Context, args []string) error {
	fs, cf := newClientFlags("stream latest", "NAME [--format csv|json]")
	rf := addReadFlags(fs, "-1h")
	pos, c, err := parseClient(fs, cf, args, 1)
	if err != nil {
		return err
	}
	return copyAnswer(ctx, c, api.StreamPath(pos[0], "latest"), url.Values{"format": {*rf.format}, "time": {*rf.timeFmt}})
}

// gridFlags place the intervals of summaries and interpolation.
type gridFlags struct{ align, offset *string }

func addGridFlags(fs *flag.FlagSet) gridFlags {
	return gridFlags{
		align:  fs.String("align", "", "epoch (default: on whole intervals from the Unix epoch, UTC) or start (intervals from --start)"),
		offset: fs.String("offset", "", "shift the epoch grid, e.g. 30s; 5h makes 1d intervals start at midnight at UTC-5"),
	}
}

func (g gridFlags) set(q url.Values) {
	if *g.align != "" {
		q.Set("align", *g.align)
	}
	if *g.offset != "" {
		q.Set("offset", *g.offset)
	}
}

func streamInterpolated(ctx context.Context, args []string) error {
	fs, cf := newClientFlags("stream interpolated", "NAME --start T --end T (--interval D [--align epoch|start] [--offset D] | --count N)")
	rf := addReadFlags(fs, "-1h")
	interval := fs.String("interval", "", "one value every interval, e.g. 1m, on whole intervals (see --align)")
	count := fs.Int("count", 0, "or this many values from start to end")
	gf := addGridFlags(fs)
	pos, c, err := parseClient(fs, cf, args, 1)
	if err != nil {
		return err
	}
	q := rf.query()
	gf.set(q)
	if *interval != "" {
		q.Set("interval", *interval)
	}
	if *count > 0 {
		q.Set("count", strconv.Itoa(*count))
	}
	return copyAnswer(ctx, c, api.StreamPath(pos[0], "interpolated"), q)
}

func streamSummaries(ctx context.Context, args []string) error {
	fs, cf := newClientFlags("stream summaries", "NAME --start T --end T --interval D [--align epoch|start] [--offset D]")
	rf := addReadFlags(fs, "-24h")
	interval := fs.String("interval", "1h", "summary interval, e.g. 1m; intervals are whole (see --align), the last is cut at --end")
	gf := addGridFlags(fs)
	pos, c, err := parseClient(fs, cf, args, 1)
	if err != nil {
		return err
	}
	q := rf.query()
	q.Set("interval", *interval)
	gf.set(q)
	return copyAnswer(ctx, c, api.StreamPath(pos[0], "summaries"), q)
}

// copyAnswer streams an answer to stdout as it arrives.
func copyAnswer(ctx context.Context, c *api.Client, path string, q url.Values) error {
	resp, err := c.Do(ctx, "GET", path, q, "", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out := bufio.NewWriterSize(os.Stdout, 64<<10)
	if _, err := io.Copy(out, resp.Body); err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	if tok := resp.Trailer.Get("Sluice-Next-Page-Token"); tok != "" {
		fmt.Fprintf(os.Stderr, "more points follow; continue with the API's page_token=%s\n", tok)
	}
	return out.Flush()
}

func runStatus(ctx context.Context, args []string) error {
	fs, cf := newClientFlags("status", "[-o json|table]")
	output := addOutputFlag(fs)
	_, c, err := parseClient(fs, cf, args, 0)
	if err != nil {
		return err
	}
	var st map[string]any
	if err := c.JSON(ctx, "GET", "/api/v1/status", nil, nil, &st); err != nil {
		return err
	}
	if output.json() {
		return printJSON(st)
	}
	fmt.Printf("agent       %s at %s (version %v)\n", map[bool]string{true: "up", false: "starting"}[st["ready"] == true], trimScheme(c.Base), st["version"])
	fmt.Printf("tenant      %v\n", st["tenant"])
	if up, ok := st["uptime_seconds"].(float64); ok {
		fmt.Printf("uptime      %s\n", time.Duration(up)*time.Second)
	}
	fmt.Printf("streams     %v\n", st["streams"])
	if b, ok := st["store_bytes"].(float64); ok {
		fmt.Printf("store       %s on disk in %v\n", humanBytes(b), st["data_dir"])
	}
	printStoreSpace(st["store"])
	if srcs, ok := st["sources"].([]any); ok {
		fmt.Printf("sources     %d\n", len(srcs))
		for _, s := range srcs {
			if m, ok := s.(map[string]any); ok {
				fmt.Printf("  %-20v %-10v %v\n", m["name"], m["type"], m["state"])
			}
		}
	}
	return nil
}

// humanBytes writes a size in binary units, so that a new store's 28 KiB
// does not read "0.0 MiB".
func humanBytes(b float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for b >= 1024 && i < len(units)-1 {
		b /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f B", b)
	}
	return fmt.Sprintf("%.1f %s", b, units[i])
}

// printStoreSpace prints the store's disk use and retention rules from
// the status's "store" object (store.SpaceStatus).
func printStoreSpace(v any) {
	sp, ok := v.(map[string]any)
	if !ok {
		return
	}
	mib := func(k string) string {
		b, _ := sp[k].(float64)
		return humanBytes(b)
	}
	line := "disk        " + mib("free_bytes") + " free"
	if b, _ := sp["max_size"].(float64); b > 0 {
		line += ", max_size " + mib("max_size")
	}
	fmt.Println(line)
	if r, _ := sp["refused"].(string); r != "" {
		fmt.Printf("WRITES REFUSED  %s\n", r)
	}
	rules, _ := sp["rules"].([]any)
	for _, r := range rules {
		m, _ := r.(map[string]any)
		age := "forever"
		if ns, _ := m["max_age"].(float64); ns > 0 {
			age = time.Duration(ns).String()
		}
		out := fmt.Sprintf("  retention %-20v %v streams, keep %s", m["rule"], m["streams"], age)
		if b, _ := m["max_size"].(float64); b > 0 {
			stored, _ := m["stored_bytes"].(float64)
			out += fmt.Sprintf(", %s of %s", humanBytes(stored), humanBytes(b))
		}
		if o, _ := m["oldest"].(string); o != "" {
			out += ", oldest " + o
		}
		if why, _ := m["refused"].(string); why != "" {
			out += " (writes refused)"
		}
		fmt.Println(out)
	}
}

func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
