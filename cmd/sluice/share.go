package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"
)

func (f *fedCLI) runShare(ctx context.Context, args []string) error {
	fs, cf := f.flags("share", "STREAM --community C [--history-from T] [--lookback 30d] [--expires T] [--min-interval 1m] [-o json|table]\n\n"+
		"Shares one of this tenant's streams into a community: its confirmed\n"+
		"members may read it from this agent, within the limits given here.\n"+
		"Times take RFC 3339, epoch, now, or relative forms like -30d.")
	community := fs.String("community", "", "the community to share into: name or id")
	connection := fs.String("connection", "", "or: the tenant (id or name) of an accepted connection to share with")
	historyFrom := fs.String("history-from", "", "partners see no points before this time")
	lookback := fs.String("lookback", "", "partners see only this far back from now, e.g. 30d")
	expires := fs.String("expires", "", "the share ends by itself at this time")
	minInterval := fs.String("min-interval", "", "partners get summaries no finer than this (e.g. 1m) and no raw points")
	output := addOutputFlag(fs)
	pos, err := parseNamed(fs, args, "STREAM")
	if err != nil {
		return err
	}
	if (strings.TrimSpace(*community) == "") == (strings.TrimSpace(*connection) == "") {
		fs.Usage()
		return usageErr("give one of --community or --connection")
	}
	c, err := f.connect(cf)
	if err != nil {
		return err
	}
	path, target := communityPath(*community, "shares"), *community
	if *connection != "" {
		path, target = connectionPath(*connection, "shares"), "the connection with "+*connection
	}
	req := map[string]string{"stream": pos[0]}
	for k, v := range map[string]string{"history_from": *historyFrom, "lookback": *lookback, "expires": *expires, "min_interval": *minInterval} {
		if v != "" {
			req[k] = v
		}
	}
	raw, err := call(ctx, c, "POST", path, nil, req)
	if err != nil {
		return err
	}
	if output.json() {
		return printRaw(f.stdout, raw)
	}
	var s shareJSON
	if len(raw) > 0 {
		if err := decode(raw, &s, "share"); err != nil {
			return err
		}
	}
	var limits []string
	for _, l := range []struct {
		name string
		v    jsonText
	}{{"history from", s.HistoryFrom}, {"lookback", s.Lookback}, {"expires", s.Expires}, {"min interval", s.MinInterval}} {
		if l.v != "" {
			limits = append(limits, l.name+" "+string(l.v))
		}
	}
	msg := fmt.Sprintf("shared %s into %s", first(s.Stream, pos[0]), target)
	if len(limits) > 0 {
		msg += " (" + strings.Join(limits, ", ") + ")"
	}
	if s.Paused {
		msg += "; note: this tenant's sharing into " + *community + " is paused (sluice community resume)"
	}
	fmt.Fprintln(f.stdout, msg)
	return nil
}

func (f *fedCLI) runUnshare(ctx context.Context, args []string) error {
	fs, cf := f.flags("unshare", "STREAM (--community C | --connection TENANT)\n\n"+
		"Stops sharing a stream: partners lose it and its history at once.")
	community := fs.String("community", "", "the community to stop sharing into: name or id")
	connection := fs.String("connection", "", "or: the tenant of the connection to stop sharing with")
	pos, err := parseNamed(fs, args, "STREAM")
	if err != nil {
		return err
	}
	if (strings.TrimSpace(*community) == "") == (strings.TrimSpace(*connection) == "") {
		fs.Usage()
		return usageErr("give one of --community or --connection")
	}
	c, err := f.connect(cf)
	if err != nil {
		return err
	}
	path, target := communityPath(*community, "shares", url.PathEscape(pos[0])), *community
	if *connection != "" {
		path, target = connectionPath(*connection, "shares", url.PathEscape(pos[0])), "the connection with "+*connection
	}
	if _, err := call(ctx, c, "DELETE", path, nil, nil); err != nil {
		return err
	}
	fmt.Fprintf(f.stdout, "stopped sharing %s into %s\n", pos[0], target)
	return nil
}
