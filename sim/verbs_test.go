package sim

import (
	"fmt"
	"testing"
)

func TestParseAction(t *testing.T) {
	good := map[string]string{
		"start node1":                    "start node1",
		"isolate a,b|c":                  "isolate [[a b] [c]]",
		"cut private a|b,c":              "cut private [[a] [b c]]",
		"loss default 30%":               "loss default 30",
		"delay private 50ms":             "delay private 50ms",
		"resource node2 intf.? down":     "resource node2 intf.? false",
		"fail-script node1 start_both 3": "fail-script node1 start_both 3",
		"fail-script node1 stop_both":    "fail-script node1 stop_both 1",
		"  heal  ":                       "heal",
	}
	for in, want := range good {
		a, err := ParseAction(in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		var got string
		switch a.Verb {
		case "start":
			got = a.Verb + " " + a.Node
		case "isolate":
			got = fmt.Sprint(a.Verb, " ", a.Groups)
		case "cut":
			got = fmt.Sprint(a.Verb, " ", a.LAN, " ", a.Groups)
		case "loss":
			got = fmt.Sprint(a.Verb, " ", a.LAN, " ", a.Pct)
		case "delay":
			got = fmt.Sprint(a.Verb, " ", a.LAN, " ", a.Delay)
		case "resource":
			got = fmt.Sprint(a.Verb, " ", a.Node, " ", a.Resource, " ", a.Up)
		case "fail-script":
			got = fmt.Sprint(a.Verb, " ", a.Node, " ", a.Script, " ", a.Exit)
		default:
			got = a.Verb
		}
		if got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
	for _, bad := range []string{"", "start", "start a b", "isolate a", "isolate a|a", "isolate a|", "loss x 101",
		"delay x soon", "resource n r maybe", "fail-script n deploy", "fail-script n start_both 0", "jump n", "heal now"} {
		if _, err := ParseAction(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
