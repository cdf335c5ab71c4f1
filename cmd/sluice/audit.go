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

	"github.com/sluice-edge/sluice/agent/api"
)

func runAudit(ctx context.Context, args []string) error {
	return subcommand(ctx, "audit", args, map[string]command{
		"verify": {"walk the hash chain and checkpoint signatures; report the first broken link", auditVerify},
		"report": {"summarise partner reads and denials per community, partner and stream", auditReport},
		"tail":   {"follow new audit entries", auditTail},
		"log":    {"print audit entries (filter by --since, --community, --tenant, --kind)", auditLog},
	})
}

func auditVerify(ctx context.Context, args []string) error {
	fs := newFlags("audit verify", "")
	cf := addClientFlags(fs)
	if _, err := parseFlags(fs, args, 0, 0); err != nil {
		return err
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	var rep struct {
		OK     bool   `json:"ok"`
		Report string `json:"report"`
	}
	err = c.JSON(ctx, "GET", "/api/v1/audit/verify", nil, nil, &rep)
	var ae *api.Error
	if errors.As(err, &ae) && ae.Status == 409 {
		fmt.Println(ae.Message)
		return &exitError{code: 1, err: errors.New("the audit log is damaged (see above)")}
	}
	if err != nil {
		return err
	}
	fmt.Println(rep.Report)
	return nil
}

func auditQueryFlags(name, synopsis string) (*flag.FlagSet, clientFlags, func() url.Values) {
	fs := newFlags(name, synopsis)
	cf := addClientFlags(fs)
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
	if _, err := parseFlags(fs, args, 0, 0); err != nil {
		return err
	}
	c, err := cf.client()
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
	fs, cf, query := auditQueryFlags("audit log", "[--since -1d] [--community C] [--kind partner_read,read_denied,admin]")
	kind := fs.String("kind", "", "only these kinds, comma-separated")
	if _, err := parseFlags(fs, args, 0, 0); err != nil {
		return err
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	q := query()
	if *kind != "" {
		q.Set("kind", *kind)
	}
	resp, err := c.Do(ctx, "GET", "/api/v1/audit", q, "", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return printEntries(resp.Body)
}

func auditTail(ctx context.Context, args []string) error {
	fs := newFlags("audit tail", "")
	cf := addClientFlags(fs)
	if _, err := parseFlags(fs, args, 0, 0); err != nil {
		return err
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	resp, err := c.Do(ctx, "GET", "/api/v1/audit/tail", nil, "", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return printEntries(resp.Body)
}

// printEntries prints NDJSON audit entries one readable line each.
func printEntries(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
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
