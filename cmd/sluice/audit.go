package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/sluice-edge/sluice/agent/api"
	"github.com/sluice-edge/sluice/agent/audit"
)

func runAudit(ctx context.Context, args []string) error {
	return subcommand(ctx, "audit", args, map[string]command{
		"verify": {"walk the hash chain and checkpoint signatures; say what is not signed yet; --against a partner's export", auditVerify},
		"export": {"export the partner reads and denials concerning one partner, for its verify --against", auditExport},
		"report": {"summarise partner reads and denials per community, partner and stream", auditReport},
		"tail":   {"follow new audit entries", auditTail},
		"log":    {"print audit entries (filter by --since, --community, --tenant, --kind)", auditLog},
	})
}

func auditVerify(ctx context.Context, args []string) error {
	fs, cf := newClientFlags("audit verify", "[--against PARTNER-EXPORT]\n\n"+
		"Walks the agent's audit log: every hash, link and checkpoint signature. Says how far\n"+
		"the log is signed and how many entries at its end are not signed yet. With --against,\n"+
		"also compares the partner reads and denials with a partner's `sluice audit export`.")
	against := fs.String("against", "", "a file written by `sluice audit export --tenant <this tenant>` on the partner's agent")
	slack := fs.Duration("slack", audit.DefaultSlack, "with --against: how far apart the two clocks and export moments may be")
	_, c, err := parseClient(fs, cf, args, 0)
	if err != nil {
		return err
	}
	// The report in sentences; the agent answers 409 when the log is
	// damaged.
	damaged := false
	resp, err := c.Do(ctx, "GET", "/api/v1/audit/verify", url.Values{"format": {"text"}}, "", nil)
	var ae *api.Error
	switch {
	case errors.As(err, &ae) && ae.Status == 409:
		fmt.Println(ae.Message)
		damaged = true
	case err != nil:
		return err
	default:
		_, err = io.Copy(os.Stdout, resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
	}
	var failed []string
	if damaged {
		failed = append(failed, "the audit log is damaged (see above)")
	}
	if *against != "" {
		ok, err := auditCrossCheck(ctx, c, *against, *slack)
		if err != nil {
			return err
		}
		if !ok {
			failed = append(failed, "this log and the partner's disagree (see above)")
		}
	}
	if len(failed) > 0 {
		return &exitError{code: 1, err: errors.New(strings.Join(failed, "; "))}
	}
	return nil
}

// auditCrossCheck compares this agent's partner reads and denials with a
// partner's export of its own about this tenant.
func auditCrossCheck(ctx context.Context, c *api.Client, path string, slack time.Duration) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	h, theirs, err := audit.ReadExport(f)
	f.Close()
	if err != nil {
		return false, fmt.Errorf("%s: %w", path, err)
	}
	self, err := tenantID(ctx, c)
	if err != nil {
		return false, err
	}
	if h.Partner != self {
		return false, fmt.Errorf("%s is tenant %s's export about tenant %s, not about this one (%s)", path, h.Tenant, h.Partner, self)
	}
	// Ask for a little more than the partner's period: clocks differ.
	q := url.Values{"tenant": {h.Tenant}, "kind": {audit.KindPartnerRead + "," + audit.KindReadDenied},
		"until": {h.Until.Add(slack).Format(time.RFC3339Nano)}}
	if !h.Since.IsZero() {
		q.Set("since", h.Since.Add(-slack).Format(time.RFC3339Nano))
	}
	ours, err := auditEntries(ctx, c, q)
	if err != nil {
		return false, err
	}
	cc := audit.CompareReads(ours, theirs, h, slack)
	fmt.Print(cc.String())
	return cc.OK(), nil
}

