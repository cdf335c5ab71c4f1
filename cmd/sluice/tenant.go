package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/sluice-edge/sluice/configs"
	"github.com/sluice-edge/sluice/federation/identity"
)

type tenantJSON struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	FederationAddr string `json:"federation_addr"`
	GossipAddr     string `json:"gossip_addr"`
}

func (f *fedCLI) runTenant(ctx context.Context, args []string) error {
	return subcommand(ctx, "tenant", args, named("tenant", map[string]command{
		"show":      {"show this agent's tenant id, name and federation addresses", f.tenantShow},
		"card":      {"print what a partner needs: tenant id and federation address", f.tenantCard},
		"init":      {"create the tenant identity in a data dir (the agent does it on first start)", tenantInit},
		"export-ca": {"print the tenant CA and key, to install on another agent of this tenant (a secret)", tenantExportCA},
		"import-ca": {"install an exported tenant CA in a fresh data dir (read from stdin)", tenantImportCA},
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
	fs, cf := f.flags("tenant show", "[-o json|table]")
	output := addOutputFlag(fs)
	if _, err := parseFlags(fs, args, 0, 0); err != nil {
		return err
	}
	t, raw, err := f.tenant(ctx, cf)
	if output.json() && raw != nil {
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

// The identity verbs work on a data dir directly, not through a running
// agent: they set up agents before they first start.

func dataDirFlag(fs *flag.FlagSet) *string {
	return fs.String("data-dir", "", "the agent's data dir (default $SLUICE_DATA_DIR or ./sluice-data)")
}

func resolveDataDir(flagVal string) string {
	return first(flagVal, os.Getenv(configs.EnvDataDir), configs.DefaultDataDir)
}

func tenantInit(ctx context.Context, args []string) error {
	fs := newFlags("tenant init", "--name NAME [--data-dir DIR]")
	name := fs.String("name", "", "the tenant's display name (required)")
	dir := dataDirFlag(fs)
	if _, err := parseFlags(fs, args, 0, 0); err != nil {
		return err
	}
	if *name == "" {
		return usageErr("--name is required")
	}
	t, err := identity.Init(resolveDataDir(*dir), *name, identity.Options{})
	if err != nil {
		return err
	}
	fmt.Printf("tenant %s created: id %s\n", t.Name(), t.ID())
	return nil
}

func tenantExportCA(ctx context.Context, args []string) error {
	fs := newFlags("tenant export-ca", "[--data-dir DIR] > tenant-ca.pem")
	dir := dataDirFlag(fs)
	if _, err := parseFlags(fs, args, 0, 0); err != nil {
		return err
	}
	b, err := identity.ExportCA(resolveDataDir(*dir))
	if err != nil {
		return err
	}
	os.Stdout.Write(b)
	fmt.Fprintln(os.Stderr, "this bundle holds the tenant's private key: move it to the other agent over a secure channel, then delete it")
	return nil
}

func tenantImportCA(ctx context.Context, args []string) error {
	fs := newFlags("tenant import-ca", "[--data-dir DIR] < tenant-ca.pem")
	dir := dataDirFlag(fs)
	if _, err := parseFlags(fs, args, 0, 0); err != nil {
		return err
	}
	b, err := io.ReadAll(io.LimitReader(os.Stdin, 1<<20))
	if err != nil {
		return err
	}
	d := resolveDataDir(*dir)
	if err := identity.ImportCA(d, b); err != nil {
		return err
	}
	fmt.Printf("tenant CA installed in %s; this agent gets its own certificate when it starts\n", d)
	return nil
}
