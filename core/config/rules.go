package config

import (
	"fmt"
	"slices"
	"strings"
)

// The failover rule language (<failover> text):
//
//	rules  = { rule }
//	rule   = label ":" "if" "(" expr ")" "then" action "(" ")" ";"
//	expr   = and { "||" and }
//	and    = unary { "&&" unary }
//	unary  = "!" unary | "(" expr ")" | cmp
//	cmp    = resource ( "==" | "!=" ) value
//	value  = "up" | "down" | "init" | "unknown"
//	action = "stop" | "stopstart" | "wait" | "restart"
//
// Precedence, tightest first: "!", then "==" "!=", then "&&", then "||";
// "&&" and "||" associate to the left. A comparison is the smallest boolean,
// so "! intf.x == down" reads "!(intf.x == down)" (a bare resource is not a
// boolean). A resource is <kind>.<ident>, or <kind>.? (true when any resource
// of that kind compares true) or <kind>.* (true when every one does). A label
// is a letter or _, then letters, digits, _ or -; labels are unique and the
// built-in ones are reserved. /* ... */ and // comments are allowed.

// ResourceKinds are the kinds of resource a failover rule may name: the five
// checkers and errd's proc.<name>.
var ResourceKinds = []string{"intf", "ip", "tcp", "ping", "custom", "proc"}

// Built-in rule labels.
const (
	RuleInterfaceFailure = "interface_failure"
	RuleIPFailure        = "ip_failure"
	RuleImplicitWakeup   = "Implicit_wakeup"
)

// ActionWakeup is the action of the Implicit_wakeup built-in rule.
const ActionWakeup = "wakeup"

var ruleActions = []string{"stop", "stopstart", "wait", "restart"}
var ruleValues = []string{"up", "down", "init", "unknown"}

// BuiltInRules returns the rules SafeKit appends to every module's configured
// ones, BuiltIn=true. Implicit_wakeup is derived from the configured rules and
// from waitResources, the resources whose checker or <proc> has action "wait"
// (each waits while it is down):
//
//	interface_failure: if (intf.? == down) then wait();
//	ip_failure: if (ip.? == down) then stopstart();
//	Implicit_wakeup: if (!(<every wait reason, or-ed>)) then wakeup();
//
// Implicit_wakeup is how a module leaves WAIT: SafeKit wakes a module that a
// wait() rule put in WAIT once no wait() rule holds any more. vipfarm writes
// that as an ordinary rule — its condition is the negation of the disjunction
// of the conditions of all wait() rules (interface_failure included) and of
// "<resource> == down" for every waitResource — so the
// failover machine evaluates it like any other (every period, acting once it
// held for handle_time), with one difference: "wakeup" acts only on a module
// in WAIT (it starts the module again) and does nothing in any other state.
// A resource still in "init" compares neither up nor down; the core keeps a
// module in WAIT (transient) while a resource is init, as SafeKit does.
func BuiltInRules(configured []FailoverRule, waitResources []string) []FailoverRule {
	intf := FailoverRule{Label: RuleInterfaceFailure, Cond: Cmp{Resource: "intf.?", Value: "down"}, Action: "wait", BuiltIn: true}
	ip := FailoverRule{Label: RuleIPFailure, Cond: Cmp{Resource: "ip.?", Value: "down"}, Action: "stopstart", BuiltIn: true}
	var waiting Expr
	seen := map[string]bool{} // a disjunct given twice is or-ed once
	var mark func(e Expr)
	mark = func(e Expr) {
		if o, ok := e.(Or); ok {
			mark(o.L)
			mark(o.R)
			return
		}
		seen[FormatExpr(e)] = true
	}
	add := func(e Expr) {
		if seen[FormatExpr(e)] {
			return
		}
		mark(e)
		if waiting == nil {
			waiting = e
		} else {
			waiting = Or{L: waiting, R: e}
		}
	}
	for _, r := range append(append([]FailoverRule(nil), configured...), intf) {
		if r.Action == "wait" {
			add(r.Cond)
		}
	}
	for _, res := range waitResources {
		add(Cmp{Resource: res, Value: "down"})
	}
	wake := FailoverRule{Label: RuleImplicitWakeup, Cond: Not{X: waiting}, Action: ActionWakeup, BuiltIn: true}
	return []FailoverRule{intf, ip, wake}
}

