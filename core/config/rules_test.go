package config

import (
	"reflect"
	"strings"
	"testing"
)

func cmp(res, v string) Cmp     { return Cmp{Resource: res, Value: v} }
func ncmp(res, v string) Cmp    { return Cmp{Resource: res, Neg: true, Value: v} }
func and(l, r Expr) Expr        { return And{L: l, R: r} }
func or(l, r Expr) Expr         { return Or{L: l, R: r} }
func not(x Expr) Expr           { return Not{X: x} }
func ruleOf(cond string) string { return "r: if (" + cond + ") then stop();" }

func TestRulePrecedence(t *testing.T) {
	a, b, c := cmp("tcp.a", "down"), cmp("tcp.b", "up"), cmp("tcp.c", "init")
	tests := []struct {
		cond string
		want Expr
	}{
		{"tcp.a == down", a},
		{"tcp.a != down", ncmp("tcp.a", "down")},
		// && binds tighter than ||, both associate to the left.
		{"tcp.a == down || tcp.b == up && tcp.c == init", or(a, and(b, c))},
		{"tcp.a == down && tcp.b == up || tcp.c == init", or(and(a, b), c)},
		{"tcp.a == down && tcp.b == up && tcp.c == init", and(and(a, b), c)},
		{"tcp.a == down || tcp.b == up || tcp.c == init", or(or(a, b), c)},
		// ! binds tightest: to the next comparison, not to the && chain.
		{"! tcp.a == down && tcp.b == up", and(not(a), b)},
		{"!tcp.a == down || tcp.b == up", or(not(a), b)},
		{"!(tcp.a == down && tcp.b == up)", not(and(a, b))},
		{"!!tcp.a == down", not(not(a))},
		// parentheses override.
		{"(tcp.a == down || tcp.b == up) && tcp.c == init", and(or(a, b), c)},
		{"tcp.a == down && (tcp.b == up || tcp.c == init)", and(a, or(b, c))},
		{"((tcp.a == down))", a},
		// wildcards and IPv6 idents.
		{"intf.? == down && ip.* == up", and(cmp("intf.?", "down"), cmp("ip.*", "up"))},
		{"ip.2001:db8::1 == unknown", cmp("ip.2001:db8::1", "unknown")},
	}
	for _, tt := range tests {
		rules, err := ParseRules("f", 1, ruleOf(tt.cond))
		if err != nil {
			t.Errorf("%s: %v", tt.cond, err)
			continue
		}
		if got := rules[0].Cond; !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s:\n got  %#v\n want %#v", tt.cond, got, tt.want)
		}
		// The formatted rule parses back to the same tree.
		again, err := ParseRules("f", 1, rules[0].String())
		if err != nil || !reflect.DeepEqual(again[0].Cond, tt.want) {
			t.Errorf("%s: round trip via %q gave %#v, %v", tt.cond, rules[0].String(), again, err)
		}
	}
}

func TestRulesFile(t *testing.T) {
	text := `
  /* two rules,
     over several lines */
  r1: if (tcp.a == down) then wait();   // trailing comment
  r-2: if (intf.? == down ||
           ip.* != up)
       then restart();
`
	rules, err := ParseRules("u.xml", 10, text)
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 2 || rules[0].Label != "r1" || rules[0].Line != 13 || rules[0].Action != "wait" ||
		rules[1].Label != "r-2" || rules[1].Line != 14 || rules[1].Action != "restart" || rules[1].BuiltIn {
		t.Errorf("rules = %+v", rules)
	}
	if rules, err := ParseRules("f", 1, " \n /* nothing */ "); err != nil || len(rules) != 0 {
		t.Errorf("empty text: %v, %v", rules, err)
	}
}

