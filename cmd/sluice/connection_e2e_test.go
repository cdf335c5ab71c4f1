package main

import (
	"strings"
	"testing"
)

// TestConnectionEndToEnd drives a one-way connection between two agents
// through the CLI: request, review, share over the link, read, unshare.
func TestConnectionEndToEnd(t *testing.T) {
	quickExit(t)
	acme := startFedAgent(t, "acme-refinery")
	north := startFedAgent(t, "northwind-chemicals")
	fedFeed(north, "rotterdam/feed/flow", 60)
	id, addr := fedCard(north)

	out := acme.ok("", "connection", "request", id+"@"+addr, "--comment", "we buy your feedstock")
	if !strings.Contains(out, "pending") {
		t.Fatalf("request: %s", out)
	}
	if out := north.ok("", "connection", "list", "--incoming"); !strings.Contains(out, "acme-refinery") || !strings.Contains(out, "we buy your feedstock") {
		t.Fatalf("northwind's incoming list: %s", out)
	}
	if out := acme.ok("", "connection", "list", "--outgoing"); !strings.Contains(out, "northwind-chemicals") {
		t.Fatalf("acme's outgoing list: %s", out)
	}
	north.ok("", "connection", "review", "acme-refinery", "--accept", "--level", "catalog+data", "--comment", "welcome")
	north.ok("", "share", "rotterdam/feed/flow", "--connection", "acme-refinery")
	acme.eventually(fedHas("paired", "catalog+data"), "connection", "list")
	acme.eventually(fedHas("rotterdam/feed/flow"), "connection", "catalog", "northwind-chemicals")
	acme.eventually(fedHas("timestamp,value,quality\n"), "connection", "read", "northwind-chemicals/rotterdam/feed/flow", "--start", "-1h")
	north.ok("", "unshare", "rotterdam/feed/flow", "--connection", "acme-refinery")
	if errs := acme.fails("connection", "latest", "northwind-chemicals/rotterdam/feed/flow"); errs != "sluice connection latest: denied: not_shared (HTTP 403)" {
		t.Fatalf("read after unshare: %q", errs)
	}
	// The link is one-way: northwind reads nothing of acme.
	north.refused("connection", "catalog", "acme-refinery")
}
