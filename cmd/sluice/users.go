package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
		"remove": {"remove a user", userRemove},
		"passwd": {"change a user's password", userPasswd},
		"grant":  {"give a user a role, tenant-wide or in one community", userGrant},
	})
}

func runToken(ctx context.Context, args []string) error {
	return subcommand(ctx, "token", args, map[string]command{
		"create": {"create an API token for yourself (shown once)", tokenCreate},
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

func userAdd(ctx context.Context, args []string) error {
	fs := newFlags("user add", "NAME [--role tenant-admin|community-member|...] [--password-stdin]")
	cf := addClientFlags(fs)
	role := fs.String("role", "", "a tenant-wide role to give at once (tenant-admin, community-admin, data-steward, community-member)")
	stdin := fs.Bool("password-stdin", false, "read the password from the first line of stdin")
	pos, err := parseFlags(fs, args, 1, 1)
	if err != nil {
		return err
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	pw, err := readPassword("password for "+pos[0]+": ", *stdin)
	if err != nil {
		return err
	}
	req := map[string]any{"name": pos[0], "password": pw}
	if *role != "" {
		req["roles"] = []map[string]string{{"role": *role}}
	}
	if err := c.JSON(ctx, "POST", "/api/v1/users", nil, req, nil); err != nil {
		return err
	}
	fmt.Printf("added user %s\n", pos[0])
	return nil
}

func userList(ctx context.Context, args []string) error {
	fs := newFlags("user list", "[--json]")
	cf := addClientFlags(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parseFlags(fs, args, 0, 0); err != nil {
		return err
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	var out json.RawMessage
	if err := c.JSON(ctx, "GET", "/api/v1/users", nil, nil, &out); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(out)
	}
	var list []struct {
		Name     string `json:"name"`
		Disabled bool   `json:"disabled"`
		Roles    []struct {
			Role      string `json:"role"`
			Community string `json:"community"`
		} `json:"roles"`
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
		var roles []string
		for _, r := range u.Roles {
			if r.Community != "" {
				roles = append(roles, r.Role+"@"+r.Community)
			} else {
				roles = append(roles, r.Role)
			}
		}
		state := "active"
		if u.Disabled {
			state = "disabled"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", u.Name, state, strings.Join(roles, ", "))
	}
	return tw.Flush()
}

func userRemove(ctx context.Context, args []string) error {
	fs := newFlags("user remove", "NAME")
	cf := addClientFlags(fs)
	pos, err := parseFlags(fs, args, 1, 1)
	if err != nil {
		return err
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	if err := c.JSON(ctx, "DELETE", "/api/v1/users/"+url.PathEscape(pos[0]), nil, nil, nil); err != nil {
		return err
	}
	fmt.Printf("removed user %s\n", pos[0])
	return nil
}

func userPasswd(ctx context.Context, args []string) error {
	fs := newFlags("user passwd", "NAME [--password-stdin]")
	cf := addClientFlags(fs)
	stdin := fs.Bool("password-stdin", false, "read the new password from the first line of stdin")
	pos, err := parseFlags(fs, args, 1, 1)
	if err != nil {
		return err
	}
	c, err := cf.client()
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
	fs := newFlags("user grant", "NAME ROLE [--community C]")
	cf := addClientFlags(fs)
	community := fs.String("community", "", "give the role in this community only (name or id)")
	pos, err := parseFlags(fs, args, 2, 2)
	if err != nil {
		return err
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	if *community != "" {
		err = c.JSON(ctx, "POST", "/api/v1/communities/"+url.PathEscape(*community)+"/users", nil, map[string]string{"user": pos[0], "role": pos[1]}, nil)
	} else {
		err = c.JSON(ctx, "POST", "/api/v1/users/"+url.PathEscape(pos[0])+"/roles", nil, map[string]string{"role": pos[1]}, nil)
	}
	if err != nil {
		return err
	}
	fmt.Printf("%s is now %s%s\n", pos[0], pos[1], map[bool]string{true: " in " + *community, false: ""}[*community != ""])
	return nil
}

func tokenCreate(ctx context.Context, args []string) error {
	fs := newFlags("token create", "[--label L] [--ttl 90d]")
	cf := addClientFlags(fs)
	label := fs.String("label", "", "what the token is for")
	ttl := fs.String("ttl", "", "how long it is valid (default 90d)")
	if _, err := parseFlags(fs, args, 0, 0); err != nil {
		return err
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	var tok struct {
		Token   string    `json:"token"`
		ID      string    `json:"id"`
		Expires time.Time `json:"expires"`
	}
	if err := c.JSON(ctx, "POST", "/api/v1/tokens", nil, map[string]string{"label": *label, "ttl": *ttl}, &tok); err != nil {
		return err
	}
	fmt.Println(tok.Token)
	fmt.Fprintf(os.Stderr, "token %s, valid until %s; it is shown only this once\n", tok.ID, tok.Expires.Format(time.RFC3339))
	return nil
}

func tokenList(ctx context.Context, args []string) error {
	fs := newFlags("token list", "")
	cf := addClientFlags(fs)
	if _, err := parseFlags(fs, args, 0, 0); err != nil {
		return err
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	var out json.RawMessage
	if err := c.JSON(ctx, "GET", "/api/v1/tokens", nil, nil, &out); err != nil {
		return err
	}
	return printJSON(out)
}

func tokenRevoke(ctx context.Context, args []string) error {
	fs := newFlags("token revoke", "ID")
	cf := addClientFlags(fs)
	pos, err := parseFlags(fs, args, 1, 1)
	if err != nil {
		return err
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	if err := c.JSON(ctx, "DELETE", "/api/v1/tokens/"+url.PathEscape(pos[0]), nil, nil, nil); err != nil {
		return err
	}
	fmt.Printf("revoked token %s\n", pos[0])
	return nil
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
