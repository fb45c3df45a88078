package config

import (
	"fmt"
	"math"
	"sort"
	"time"
)

// ParseModule reads the userconfig.xml of module name, checking it against
// cl (its LANs and nodes) and expanding %macros% from its <macro> elements,
// then env. The result is fully defaulted (see Defaults). When several things
// are wrong, the error is the first by line; a file that is not well-formed
// XML reports its syntax error alone.
//
//	<safe>
//	  <macro name value/>*
//	  <service mode="farm" [boot] [maxloop] [loop_interval] [boot_delay] [automatic_reboot]>
//	    <farm [port] [pulse] [mlost_count] [slost_count]><lan name/>+</farm>
//	    <vip>...</vip>?            (vip.go)
//	    <user ...><var name value/>*</user>?
//	    <errd [polltimer]><proc name [atleast] [action] [class]/>*</errd>?
//	    <check>...</check>?        (or <checker>; check.go)
//	    <failover [period] [handle_time]>rules</failover>?   (rules.go)
//	  </service>
//	</safe>
func ParseModule(name, file string, data []byte, cl *Cluster, env Env) (*Module, error) {
	if !isName(name, maxNameLen) {
		return nil, &Error{File: file, Line: 0, Msg: fmt.Sprintf("module name %q: want letters, digits, '.', '_' or '-'", clip(name))}
	}
	if cl == nil || len(cl.Nodes) == 0 {
		return nil, &Error{File: file, Line: 0, Msg: "no cluster.xml to check the module against"}
	}
	root, err := parseXML(file, data)
	if err != nil {
		return nil, err
	}
	p := &problems{file: file}
	if root.name != "safe" {
		p.errorf(root.line, "root element <%s>: want <safe>", root.name)
		return nil, p.first()
	}
	m := Defaults()
	m.Name = name
	m.Failover.Rules = nil // rebuilt once checkers and rules are known
	p.attrs(root)
	m.Macros = applyMacros(p, root, env)
	kids := p.children(root, false, "macro", "service")
	svc := p.single(root, kids, "service")
	if svc == nil {
		p.errorf(root.line, `safe: missing <service mode="farm">`)
		return nil, p.first()
	}
	mp := &moduleParser{p: p, m: &m, cl: cl}
	mp.service(svc)
	if err := p.first(); err != nil {
		return nil, err
	}
	m.Warnings = p.warnings()
	return &m, nil
}

type moduleParser struct {
	p  *problems
	m  *Module
	cl *Cluster
	// publishers maps each resource to the line that publishes it.
	publishers map[string]int
}

func (mp *moduleParser) service(e *element) {
	p, m := mp.p, mp.m
	a := p.attrs(e, "mode", "boot", "maxloop", "loop_interval", "boot_delay", "automatic_reboot")
	if mode, ok := a.req("mode"); ok && mode != "farm" {
		a.bad("mode", "vipfarm runs farm modules only, want farm")
	}
	m.Service.Boot = Boot(a.enum("boot", string(DefaultBoot), "on", "off", "auto", "ignore"))
	m.Service.MaxLoop = a.intIn("maxloop", DefaultMaxLoop, 1, math.MaxInt32)
	m.Service.LoopInterval = a.duration("loop_interval", DefaultLoopInterval, time.Hour, true)
	m.Service.BootDelay = a.duration("boot_delay", 0, time.Second, false)
	m.Service.AutomaticReboot = a.onOff("automatic_reboot", false)
	a.ignored("boot_delay", "automatic_reboot")

	kids := p.children(e, false, "farm", "vip", "user", "errd", "check", "checker", "failover")
	if f := p.single(e, kids, "farm"); f != nil {
		mp.farm(f)
	} else {
		p.errorf(e.line, "service: missing <farm> (a farm module needs its heartbeat LANs)")
	}
	mp.publishers = map[string]int{}
	if v := p.single(e, kids, "vip"); v != nil {
		mp.vip(v)
	}
	if u := p.single(e, kids, "user"); u != nil {
		mp.user(u)
	}
	if er := p.single(e, kids, "errd"); er != nil {
		mp.errd(er)
	}
	checks := append(append([]*element(nil), kids["check"]...), kids["checker"]...)
	sort.SliceStable(checks, func(i, j int) bool { return checks[i].line < checks[j].line })
	for _, c := range checks[min(1, len(checks)):] {
		p.errorf(c.line, "service: <%s> given twice (<check> and <checker> are one section; first at line %d)", c.name, checks[0].line)
	}
	if len(checks) > 0 {
		mp.check(checks[0])
	}
	if f := p.single(e, kids, "failover"); f != nil {
		mp.failover(f)
	}
	m.Failover.Rules = append(m.Failover.Rules, BuiltInRules(m.Failover.Rules, waitResources(m))...)
}