// auditExport writes an export: a header line, then the entries this
// agent's log holds about one partner tenant, one JSON object per line.
func auditExport(ctx context.Context, args []string) error {
	fs, cf := newClientFlags("audit export", "--tenant PARTNER-ID [--since -30d] [--until now] > FILE\n\n"+
		"Writes the partner reads and denials concerning one partner tenant, for that partner\n"+
		"to compare with its own log: `sluice audit verify --against FILE` on its agent.")
	partner := fs.String("tenant", "", "the partner tenant's id (sluice community members shows it)")
	since := fs.String("since", "-30d", "entries since this time; \"\" for every entry kept")
	until := fs.String("until", "now", "entries before this time")
	if _, err := parseFlags(fs, args, 0, 0); err != nil {
		return err
	}
	if *partner == "" {
		return usageErr("--tenant is required: the partner tenant the export is for")
	}
	now := time.Now()
	h := audit.ExportHeader{Version: audit.ExportVersion, Partner: *partner}
	for _, t := range []struct {
		flag, v string
		dst     *time.Time
	}{{"since", *since, &h.Since}, {"until", *until, &h.Until}} {
		if t.v == "" {
			continue
		}
		ns, err := api.ParseTime(t.v, now)
		if err != nil {
			return usageErr("--%s: %v", t.flag, err)
		}
		*t.dst = time.Unix(0, ns).UTC()
	}
	if h.Until.IsZero() {
		return usageErr("--until: empty")
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	if h.Tenant, err = tenantID(ctx, c); err != nil {
		return err
	}
	q := url.Values{"tenant": {h.Partner}, "kind": {audit.KindPartnerRead + "," + audit.KindReadDenied},
		"until": {h.Until.Format(time.RFC3339Nano)}}
	if !h.Since.IsZero() {
		q.Set("since", h.Since.Format(time.RFC3339Nano))
	}
	entries, err := auditEntries(ctx, c, q)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(os.Stdout)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(h); err != nil {
		return err
	}
	for _, e := range entries {
		if err := enc.Encode(e); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "exported %d entries concerning tenant %s\n", len(entries), h.Partner)
	return nil
}

// auditEntries reads the agent's audit entries matching q.
func auditEntries(ctx context.Context, c *api.Client, q url.Values) ([]audit.Entry, error) {
	resp, err := c.Do(ctx, "GET", "/api/v1/audit", q, "", nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out []audit.Entry
	dec := json.NewDecoder(resp.Body)
	for {
		var e audit.Entry
		if err := dec.Decode(&e); err == io.EOF {
			return out, nil
		} else if err != nil {
			return nil, fmt.Errorf("read the agent's audit entries: %w", err)
		}
		out = append(out, e)
	}
}

// tenantID asks the agent for its tenant id.
func tenantID(ctx context.Context, c *api.Client) (string, error) {
	var t struct {
		ID string `json:"id"`
	}
	if err := c.JSON(ctx, "GET", "/api/v1/tenant", nil, nil, &t); err != nil {
		return "", err
	}
	if t.ID == "" {
		return "", errors.New("the agent has no tenant id yet")
	}
	return t.ID, nil
}

func auditQueryFlags(name, synopsis string) (*flag.FlagSet, clientFlags, func() url.Values) {
	fs, cf := newClientFlags(name, synopsis)
	since := fs.String("since", "", "only entries since this time (e.g. -30d)")
	community := fs.String("community", "", "only this community (name or id)")
	tenant := fs.String("tenant", "", "only this partner tenant (id)")
	stream := fs.String("stream", "", "only this stream")
	return fs, cf, func() url.Values {
		q := url.Values{}
		for k, v := range map[string]string{"since": *since, "community": *community, "tenant": *tenant, "stream": *stream} {
			if v != "" {
				q.Set(k, v)
			}
		}
		return q
	}
}

func auditReport(ctx context.Context, args []string) error {
	fs, cf, query := auditQueryFlags("audit report", "[--community C] [--since -30d] [--format csv|json]")
	format := fs.String("format", "csv", "csv or json")
	addFormatAlias(fs, format)
	_, c, err := parseClient(fs, cf, args, 0)
	if err != nil {
		return err
	}
	q := query()
	q.Set("format", *format)
	resp, err := c.Do(ctx, "GET", "/api/v1/audit/report", q, "", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(os.Stdout, resp.Body)
	return err
}

func auditLog(ctx context.Context, args []string) error {
	fs, cf, query := auditQueryFlags("audit log", "[--since -1d] [--community C] [--kind partner_read,read_denied,admin] [-o json|table]")
	kind := fs.String("kind", "", "only these kinds, comma-separated")
	output := addOutputFlag(fs)
	_, c, err := parseClient(fs, cf, args, 0)
	if err != nil {
		return err
	}
	q := query()
	if *kind != "" {
		q.Set("kind", *kind)
	}
	return printEntries(ctx, c, "/api/v1/audit", q, output)
}

func auditTail(ctx context.Context, args []string) error {
	fs, cf := newClientFlags("audit tail", "[-o json|table]")
	output := addOutputFlag(fs)
	_, c, err := parseClient(fs, cf, args, 0)
	if err != nil {
		return err
	}
	return printEntries(ctx, c, "/api/v1/audit/tail", nil, output)
}

// printEntries GETs NDJSON audit entries and prints them one readable
// line each, or with -o json as the agent sent them (one JSON object a
// line, as they come, so that tail can be piped).
func printEntries(ctx context.Context, c *api.Client, path string, q url.Values, output *outputFlag) error {
	resp, err := c.Do(ctx, "GET", path, q, "", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if output.json() {
			if _, err := fmt.Printf("%s\n", sc.Bytes()); err != nil {
				return err
			}
			continue
		}
		var e map[string]any
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		line := fmt.Sprintf("%v %6v %-13v", e["time"], e["seq"], e["kind"])
		for _, k := range []string{"actor", "side", "tenant", "community", "connection", "stream", "points", "outcome", "reason", "detail"} {
			if v, ok := e[k]; ok && v != "" {
				line += fmt.Sprintf(" %s=%v", k, v)
			}
		}
		fmt.Println(line)
	}
	return sc.Err()
}
