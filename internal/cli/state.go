package cli

import (
	"fmt"
	"slices"
	"strings"

	"github.com/vipfarm/vipfarm/internal/control"
	"github.com/vipfarm/vipfarm/internal/view"
)

func init() {
	register("state", "state [-m MODULE] [-v] [-lq]", state)
	register("status", "status", status)
}

// Exit codes of `state -lq`, as SafeKit's.
var lqCodes = map[string]int{"STOP": 0, "WAIT": 1, "UP": 2}

func state(e *env, args []string) error {
	fs := e.flags("state")
	verbose := fs.Bool("v", false, "resources, shares and peers")
	lq := fs.Bool("lq", false, "no output; exit code STOP=0 WAIT=1 UP=2")
	if _, err := e.parse(fs, args, 0); err != nil {
		return err
	}
	resp, err := e.call(control.Request{Verb: "state"})
	if *lq {
		if err != nil {
			return &exitError{code: 3, err: err}
		}
		return &exitError{code: lqCodes[resp.Module.State]}
	}
	if err != nil {
		return err
	}
	if e.json {
		return e.printJSON(resp.Module)
	}
	printModule(e, resp.Module, *verbose)
	return nil
}

func status(e *env, args []string) error {
	fs := e.flags("status")
	if _, err := e.parse(fs, args, 0); err != nil {
		return err
	}
	resp, err := e.call(control.Request{Verb: "status"})
	if err != nil {
		return err
	}
	if e.json {
		if resp.Modules == nil {
			resp.Modules = []view.Module{}
		}
		return e.printJSON(resp.Modules)
	}
	if len(resp.Modules) == 0 {
		fmt.Fprintln(e.stdout, "no module")
	}
	for i := range resp.Modules {
		printModule(e, &resp.Modules[i], false)
	}
	return nil
}

func readiness(ready bool) string {
	if ready {
		return "Ready"
	}
	return "Transient"
}

func printModule(e *env, m *view.Module, verbose bool) {
	line := fmt.Sprintf("%-12s %s (%s)", m.Name, m.State, readiness(m.Ready))
	if m.Rule != "" {
		line += " rule " + m.Rule
	}
	for _, g := range m.Groups {
		line += fmt.Sprintf("  %s %d%%", g.Name, g.Share)
	}
	fmt.Fprintln(e.stdout, line)
	if !verbose {
		return
	}
	fmt.Fprintf(e.stdout, "  node %s  boot %v  leader %s  arp holder %v  colour %s\n", m.Node, m.Boot, orNone(m.Leader), m.ARPHolder, m.Color)
	for _, g := range m.Groups {
		fmt.Fprintf(e.stdout, "  group %s: %d/256 buckets (%d%%)\n", g.Name, g.Buckets, g.Share)
	}
	for _, r := range m.Resources {
		fmt.Fprintf(e.stdout, "  resource %-24s %s\n", r.Name, r.State)
	}
	for _, p := range m.Peers {
		var heard []string
		lans := make([]string, 0, len(p.LastHeartbeatMs))
		for lan := range p.LastHeartbeatMs {
			lans = append(lans, lan)
		}
		slices.Sort(lans)
		for _, lan := range lans {
			ms := p.LastHeartbeatMs[lan]
			if ms < 0 {
				heard = append(heard, lan+" never")
			} else {
				heard = append(heard, fmt.Sprintf("%s %dms ago", lan, ms))
			}
		}
		fmt.Fprintf(e.stdout, "  peer %-12s alive %-5v %s (%s)  heard: %s\n", p.Name, p.Alive, p.State, readiness(p.Ready), strings.Join(heard, ", "))
	}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
