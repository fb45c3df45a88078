package daemon

import (
	"context"
	"slices"

	"github.com/vipfarm/vipfarm/core"
	"github.com/vipfarm/vipfarm/internal/view"
)

// The Daemon is the view.Farm of the HTTP API and the control socket.
var _ view.Farm = (*Daemon)(nil)

// Node is this node's name.
func (d *Daemon) Node() string { return d.self }

// Modules lists the running modules, sorted.
func (d *Daemon) Modules() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]string, 0, len(d.runners))
	for n := range d.runners {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Module snapshots one module on its goroutine.
func (d *Daemon) Module(ctx context.Context, name string) (view.Module, error) {
	r, err := d.runner(name)
	if err != nil {
		return view.Module{}, err
	}
	var m view.Module
	err = r.call(ctx, func() error {
		m = r.snapshot()
		return nil
	})
	return m, err
}

// Do applies a command.
func (d *Daemon) Do(ctx context.Context, name string, cmd core.Command) error {
	r, err := d.runner(name)
	if err != nil {
		return err
	}
	return r.call(ctx, func() error {
		if err := r.node.Step(cmd); err != nil {
			return err
		}
		if cmd.Verb == core.VerbBootOn || cmd.Verb == core.VerbBootOff {
			return r.saveBoot(cmd.Verb == core.VerbBootOn)
		}
		return nil
	})
}

// SetResource publishes a resource's verdict.
func (d *Daemon) SetResource(ctx context.Context, name, res string, st core.ResourceState) error {
	r, err := d.runner(name)
	if err != nil {
		return err
	}
	return r.call(ctx, func() error { return r.node.Step(core.ResourceEvent{Name: res, State: st}) })
}

// Print writes a line to the module log.
func (d *Daemon) Print(ctx context.Context, name string, lvl core.LogLevel, msg string) error {
	r, err := d.runner(name)
	if err != nil {
		return err
	}
	r.mlog.Write(lvl, msg)
	return nil
}

// Log returns the module log's last lines.
func (d *Daemon) Log(name string, lines int) ([]string, error) {
	r, err := d.runner(name)
	if err != nil {
		return nil, err
	}
	return r.mlog.Tail(lines)
}

// snapshot builds the module's view; it runs on the module's goroutine.
func (r *runner) snapshot() view.Module {
	st := r.node.Status()
	m := view.Module{Name: r.mod.Name, Node: st.Node, State: st.State.String(), Ready: st.Ready,
		Color: view.Color(st.State, st.Ready, st.Rule), Rule: st.Rule, Boot: st.Boot, Leader: st.Leader,
		ARPHolder: st.ARPHolder, Epoch: st.Epoch, Resources: []view.Resource{}, Groups: []view.Group{}, Peers: []view.Peer{}}
	for _, res := range st.Resources {
		m.Resources = append(m.Resources, view.Resource{Name: res.Name, State: res.State.String()})
	}
	for _, g := range st.Groups {
		owned := g.Owned.List()
		if owned == nil {
			owned = []int{}
		}
		owners := make([]string, len(g.Owners))
		for b, o := range g.Owners {
			if int(o) < len(r.cluster.Nodes) {
				owners[b] = r.cluster.Nodes[o]
			}
		}
		m.Groups = append(m.Groups, view.Group{Name: g.Name, Buckets: g.Count(), Share: g.Share(), Owned: owned, Owners: owners})
	}
	now := r.node.Now()
	for _, p := range st.Peers {
		vp := view.Peer{Name: p.Name, Alive: p.Alive, State: p.State.String(), Ready: p.Ready, LastHeartbeatMs: map[string]int64{}}
		lans := r.mod.Config.Farm.LANs
		for i, t := range p.LastHeardTick {
			ms := int64(-1)
			if t >= 0 {
				ms = (now - t) * TickMs
			}
			if i < len(lans) {
				vp.LastHeartbeatMs[lans[i]] = ms
			}
		}
		m.Peers = append(m.Peers, vp)
	}
	var c view.Counters
	c.HeartbeatsSent, c.HeartbeatsReceived, c.HeartbeatsRejected, c.ScriptRuns = r.counters.copies()
	for g, t := range r.duties.groupTotals() {
		c.XDP = append(c.XDP, view.GroupCounters{Group: groupName(r.mod.Config, g), Accepted: t.Accepted, Forwarded: t.Forwarded, Dropped: t.Dropped})
	}
	m.Counters = c
	m.Log = r.mlog.Recent()
	return m
}
