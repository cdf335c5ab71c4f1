package main

import (
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
)

// TestAgentKilledRejoins: the owner's agent is SIGKILLed (no leave, no
// clean shutdown) and restarted on the same data dir and ports. It must
// come back with the same identity and community state and serve the
// partner again, and a share made after the restart must reach the
// partner by gossip and handshake alike.
func TestAgentKilledRejoins(t *testing.T) {
	quickExit(t)
	ports, err := freeLoopbackPorts(2)
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf("tenant: {name: acme-refinery}\nfederation: {listen: 127.0.0.1:%d, gossip: 127.0.0.1:%d, advertise: 127.0.0.1}\n", ports[0], ports[1])
	data := filepath.Join(t.TempDir(), "data")
	acme := startAgent(t, data, cfg)
	north := startFedAgent(t, "northwind-chemicals")
	fedFeed(acme, "site1/boiler/temp", 60)
	fedFeed(acme, "site1/boiler/press", 60)
	acme.ok("", "community", "create", testCommunity)
	acme.ok("", "share", "site1/boiler/temp", "--community", testCommunity)
	const stream = "acme-refinery/site1/boiler/temp"
	fedJoin(acme, north, "ops@northwind.example", stream)
	idBefore, _ := fedCard(acme)

	if err := acme.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-acme.exited
	// While the owner is down the partner gets a clear error, not data.
	north.fails("community", "read", testCommunity, stream, "--start", "-1h")

	acme = startAgent(t, data, cfg)
	if id, _ := fedCard(acme); id != idBefore {
		t.Fatalf("identity changed across a restart: %s -> %s", idBefore, id)
	}
	north.eventually(fedHas("timestamp,value,quality\n"), "community", "read", testCommunity, stream, "--start", "-1h")
	// New state after the restart reaches the partner.
	acme.ok("", "share", "site1/boiler/press", "--community", testCommunity)
	north.eventually(fedHas("site1/boiler/press"), "community", "catalog", testCommunity)
	north.eventually(fedHas("timestamp,value,quality\n"), "community", "read", testCommunity, "acme-refinery/site1/boiler/press", "--start", "-1h")
}
