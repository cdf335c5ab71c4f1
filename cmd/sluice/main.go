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
		"backup":  {"write an archive of a running agent's data dir to FILE", runBackup},
		"restore": {"unpack a backup into a data dir (agent stopped)", runRestore},
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
	// Global flags may come before the verb (see flags.go); they are
	// handed on in front of the command's own arguments.
	globals, rest, err := splitGlobals(args)
	if err != nil {
		fmt.Fprintf(stderr, "sluice: %v (see 'sluice -h')\n", err)
		return 2
	}
	if len(rest) == 0 || isHelpFlag(rest[0]) {
		usage(stderr)
		if len(rest) == 0 {
			return 2
		}
		return 0
	}
	if rest[0] == "--version" || rest[0] == "-version" {
		rest = append([]string{"version"}, rest[1:]...)
	}
	cmd, ok := commands[rest[0]]
	if !ok {
		fmt.Fprintf(stderr, "sluice: unknown command %q\n\n", rest[0])
		usage(stderr)
		return 2
	}
	return report(stderr, rest[0], cmd.run(ctx, append(globals, rest[1:]...)))
}

// oneLine keeps the exit message to one line per problem; config errors
// list one problem per line on purpose.
func oneLine(err error) string {
	var he *hintError
	if errors.As(err, &he) {
		return he.Error()
	}
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
	fmt.Fprintln(w, "\nRun 'sluice <command> -h' for a command's flags; 'sluice --version' for the version.")
	fmt.Fprintln(w, "Commands other than agent talk to a running agent: --addr or $SLUICE_ADDR (default http://127.0.0.1:7080);")
	fmt.Fprintln(w, "the admin token comes from --token, $SLUICE_TOKEN, or the agent's data dir (--data-dir or $SLUICE_DATA_DIR).")
	fmt.Fprintln(w, "These global flags, and -o json|table, may come before or after the command: sluice --addr URL stream list -o json.")
}

// usageErr is a usage mistake: exit code 2.
func usageErr(format string, a ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, a...)}
}

// subcommand dispatches the second word of a two-word command. Global
// flags before that word are handed on in front of its arguments, and its
// errors are named by both words ("stream read"), so that the message
// says which command failed.
func subcommand(ctx context.Context, group string, args []string, subs map[string]command) error {
	globals, args, err := splitGlobals(args)
	if err != nil {
		return usageErr("%v (see 'sluice %s -h')", err, group)
	}
	if len(args) == 0 || isHelpFlag(args[0]) {
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
	err = c.run(ctx, append(globals, args[1:]...))
	var ve *verbError
	if err == nil || errors.Is(err, flag.ErrHelp) || errors.As(err, &ve) {
		return err
	}
	return &verbError{verb: group + " " + args[0], err: err}
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
// positional arguments. A flag mistake is one line naming the flag and the
// command (the caller's message adds "sluice stream read: "), not the flag
// package's message and the whole usage.
func parseFlags(fs *flag.FlagSet, args []string, minPos, maxPos int) ([]string, error) {
	out := fs.Output()
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			fs.SetOutput(out)
			if errors.Is(err, flag.ErrHelp) {
				fs.Usage()
				return nil, err
			}
			return nil, usageErr("%s (see 'sluice %s -h')", flagProblem(err), fs.Name())
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	fs.SetOutput(out)
	if len(pos) < minPos || (maxPos >= 0 && len(pos) > maxPos) {
		fs.Usage()
		return nil, &exitError{code: 2, err: fmt.Errorf("wrong number of arguments")}
	}
	return pos, nil
}

func runVersion(ctx context.Context, args []string) error {
	fs := newFlags("version", "[-o json|table]\n\nPrints the version, the commit it was built from and the Go version.")
	output := addOutputFlag(fs)
	if _, err := parseFlags(fs, args, 0, 0); err != nil {
		return err
	}
	b := readBuildInfo()
	if output.json() {
		return printJSON(b)
	}
	fmt.Println(b)
	return nil
}

func trimScheme(addr string) string {
	return strings.TrimPrefix(strings.TrimPrefix(addr, "http://"), "https://")
}
