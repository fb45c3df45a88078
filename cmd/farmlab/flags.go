package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/vipfarm/vipfarm/netlab"
)

// labFlags are the flags naming a lab, common to up, down, status, exec.
type labFlags struct {
	state  string
	prefix string
}

func newFlagSet(name string, lf *labFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("farmlab "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are printed once, by parse
	if lf != nil {
		fs.StringVar(&lf.state, "state", netlab.DefaultStateDir, "lab state directory")
		fs.StringVar(&lf.prefix, "prefix", netlab.DefaultPrefix, "prefix of the lab's namespace names")
	}
	return fs
}

// parse parses args; it returns false (after printing why) on bad usage.
func parse(fs *flag.FlagSet, args []string) bool {
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			fs.SetOutput(os.Stdout)
			fs.PrintDefaults()
			return false
		}
		fmt.Fprintf(os.Stderr, "%s: %v\n", fs.Name(), err)
		return false
	}
	return true
}

// parseInterleaved is parse for commands with positional arguments: flags
// may also follow them, as SPEC §7 writes `farmlab run SCENARIO.yaml…
// --trace FILE`; "--" ends flag parsing. It returns the positional arguments.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, bool) {
	var pos []string
	for {
		if !parse(fs, args) {
			return nil, false
		}
		rest := fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), true
		}
		if len(rest) == 0 {
			return pos, true
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// openLab opens the lab recorded in lf.state, checking its prefix.
func openLab(lf labFlags) (*netlab.Lab, error) {
	if err := netlab.RequireRoot(); err != nil {
		return nil, err
	}
	l, err := netlab.Open(lf.state)
	if err != nil {
		return nil, err
	}
	if l.Plan.Spec.Prefix != lf.prefix {
		return nil, fmt.Errorf("the lab in %s has prefix %q, not %q", lf.state, l.Plan.Spec.Prefix, lf.prefix)
	}
	return l, nil
}
