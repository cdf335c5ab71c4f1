// Command sluice is the Sluice agent (`sluice agent`) and the CLI that
// talks to a running agent (`sluice stream ...`, `sluice status`, ...).
// This is the only package that reads flags, handles signals and exits.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/sluice-edge/sluice/agent/api"
	_ "github.com/sluice-edge/sluice/connectors/all" // register every connector
)

// command is one verb of the CLI.
type command struct {
	summary string
	run     func(ctx context.Context, args []string) error
}

var commands map[string]command

func init() {
	commands = map[string]command{
		"agent":   {"run the agent daemon", runAgent},
		"stream":  {"list, create, write and read streams", runStream},
		"status":  {"show whether the agent is up, its store and sources", runStatus},
		"version": {"print the version", runVersion},
		"bench":   {"measure whole-process throughput (bench ingest)", runBench},
		"user":    {"manage this tenant's users and their roles", runUser},
		"token":   {"create, list and revoke API tokens", runToken},
		"login":   {"log in as a user and keep the token for the CLI", runLogin},
		"audit":   {"verify, report and follow the tamper-evident audit log", runAudit},
		"opcua":   {"OPC UA helpers: trust a refused server certificate", runOPCUA},
		"demo":    {"run two tenants' agents here and walk the whole community handshake", runDemo},
	}
	for name, c := range fedStd.cliCommands() { // tenant, community, invitation, share, unshare
		commands[name] = c
	}
}

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stderr))
}

// exitError carries an exit code other than 1.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func run(ctx context.Context, args []string, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "sluice: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	err := cmd.run(ctx, args[1:])
	if err == nil {
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintf(stderr, "sluice %s: %s\n", args[0], oneLine(ee.err))
		}
		return ee.code
	}
	fmt.Fprintf(stderr, "sluice %s: %s\n", args[0], oneLine(err))
	return 1
}

// oneLine keeps the exit message to one line per problem; config errors
// list one problem per line on purpose.
func oneLine(err error) string {
	var ae *api.Error
	if errors.As(err, &ae) {
		return ae.Error()
	}
	return err.Error()
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Sluice shares live operational data with partners, in place.")
	fmt.Fprintln(w, "\nUsage: sluice <command> [arguments]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'sluice <command> -h' for a command's flags.")
	fmt.Fprintln(w, "Commands other than agent talk to a running agent: --addr or $SLUICE_ADDR (default http://127.0.0.1:7080);")
	fmt.Fprintln(w, "the admin token comes from --token, $SLUICE_TOKEN, or the agent's data dir (--data-dir or $SLUICE_DATA_DIR).")
}

// usageErr is a usage mistake: exit code 2.
func usageErr(format string, a ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, a...)}
}

// subcommand dispatches the second word of a two-word command.
func subcommand(ctx context.Context, group string, args []string, subs map[string]command) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintf(os.Stderr, "Usage: sluice %s <command> [arguments]\n\nCommands:\n", group)
		names := make([]string, 0, len(subs))
		for n := range subs {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(os.Stderr, "  %-13s %s\n", n, subs[n].summary)
		}
		if len(args) == 0 {
			return &exitError{code: 2}
		}
		return nil
	}
	c, ok := subs[args[0]]
	if !ok {
		return usageErr("unknown command %q (see 'sluice %s -h')", args[0], group)
	}
	return c.run(ctx, args[1:])
}

// newFlags makes a flag set that prints its usage with a synopsis and
// reports errors instead of exiting.
func newFlags(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: sluice %s %s\n", name, synopsis)
		var any bool
		fs.VisitAll(func(*flag.Flag) { any = true })
		if any {
			fmt.Fprintln(fs.Output(), "\nFlags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parseFlags parses flags that may come before or after the positional
// arguments (sluice stream read NAME --start -1h), and checks the count of
// positional arguments.
func parseFlags(fs *flag.FlagSet, args []string, minPos, maxPos int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &exitError{code: 2, err: nil}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	if len(pos) < minPos || (maxPos >= 0 && len(pos) > maxPos) {
		fs.Usage()
		return nil, &exitError{code: 2, err: fmt.Errorf("wrong number of arguments")}
	}
	return pos, nil
}

func runVersion(ctx context.Context, args []string) error {
	fs := newFlags("version", "")
	if _, err := parseFlags(fs, args, 0, 0); err != nil {
		return err
	}
	fmt.Println("sluice", version())
	return nil
}

func trimScheme(addr string) string {
	return strings.TrimPrefix(strings.TrimPrefix(addr, "http://"), "https://")
}
