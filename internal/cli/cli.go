// Package cli is farmctl, the command line of vipfarm (and its SafeKit
// alias: run as "safekit", it takes the module from $SAFEMODULE, so the
// shipped scripts' `"$SAFE/safekit" stop -i start_both` works unchanged).
// Every verb but `cluster` talks to the local farmd over its control socket;
// one file per noun of the command line.
//
// Exit codes: 0 success, 1 the daemon refused or failed, 2 usage error,
// and for `state -lq` the state itself (STOP 0, WAIT 1, UP 2; 3 when farmd
// cannot be reached).
package cli

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vipfarm/vipfarm/internal/control"
)

// Exit codes.
const (
	ExitOK    = 0
	ExitFail  = 1
	ExitUsage = 2
)

// env is one invocation's context.
type env struct {
	prog   string
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string

	module  string
	socket  string
	json    bool
	timeout time.Duration
}

// usageError is a bad command line; it names the argument.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// exitError carries a specific exit code (state -lq).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}

type command struct {
	usage string
	run   func(e *env, args []string) error
}

var commands = map[string]command{}

func register(name, usage string, run func(e *env, args []string) error) {
	commands[name] = command{usage: usage, run: run}
}

const usageText = `usage: %s [-m MODULE] [--socket PATH] [--json] COMMAND [ARGS]

commands:
  start | stop | restart | stopstart [-i ID]   act on the module (-i: who asks; counts toward maxloop)
  state [-v] [-lq]                             module state (-lq: exit STOP=0 WAIT=1 UP=2, no output)
  boot on|off                                  start the module when farmd starts
  status                                       every module of this node
  printi MSG | printe MSG                      write to the module log
  log [-s N]                                   the module log (last N lines)
  get -r RESOURCE                              a resource's value
  set -r RESOURCE -v up|down [-i ID]           set a resource (custom checkers)
  cluster genkey [--force] [--home DIR]        write the heartbeat key
  cluster check [--home DIR]                   validate cluster.xml, userconfig.xml and the key
`

// Main runs farmctl with argv (argv[0] included) and returns the exit code.
func Main(argv []string, stdout, stderr io.Writer, getenv func(string) string) int {
	e := &env{prog: filepath.Base(argv[0]), stdout: stdout, stderr: stderr, getenv: getenv, timeout: 30 * time.Second}
	if e.prog == "safekit" {
		e.module = getenv("SAFEMODULE")
	}
	fs := e.flags("farmctl")
	fs.Usage = func() { fmt.Fprintf(stderr, usageText, e.prog) }
	if err := fs.Parse(argv[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitUsage
	}
	if fs.NArg() == 0 {
		fmt.Fprintf(stderr, "%s: no command\n", e.prog)
		fs.Usage()
		return ExitUsage
	}
	name, args := fs.Arg(0), fs.Args()[1:]
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "%s: unknown command %q\n", e.prog, name)
		fs.Usage()
		return ExitUsage
	}
	err := cmd.run(e, args)
	var ue *usageError
	var ee *exitError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "%s %s: %v\nusage: %s %s\n", e.prog, name, err, e.prog, cmd.usage)
		return ExitUsage
	case errors.As(err, &ee):
		if ee.err != nil {
			fmt.Fprintf(stderr, "%s %s: %v\n", e.prog, name, ee.err)
		}
		return ee.code
	}
	fmt.Fprintf(stderr, "%s %s: %v\n", e.prog, name, err)
	return ExitFail
}

// flags returns a flag set with the options every verb accepts too, so both
// `farmctl -m AM stop` and SafeKit's `safekit stop -m AM` work.
func (e *env) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.StringVar(&e.module, "m", e.module, "module")
	fs.StringVar(&e.socket, "socket", e.socket, "farmd control socket")
	fs.BoolVar(&e.json, "json", e.json, "JSON output")
	return fs
}

// parse parses a verb's flags; leftovers are refused unless allowed.
func (e *env) parse(fs *flag.FlagSet, args []string, maxArgs int) ([]string, error) {
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		return nil, usagef("%v", strings.TrimPrefix(err.Error(), "flag provided but not defined: "))
	}
	rest := fs.Args()
	// Allow flags after positional arguments (`printe "msg" -m AM`).
	var pos []string
	for len(rest) > 0 {
		pos = append(pos, rest[0])
		if err := fs.Parse(rest[1:]); err != nil {
			return nil, usagef("%v", err)
		}
		rest = fs.Args()
	}
	if len(pos) > maxArgs {
		return nil, usagef("unexpected argument %q", pos[maxArgs])
	}
	return pos, nil
}

// call sends a request for e's module (asking farmd for its only module
// when -m was not given).
func (e *env) call(req control.Request) (control.Response, error) {
	path := control.SocketPath(e.socket)
	if req.Module == "" && req.Verb != "status" {
		if e.module == "" {
			resp, err := control.Call(path, control.Request{Verb: "status"}, e.timeout)
			if err != nil {
				return resp, err
			}
			if len(resp.Modules) != 1 {
				return resp, usagef("no module: give -m MODULE (farmd runs %d modules)", len(resp.Modules))
			}
			e.module = resp.Modules[0].Name
		}
		req.Module = e.module
	}
	return control.Call(path, req, e.timeout)
}

func (e *env) printJSON(v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// Run is Main for the real process.
func Run() int { return Main(os.Args, os.Stdout, os.Stderr, os.Getenv) }
