package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/sluice-edge/sluice/agent/api"
)

// The federation verbs (tenant, community, invitation, share, unshare)
// follow docs/federation-api.md. They are methods of fedCLI so that the
// demo can drive them against its own agents, with their output captured,
// through exactly the code a user runs.

// fedCLI runs the federation verbs with its own standard streams.
type fedCLI struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// client, if set, is used instead of --addr / --token / --data-dir.
	client *api.Client
}

// fedStd is the CLI as a user runs it.
var fedStd = &fedCLI{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}

// commands are the federation verbs by their first word. Their errors
// are *verbError, named by the verb that failed.
func (f *fedCLI) commands() map[string]command {
	return map[string]command{
		"tenant":     {"show this agent's tenant identity and partner card", f.runTenant},
		"community":  {"create communities, invite partners, read shared streams", f.runCommunity},
		"invitation": {"accept or decline an invitation to a community", f.runInvitation},
		"share":      {"share a stream into a community", nameErr("share", f.runShare)},
		"unshare":    {"stop sharing a stream into a community", nameErr("unshare", f.runUnshare)},
		"connection": {"one-way links to other tenants: request, review, cancel, read", f.runConnection},
	}
}

// cliCommands are the federation verbs for main's command table: each
// prints its own one-line error naming the verb, as in
// "sluice community read: denied: paused (HTTP 403)", and exits 1, or 2
// for a usage mistake.
func (f *fedCLI) cliCommands() map[string]command {
	out := map[string]command{}
	for name, c := range f.commands() {
		run := c.run
		out[name] = command{c.summary, func(ctx context.Context, args []string) error {
			err := run(ctx, args)
			if err == nil || errors.Is(err, flag.ErrHelp) {
				return err
			}
			return &exitError{code: report(f.stderr, name, err)}
		}}
	}
	return out
}

// flags makes a verb's flag set with the client flags; usage and flag
// errors go to f.stderr.
func (f *fedCLI) flags(name, synopsis string) (*flag.FlagSet, clientFlags) {
	fs, cf := newClientFlags(name, synopsis)
	fs.SetOutput(f.stderr)
	return fs, cf
}

func (f *fedCLI) connect(cf clientFlags) (*api.Client, error) {
	if f.client != nil {
		return f.client, nil
	}
	return cf.client()
}

// parseNamed parses a verb's flags and exactly the positional arguments
// names, none of which may be empty.
func parseNamed(fs *flag.FlagSet, args []string, names ...string) ([]string, error) {
	pos, err := parseFlags(fs, args, len(names), len(names))
	if err != nil {
		return nil, err
	}
	if err := nonEmpty(pos, names...); err != nil {
		return nil, err
	}
	return pos, nil
}

// parseConnect is parseNamed, then connect: a usage mistake is reported
// before any attempt to reach the agent.
func (f *fedCLI) parseConnect(fs *flag.FlagSet, cf clientFlags, args []string, names ...string) ([]string, *api.Client, error) {
	pos, err := parseNamed(fs, args, names...)
	if err != nil {
		return nil, nil, err
	}
	c, err := f.connect(cf)
	if err != nil {
		return nil, nil, err
	}
	return pos, c, nil
}

// verbError is the error of one verb, e.g. "community read".
type verbError struct {
	verb string
	err  error
}

func (e *verbError) Error() string { return e.verb + ": " + oneLine(e.err) }
func (e *verbError) Unwrap() error { return e.err }

// nameErr makes run's errors *verbError for verb.
func nameErr(verb string, run func(context.Context, []string) error) func(context.Context, []string) error {
	return func(ctx context.Context, args []string) error {
		err := run(ctx, args)
		if err == nil || errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &verbError{verb: verb, err: err}
	}
}

// named names the errors of group's subcommands by group and subcommand.
func named(group string, subs map[string]command) map[string]command {
	out := make(map[string]command, len(subs))
	for name, c := range subs {
		out[name] = command{c.summary, nameErr(group+" "+name, c.run)}
	}
	return out
}

// jsonText is any JSON value shown as text: a string as it is, null as
// nothing, an object as "key=value ..." and anything else as written.
type jsonText string

