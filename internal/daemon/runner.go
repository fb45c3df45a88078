package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vipfarm/vipfarm/core"
	"github.com/vipfarm/vipfarm/core/config"
	"github.com/vipfarm/vipfarm/internal/checkers"
	"github.com/vipfarm/vipfarm/internal/home"
	"github.com/vipfarm/vipfarm/internal/scripts"
	"github.com/vipfarm/vipfarm/internal/transport"
)

// TickMs is the core's tick: 10 ms, a tenth of the default pulse.
const TickMs = 10

// errStopped answers calls to a module whose goroutine has ended.
var errStopped = errors.New("module is shut down")

// runner owns one module: its core.Node lives on the runner's goroutine and
// nothing else touches it. Heartbeats, script ends and checker verdicts
// arrive on events; API calls arrive on calls as closures run on the
// goroutine.
type runner struct {
	d       *Daemon
	mod     home.Module
	cluster *config.Cluster
	self    int
	log     *slog.Logger

	node      *core.Node
	events    chan any
	calls     chan func()
	quit      chan struct{}
	done      chan struct{}
	pending   []any // events produced while handling a Ready
	mlog      *moduleLog
	scripts   *scripts.Runner
	scriptEnv []string
	tr        *transport.Transport
	duties    *duties
	checks    *checkers.Set
	counters  *counters
	running   map[uint64]time.Time // script ID → start

	state   atomic.Uint32 // core.State
	ready   atomic.Bool
	holder  atomic.Bool
	vipOpen atomic.Bool
	stopped sync.Once
}

// newRunner builds a module's runner; nothing runs until start.
func newRunner(d *Daemon, mod home.Module, h *home.Home, incarnation uint64) (r *runner, err error) {
	self := slices.Index(h.Cluster.Nodes, d.self)
	r = &runner{d: d, mod: mod, cluster: h.Cluster, self: self, log: d.log.With("module", mod.Name),
		events: make(chan any, 4096), calls: make(chan func()), quit: make(chan struct{}), done: make(chan struct{}),
		counters: newCounters(mod.Name, d.metrics), running: map[uint64]time.Time{}}
	r.node, err = core.New(core.Config{Self: d.self, Cluster: h.Cluster, Module: mod.Config, TickMs: TickMs, Incarnation: incarnation})
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", mod.Name, err)
	}
	userVar := filepath.Join(d.opts.State, "modules", mod.Name)
	if r.mlog, err = openModuleLog(userVar, mod.Name, r.log); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			r.release()
		}
	}()
	for _, w := range mod.Config.Warnings {
		r.mlog.Write(core.LogInfo, fmt.Sprintf("config warning: %s:%d: %s", w.File, w.Line, w.Msg))
	}
	env := scripts.ModuleEnv(d.opts.Home, d.opts.State, d.safeBin, mod.Config)
	if r.scriptEnv, err = env.List(); err != nil {
		return nil, fmt.Errorf("module %s: %w", mod.Name, err)
	}
	ulog := &scripts.UserLog{Dir: userVar, Discard: mod.Config.User != nil && mod.Config.User.Logging == "none"}
	r.scripts = &scripts.Runner{BinDir: env.SafeUserBin, WorkDir: mod.Dir, Env: r.scriptEnv, Log: ulog, Done: r.scriptDone}
	cd, err := transport.NewCoreCodec(h.Key, len(h.Cluster.Nodes), len(mod.Config.Farm.LANs))
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", mod.Name, err)
	}
	lans, err := farmLANs(h.Cluster, mod, self)
	if err != nil {
		return nil, err
	}
	if r.tr, err = transport.Open(lans, self, cd, r.deliver, r.counters, r.log); err != nil {
		return nil, fmt.Errorf("module %s: %w", mod.Name, err)
	}
	if r.duties, err = newDuties(r.log, h.Cluster, mod.Config, self, d.opts.NoXDP, d.opts.XDPGeneric, d.dataplanes); err != nil {
		return nil, err
	}
	r.duties.startLearning()
	d.metrics.SetBucketSource(mod.Name, r.duties.counters)
	r.publishState(core.StateStop, true)
	return r, nil
}

// farmLANs maps the module's <farm> LANs to sockets: this node's address and
// every node's address on each LAN, with the module's port.
func farmLANs(cl *config.Cluster, mod home.Module, self int) ([]transport.LAN, error) {
	var out []transport.LAN
	for _, name := range mod.Config.Farm.LANs {
		var lan *config.LAN
		for i := range cl.LANs {
			if cl.LANs[i].Name == name {
				lan = &cl.LANs[i]
			}
		}
		if lan == nil {
			return nil, fmt.Errorf("module %s: <farm> LAN %q is not in cluster.xml", mod.Name, name)
		}
		port := uint16(mod.Port)
		t := transport.LAN{Name: name, Local: netip.AddrPortFrom(lan.Addrs[self].Unmap(), port)}
		for i, a := range lan.Addrs {
			if i == self {
				t.Peers = append(t.Peers, netip.AddrPort{})
				continue
			}
			t.Peers = append(t.Peers, netip.AddrPortFrom(a.Unmap(), port))
		}
		out = append(out, t)
	}
	return out, nil
}