// ParseRules parses failover rule text that starts on line line of file.
// It returns the configured rules only (see BuiltInRules).
func ParseRules(file string, line int, text string) ([]FailoverRule, error) {
	toks, err := lexRules(file, line, text)
	if err != nil {
		return nil, err
	}
	rp := &ruleParser{file: file, toks: toks}
	var rules []FailoverRule
	seen := map[string]int{}
	for rp.peek().kind != tEOF {
		r, err := rp.rule()
		if err != nil {
			return nil, err
		}
		if l, dup := seen[r.Label]; dup {
			return nil, &Error{File: file, Line: r.Line, Msg: fmt.Sprintf("failover rule %q: label used twice (first at line %d)", r.Label, l)}
		}
		if r.Label == RuleInterfaceFailure || r.Label == RuleIPFailure || r.Label == RuleImplicitWakeup {
			return nil, &Error{File: file, Line: r.Line, Msg: fmt.Sprintf("failover rule %q: label reserved for a built-in rule", r.Label)}
		}
		seen[r.Label] = r.Line
		rules = append(rules, r)
	}
	return rules, nil
}

type tokKind int

const (
	tEOF tokKind = iota
	tWord
	tLParen
	tRParen
	tColon
	tSemi
	tEq
	tNe
	tNot
	tAnd
	tOr
)

type token struct {
	kind tokKind
	text string
	line int
}

func (t token) String() string {
	if t.kind == tEOF {
		return "end of rules"
	}
	return fmt.Sprintf("%q", clip(t.text))
}

func lexRules(file string, line int, s string) ([]token, error) {
	var toks []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\n':
			line++
			i++
			continue
		case c == ' ' || c == '\t' || c == '\r':
			i++
			continue
		case strings.HasPrefix(s[i:], "//"):
			for i < len(s) && s[i] != '\n' {
				i++
			}
			continue
		case strings.HasPrefix(s[i:], "/*"):
			end := strings.Index(s[i+2:], "*/")
			if end < 0 {
				return nil, &Error{File: file, Line: line, Msg: "failover rules: unterminated /* comment"}
			}
			line += strings.Count(s[i:i+2+end], "\n")
			i += end + 4
			continue
		}
		two := ""
		if i+1 < len(s) {
			two = s[i : i+2]
		}
		op := map[string]tokKind{"==": tEq, "!=": tNe, "&&": tAnd, "||": tOr}
		if k, ok := op[two]; ok {
			toks = append(toks, token{k, two, line})
			i += 2
			continue
		}
		single := map[byte]tokKind{'(': tLParen, ')': tRParen, ':': tColon, ';': tSemi, '!': tNot}
		if k, ok := single[c]; ok {
			toks = append(toks, token{k, string(c), line})
			i++
			continue
		}
		if !isWordByte(c, false) {
			r := []rune(s[i:])[0]
			return nil, &Error{File: file, Line: line, Msg: fmt.Sprintf("failover rules: unexpected character %q", r)}
		}
		j := i
		for j < len(s) && isWordByte(s[j], false) {
			j++
		}
		// A resource (it has a '.') may go on with ':' (IPv6 idents) and end
		// in a wildcard; a label never has a '.', so "r1:" stays label + ':'.
		if strings.Contains(s[i:j], ".") {
			for j < len(s) && isWordByte(s[j], true) {
				j++
			}
			if j < len(s) && (s[j] == '?' || s[j] == '*') {
				j++
			}
		}
		toks = append(toks, token{tWord, s[i:j], line})
		i = j
	}
	return append(toks, token{tEOF, "", line}), nil
}

func isWordByte(c byte, colon bool) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || c == '.' || c == '-' || (colon && c == ':')
}

type ruleParser struct {
	file  string
	toks  []token
	pos   int
	label string
	depth int
}

func (rp *ruleParser) peek() token { return rp.toks[rp.pos] }

func (rp *ruleParser) next() token {
	t := rp.toks[rp.pos]
	if t.kind != tEOF {
		rp.pos++
	}
	return t
}

func (rp *ruleParser) errf(t token, format string, args ...any) error {
	where := "failover rules"
	if rp.label != "" {
		where = fmt.Sprintf("failover rule %q", rp.label)
	}
	return &Error{File: rp.file, Line: t.line, Msg: where + ": " + fmt.Sprintf(format, args...)}
}

func (rp *ruleParser) expect(k tokKind, what string) (token, error) {
	t := rp.next()
	if t.kind != k {
		return t, rp.errf(t, "want %s, got %s", what, t)
	}
	return t, nil
}