// waitResources lists, in file order, the resources whose own action is
// wait: a module they put in WAIT must not wake while they are down.
func waitResources(m *Module) []string {
	var out []string
	if m.Errd != nil {
		for _, p := range m.Errd.Procs {
			if p.Action == "wait" {
				out = append(out, "proc."+p.Name)
			}
		}
	}
	for _, c := range m.Checks {
		if c.Action == "wait" {
			out = append(out, c.Resource())
		}
	}
	return out
}

func (mp *moduleParser) farm(e *element) {
	p, f := mp.p, &mp.m.Farm
	a := p.attrs(e, "port", "pulse", "mlost_count", "slost_count")
	f.Port = a.intIn("port", 0, 1, 65535)
	f.Pulse = a.duration("pulse", DefaultPulse, time.Millisecond, true)
	f.SlostCount = a.intIn("slost_count", DefaultSlostCount, 1, 100000)
	f.MlostCount = a.intIn("mlost_count", DefaultMlostCount, 1, 100000)
	kids := p.children(e, false, "lan")
	if len(kids["lan"]) == 0 {
		p.errorf(e.line, "farm: no <lan>: want at least one heartbeat LAN of cluster.xml")
	}
	seen := map[string]int{}
	for _, l := range kids["lan"] {
		la := p.attrs(l, "name")
		p.children(l, false)
		name, ok := la.req("name")
		if !ok {
			continue
		}
		if first, dup := seen[name]; dup {
			la.bad("name", "listed twice (first at line %d)", first)
			continue
		}
		seen[name] = l.line
		if _, ok := mp.cl.lan(name); !ok {
			var names []string
			for _, cl := range mp.cl.LANs {
				names = append(names, cl.Name)
			}
			la.bad("name", "no such LAN in cluster.xml (have %s)", orList(names))
			continue
		}
		f.LANs = append(f.LANs, name)
	}
}

func (mp *moduleParser) user(e *element) {
	p := mp.p
	u := defaultUser()
	a := p.attrs(e, "nicestoptimeout", "forcestoptimeout", "logging", "userlogsize")
	u.NiceStopTimeout = a.duration("nicestoptimeout", DefaultNiceStopTimeout, time.Second, true)
	u.ForceStopTimeout = a.duration("forcestoptimeout", DefaultForceStopTimeout, time.Second, true)
	u.Logging = a.enum("logging", DefaultLogging, "userlog", "none")
	a.ignored("userlogsize")
	kids := p.children(e, false, "var")
	seen := map[string]int{}
	for _, v := range kids["var"] {
		va := p.attrs(v, "name", "value")
		p.children(v, false)
		name, ok := va.req("name")
		if !ok {
			continue
		}
		if !isMacroName(name) {
			va.bad("name", "want an environment variable name (a letter or _, then letters, digits or _)")
			continue
		}
		if first, dup := seen[name]; dup {
			va.bad("name", "defined twice (first at line %d)", first)
			continue
		}
		seen[name] = v.line
		if !va.has("value") {
			p.errorf(v.line, "var %q: missing attribute \"value\"", name)
			continue
		}
		u.Vars = append(u.Vars, Var{Name: name, Value: va.str("value", "")})
	}
	mp.m.User = &u
}