// deliver queues a heartbeat from a transport reader; false when full.
func (r *runner) deliver(ev core.Recv) bool {
	select {
	case r.events <- ev:
		return true
	default:
		return false
	}
}

// post queues an event that must not be lost (script ends, verdicts,
// commands of checkers); it gives up only when the module is shut down.
func (r *runner) post(ev any) {
	select {
	case r.events <- ev:
	case <-r.done:
	}
}

func (r *runner) scriptDone(res scripts.Result) { r.post(scriptEnd{res}) }

// scriptEnd wraps a script result so the loop can count it before the core sees it.
type scriptEnd struct{ res scripts.Result }

// start launches the goroutine and tells the core the process has started.
func (r *runner) start() {
	go r.loop()
}

func (r *runner) loop() {
	defer close(r.done)
	tick := time.Duration(TickMs) * time.Millisecond
	t := time.NewTicker(tick)
	defer t.Stop()
	begin := time.Now()
	var ticks int64
	if on, ok := r.loadBoot(); ok {
		verb := core.VerbBootOff
		if on {
			verb = core.VerbBootOn
		}
		r.step(core.Command{Verb: verb})
	}
	r.step(core.Boot{})
	r.handle()
	for {
		select {
		case <-r.quit:
			return
		case <-t.C:
			// Catch up after a stall (GC, a slow netlink call): the core's
			// clock must follow the wall clock or timeouts stretch.
			due := int64(time.Since(begin) / tick)
			for n := 0; ticks < due && n < 100; n++ {
				r.node.Tick()
				ticks++
			}
			if ticks < due {
				ticks = due
			}
		case ev := <-r.events:
			r.step(ev)
		case f := <-r.calls:
			f()
		}
		r.handle()
	}
}

func (r *runner) step(ev any) {
	if se, ok := ev.(scriptEnd); ok {
		r.countScript(se.res)
		ev = se.res.Done
	}
	cev, ok := ev.(core.Event)
	if !ok {
		return
	}
	if err := r.node.Step(cev); err != nil {
		r.log.Warn("core refused event", "event", fmt.Sprintf("%T", cev), "err", err)
	}
}

func (r *runner) countScript(res scripts.Result) {
	start, ok := r.running[res.Done.ID]
	delete(r.running, res.Done.ID)
	result := "ok"
	switch {
	case res.Missing:
		result = "missing"
	case res.Done.Killed:
		result = "killed"
	case res.Done.ExitCode != 0:
		result = "failed"
	}
	dur := res.Duration
	if ok && dur == 0 {
		dur = time.Since(start)
	}
	r.counters.Script(res.Name, result, dur.Seconds())
	// The core logs a failed script in the module log itself.
}

// handle carries out everything the core asked for, in Ready's field order.
func (r *runner) handle() {
	for r.node.HasReady() {
		rd := r.node.Ready()
		for _, m := range rd.Messages {
			r.tr.Send(m)
		}
		for _, s := range rd.Scripts {
			r.running[s.ID] = time.Now()
			if err := r.scripts.Start(s); err != nil {
				r.mlog.Write(core.LogError, fmt.Sprintf("Script %s could not start: %v", s.Name, err))
				r.pending = append(r.pending, scriptEnd{scripts.Result{Done: core.ScriptDone{ID: s.ID, ExitCode: 127}, Name: s.Name}})
			}
		}
		for _, id := range rd.Kills {
			if err := r.scripts.Kill(id); err != nil {
				r.log.Error("kill script", "id", id, "err", err)
			}
		}
		if rd.VIP != nil {
			if err := r.duties.setVIP(*rd.VIP); err != nil {
				r.mlog.Write(core.LogError, fmt.Sprintf("VIP %s: %v", openClose(*rd.VIP), err))
			}
			r.vipOpen.Store(*rd.VIP)
			r.checks.Kick()
		}
		for _, tu := range rd.Tables {
			if err := r.duties.setTable(tu, r.peerAlive, r.d.opts.DrainMs); err != nil {
				r.mlog.Write(core.LogError, fmt.Sprintf("dataplane: group %s: %v", tu.Name, err))
			}
			r.d.metrics.ShareBuckets.WithLabelValues(r.mod.Name, tu.Name).Set(float64(countOwned(tu.Owners, r.self)))
		}
		if rd.ARPHolder != nil {
			r.holder.Store(*rd.ARPHolder)
			if err := r.duties.setHolder(*rd.ARPHolder); err != nil {
				r.mlog.Write(core.LogError, fmt.Sprintf("ARP holder duty: %v", err))
			}
			r.log.Info("ARP holder duty", "holder", *rd.ARPHolder)
		}
		for _, sc := range rd.States {
			r.stateChanged(sc)
		}
		for _, l := range rd.Logs {
			r.mlog.Write(l.Level, l.Text)
		}
		r.node.Advance()
		pend := r.pending
		r.pending = nil
		for _, ev := range pend {
			r.step(ev)
		}
	}
}