func (rp *ruleParser) rule() (FailoverRule, error) {
	rp.label = ""
	t := rp.next()
	if t.kind != tWord || !isLabel(t.text) {
		return FailoverRule{}, rp.errf(t, "want a rule label (a letter or _, then letters, digits, _ or -), got %s", t)
	}
	r := FailoverRule{Label: t.text, Line: t.line}
	rp.label = t.text
	if _, err := rp.expect(tColon, `":" after the label`); err != nil {
		return r, err
	}
	if t := rp.next(); t.kind != tWord || t.text != "if" {
		return r, rp.errf(t, `want "if", got %s`, t)
	}
	if _, err := rp.expect(tLParen, `"(" after "if"`); err != nil {
		return r, err
	}
	cond, err := rp.or()
	if err != nil {
		return r, err
	}
	r.Cond = cond
	if _, err := rp.expect(tRParen, `")" or an operator && || after the condition`); err != nil {
		return r, err
	}
	if t := rp.next(); t.kind != tWord || t.text != "then" {
		return r, rp.errf(t, `want "then", got %s`, t)
	}
	a := rp.next()
	if a.kind != tWord || !slices.Contains(ruleActions, a.text) {
		return r, rp.errf(a, "action %s: want stop(), stopstart(), wait() or restart()", a)
	}
	r.Action = a.text
	if _, err := rp.expect(tLParen, `"()" after the action`); err != nil {
		return r, err
	}
	if _, err := rp.expect(tRParen, `")" after "("`); err != nil {
		return r, err
	}
	if _, err := rp.expect(tSemi, `";" at the end of the rule`); err != nil {
		return r, err
	}
	return r, nil
}

// maxDepth bounds nesting so hostile input cannot exhaust the stack.
const maxDepth = 64

func (rp *ruleParser) or() (Expr, error) {
	l, err := rp.and()
	if err != nil {
		return nil, err
	}
	for rp.peek().kind == tOr {
		rp.next()
		r, err := rp.and()
		if err != nil {
			return nil, err
		}
		l = Or{L: l, R: r}
	}
	return l, nil
}

func (rp *ruleParser) and() (Expr, error) {
	l, err := rp.unary()
	if err != nil {
		return nil, err
	}
	for rp.peek().kind == tAnd {
		rp.next()
		r, err := rp.unary()
		if err != nil {
			return nil, err
		}
		l = And{L: l, R: r}
	}
	return l, nil
}

func (rp *ruleParser) unary() (Expr, error) {
	rp.depth++
	defer func() { rp.depth-- }()
	t := rp.peek()
	if rp.depth > maxDepth {
		return nil, rp.errf(t, "condition nested deeper than %d", maxDepth)
	}
	switch t.kind {
	case tNot:
		rp.next()
		x, err := rp.unary()
		if err != nil {
			return nil, err
		}
		return Not{X: x}, nil
	case tLParen:
		rp.next()
		x, err := rp.or()
		if err != nil {
			return nil, err
		}
		if _, err := rp.expect(tRParen, `")"`); err != nil {
			return nil, err
		}
		return x, nil
	}
	return rp.cmp()
}

func (rp *ruleParser) cmp() (Expr, error) {
	t := rp.next()
	if t.kind != tWord {
		return nil, rp.errf(t, "want a resource such as intf.? or custom.x, got %s", t)
	}
	if err := checkResourceName(t.text); err != nil {
		return nil, rp.errf(t, "resource %s: %v", t, err)
	}
	c := Cmp{Resource: t.text}
	switch op := rp.next(); op.kind {
	case tEq:
	case tNe:
		c.Neg = true
	default:
		return nil, rp.errf(op, "want == or != after %s, got %s", t, op)
	}
	v := rp.next()
	if v.kind != tWord || !slices.Contains(ruleValues, v.text) {
		return nil, rp.errf(v, "value %s: want up, down, init or unknown", v)
	}
	c.Value = v.text
	return c, nil
}

// checkResourceName accepts <kind>.<ident>, <kind>.? and <kind>.*.
func checkResourceName(s string) error {
	kind, ident, ok := strings.Cut(s, ".")
	if !ok || ident == "" {
		return fmt.Errorf("want <kind>.<ident>, e.g. intf.?, ip.* or tcp.web")
	}
	if !slices.Contains(ResourceKinds, kind) {
		return fmt.Errorf("unknown kind %q, want %s", kind, orList(ResourceKinds))
	}
	if ident == "?" || ident == "*" {
		return nil
	}
	if strings.ContainsAny(ident, "?*") {
		return fmt.Errorf("a wildcard stands alone: %s.? or %s.*", kind, kind)
	}
	return nil
}

func isLabel(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' ||
			i > 0 && (c >= '0' && c <= '9' || c == '-')
		if !ok {
			return false
		}
	}
	return true
}
