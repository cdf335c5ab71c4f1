package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/sluice-edge/sluice/agent/api"
)

// Global flags may come anywhere on the command line, as docker, kubectl
// and git users expect: before the verb (sluice --addr URL stream read X),
// between the verb and its subcommand (sluice stream --addr URL read X) or
// among the command's own flags (sluice stream read X --addr URL). The
// dispatchers move the ones they find in front of the command's own
// arguments, where its flag set parses them like any other flag, so a
// command that does not take one says so, naming the flag and itself.

// globalFlags are the flags that may come before a verb or a subcommand.
// Each takes a value. The commands that talk to an agent define the first
// three (addClientFlags); listing and show verbs define -o
// (addOutputFlag), reads -o as --format.
var globalFlags = []string{"addr", "token", "data-dir", "o"}

// globalFlagList is globalFlags spelled for messages.
func globalFlagList() string {
	out := make([]string, len(globalFlags))
	for i, n := range globalFlags {
		out[i] = dashed(n)
	}
	return strings.Join(out, ", ")
}

// dashed spells a flag name as users type it: -o, --addr.
func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// splitGlobals takes the global flags off the front of args, up to the
// first word that is not a flag (the verb or subcommand). Flags that are
// not global are an error there: whether they take a value cannot be
// known before the command that owns them is.
func splitGlobals(args []string) (globals, rest []string, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || len(a) < 2 || a[0] != '-' {
			return globals, args[i:], nil
		}
		name, _, hasValue := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-"), "=")
		switch {
		case isHelpFlag(a) || name == "version":
			return globals, args[i:], nil // the dispatcher's own
		case !isGlobal(name):
			return nil, nil, fmt.Errorf("unknown flag %s here: only the global flags (%s) may come before a command; its own flags go after it",
				dashed(name), globalFlagList())
		case hasValue:
			globals = append(globals, a)
		case i+1 >= len(args):
			return nil, nil, fmt.Errorf("flag %s needs a value", dashed(name))
		default:
			globals = append(globals, a, args[i+1])
			i++
		}
	}
	return globals, nil, nil
}

func isGlobal(name string) bool {
	for _, g := range globalFlags {
		if g == name {
			return true
		}
	}
	return false
}

func isHelpFlag(a string) bool {
	return a == "-h" || a == "--help" || a == "-help" || a == "help"
}

// flagProblem rewrites the flag package's parse errors so that they name
// the flag as the user typed it: "unknown flag --bogus", not "flag
// provided but not defined: -bogus".
func flagProblem(err error) string {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		if isGlobal(name) {
			return fmt.Sprintf("unknown flag %s: this command does not take it", dashed(name))
		}
		return "unknown flag " + dashed(name)
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return fmt.Sprintf("flag %s needs a value", dashed(name))
	}
	return msg
}

// outputFlag is -o json|table of the listing and show verbs. json prints
// the agent's answer as JSON, for scripts (its fields are the API's, see
// docs/api.md); table, the default, prints columns or key/value lines for
// people. --json is the older spelling of -o json.
type outputFlag struct{ format string }

func addOutputFlag(fs *flag.FlagSet) *outputFlag {
	o := &outputFlag{format: "table"}
	fs.Func("o", "output `json|table`: json is the agent's answer as JSON, for scripts; table (default) is for people", func(s string) error {
		switch s {
		case "json", "table":
			o.format = s
			return nil
		}
		return errors.New("want json or table")
	})
	fs.BoolFunc("json", "same as -o json", func(s string) error {
		b, err := strconv.ParseBool(s)
		if b {
			o.format = "json"
		}
		return err
	})
	return o
}

func (o *outputFlag) json() bool { return o.format == "json" }

// addFormatAlias makes -o csv|json another spelling of a read's --format,
// so that -o json means JSON on every verb.
func addFormatAlias(fs *flag.FlagSet, format *string) {
	fs.Func("o", "output `csv|json`: same as --format", func(s string) error {
		switch s {
		case "csv", "json":
			*format = s
			return nil
		case "table":
			return errors.New("reads print csv (the table) or json")
		}
		return errors.New("want csv or json")
	})
}

// report prints a command's error as one line naming the whole command
// ("sluice stream read: ...") and returns the exit code: 0 for help, the
// code of an *exitError, else 1. verb names the command when the error
// does not (a *verbError does).
func report(stderr io.Writer, verb string, err error) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	inner := err
	var ve *verbError
	if errors.As(err, &ve) {
		verb, inner = ve.verb, ve.err
	}
	code := 1
	var ee *exitError
	if errors.As(inner, &ee) {
		code, inner = ee.code, ee.err
	}
	if inner != nil {
		fmt.Fprintf(stderr, "sluice %s: %s\n", verb, oneLine(inner))
	}
	return code
}

// hintError says what a CLI user should do where the API's message speaks
// to HTTP clients (a query parameter the CLI spells as a flag, say). The
// API's error stays in the chain for errors.As.
type hintError struct {
	msg string
	err error
}

func (e *hintError) Error() string { return e.msg }
func (e *hintError) Unwrap() error { return e.err }

// buildInfo is what `sluice version` prints.
type buildInfo struct {
	Version  string `json:"version"`
	Commit   string `json:"commit"` // vcs.revision; "" when the build has none (go run, go test)
	Modified bool   `json:"modified,omitempty"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: version(), Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Commit = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
	}
	return b
}

// String is one line, as `go version` prints: "sluice dev (commit
// 3aec8f61c2d4, modified) go1.26.8 linux/amd64".
func (b buildInfo) String() string {
	commit := "commit unknown"
	if b.Commit != "" {
		commit = "commit " + b.Commit[:min(12, len(b.Commit))]
		if b.Modified {
			commit += ", modified"
		}
	}
	return fmt.Sprintf("sluice %s (%s) %s %s", b.Version, commit, b.Go, b.Platform)
}

// streamWriteHint turns the API's answer to a write into a stream that
// does not exist ("add ?create=1") into the CLI's spelling of the fix.
// On the write route that is the only 404 a CLI request can get (it
// escapes the name), whether or not the agent names the reason.
func streamWriteHint(err error, stream string) error {
	var ae *api.Error
	if errors.As(err, &ae) && ae.Status == 404 && (ae.Reason == "not_found" || strings.Contains(ae.Message, "create=1")) {
		return &hintError{
			msg: fmt.Sprintf("stream %q does not exist: add --create to create it with the first write (or run 'sluice stream create %s' first)", stream, shellQuote(stream)),
			err: err,
		}
	}
	return err
}