func (mp *moduleParser) errd(e *element) {
	p := mp.p
	d := &Errd{}
	a := p.attrs(e, "polltimer")
	d.PollTimer = a.duration("polltimer", DefaultPollTimer, time.Second, true)
	kids := p.children(e, false, "proc")
	for _, pe := range kids["proc"] {
		pa := p.attrs(pe, "name", "atleast", "action", "class", "atmost", "nameregex", "argregex")
		pa.ignored("atmost", "nameregex", "argregex")
		p.children(pe, false)
		name, ok := pa.req("name")
		pr := Proc{
			Name:    name,
			AtLeast: pa.intIn("atleast", DefaultProcAtLeast, 0, math.MaxInt32),
			Action:  pa.enum("action", DefaultProcAction, "restart", "stopstart", "stop", "wait"),
			Class:   pa.enum("class", DefaultProcClass, "prim", "both", "pre"),
			Line:    pe.line,
		}
		if !ok {
			continue
		}
		mp.publish("proc."+name, pa.line("name"))
		d.Procs = append(d.Procs, pr)
	}
	mp.m.Errd = d
}

// publish records that line publishes resource, reporting a second publisher.
func (mp *moduleParser) publish(resource string, line int) bool {
	if first, dup := mp.publishers[resource]; dup {
		mp.p.errorf(line, "resource %q is already published at line %d", resource, first)
		return false
	}
	mp.publishers[resource] = line
	return true
}

func (mp *moduleParser) failover(e *element) {
	p := mp.p
	f := &mp.m.Failover
	a := p.attrs(e, "period", "handle_time")
	f.Period = a.duration("period", DefaultFailoverPeriod, time.Second, true)
	f.HandleTime = a.duration("handle_time", DefaultHandleTime, time.Second, false)
	p.children(e, true)
	text, line := e.joinedText()
	rules, err := ParseRules(p.file, line, text)
	if err != nil {
		p.errs = append(p.errs, err.(*Error))
		return
	}
	for _, r := range rules {
		walkCmps(r.Cond, func(c Cmp) {
			kind, ident, _ := cutResource(c.Resource)
			if ident == "?" || ident == "*" {
				return
			}
			if _, ok := mp.publishers[c.Resource]; !ok {
				p.errorf(r.Line, "failover rule %q: no checker publishes resource %q (%s)", r.Label, c.Resource, mp.known(kind))
			}
		})
	}
	f.Rules = rules // the built-in rules are appended by service()
}

// known describes the resources of one kind, for an error message.
func (mp *moduleParser) known(kind string) string {
	var have []string
	for r := range mp.publishers {
		if k, _, _ := cutResource(r); k == kind {
			have = append(have, r)
		}
	}
	if len(have) == 0 {
		return "there is no " + kind + " checker"
	}
	sort.Strings(have)
	return "have " + orList(have)
}

func walkCmps(e Expr, f func(Cmp)) {
	switch x := e.(type) {
	case Cmp:
		f(x)
	case Not:
		walkCmps(x.X, f)
	case And:
		walkCmps(x.L, f)
		walkCmps(x.R, f)
	case Or:
		walkCmps(x.L, f)
		walkCmps(x.R, f)
	}
}

func cutResource(r string) (kind, ident string, ok bool) {
	for i := 0; i < len(r); i++ {
		if r[i] == '.' {
			return r[:i], r[i+1:], true
		}
	}
	return r, "", false
}

// Resources returns every resource the module's checkers publish (explicit
// checkers, the interface and virtual-address checks of <vip>, and errd's
// proc.<name>), sorted.
func (m *Module) Resources() []string {
	set := map[string]bool{}
	for _, c := range m.Checks {
		set[c.Resource()] = true
	}
	if m.Errd != nil {
		for _, p := range m.Errd.Procs {
			set["proc."+p.Name] = true
		}
	}
	out := make([]string, 0, len(set))
	for r := range set {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}
