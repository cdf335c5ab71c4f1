package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sluice-edge/sluice/agent/api"
)

// Users and tokens of this tenant's agent (each tenant manages only its
// own). Passwords come from $SLUICE_PASSWORD, from stdin with
// --password-stdin, or are asked for on the terminal without echo.

func runUser(ctx context.Context, args []string) error {
	return subcommand(ctx, "user", args, map[string]command{
		"add":    {"add a user (asks for the password)", userAdd},
		"list":   {"list users and their roles", userList},
		"show":   {"show a user: roles, stream prefixes, tokens", userShow},
		"remove": {"remove a user", userRemove},
		"passwd": {"change a user's password", userPasswd},
		"grant":  {"give a user a role, tenant-wide or in one community", userGrant},
		"revoke": {"take a role (or some of ingest's prefixes) from a user", userRevoke},
	})
}

func runToken(ctx context.Context, args []string) error {
	return subcommand(ctx, "token", args, map[string]command{
		"create": {"create an API token (shown once): yours, a user's, or a device's with --role", tokenCreate},
		"list":   {"list API tokens", tokenList},
		"revoke": {"revoke an API token", tokenRevoke},
	})
}

// readPassword gets a password without putting it on a command line.
func readPassword(prompt string, fromStdin bool) (string, error) {
	if pw := os.Getenv("SLUICE_PASSWORD"); pw != "" {
		return pw, nil
	}
	if fromStdin {
		line, err := bufio.NewReader(os.Stdin).ReadString('\n')
		if err != nil && line == "" {
			return "", fmt.Errorf("read password from stdin: %w", err)
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return "", errors.New("no terminal to ask for the password: set SLUICE_PASSWORD or use --password-stdin")
	}
	defer tty.Close()
	fmt.Fprint(tty, prompt)
	stty := func(arg string) {
		cmd := exec.Command("stty", arg)
		cmd.Stdin = tty
		cmd.Run()
	}
	stty("-echo")
	line, err := bufio.NewReader(tty).ReadString('\n')
	stty("echo")
	fmt.Fprintln(tty)
	if err != nil && line == "" {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// stepUp asks for the password again when the agent wants it for a
// sensitive action.
func stepUp() (string, error) {
	return readPassword("this action needs your password again: ", false)
}

// roleNames is the help text's list of roles.
const roleNames = "tenant-admin, community-admin, data-steward, community-member, ingest, reader"

// prefixFlag collects repeated --prefix flags.
type prefixFlag []string

func (p *prefixFlag) String() string { return strings.Join(*p, ",") }
func (p *prefixFlag) Set(s string) error {
	*p = append(*p, s)
	return nil
}

func addPrefixFlag(fs *flag.FlagSet) *prefixFlag {
	p := &prefixFlag{}
	fs.Var(p, "prefix", "a stream name prefix ingest may write, e.g. site1/ (repeat for more; ingest needs one)")
	return p
}

// roleReq is a role in an API request.
func roleReq(role string, prefixes []string) map[string]any {
	r := map[string]any{"role": role}
	if len(prefixes) > 0 {
		r["prefixes"] = prefixes
	}
	return r
}

func userAdd(ctx context.Context, args []string) error {
	fs, cf := newClientFlags("user add", "NAME [--role ROLE [--prefix P]...] [--password-stdin | --no-password]")
	role := fs.String("role", "", "a tenant-wide role to give at once ("+roleNames+")")
	prefixes := addPrefixFlag(fs)
	stdin := fs.Bool("password-stdin", false, "read the password from the first line of stdin")
	noPassword := fs.Bool("no-password", false, "a user without a password, for tokens only (a device, a dashboard)")
	pos, err := parseFlags(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if len(*prefixes) > 0 && *role == "" {
		return &exitError{code: 2, err: errors.New("--prefix goes with --role ingest")}
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	req := map[string]any{"name": pos[0]}
	if *noPassword {
		req["no_password"] = true
	} else {
		pw, err := readPassword("password for "+pos[0]+": ", *stdin)
		if err != nil {
			return err
		}
		req["password"] = pw
	}
	if *role != "" {
		req["roles"] = []map[string]any{roleReq(*role, *prefixes)}
	}
	if err := c.JSON(ctx, "POST", "/api/v1/users", nil, req, nil); err != nil {
		return err
	}
	fmt.Printf("added user %s\n", pos[0])
	return nil
}

// userRole is a role as the API shows it.
type userRole struct {
	Role      string   `json:"role"`
	Community string   `json:"community"`
	Prefixes  []string `json:"prefixes"`
}

// String spells a role for tables: ingest[site1/,lab/], data-steward@C.
func (r userRole) String() string {
	s := r.Role
	if len(r.Prefixes) > 0 {
		s += "[" + strings.Join(r.Prefixes, ",") + "]"
	}
	if r.Community != "" {
		s += "@" + r.Community
	}
	return s
}

func joinRoles(rs []userRole) string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.String()
	}
	return strings.Join(out, ", ")
}

func userList(ctx context.Context, args []string) error {
	fs, cf := newClientFlags("user list", "[-o json|table]")
	output := addOutputFlag(fs)
	_, c, err := parseClient(fs, cf, args, 0)
	if err != nil {
		return err
	}
	var out json.RawMessage
	if err := c.JSON(ctx, "GET", "/api/v1/users", nil, nil, &out); err != nil {
		return err
	}
	if output.json() {
		return printJSON(out)
	}
	var list []struct {
		Name     string     `json:"name"`
		Disabled bool       `json:"disabled"`
		Roles    []userRole `json:"roles"`
	}
	if err := json.Unmarshal(out, &list); err != nil {
		// The answer may be wrapped in an object.
		var wrapped struct {
			Users json.RawMessage `json:"users"`
		}
		if json.Unmarshal(out, &wrapped) != nil || json.Unmarshal(wrapped.Users, &list) != nil {
			return fmt.Errorf("decode users: %w", err)
		}
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tSTATE\tROLES")
	for _, u := range list {
		state := "active"
		if u.Disabled {
			state = "disabled"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", u.Name, state, joinRoles(u.Roles))
	}
	return tw.Flush()
}

// apiToken is a token as the API lists it.
type apiToken struct {
	ID       string     `json:"id"`
	User     string     `json:"user"`
	Label    string     `json:"label"`
	Created  time.Time  `json:"created"`
	Expires  time.Time  `json:"expires"`
	Revoked  time.Time  `json:"revoked"`
	LastUsed time.Time  `json:"last_used"`
	Active   bool       `json:"active"`
	Roles    []userRole `json:"roles"`
}

func (t apiToken) state() string {
	switch {
	case t.Active:
		return "active"
	case !t.Revoked.IsZero():
		return "revoked"
	}
	return "expired"
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func printTokens(w io.Writer, ts []apiToken) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tUSER\tLABEL\tSTATE\tEXPIRES\tLAST USED\tROLES")
	for _, t := range ts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.User, first(t.Label, "-"), t.state(),
			fmtTime(t.Expires), fmtTime(t.LastUsed), joinRoles(t.Roles))
	}
	return tw.Flush()
}

func userShow(ctx context.Context, args []string) error {
	fs, cf := newClientFlags("user show", "NAME [-o json|table]")
	output := addOutputFlag(fs)
	pos, c, err := parseClient(fs, cf, args, 1)
	if err != nil {
		return err
	}
	base := "/api/v1/users/" + url.PathEscape(pos[0])
	var raw json.RawMessage
	if err := c.JSON(ctx, "GET", base, nil, nil, &raw); err != nil {
		return err
	}
	// Tokens are a tenant admin's (or the user's own) to see; a
	// community admin sees the user without them.
	var rawTokens json.RawMessage
	var e *api.Error
	terr := c.JSON(ctx, "GET", base+"/tokens", nil, nil, &rawTokens)
	if terr != nil && !(errors.As(terr, &e) && e.Status == http.StatusForbidden) {
		return terr
	}
	if output.json() {
		return printJSON(map[string]json.RawMessage{"user": raw, "tokens": rawTokens})
	}
	var u struct {
		Name            string     `json:"name"`
		Created         time.Time  `json:"created"`
		PasswordChanged time.Time  `json:"password_changed"`
		HasPassword     bool       `json:"has_password"`
		Disabled        bool       `json:"disabled"`
		Builtin         bool       `json:"builtin"`
		Roles           []userRole `json:"roles"`
	}
	if err := json.Unmarshal(raw, &u); err != nil {
		return fmt.Errorf("decode user: %w", err)
	}
	state := map[bool]string{false: "active", true: "disabled"}[u.Disabled]
	password := "set " + fmtTime(u.PasswordChanged)
	if !u.HasPassword {
		password = "none (signs in with tokens only)"
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "user\t%s%s\n", u.Name, map[bool]string{true: " (built-in)"}[u.Builtin])
	fmt.Fprintf(tw, "state\t%s\n", state)
	fmt.Fprintf(tw, "password\t%s\n", password)
	fmt.Fprintf(tw, "created\t%s\n", fmtTime(u.Created))
	if len(u.Roles) == 0 {
		fmt.Fprintln(tw, "roles\tnone")
	}
	for i, r := range u.Roles {
		where := "tenant-wide"
		if r.Community != "" {
			where = "in " + r.Community
		}
		line := r.Role + " " + where
		if len(r.Prefixes) > 0 {
			line += ", writes streams under " + strings.Join(r.Prefixes, " ")
		}
		fmt.Fprintf(tw, "%s\t%s\n", map[bool]string{true: "roles"}[i == 0], line)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if terr != nil {
		fmt.Println("tokens: not shown (a tenant admin's or the user's own to see)")
		return nil
	}
	var ts []apiToken
	if err := json.Unmarshal(rawTokens, &ts); err != nil {
		return fmt.Errorf("decode tokens: %w", err)
	}
	fmt.Println()
	return printTokens(os.Stdout, ts)
}

func userRemove(ctx context.Context, args []string) error {
	return deleteNamed(ctx, args, "user remove", "NAME", func(name string) string { return "/api/v1/users/" + url.PathEscape(name) }, "removed user")
}

func userPasswd(ctx context.Context, args []string) error {
	fs, cf := newClientFlags("user passwd", "NAME [--password-stdin]")
	stdin := fs.Bool("password-stdin", false, "read the new password from the first line of stdin")
	pos, c, err := parseClient(fs, cf, args, 1)
	if err != nil {
		return err
	}
	pw, err := readPassword("new password for "+pos[0]+": ", *stdin)
	if err != nil {
		return err
	}
	if err := c.JSON(ctx, "PUT", "/api/v1/users/"+url.PathEscape(pos[0])+"/password", nil, map[string]string{"password": pw}, nil); err != nil {
		return err
	}
	fmt.Printf("password of %s changed\n", pos[0])
	return nil
}

func userGrant(ctx context.Context, args []string) error {
	fs, cf := newClientFlags("user grant", "NAME ROLE [--community C] [--prefix P]...")
	community := fs.String("community", "", "give the role in this community only (name or id)")
	prefixes := addPrefixFlag(fs)
	pos, err := parseFlags(fs, args, 2, 2)
	if err != nil {
		return err
	}
	if len(*prefixes) > 0 && *community != "" {
		return &exitError{code: 2, err: errors.New("--prefix is for ingest, which is tenant-wide: leave out --community")}
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	var u struct {
		Roles []userRole `json:"roles"`
	}
	if *community != "" {
		err = c.JSON(ctx, "POST", "/api/v1/communities/"+url.PathEscape(*community)+"/users", nil, map[string]string{"user": pos[0], "role": pos[1]}, nil)
	} else {
		err = c.JSON(ctx, "POST", "/api/v1/users/"+url.PathEscape(pos[0])+"/roles", nil, roleReq(pos[1], *prefixes), &u)
	}
	if err != nil {
		return err
	}
	if *community != "" {
		fmt.Printf("%s is now %s in %s\n", pos[0], pos[1], *community)
	} else {
		fmt.Printf("%s is now %s\n", pos[0], joinRoles(u.Roles))
	}
	return nil
}

func userRevoke(ctx context.Context, args []string) error {
	fs, cf := newClientFlags("user revoke", "NAME ROLE [--community C] [--prefix P]...")
	community := fs.String("community", "", "take the role in this community (name or id)")
	prefixes := addPrefixFlag(fs)
	pos, c, err := parseClient(fs, cf, args, 2)
	if err != nil {
		return err
	}
	var u struct {
		Roles []userRole `json:"roles"`
	}
	if *community != "" {
		err = c.JSON(ctx, "DELETE", "/api/v1/communities/"+url.PathEscape(*community)+"/users/"+url.PathEscape(pos[0]),
			url.Values{"role": {pos[1]}}, nil, nil)
	} else {
		err = c.JSON(ctx, "DELETE", "/api/v1/users/"+url.PathEscape(pos[0])+"/roles/"+url.PathEscape(pos[1]),
			url.Values{"prefix": *prefixes}, nil, &u)
	}
	switch {
	case err != nil:
		return err
	case *community != "":
		fmt.Printf("%s is no longer %s in %s\n", pos[0], pos[1], *community)
	case len(u.Roles) == 0:
		fmt.Printf("%s has no roles now\n", pos[0])
	default:
		fmt.Printf("%s is now %s\n", pos[0], joinRoles(u.Roles))
	}
	return nil
}

func tokenCreate(ctx context.Context, args []string) error {
	fs, cf := newClientFlags("token create", "[--label L] [--ttl 90d] [--user NAME | --name NAME --role ROLE [--prefix P]...]")
	label := fs.String("label", "", "what the token is for (default: the --name)")
	ttl := fs.String("ttl", "", "how long it is valid (default 90d, at most 366d)")
	user := fs.String("user", "", "a token for this existing user (a tenant admin's to make), e.g. to rotate a device's token")
	name := fs.String("name", "", "with --role: make a user of this name without a password, for tokens only, and its token")
	role := fs.String("role", "", "with --name: the new user's tenant-wide role (ingest for a device, reader for a dashboard; any of "+roleNames+")")
	prefixes := addPrefixFlag(fs)
	if _, err := parseFlags(fs, args, 0, 0); err != nil {
		return err
	}
	switch {
	case (*name == "") != (*role == ""):
		return &exitError{code: 2, err: errors.New("--name and --role go together")}
	case *name != "" && *user != "":
		return &exitError{code: 2, err: errors.New("--user is for an existing user, --name for a new one: give one")}
	case len(*prefixes) > 0 && *role == "":
		return &exitError{code: 2, err: errors.New("--prefix goes with --name and --role ingest")}
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	path := "/api/v1/tokens"
	switch {
	case *name != "":
		req := map[string]any{"name": *name, "no_password": true, "roles": []map[string]any{roleReq(*role, *prefixes)}}
		if err := c.JSON(ctx, "POST", "/api/v1/users", nil, req, nil); err != nil {
			var e *api.Error
			if errors.As(err, &e) && e.Status == http.StatusConflict {
				// Not wrapped: the exit message shows an API error alone.
				return fmt.Errorf("%s; to make another token for it: sluice token create --user %s", err, *name)
			}
			return err
		}
		fmt.Fprintf(os.Stderr, "added user %s (no password, tokens only) with role %s\n", *name,
			userRole{Role: *role, Prefixes: *prefixes})
		*user = *name
		if *label == "" {
			*label = *name
		}
		fallthrough
	case *user != "":
		path = "/api/v1/users/" + url.PathEscape(*user) + "/tokens"
	}
	var tok struct {
		Token   string    `json:"token"`
		ID      string    `json:"id"`
		User    string    `json:"user"`
		Expires time.Time `json:"expires"`
	}
	if err := c.JSON(ctx, "POST", path, nil, map[string]string{"label": *label, "ttl": *ttl}, &tok); err != nil {
		if *name != "" {
			return fmt.Errorf("%s (user %s exists now; retry with: sluice token create --user %s)", err, *name, *name)
		}
		return err
	}
	fmt.Println(tok.Token)
	fmt.Fprintf(os.Stderr, "token %s of user %s, valid until %s; it is shown only this once\n", tok.ID, tok.User, tok.Expires.Format(time.RFC3339))
	return nil
}

func tokenList(ctx context.Context, args []string) error {
	fs, cf := newClientFlags("token list", "[--user NAME] [-o json|table]")
	user := fs.String("user", "", "list this user's tokens instead of yours (a tenant admin's to see)")
	output := addOutputFlag(fs)
	_, c, err := parseClient(fs, cf, args, 0)
	if err != nil {
		return err
	}
	path := "/api/v1/tokens"
	if *user != "" {
		path = "/api/v1/users/" + url.PathEscape(*user) + "/tokens"
	}
	var out json.RawMessage
	if err := c.JSON(ctx, "GET", path, nil, nil, &out); err != nil {
		return err
	}
	if output.json() {
		return printJSON(out)
	}
	var ts []apiToken
	if err := json.Unmarshal(out, &ts); err != nil {
		return fmt.Errorf("decode tokens: %w", err)
	}
	return printTokens(os.Stdout, ts)
}

func tokenRevoke(ctx context.Context, args []string) error {
	return deleteNamed(ctx, args, "token revoke", "ID", func(id string) string { return "/api/v1/tokens/" + url.PathEscape(id) }, "revoked token")
}

// loginFile keeps the tokens `sluice login` obtained, per agent address.
func loginFile() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "sluice", "tokens.json")
}

func loadLogins() map[string]string {
	m := map[string]string{}
	if b, err := os.ReadFile(loginFile()); err == nil {
		json.Unmarshal(b, &m)
	}
	return m
}

func runLogin(ctx context.Context, args []string) error {
	fs := newFlags("login", "--user NAME [--ttl 30d] [--password-stdin]")
	addr := fs.String("addr", "", "agent API address (default $SLUICE_ADDR or http://127.0.0.1:7080)")
	user := fs.String("user", os.Getenv("USER"), "your user name on the agent")
	ttl := fs.String("ttl", "", "how long the login lasts (the agent's default if empty)")
	stdin := fs.Bool("password-stdin", false, "read the password from the first line of stdin")
	if _, err := parseFlags(fs, args, 0, 0); err != nil {
		return err
	}
	base := normAddr(first(*addr, os.Getenv("SLUICE_ADDR"), "http://127.0.0.1:7080"))
	pw, err := readPassword("password for "+*user+": ", *stdin)
	if err != nil {
		return err
	}
	c := &api.Client{Base: base}
	var tok struct {
		Token string `json:"token"`
	}
	if err := c.JSON(ctx, "POST", "/api/v1/login", nil, map[string]string{"user": *user, "password": pw, "ttl": *ttl, "label": "sluice login"}, &tok); err != nil {
		return err
	}
	m := loadLogins()
	m[base] = tok.Token
	b, _ := json.MarshalIndent(m, "", "  ")
	if err := os.MkdirAll(filepath.Dir(loginFile()), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(loginFile(), b, 0o600); err != nil {
		return err
	}
	fmt.Printf("logged in to %s as %s\n", base, *user)
	return nil
}

func normAddr(a string) string {
	if !strings.Contains(a, "://") {
		a = "http://" + a
	}
	return strings.TrimRight(a, "/")
}
