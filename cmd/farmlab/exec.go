package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/vipfarm/vipfarm/netlab"
)

func cmdExec(args []string) int {
	var lf labFlags
	fs := newFlagSet("exec", &lf)
	if !parse(fs, args) {
		return 2
	}
	rest := fs.Args()
	// farmlab exec NODE -- CMD...: flag parsing stops at NODE.
	if len(rest) < 3 || rest[1] != "--" {
		fmt.Fprintln(os.Stderr, "usage: farmlab exec NODE|CLIENT -- CMD [ARG...]")
		return 2
	}
	l, err := openLab(lf)
	if err != nil {
		return fail(err)
	}
	ns, err := l.Plan.NamespaceOf(rest[0])
	if err != nil {
		return fail(err)
	}
	cmd, err := netlab.Command("", ns, rest[2:])
	if err != nil {
		return fail(err)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), "PATH="+labPath())
	if n, ok := l.Plan.NodeByName(rest[0]); ok {
		// farmctl finds this node's farmd through the control socket in
		// $SAFEVAR, as from a module script.
		cmd.Env = append(cmd.Env, "LAB_NODE="+n.Name, "SAFE="+l.HomeDir(n.Name), "SAFEVAR="+l.VarDir(n.Name))
	}
	// Signals from the terminal reach the child through its process group;
	// farmlab only waits for it.
	signal.Ignore(syscall.SIGINT, syscall.SIGQUIT)
	if err := netlab.StartInNS(ns, cmd); err != nil {
		return fail(err)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	if err != nil {
		return fail(err)
	}
	return 0
}

// labPath puts the directory of the lab's binaries (farmlab, farmd,
// farmctl: `make build` puts them together) first on PATH.
func labPath() string {
	p := os.Getenv("PATH")
	if exe, err := os.Executable(); err == nil {
		return filepath.Dir(exe) + string(os.PathListSeparator) + p
	}
	return p
}
