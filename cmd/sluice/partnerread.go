package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strconv"
)

// The partner reads: a partner's shared stream, read through this
// tenant's own agent, which asks the owner's.

// partnerStreamPath is the API path of a read of tenant's stream shared
// into community c; kind is data, latest, interpolated or summaries.
func partnerStreamPath(c, tenant, stream, kind string) string {
	return communityPath(c, "streams", url.PathEscape(tenant), url.PathEscape(stream), kind)
}

// partnerRead parses COMMUNITY TENANT/STREAM and the read flags, sends
// the read and copies the answer to stdout as it arrives.
func (f *fedCLI) partnerRead(ctx context.Context, fs *flag.FlagSet, cf clientFlags, args []string, kind string, query func() (url.Values, error)) error {
	pos, err := parseFlags(fs, args, 2, 2)
	if err != nil {
		return err
	}
	if err := nonEmpty(pos, "COMMUNITY"); err != nil {
		return err
	}
	tenant, stream, err := splitTenantStream(pos[1])
	if err != nil {
		return usageErr("%v", err)
	}
	q, err := query()
	if err != nil {
		return err
	}
	return f.relayRead(ctx, cf, partnerStreamPath(pos[0], tenant, stream, kind), q)
}

// relayRead streams a read's answer from this tenant's agent to stdout.
func (f *fedCLI) relayRead(ctx context.Context, cf clientFlags, path string, q url.Values) error {
	c, err := f.connect(cf)
	if err != nil {
		return err
	}
	resp, err := c.Do(ctx, "GET", path, q, "", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out := bufio.NewWriterSize(f.stdout, 64<<10)
	if _, err := io.Copy(out, resp.Body); err != nil {
		out.Flush()
		return fmt.Errorf("read answer: %w", err)
	}
	if err := out.Flush(); err != nil {
		return err
	}
	if tok := resp.Trailer.Get("Sluice-Next-Page-Token"); tok != "" {
		fmt.Fprintf(f.stderr, "more points follow; continue with the API's page_token=%s\n", tok)
	}
	return nil
}

const partnerHelp = "\n\nTENANT is the partner's tenant id or name; everything after the first\n" +
	"slash is the stream name, e.g. acme-refinery/site1/boiler/temp."

func (f *fedCLI) communityRead(ctx context.Context, args []string) error {
	fs, cf := f.flags("community read", "COMMUNITY TENANT/STREAM [--start -1h] [--end now] [--format csv|json] [--limit N]"+partnerHelp)
	rf := addReadFlags(fs, "-1h")
	limit := fs.Int("limit", 0, "at most this many points (0: the whole window)")
	return f.partnerRead(ctx, fs, cf, args, "data", func() (url.Values, error) {
		q := rf.query()
		if *limit < 0 {
			return nil, usageErr("--limit must not be negative")
		}
		if *limit > 0 {
			q.Set("limit", strconv.Itoa(*limit))
		}
		return q, nil
	})
}

func (f *fedCLI) communityLatest(ctx context.Context, args []string) error {
	fs, cf := f.flags("community latest", "COMMUNITY TENANT/STREAM [--format csv|json]"+partnerHelp)
	rf := addReadFlags(fs, "-1h")
	return f.partnerRead(ctx, fs, cf, args, "latest", func() (url.Values, error) {
		return url.Values{"format": {*rf.format}, "time": {*rf.timeFmt}}, nil
	})
}

func (f *fedCLI) communityInterpolated(ctx context.Context, args []string) error {
	fs, cf := f.flags("community interpolated", "COMMUNITY TENANT/STREAM [--start -1h] [--end now] (--interval D | --count N)"+partnerHelp)
	rf := addReadFlags(fs, "-1h")
	interval := fs.String("interval", "", "one value every interval, e.g. 1m")
	count := fs.Int("count", 0, "or this many values from start to end")
	return f.partnerRead(ctx, fs, cf, args, "interpolated", func() (url.Values, error) {
		if (*interval == "") == (*count <= 0) {
			fs.Usage()
			return nil, usageErr("give one of --interval or --count")
		}
		q := rf.query()
		if *interval != "" {
			q.Set("interval", *interval)
		} else {
			q.Set("count", strconv.Itoa(*count))
		}
		return q, nil
	})
}

func (f *fedCLI) communitySummaries(ctx context.Context, args []string) error {
	fs, cf := f.flags("community summaries", "COMMUNITY TENANT/STREAM [--start -24h] [--end now] --interval D"+partnerHelp)
	rf := addReadFlags(fs, "-24h")
	interval := fs.String("interval", "1h", "summary interval, e.g. 1m")
	return f.partnerRead(ctx, fs, cf, args, "summaries", func() (url.Values, error) {
		if *interval == "" {
			return nil, usageErr("--interval must not be empty")
		}
		q := rf.query()
		q.Set("interval", *interval)
		return q, nil
	})
}