func TestRuleErrors(t *testing.T) {
	tests := []struct{ text, want string }{
		{"r1 if (tcp.a == down) then stop();", `f:1: failover rule "r1": want ":" after the label, got "if"`},
		{"r1: when (tcp.a == down) then stop();", `f:1: failover rule "r1": want "if", got "when"`},
		{"r1: if tcp.a == down then stop();", `f:1: failover rule "r1": want "(" after "if", got "tcp.a"`},
		{"r1: if (tcp.a = down) then stop();", `f:1: failover rules: unexpected character '='`},
		{"r1: if (tcp.a == sideways) then stop();", `f:1: failover rule "r1": value "sideways": want up, down, init or unknown`},
		{"r1: if (tcp.a == down) then reboot();", `f:1: failover rule "r1": action "reboot": want stop(), stopstart(), wait() or restart()`},
		{"r1: if (tcp.a == down) then stop()", `f:1: failover rule "r1": want ";" at the end of the rule, got end of rules`},
		{"r1: if (tcp.a == down) then stop;", `f:1: failover rule "r1": want "()" after the action, got ";"`},
		{"r1: if (banana.x == down) then stop();", `f:1: failover rule "r1": resource "banana.x": unknown kind "banana", want intf, ip, tcp, ping, custom or proc`},
		{"r1: if (tcp == down) then stop();", `f:1: failover rule "r1": resource "tcp": want <kind>.<ident>, e.g. intf.?, ip.* or tcp.web`},
		{"r1: if (tcp.a? == down) then stop();", `f:1: failover rule "r1": resource "tcp.a?": a wildcard stands alone: tcp.? or tcp.*`},
		{"r1: if (tcp.a == down &&) then stop();", `f:1: failover rule "r1": want a resource such as intf.? or custom.x, got ")"`},
		{"r1: if (tcp.a == down tcp.b == up) then stop();", `f:1: failover rule "r1": want ")" or an operator && || after the condition, got "tcp.b"`},
		{"r1: if (tcp.a) then stop();", `f:1: failover rule "r1": want == or != after "tcp.a", got ")"`},
		{"\n\n(r1): if", `f:3: failover rules: want a rule label (a letter or _, then letters, digits, _ or -), got "("`},
		{"9r: if (tcp.a == down) then stop();", `f:1: failover rules: want a rule label (a letter or _, then letters, digits, _ or -), got "9r"`},
		{"r1: if (tcp.a == down) then stop(); r1: if (tcp.a == up) then stop();", `f:1: failover rule "r1": label used twice (first at line 1)`},
		{"Implicit_wakeup: if (tcp.a == down) then stop();", `f:1: failover rule "Implicit_wakeup": label reserved for a built-in rule`},
		{"r1: if (tcp.a == down) /* then stop();", `f:1: failover rules: unterminated /* comment`},
		{"r1: if (" + strings.Repeat("(", 100) + "tcp.a == down" + strings.Repeat(")", 100) + ") then stop();", `f:1: failover rule "r1": condition nested deeper than 64`},
	}
	for _, tt := range tests {
		_, err := ParseRules("f", 1, tt.text)
		if err == nil || err.Error() != tt.want {
			t.Errorf("%q:\n got  %v\n want %s", tt.text, err, tt.want)
		}
		if _, ok := err.(*Error); err != nil && !ok {
			t.Errorf("%q: error is %T, want *Error", tt.text, err)
		}
	}
}

func TestBuiltInRules(t *testing.T) {
	got := BuiltInRules(nil, nil)
	want := []string{
		"interface_failure: if (intf.? == down) then wait();",
		"ip_failure: if (ip.? == down) then stopstart();",
		"Implicit_wakeup: if (!(intf.? == down)) then wakeup();",
	}
	for i, r := range got {
		if r.String() != want[i] || !r.BuiltIn {
			t.Errorf("built-in %d = %q (BuiltIn %v), want %q", i, r.String(), r.BuiltIn, want[i])
		}
	}
	conf, err := ParseRules("f", 1, `a: if (ping.gw == down) then wait(); b: if (tcp.x == down) then restart();`)
	if err != nil {
		t.Fatal(err)
	}
	wake := BuiltInRules(conf, []string{"proc.db", "ping.lan"})[2]
	if s := wake.String(); s != "Implicit_wakeup: if (!(ping.gw == down || intf.? == down || proc.db == down || ping.lan == down)) then wakeup();" {
		t.Errorf("wakeup with a configured wait rule = %q", s)
	}
}
