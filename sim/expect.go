package sim

import (
	"fmt"
	"slices"
	"strings"
)

// expect checks a step's expectations against what each node last reported
// (the same values the trace shows). Each node's check is one trace line.
func (s *Sim) expect(c *cstep) {
	for _, ne := range c.expects {
		n := s.nodes[ne.node]
		e := ne.e
		var got, bad []string
		// add records one checked value: "share 50%" when it matches, and
		// "share 0% (want 50%)" among the failures when it does not.
		add := func(ok bool, have, want string) {
			got = append(got, have)
			if !ok {
				bad = append(bad, have+" (want "+want+")")
			}
		}
		state := n.state.String()
		if e.State != "" {
			add(state == e.State, "state "+state, e.State)
		}
		if e.Ready != nil {
			add(n.ready == *e.Ready, fmt.Sprintf("ready %t", n.ready), fmt.Sprint(*e.Ready))
		}
		if e.Share != nil {
			sh := share(n.owned[0].Count())
			add(sh == *e.Share, fmt.Sprintf("share %d%%", sh), fmt.Sprintf("%d%%", *e.Share))
		}
		if e.Buckets != nil {
			k := n.owned[0].Count()
			add(k == *e.Buckets, fmt.Sprintf("buckets %d", k), fmt.Sprint(*e.Buckets))
		}
		groups := make([]string, 0, len(e.Shares))
		for g := range e.Shares {
			groups = append(groups, g)
		}
		slices.Sort(groups)
		for _, g := range groups {
			gi := slices.Index(s.groups, g)
			sh := share(n.owned[gi].Count())
			add(sh == e.Shares[g], fmt.Sprintf("%s %d%%", g, sh), fmt.Sprintf("%d%%", e.Shares[g]))
		}
		if e.Rule != nil {
			add(n.rule == *e.Rule, fmt.Sprintf("rule %q", n.rule), fmt.Sprintf("%q", *e.Rule))
		}
		s.res.Expects++
		ok := len(bad) == 0
		detail := n.name + ": " + strings.Join(got, ", ")
		if !ok {
			s.res.FailedExpects++
			detail = n.name + ": " + strings.Join(bad, ", ") + " at " + c.where
		}
		s.tr.expect(s.nowMs, ok, detail)
	}
}

// share is a bucket count as a rounded percentage of 256 (core.GroupStatus.Share).
func share(count int) int { return (count*100 + 128) / 256 }
