package netlab

import (
	"context"
	"slices"
	"strings"
	"testing"
)

func TestParseSides(t *testing.T) {
	g, err := parseSides("node1,node2|node3")
	if err != nil || len(g) != 2 || !slices.Equal(g[0], []string{"node1", "node2"}) || !slices.Equal(g[1], []string{"node3"}) {
		t.Errorf("parseSides: %v %v", g, err)
	}
	for _, bad := range []string{"node1", "node1|", "|node2"} {
		if _, err := parseSides(bad); err == nil {
			t.Errorf("parseSides(%q): no error", bad)
		}
	}
}

// Bad steps are refused before anything is touched, so no root is needed.
func TestDoRefusesBadSteps(t *testing.T) {
	l := testLab(t, 2)
	for step, want := range map[string]string{
		"":                             "empty step",
		"jump node1":                   "unknown verb",
		"start":                        "usage: start NODE",
		"stop node9":                   `no node called "node9"`,
		"isolate node1":                "two groups",
		"cut":                          "usage: cut LAN",
		"cut nolan":                    `no LAN called "nolan"`,
		"cut default node1|node1":      "two groups",
		"loss default lots":            "not a number",
		"loss default 150":             "not within 0..100",
		"delay default soon":           "delay",
		"resource node1 custom.x":      "usage: resource",
		"fail-script node1 start_all":  "want prestart, start_both",
		"fail-script node1 poststop 0": "exit code",
		"heal now":                     "usage: heal",
	} {
		_, err := l.Do(context.Background(), step)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Do(%q): error %v, want one containing %q", step, err, want)
		}
	}
}
