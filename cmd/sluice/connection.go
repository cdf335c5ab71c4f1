package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"strings"
)

// connectionPath is the local API path of a connection with tenant.
func connectionPath(tenant string, parts ...string) string {
	p := "/api/v1/connections/" + url.PathEscape(tenant)
	for _, x := range parts {
		p += "/" + x
	}
	return p
}

func (f *fedCLI) runConnection(ctx context.Context, args []string) error {
	return subcommand(ctx, "connection", args, named("connection", map[string]command{
		"request": {"ask another tenant for a one-way connection (ID@HOST:PORT from its `sluice tenant card`)", f.connectionRequest},
		"list":    {"list connections: paired, incoming, outgoing, rejected", f.connectionList},
		"review":  {"accept (with an access level) or reject an incoming request", f.connectionReview},
		"cancel":  {"withdraw a pending request of this tenant", f.connectionCancel},
		"catalog": {"list the streams a connected tenant shares with this one", f.connectionCatalog},
		"read":    {"read a stream a connected tenant shares with this one", f.connectionRead},
		"latest":  {"read the newest point of a connected tenant's stream", f.connectionLatest},
	}))
}

func (f *fedCLI) connectionRequest(ctx context.Context, args []string) error {
	fs, cf := f.flags("connection request", "TENANT-ID@HOST:PORT --comment TEXT\n\n"+
		"Asks the other tenant's agent for a one-way connection: once it accepts,\n"+
		"this tenant may list (and, at catalog+data, read) what it shares with you.\n"+
		"Take TENANT-ID and HOST:PORT from the partner's `sluice tenant card`.")
	comment := fs.String("comment", "", "why you ask; the other side sees it when it reviews")
	pos, err := parseFlags(fs, args, 1, 1)
	if err != nil {
		return err
	}
	id, addr, ok := strings.Cut(pos[0], "@")
	if !ok || id == "" || addr == "" {
		return usageErr("want TENANT-ID@HOST:PORT, e.g. t-abc...@gw1.partner.example:7443")
	}
	c, err := f.connect(cf)
	if err != nil {
		return err
	}
	raw, err := call(ctx, c, "POST", "/api/v1/connections", nil, map[string]string{"tenant": id, "address": addr, "comment": *comment})
	if err != nil {
		return err
	}
	var conn connectionJSON
	if err := decode(raw, &conn, "connection"); err != nil {
		return err
	}
	fmt.Fprintf(f.stdout, "requested a connection to %s: %s\n", first(conn.ToName, conn.To), conn.Status)
	return nil
}

type connectionJSON struct {
	From     string `json:"from"`
	FromName string `json:"from_name"`
	To       string `json:"to"`
	ToName   string `json:"to_name"`
	Status   string `json:"status"`
	Access   string `json:"access"`
	Comment  string `json:"comment"`
	Review   string `json:"review"`
	Auto     bool   `json:"auto"`
}

func (f *fedCLI) connectionList(ctx context.Context, args []string) error {
	fs, cf := f.flags("connection list", "[--incoming|--outgoing|--paired|--rejected] [-o json|table]")
	views := map[string]*bool{}
	for _, v := range []string{"paired", "incoming", "outgoing", "rejected"} {
		views[v] = fs.Bool(v, false, "only the "+v+" connections")
	}
	output := addOutputFlag(fs)
	_, c, err := f.parseConnect(fs, cf, args)
	if err != nil {
		return err
	}
	return getShow(ctx, f, c, "/api/v1/connections", nil, output, "connections", func(lists map[string][]connectionJSON) error {
		any := false
		for _, v := range views {
			any = any || *v
		}
		tw := f.table("VIEW\tFROM\tTO\tSTATUS\tACCESS\tCOMMENT\tREVIEW")
		for _, v := range []string{"paired", "incoming", "outgoing", "rejected"} {
			if any && !*views[v] {
				continue
			}
			for _, cn := range lists[v] {
				status := cn.Status
				if cn.Auto {
					status += " (mutual)"
				}
				tw.Write([]byte(strings.Join([]string{v, first(cn.FromName, cn.From), first(cn.ToName, cn.To), status,
					dash(cn.Access), dash(cn.Comment), dash(cn.Review)}, "\t") + "\n"))
			}
		}
		return tw.Flush()
	})
}

