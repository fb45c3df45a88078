package main

import (
	"os"
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
