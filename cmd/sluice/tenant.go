package main

import (
	"context"
	"fmt"
)

type tenantJSON struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	FederationAddr string `json:"federation_addr"`
	GossipAddr     string `json:"gossip_addr"`
}

func (f *fedCLI) runTenant(ctx context.Context, args []string) error {
	return subcommand(ctx, "tenant", args, named("tenant", map[string]command{
		"show": {"show this agent's tenant id, name and federation addresses", f.tenantShow},
		"card": {"print what a partner needs: tenant id and federation address", f.tenantCard},
	}))
}

func (f *fedCLI) tenant(ctx context.Context, cf clientFlags) (tenantJSON, []byte, error) {
	var t tenantJSON
	c, err := f.connect(cf)
	if err != nil {
		return t, nil, err
	}
	raw, err := call(ctx, c, "GET", "/api/v1/tenant", nil, nil)
	if err != nil {
		return t, nil, err
	}
	return t, raw, decode(raw, &t, "tenant")
}

func (f *fedCLI) tenantShow(ctx context.Context, args []string) error {
	fs, cf := f.flags("tenant show", "[--json]")
	asJSON := fs.Bool("json", false, "print the agent's JSON answer")
	if _, err := parseFlags(fs, args, 0, 0); err != nil {
		return err
	}
	t, raw, err := f.tenant(ctx, cf)
	if *asJSON && raw != nil {
		return printRaw(f.stdout, raw)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(f.stdout, "id          %s\nname        %s\nfederation  %s\ngossip      %s\n",
		t.ID, t.Name, dash(t.FederationAddr), dash(t.GossipAddr))
	return nil
}

// tenantCard prints the tenant id and the federation address, one per
// line and nothing else, for a partner to copy or a script to read.
func (f *fedCLI) tenantCard(ctx context.Context, args []string) error {
	fs, cf := f.flags("tenant card", "\n\nPrints two lines: this tenant's id (invitations can be pinned to it)\n"+
		"and the federation address that partners' agents dial.")
	if _, err := parseFlags(fs, args, 0, 0); err != nil {
		return err
	}
	t, _, err := f.tenant(ctx, cf)
	if err != nil {
		return err
	}
	if t.ID == "" || t.FederationAddr == "" {
		return fmt.Errorf("the agent has no tenant id or federation address yet (id %q, federation %q)", t.ID, t.FederationAddr)
	}
	fmt.Fprintf(f.stdout, "%s\n%s\n", t.ID, t.FederationAddr)
	return nil
}
