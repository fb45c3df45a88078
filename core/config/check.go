package config

import (
	"net/netip"
	"strings"
	"time"
)

// check reads <check> (or its synonym <checker>, the seed slides' spelling):
//
//	<tcp ident [when] [action]><to addr port [interval] [timeout]/></tcp>
//	<ping ident [when] [action]><to addr [interval] [timeout]/></ping>
//	<intf ident [when]><to name [interval]/></intf>
//	<ip ident [when]><to addr [interval]/></ip>
//	<custom ident [when] exec [arg] [action]/>
//
// Each publishes the resource <kind>.<ident>. <intf> and <ip> take no action:
// the built-in rules interface_failure and ip_failure react to them. A custom
// checker is a program (exec, relative to the module's bin/ directory unless
// absolute) that runs for as long as the module and reports with
// "safekit set -r custom.<ident> -v up|down"; it has no <to>.
func (mp *moduleParser) check(e *element) {
	p := mp.p
	p.attrs(e)
	kids := p.children(e, false, "tcp", "ping", "intf", "ip", "custom")
	var all []*element
	for _, k := range e.kids {
		if len(kids[k.name]) > 0 {
			all = append(all, k)
		}
	}
	for _, ce := range all {
		kind := CheckKind(ce.name)
		known := []string{"ident", "when"}
		switch kind {
		case CheckTCP, CheckPing:
			known = append(known, "action")
		case CheckCustom:
			known = append(known, "exec", "arg", "action")
		}
		a := p.attrs(ce, known...)
		c := Check{
			Kind:     kind,
			When:     a.enum("when", DefaultCheckWhen, "both", "prim", "pre"),
			Action:   a.enum("action", defaultCheckAction[kind], "restart", "stopstart", "stop", "wait"),
			Interval: DefaultCheckInterval,
			Timeout:  DefaultCheckTimeout,
			Line:     ce.line,
		}
		ident, ok := a.req("ident")
		if ok && !isIdent(ident) {
			a.bad("ident", "want letters, digits, '.', '_', '-' or ':'")
			ok = false
		}
		c.Ident = ident
		if kind == CheckCustom {
			p.children(ce, false)
			if prog, okp := a.req("exec"); okp {
				c.Program = prog
			}
			c.Args = a.str("arg", "")
		} else {
			mp.to(ce, &c)
		}
		if ok && mp.publish(c.Resource(), a.line("ident")) {
			mp.m.Checks = append(mp.m.Checks, c)
		}
	}
}

// to reads the single <to> of a tcp, ping, intf or ip checker.
func (mp *moduleParser) to(ce *element, c *Check) {
	p := mp.p
	kids := p.children(ce, false, "to")
	te := p.single(ce, kids, "to")
	if te == nil {
		p.errorf(ce.line, "%s: missing <to>", ce.name)
		return
	}
	p.children(te, false)
	var known []string
	switch c.Kind {
	case CheckTCP:
		known = []string{"addr", "port", "interval", "timeout"}
	case CheckPing:
		known = []string{"addr", "interval", "timeout"}
	case CheckIntf:
		known = []string{"name", "interval"}
	case CheckIP:
		known = []string{"addr", "interval"}
	}
	a := p.attrs(te, known...)
	c.Interval = a.duration("interval", DefaultCheckInterval, time.Second, true)
	c.Timeout = a.duration("timeout", DefaultCheckTimeout, time.Second, true)
	switch c.Kind {
	case CheckIntf:
		if name, ok := a.req("name"); ok {
			if !isIfName(name) {
				a.bad("name", "want a network interface name (1 to 15 characters, no '/', '%%' or blanks)")
			}
			c.Intf = name
		}
		return
	case CheckTCP:
		c.Port = a.intIn("port", 0, 1, 65535)
		if !a.has("port") {
			p.errorf(te.line, "to: missing attribute \"port\"")
		}
	}
	addr, ok := a.req("addr")
	if !ok {
		return
	}
	if c.Kind == CheckIP {
		ip, err := parseIP(addr)
		if err != nil {
			a.bad("addr", "%v", err)
			return
		}
		c.Addr = ip.String()
		return
	}
	if !isHost(addr) {
		a.bad("addr", "want an IP address or a host name")
		return
	}
	c.Addr = strings.Trim(addr, "[]")
}

// isIdent accepts a checker ident: a resource name's second half, which may
// be an IPv6 address, so ':' is allowed.
func isIdent(s string) bool {
	return isName(strings.ReplaceAll(s, ":", "_"), maxNameLen)
}

// isHost accepts an IP literal or a DNS name (resolved by the driver).
func isHost(s string) bool {
	if _, err := parseIP(s); err == nil {
		return true
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return false // a literal, but not a usable one (multicast, ...)
	}
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}
