package config

import (
	"strings"
	"testing"
)

func TestExpandMacros(t *testing.T) {
	vars := map[string]string{"VIP": "198.18.0.100", "PORT": "80", "EMPTY": "", "PCT": "%VIP%"}
	lookup := func(n string) (string, bool) { v, ok := vars[n]; return v, ok }
	tests := []struct{ in, want, err string }{
		{"plain", "plain", ""},
		{"%VIP%", "198.18.0.100", ""},
		{"%VIP%:%PORT%", "198.18.0.100:80", ""},
		{"a%EMPTY%b", "ab", ""},
		{"100%%", "100%", ""},
		{"%%VIP%%", "%VIP%", ""},
		{"%PCT%", "%VIP%", ""}, // one pass: a replacement is not expanded again
		{"%NOPE%", "", "undefined macro %NOPE%"},
		{"50%", "", "unterminated"},
		{"%VIP", "", "unterminated"},
		{"% VIP%", "", "is not a macro name"},
		{"%1X%", "", "is not a macro name"},
		{"fe80::1%eth0", "", "unterminated"},
	}
	for _, tt := range tests {
		got, err := expandMacros(tt.in, lookup)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("expand(%q) = %q, %v; want error containing %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("expand(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// moduleXML wraps a <service> body in a minimal valid module.
func moduleXML(top, body string) []byte {
	return []byte("<safe>" + top + `<service mode="farm"><farm><lan name="default"/></farm>` + body + "</service></safe>")
}

func testCluster(t *testing.T) *Cluster {
	t.Helper()
	cl, err := ParseCluster("cluster.xml", []byte(`<cluster><lans>
<lan name="default"><node name="n1" addr="198.18.0.1"/><node name="n2" addr="198.18.0.2"/></lan>
</lans></cluster>`))
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func TestMacrosWinOverEnvironment(t *testing.T) {
	env := func(n string) (string, bool) {
		v, ok := map[string]string{"SVC": "from-env", "ONLY_ENV": "env-value"}[n]
		return v, ok
	}
	m, err := ParseModule("AM", "u.xml", moduleXML(
		`<macro name="SVC" value="from-macro"/><macro name="BOTH" value="%SVC%+%ONLY_ENV%"/>`,
		`<user><var name="A" value="%SVC%"/><var name="B" value="%BOTH%"/></user>`), testCluster(t), env)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.User.Vars; got[0].Value != "from-macro" || got[1].Value != "from-macro+env-value" {
		t.Errorf("vars = %+v", got)
	}
	if m.Macros["BOTH"] != "from-macro+env-value" {
		t.Errorf("macros = %v", m.Macros)
	}
}

func TestMacroMayNotUseLaterMacro(t *testing.T) {
	_, err := ParseModule("AM", "u.xml", moduleXML(
		`<macro name="A" value="%B%"/><macro name="B" value="x"/>`, ``), testCluster(t), nil)
	if err == nil || !strings.Contains(err.Error(), "undefined macro %B%") {
		t.Errorf("err = %v, want undefined macro %%B%%", err)
	}
}

func TestMacroInFailoverText(t *testing.T) {
	m, err := ParseModule("AM", "u.xml", moduleXML(`<macro name="ACT" value="stopstart"/>`,
		`<check><tcp ident="web"><to addr="127.0.0.1" port="80"/></tcp></check>
<failover>
  r1: if (tcp.web == down) then %ACT%();
</failover>`), testCluster(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := m.Failover.Rules[0]; r.Action != "stopstart" || r.Line != 3 {
		t.Errorf("rule = %+v", r)
	}
}