func (t *jsonText) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*t = jsonText(s)
		return nil
	}
	var m map[string]any
	if json.Unmarshal(b, &m) == nil {
		if m == nil {
			*t = ""
			return nil
		}
		keys := make([]string, 0, len(m))
		for k, v := range m {
			if v != nil && v != "" && v != false {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			v, _ := json.Marshal(m[k])
			var vs string
			if json.Unmarshal(v, &vs) != nil {
				vs = string(v)
			}
			parts[i] = k + "=" + vs
		}
		*t = jsonText(strings.Join(parts, " "))
		return nil
	}
	var c bytes.Buffer
	if err := json.Compact(&c, b); err != nil {
		return err
	}
	*t = jsonText(c.String())
	return nil
}

func (t jsonText) or(def string) string {
	if t == "" {
		return def
	}
	return string(t)
}

// splitTenantStream splits TENANT/STREAM at the first slash: tenant ids
// and names contain no slash, stream names may.
func splitTenantStream(s string) (tenant, stream string, err error) {
	tenant, stream, ok := strings.Cut(s, "/")
	switch {
	case !ok:
		return "", "", fmt.Errorf("%q is not TENANT/STREAM (e.g. acme-refinery/site1/boiler/temp)", s)
	case tenant == "":
		return "", "", fmt.Errorf("%q has no tenant before the first slash", s)
	case stream == "":
		return "", "", fmt.Errorf("%q has no stream after the first slash", s)
	}
	return tenant, stream, nil
}

// nonEmpty rejects empty positional arguments, which would make an
// ambiguous path.
func nonEmpty(pos []string, names ...string) error {
	for i, p := range pos {
		if strings.TrimSpace(p) == "" && i < len(names) {
			return usageErr("%s must not be empty", names[i])
		}
	}
	return nil
}

// call sends a request and returns the raw JSON answer (nil for 204).
func call(ctx context.Context, c *api.Client, method, path string, q url.Values, in any) (json.RawMessage, error) {
	var raw json.RawMessage
	var body io.Reader
	ct := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body, ct = bytes.NewReader(b), "application/json"
	}
	resp, err := c.Do(ctx, method, path, q, ct, body)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read answer of %s %s: %w", method, path, err)
	}
	if len(bytes.TrimSpace(b)) > 0 {
		raw = b
	}
	return raw, nil
}

// decode reads a JSON answer into out.
func decode(raw json.RawMessage, out any, what string) error {
	if len(raw) == 0 {
		return fmt.Errorf("the agent sent no %s", what)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("decode %s: %w", what, err)
	}
	return nil
}

// printAnswer prints the agent's answer: with -o json as the agent
// sent it (every field, also those this CLI does not know yet), else
// decoded into a T (what names it in errors) by show. It takes f as an
// argument because a method cannot have a type parameter.
func printAnswer[T any](f *fedCLI, raw json.RawMessage, output *outputFlag, what string, show func(T) error) error {
	if output.json() {
		return printRaw(f.stdout, raw)
	}
	var v T
	if err := decode(raw, &v, what); err != nil {
		return err
	}
	return show(v)
}

// getShow GETs path and prints the answer as printAnswer does.
func getShow[T any](ctx context.Context, f *fedCLI, c *api.Client, path string, q url.Values, output *outputFlag, what string, show func(T) error) error {
	raw, err := call(ctx, c, "GET", path, q, nil)
	if err != nil {
		return err
	}
	return printAnswer(f, raw, output, what, show)
}

// printRaw prints a JSON answer indented.
func printRaw(w io.Writer, raw json.RawMessage) error {
	if len(raw) == 0 {
		raw = json.RawMessage("null")
	}
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return fmt.Errorf("the agent's answer is not JSON: %w", err)
	}
	b.WriteByte('\n')
	_, err := w.Write(b.Bytes())
	return err
}

func (f *fedCLI) table(header string) *tabwriter.Writer {
	tw := tabwriter.NewWriter(f.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	return tw
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// shellQuote quotes s for a shell command line when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@%+,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
