package main

import (
	"os"
	"slices"
	"testing"

	"github.com/vipfarm/vipfarm/netlab"
)

func TestMain(m *testing.M) {
	netlab.RunShimIfAsked()
	os.Exit(m.Run())
}

// Bad usage exits 2 before anything is touched.
func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		nil,
		{"fly"},
		{"up", "extra"},
		{"up", "--nodes"},
		{"down", "extra"},
		{"exec", "node1"},
		{"exec", "node1", "ls"},
		{"serve"},
		{"serve", "--name", "n", "--port", "70000"},
		{"do"},
		{"run"},
		{"run", "--keep", "a.yaml", "b.yaml"},
		{"run", "/nonexistent/scenario.yaml"},
	} {
		if got := run(args); got != 2 {
			t.Errorf("farmlab %v: exit %d, want 2", args, got)
		}
	}
	if got := run([]string{"help"}); got != 0 {
		t.Errorf("farmlab help: exit %d", got)
	}
}

// Commands on a lab that is not up fail with 1 and say so.
func TestNoLab(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("as another user the commands refuse for want of root first")
	}
	dir := t.TempDir()
	for _, args := range [][]string{
		{"status", "--state", dir},
		{"probe", "--state", dir},
		{"do", "--state", dir, "heal"},
		{"exec", "--state", dir, "node1", "--", "true"},
	} {
		if got := run(args); got != 1 {
			t.Errorf("farmlab %v with no lab: exit %d, want 1", args, got)
		}
	}
}

// Flags may follow the scenario files, as SPEC §7 writes the command.
func TestParseInterleaved(t *testing.T) {
	for _, c := range []struct {
		args  []string
		pos   []string
		trace string
		keep  bool
	}{
		{[]string{"a.yaml", "--trace", "t.jsonl"}, []string{"a.yaml"}, "t.jsonl", false},
		{[]string{"--keep", "a.yaml"}, []string{"a.yaml"}, "", true},
		{[]string{"a.yaml", "b.yaml", "--keep", "--trace=x"}, []string{"a.yaml", "b.yaml"}, "x", true},
		{[]string{"a.yaml", "--", "--trace"}, []string{"a.yaml", "--trace"}, "", false},
	} {
		fs := newFlagSet("run", nil)
		trace := fs.String("trace", "", "")
		keep := fs.Bool("keep", false, "")
		pos, ok := parseInterleaved(fs, c.args)
		if !ok || !slices.Equal(pos, c.pos) || *trace != c.trace || *keep != c.keep {
			t.Errorf("%v: positional %v trace %q keep %v ok %v; want %v %q %v", c.args, pos, *trace, *keep, ok, c.pos, c.trace, c.keep)
		}
	}
	if _, ok := parseInterleaved(newFlagSet("run", nil), []string{"a.yaml", "--bogus"}); ok {
		t.Error("an unknown flag after the files was accepted")
	}
}
