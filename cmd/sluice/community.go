package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// The community verbs: create and delete communities, invite and confirm
// partners, membership, pausing, the catalog (docs/federation-api.md).

func (f *fedCLI) runCommunity(ctx context.Context, args []string) error {
	return subcommand(ctx, "community", args, named("community", map[string]command{
		"create":        {"create a community that this tenant owns", f.communityCreate},
		"list":          {"list the communities this tenant owns or belongs to", f.communityList},
		"show":          {"show a community's members, invitations and shares", f.communityShow},
		"invite":        {"invite a partner tenant (prints the invitation token)", f.communityInvite},
		"invitations":   {"list a community's invitations", f.communityInvitations},
		"revoke-invite": {"revoke an invitation that was not accepted yet", f.communityRevokeInvite},
		"members":       {"list a community's members", f.communityMembers},
		"confirm":       {"confirm a tenant that accepted its invitation (data flows from now)", f.communityConfirm},
		"remove":        {"remove a tenant from a community you own", f.communityRemove},
		"leave":         {"leave a community", f.communityLeave},
		"delete":        {"delete a community you own", f.communityDelete},
		"pause":         {"pause all of this tenant's sharing into a community", f.communityPause},
		"resume":        {"resume this tenant's sharing into a community", f.communityResume},
		"catalog":       {"list the streams partners share into a community", f.communityCatalog},
		"read":          {"read a time window of a partner's shared stream", f.communityRead},
		"latest":        {"read the newest point of a partner's shared stream", f.communityLatest},
		"interpolated":  {"read a partner's stream at evenly spaced times", f.communityInterpolated},
		"summaries":     {"read count/min/max/mean/... per interval of a partner's stream", f.communitySummaries},
	}))
}

// API shapes of docs/federation-api.md. Times and durations are shown as
// the agent sends them, whatever JSON type that is.

type communityJSON struct {
	ID          string           `json:"id"`
	Name        string           `json:"name"`
	Owner       string           `json:"owner"`
	OwnerName   string           `json:"owner_name"`
	Role        string           `json:"role"`
	Status      string           `json:"status"`
	Members     []memberJSON     `json:"members"`
	Invitations []invitationJSON `json:"invitations"`
	Shares      []shareJSON      `json:"shares"`
}

type memberJSON struct {
	Tenant string `json:"tenant"`
	Name   string `json:"name"`
	Status string `json:"status"`
}

type invitationJSON struct {
	ID      string   `json:"id"`
	Email   string   `json:"email"`
	Status  string   `json:"status"`
	Expires jsonText `json:"expires"`
	Tenant  string   `json:"tenant"`
}

type shareJSON struct {
	Tenant      string   `json:"tenant"`
	Stream      string   `json:"stream"`
	HistoryFrom jsonText `json:"history_from"`
	Lookback    jsonText `json:"lookback"`
	Expires     jsonText `json:"expires"`
	MinInterval jsonText `json:"min_interval"`
	Paused      bool     `json:"paused"`
}

type catalogEntryJSON struct {
	Tenant      string   `json:"tenant"`
	TenantName  string   `json:"tenant_name"`
	Stream      string   `json:"stream"`
	Kind        string   `json:"kind"`
	Unit        string   `json:"unit"`
	Description string   `json:"description"`
	Constraints jsonText `json:"constraints"`
}

type inviteAnswer struct {
	ID         string   `json:"id"`
	Token      string   `json:"token"`
	Expires    jsonText `json:"expires"`
	Emailed    string   `json:"emailed"`
	EmailError string   `json:"email_error"`
}

// communityPath is the API path of community c; parts are appended as
// they are (escape them first).
func communityPath(c string, parts ...string) string {
	p := "/api/v1/communities/" + url.PathEscape(c)
	for _, s := range parts {
		p += "/" + s
	}
	return p
}

func (f *fedCLI) communityCreate(ctx context.Context, args []string) error {
	fs, cf := f.flags("community create", "NAME [-o json|table]")
	output := addOutputFlag(fs)
	pos, c, err := f.parseConnect(fs, cf, args, "NAME")
	if err != nil {
		return err
	}
	raw, err := call(ctx, c, "POST", "/api/v1/communities", nil, map[string]string{"name": pos[0]})
	if err != nil {
		return err
	}
	return printAnswer(f, raw, output, "community", func(cm communityJSON) error {
		fmt.Fprintf(f.stdout, "created community %s (id %s)\n", cm.Name, cm.ID)
		fmt.Fprintf(f.stderr, "next: sluice community invite %s --email PARTNER-ADMIN@EXAMPLE\n", shellQuote(cm.Name))
		return nil
	})
}

