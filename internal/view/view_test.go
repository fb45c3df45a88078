package view

import (
	"testing"

	"github.com/vipfarm/vipfarm/core"
)

func TestColor(t *testing.T) {
	for _, c := range []struct {
		st    core.State
		ready bool
		rule  string
		want  string
	}{
		{core.StateUp, true, "", "green"}, {core.StateUp, false, "", "orange"},
		{core.StateWait, false, "", "orange"}, // resources still init: transient
		{core.StateWait, false, "interface_failure", "red"},
		{core.StateWait, true, "", "red"}, {core.StateStop, true, "", "red"}, {core.StateStop, false, "", "red"},
	} {
		if got := Color(c.st, c.ready, c.rule); got != c.want {
			t.Errorf("Color(%s, %v, %q) = %s, want %s", c.st, c.ready, c.rule, got, c.want)
		}
	}
}

func TestParseResourceState(t *testing.T) {
	for s, want := range map[string]core.ResourceState{"up": core.ResUp, "down": core.ResDown, "init": core.ResInit, "unknown": core.ResUnknown} {
		if got, err := ParseResourceState(s); err != nil || got != want {
			t.Errorf("%s: %v %v", s, got, err)
		}
	}
	if _, err := ParseResourceState("UP"); err == nil {
		t.Error("UP accepted: values are lower case, as in failover rules")
	}
}