func openClose(open bool) string {
	if open {
		return "open"
	}
	return "close"
}

func countOwned(owners [core.Buckets]uint8, self int) int {
	n := 0
	for _, o := range owners {
		if int(o) == self {
			n++
		}
	}
	return n
}

// peerAlive is asked while handling a Ready, on the loop goroutine.
func (r *runner) peerAlive(node int) bool {
	st := r.node.Status()
	name := r.cluster.Nodes[node]
	for _, p := range st.Peers {
		if p.Name == name {
			return p.Alive
		}
	}
	return false
}

func (r *runner) publishState(st core.State, ready bool) {
	r.state.Store(uint32(st))
	r.ready.Store(ready)
	r.d.metrics.State.WithLabelValues(r.mod.Name).Set(float64(st))
	b := 0.0
	if ready {
		b = 1
	}
	r.d.metrics.Ready.WithLabelValues(r.mod.Name).Set(b)
}

// stateChanged follows the module's state: checkers run from the moment the
// module leaves STOP until it returns to it.
func (r *runner) stateChanged(sc core.StateChange) {
	prev := core.State(r.state.Load())
	r.publishState(sc.State, sc.Ready)
	switch {
	case sc.State != core.StateStop && r.checks == nil:
		set, err := checkers.Start(checkers.Setup{Module: r.mod.Config, Post: func(ev core.Event) { r.post(ev) }, Log: r.log,
			ScriptEnv: r.scriptEnv, WorkDir: r.mod.Dir, Holder: r.holder.Load, VIPOpen: r.vipOpen.Load,
			UpReady: func() bool { return core.State(r.state.Load()) == core.StateUp && r.ready.Load() }})
		if err != nil {
			r.mlog.Write(core.LogError, fmt.Sprintf("checkers: %v", err))
		} else {
			r.checks = set
		}
	case sc.State == core.StateStop && r.checks != nil:
		// Stop on another goroutine: a checker may be blocked posting to us.
		set := r.checks
		r.checks = nil
		go set.Stop()
	}
	if prev != sc.State {
		r.log.Info("module state", "state", sc.State.String(), "ready", sc.Ready, "rule", sc.Rule)
	}
	if sc.State == core.StateUp && sc.Ready {
		r.checks.Kick() // the application runs now: judge it at once
	}
}

// bootFile keeps `farmctl boot on|off` across farmd restarts; it overrides
// <service boot>.
func (r *runner) bootFile() string {
	return filepath.Join(r.d.opts.State, "modules", r.mod.Name, "boot")
}

func (r *runner) saveBoot(on bool) error {
	v := "off\n"
	if on {
		v = "on\n"
	}
	if err := os.WriteFile(r.bootFile(), []byte(v), 0o644); err != nil {
		return fmt.Errorf("boot setting: %w", err)
	}
	return nil
}

func (r *runner) loadBoot() (on, ok bool) {
	b, err := os.ReadFile(r.bootFile())
	if err != nil {
		return false, false
	}
	switch strings.TrimSpace(string(b)) {
	case "on":
		return true, true
	case "off":
		return false, true
	}
	r.log.Warn("ignoring a boot setting that is neither on nor off", "file", r.bootFile())
	return false, false
}

// call runs f on the module's goroutine and returns its error.
func (r *runner) call(ctx context.Context, f func() error) error {
	errc := make(chan error, 1)
	select {
	case r.calls <- func() { errc <- f() }:
	case <-ctx.Done():
		return ctx.Err()
	case <-r.done:
		return errStopped
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// shutdown stops the module cleanly (stop_both, VIP closed, poststop) within
// timeout, then releases everything; scripts still running then are killed.
func (r *runner) shutdown(timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_ = r.call(ctx, func() error { return r.node.Step(core.Command{Verb: core.VerbStop, Ident: "farmd"}) })
	for ctx.Err() == nil {
		var idle bool
		err := r.call(ctx, func() error {
			idle = core.State(r.state.Load()) == core.StateStop && r.scripts.Running() == 0 && len(r.running) == 0
			return nil
		})
		if err != nil || idle {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if ctx.Err() != nil {
		r.log.Error("module did not reach STOP in time; killing its scripts", "timeout", timeout)
	}
	r.stopped.Do(func() {
		close(r.quit)
		<-r.done
	})
	r.release()
}

// release frees the module's resources (sockets, VIPs, XDP, checkers).
func (r *runner) release() {
	if r.checks != nil {
		r.checks.Stop()
		r.checks = nil
	}
	if r.scripts != nil {
		r.scripts.KillAll()
	}
	if r.tr != nil {
		r.tr.Close()
	}
	if r.duties != nil {
		if err := r.duties.close(); err != nil {
			r.log.Error("release network duties", "err", err)
		}
	}
	r.d.metrics.SetBucketSource(r.mod.Name, nil)
	if r.mlog != nil {
		r.mlog.Close()
	}
}