func (f *fedCLI) communityList(ctx context.Context, args []string) error {
	fs, cf := f.flags("community list", "[-o json|table]")
	output := addOutputFlag(fs)
	_, c, err := f.parseConnect(fs, cf, args)
	if err != nil {
		return err
	}
	return getShow(ctx, f, c, "/api/v1/communities", nil, output, "community list", func(list []communityJSON) error {
		tw := f.table("NAME\tROLE\tSTATUS\tOWNER\tID")
		for _, cm := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", cm.Name, dash(cm.Role), dash(cm.Status), dash(first(cm.OwnerName, cm.Owner)), cm.ID)
		}
		return tw.Flush()
	})
}

func (f *fedCLI) communityShow(ctx context.Context, args []string) error {
	fs, cf := f.flags("community show", "COMMUNITY [-o json|table]")
	output := addOutputFlag(fs)
	pos, c, err := f.parseConnect(fs, cf, args, "COMMUNITY")
	if err != nil {
		return err
	}
	return getShow(ctx, f, c, communityPath(pos[0]), nil, output, "community", f.printCommunity)
}

// printCommunity prints a community as key/value lines, then its
// members, invitations and shares.
func (f *fedCLI) printCommunity(cm communityJSON) error {
	owner := cm.Owner
	if cm.OwnerName != "" {
		owner = cm.OwnerName + " (" + cm.Owner + ")"
	}
	fmt.Fprintf(f.stdout, "community   %s\nid          %s\nowner       %s\nrole        %s\nstatus      %s\n",
		cm.Name, cm.ID, dash(owner), dash(cm.Role), dash(cm.Status))

	names := map[string]string{cm.Owner: cm.OwnerName}
	fmt.Fprintln(f.stdout, "\nMembers")
	if len(cm.Members) == 0 {
		fmt.Fprintln(f.stdout, "  (none)")
	} else if err := f.memberTable(cm.Members); err != nil {
		return err
	}
	var pending []string
	for _, m := range cm.Members {
		names[m.Tenant] = m.Name
		if m.Status == "accepted" {
			pending = append(pending, first(m.Name, m.Tenant))
		}
	}
	if cm.Role == "owner" || len(cm.Invitations) > 0 {
		fmt.Fprintln(f.stdout, "\nInvitations")
		if len(cm.Invitations) == 0 {
			fmt.Fprintln(f.stdout, "  (none)")
		} else if err := f.invitationTable(cm.Invitations); err != nil {
			return err
		}
	}
	fmt.Fprintln(f.stdout, "\nShares")
	if len(cm.Shares) == 0 {
		fmt.Fprintln(f.stdout, "  (none)")
	} else {
		tw := f.table("TENANT\tSTREAM\tHISTORY FROM\tLOOKBACK\tEXPIRES\tMIN INTERVAL\tPAUSED")
		for _, s := range cm.Shares {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", first(names[s.Tenant], s.Tenant), s.Stream,
				s.HistoryFrom.or("-"), s.Lookback.or("-"), s.Expires.or("-"), s.MinInterval.or("-"), yesNo(s.Paused))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if cm.Role == "owner" {
		for _, p := range pending {
			fmt.Fprintf(f.stderr, "%s accepted and waits for you: sluice community confirm %s %s\n", p, shellQuote(cm.Name), shellQuote(p))
		}
	}
	return nil
}

func (f *fedCLI) memberTable(ms []memberJSON) error {
	tw := f.table("NAME\tSTATUS\tTENANT")
	for _, m := range ms {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", dash(m.Name), m.Status, m.Tenant)
	}
	return tw.Flush()
}

func (f *fedCLI) invitationTable(is []invitationJSON) error {
	tw := f.table("ID\tEMAIL\tSTATUS\tEXPIRES\tTENANT")
	for _, i := range is {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", i.ID, dash(i.Email), i.Status, i.Expires.or("-"), dash(i.Tenant))
	}
	return tw.Flush()
}

func (f *fedCLI) communityInvite(ctx context.Context, args []string) error {
	fs, cf := f.flags("community invite", "COMMUNITY --email ADDR [--tenant ID] [-o json|table]\n\n"+
		"Prints the invitation token alone on stdout; give it to the partner's\n"+
		"administrator, who runs 'sluice invitation accept TOKEN' on their agent.")
	email := fs.String("email", "", "the partner administrator's e-mail address (required)")
	tenant := fs.String("tenant", "", "pin the invitation to this tenant id: nobody else can accept it")
	output := addOutputFlag(fs)
	pos, err := parseNamed(fs, args, "COMMUNITY")
	if err != nil {
		return err
	}
	if strings.TrimSpace(*email) == "" {
		fs.Usage()
		return usageErr("--email is required")
	}
	c, err := f.connect(cf)
	if err != nil {
		return err
	}
	req := map[string]string{"email": *email}
	if *tenant != "" {
		req["tenant"] = *tenant
	}
	raw, err := call(ctx, c, "POST", communityPath(pos[0], "invitations"), nil, req)
	if err != nil {
		return err
	}
	return printAnswer(f, raw, output, "invitation", func(inv inviteAnswer) error {
		if inv.Token == "" {
			return errors.New("the agent sent an invitation without a token")
		}
		fmt.Fprintln(f.stdout, inv.Token)
		fmt.Fprintf(f.stderr, "invitation %s for %s expires %s; the partner accepts it on their agent with:\n  sluice invitation accept TOKEN   (or pipe the token into: sluice invitation accept -)\n",
			inv.ID, *email, inv.Expires.or("in 14 days"))
		switch {
		case inv.Emailed != "":
			fmt.Fprintf(f.stderr, "the token was also e-mailed to %s\n", inv.Emailed)
		case inv.EmailError != "":
			fmt.Fprintf(f.stderr, "warning: the token could not be e-mailed (%s); pass it on yourself\n", inv.EmailError)
		}
		return nil
	})
}

func (f *fedCLI) communityInvitations(ctx context.Context, args []string) error {
	fs, cf := f.flags("community invitations", "COMMUNITY [-o json|table]")
	output := addOutputFlag(fs)
	pos, c, err := f.parseConnect(fs, cf, args, "COMMUNITY")
	if err != nil {
		return err
	}
	return getShow(ctx, f, c, communityPath(pos[0], "invitations"), nil, output, "invitation list", f.invitationTable)
}

func (f *fedCLI) communityRevokeInvite(ctx context.Context, args []string) error {
	return f.simple(ctx, args, "community revoke-invite", "COMMUNITY INVITATION-ID", []string{"COMMUNITY", "INVITATION-ID"},
		func(p []string) (string, string) {
			return "DELETE", communityPath(p[0], "invitations", url.PathEscape(p[1]))
		},
		func(p []string) string { return "revoked invitation " + p[1] + " to " + p[0] })
}

func (f *fedCLI) communityMembers(ctx context.Context, args []string) error {
	fs, cf := f.flags("community members", "COMMUNITY [-o json|table]")
	output := addOutputFlag(fs)
	pos, c, err := f.parseConnect(fs, cf, args, "COMMUNITY")
	if err != nil {
		return err
	}
	return getShow(ctx, f, c, communityPath(pos[0], "members"), nil, output, "member list", f.memberTable)
}

func (f *fedCLI) communityConfirm(ctx context.Context, args []string) error {
	fs, cf := f.flags("community confirm", "COMMUNITY TENANT [-o json|table]\n\n"+
		"TENANT is the tenant id or its name. No data flows to a tenant before\nits owner confirms it.")
	output := addOutputFlag(fs)
	pos, c, err := f.parseConnect(fs, cf, args, "COMMUNITY", "TENANT")
	if err != nil {
		return err
	}
	raw, err := call(ctx, c, "POST", communityPath(pos[0], "members", url.PathEscape(pos[1]), "confirm"), nil, nil)
	if err != nil {
		return err
	}
	if output.json() {
		return printRaw(f.stdout, raw)
	}
	var m memberJSON
	if len(raw) > 0 {
		if err := decode(raw, &m, "member"); err != nil {
			return err
		}
	}
	who := pos[1]
	if m.Name != "" && m.Tenant != "" {
		who = m.Name + " (" + m.Tenant + ")"
	}
	fmt.Fprintf(f.stdout, "confirmed %s in %s\n", who, pos[0])
	return nil
}

// simple runs a verb with COMMUNITY [more] positional arguments and no
// answer body.
func (f *fedCLI) simple(ctx context.Context, args []string, name, synopsis string, names []string,
	req func(pos []string) (method, path string), done func(pos []string) string) error {
	fs, cf := f.flags(name, synopsis)
	pos, c, err := f.parseConnect(fs, cf, args, names...)
	if err != nil {
		return err
	}
	method, path := req(pos)
	if _, err := call(ctx, c, method, path, nil, nil); err != nil {
		return err
	}
	fmt.Fprintln(f.stdout, done(pos))
	return nil
}

func (f *fedCLI) communityRemove(ctx context.Context, args []string) error {
	return f.simple(ctx, args, "community remove", "COMMUNITY TENANT\n\nThe owner removes a tenant (id or name); it loses every shared stream at once.",
		[]string{"COMMUNITY", "TENANT"},
		func(p []string) (string, string) {
			return "DELETE", communityPath(p[0], "members", url.PathEscape(p[1]))
		},
		func(p []string) string { return "removed " + p[1] + " from " + p[0] })
}

func (f *fedCLI) communityLeave(ctx context.Context, args []string) error {
	return f.simple(ctx, args, "community leave", "COMMUNITY", []string{"COMMUNITY"},
		func(p []string) (string, string) { return "POST", communityPath(p[0], "leave") },
		func(p []string) string { return "left " + p[0] })
}

func (f *fedCLI) communityDelete(ctx context.Context, args []string) error {
	return f.simple(ctx, args, "community delete", "COMMUNITY\n\nThe owner deletes the community; every member loses its streams at once.",
		[]string{"COMMUNITY"},
		func(p []string) (string, string) { return "DELETE", communityPath(p[0]) },
		func(p []string) string { return "deleted community " + p[0] })
}

func (f *fedCLI) communityPause(ctx context.Context, args []string) error {
	return f.simple(ctx, args, "community pause", "COMMUNITY\n\nStops all of this tenant's sharing into the community at once, until resume.",
		[]string{"COMMUNITY"},
		func(p []string) (string, string) { return "POST", communityPath(p[0], "pause") },
		func(p []string) string { return "paused this tenant's sharing into " + p[0] })
}

func (f *fedCLI) communityResume(ctx context.Context, args []string) error {
	return f.simple(ctx, args, "community resume", "COMMUNITY\n\nResumes this tenant's sharing into the community as it was.",
		[]string{"COMMUNITY"},
		func(p []string) (string, string) { return "POST", communityPath(p[0], "resume") },
		func(p []string) string { return "resumed this tenant's sharing into " + p[0] })
}

func (f *fedCLI) communityCatalog(ctx context.Context, args []string) error {
	fs, cf := f.flags("community catalog", "COMMUNITY [--search TEXT] [--label key=value]... [-o json|table]")
	search := fs.String("search", "", "only streams whose name, unit or description contains this")
	labels := addLabelSelectFlag(fs) // stream.go
	output := addOutputFlag(fs)
	pos, c, err := f.parseConnect(fs, cf, args, "COMMUNITY")
	if err != nil {
		return err
	}
	q := url.Values{}
	labels.set(q)
	if *search != "" {
		q.Set("search", *search)
	}
	return getShow(ctx, f, c, communityPath(pos[0], "catalog"), q, output, "catalog", f.catalogTable)
}

// catalogTable prints a community's or a connection's catalog.
func (f *fedCLI) catalogTable(list []catalogEntryJSON) error {
	tw := f.table("TENANT/STREAM\tKIND\tUNIT\tCONSTRAINTS\tDESCRIPTION")
	for _, e := range list {
		fmt.Fprintf(tw, "%s/%s\t%s\t%s\t%s\t%s\n", first(e.TenantName, e.Tenant), e.Stream, dash(e.Kind), dash(e.Unit), e.Constraints.or("-"), e.Description)
	}
	return tw.Flush()
}