func (f *fedCLI) connectionReview(ctx context.Context, args []string) error {
	fs, cf := f.flags("connection review", "TENANT (--accept --level catalog|catalog+data | --reject) --comment TEXT")
	accept := fs.Bool("accept", false, "accept the request")
	reject := fs.Bool("reject", false, "reject the request")
	level := fs.String("level", "", "with --accept: catalog, or catalog+data to let the tenant read what you share with it")
	comment := fs.String("comment", "", "your comment (required)")
	pos, err := parseFlags(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if *accept == *reject {
		return usageErr("give one of --accept or --reject")
	}
	if *accept && *level == "" {
		return usageErr("--accept needs --level catalog or catalog+data")
	}
	if strings.TrimSpace(*comment) == "" {
		return usageErr("--comment is required")
	}
	c, err := f.connect(cf)
	if err != nil {
		return err
	}
	req := map[string]any{"accept": *accept, "comment": *comment}
	if *accept {
		req["level"] = *level
	}
	if _, err := call(ctx, c, "POST", connectionPath(pos[0], "review"), nil, req); err != nil {
		return err
	}
	if *accept {
		fmt.Fprintf(f.stdout, "accepted %s's request (%s)\n", pos[0], *level)
	} else {
		fmt.Fprintf(f.stdout, "rejected %s's request\n", pos[0])
	}
	return nil
}

func (f *fedCLI) connectionCancel(ctx context.Context, args []string) error {
	fs, cf := f.flags("connection cancel", "TENANT")
	pos, err := parseFlags(fs, args, 1, 1)
	if err != nil {
		return err
	}
	c, err := f.connect(cf)
	if err != nil {
		return err
	}
	if _, err := call(ctx, c, "POST", connectionPath(pos[0], "cancel"), nil, nil); err != nil {
		return err
	}
	fmt.Fprintf(f.stdout, "cancelled the request to %s\n", pos[0])
	return nil
}

func (f *fedCLI) connectionCatalog(ctx context.Context, args []string) error {
	fs, cf := f.flags("connection catalog", "TENANT [-o json|table]")
	output := addOutputFlag(fs)
	pos, err := parseFlags(fs, args, 1, 1)
	if err != nil {
		return err
	}
	c, err := f.connect(cf)
	if err != nil {
		return err
	}
	return getShow(ctx, f, c, connectionPath(pos[0], "catalog"), nil, output, "catalog", f.catalogTable)
}

func (f *fedCLI) connectionRead(ctx context.Context, args []string) error {
	fs, cf := f.flags("connection read", "TENANT/STREAM [--start -1h] [--end now] [--format csv|json]")
	rf := addReadFlags(fs, "-1h")
	return f.connectionAnswer(ctx, fs, cf, args, "data", rf.query)
}

func (f *fedCLI) connectionLatest(ctx context.Context, args []string) error {
	fs, cf := f.flags("connection latest", "TENANT/STREAM [--format csv|json]")
	rf := addReadFlags(fs, "-1h")
	return f.connectionAnswer(ctx, fs, cf, args, "latest", func() url.Values {
		return url.Values{"format": {*rf.format}, "time": {*rf.timeFmt}}
	})
}

// connectionAnswer reads TENANT/STREAM over the connection to TENANT.
func (f *fedCLI) connectionAnswer(ctx context.Context, fs *flag.FlagSet, cf clientFlags, args []string, kind string, query func() url.Values) error {
	pos, err := parseFlags(fs, args, 1, 1)
	if err != nil {
		return err
	}
	tenant, stream, err := splitTenantStream(pos[0])
	if err != nil {
		return usageErr("%v", err)
	}
	return f.relayRead(ctx, cf, connectionPath(tenant, "streams", url.PathEscape(stream), kind), query())
}
