package sim

import (
	"fmt"
	"time"
)

// LinkOptions is how one LAN (or one directed pair of nodes on it) carries
// heartbeats. The zero value is a perfect LAN: no delay, no loss.
type LinkOptions struct {
	// DelayMs is the base one-way latency. Heartbeats are sent every pulse
	// (100 ms by default), so delays of a pulse or more make peers look late.
	DelayMs int64
	// JitterMs adds a uniform extra delay in [0, JitterMs]. Jitter alone can
	// reorder two heartbeats of one sender only when it exceeds the pulse.
	JitterMs int64
	// LossPct drops each datagram with this probability (0..100). A node is
	// declared offline after slost_count consecutive pulses lost on every LAN,
	// so loss mostly tests that heartbeats are idempotent and timers robust.
	LossPct float64
	// DupPct delivers a datagram twice with this probability; the copy arrives
	// up to one pulse later. In wire mode the verifier must reject it as a replay.
	DupPct float64
	// ReorderPct holds a datagram back by up to ReorderMs with this
	// probability, so that a later heartbeat can overtake it.
	ReorderPct float64
	ReorderMs  int64
}

func (o LinkOptions) validate() error {
	switch {
	case o.DelayMs < 0 || o.JitterMs < 0 || o.ReorderMs < 0:
		return fmt.Errorf("negative delay")
	case o.LossPct < 0 || o.LossPct > 100, o.DupPct < 0 || o.DupPct > 100, o.ReorderPct < 0 || o.ReorderPct > 100:
		return fmt.Errorf("percentage outside 0..100")
	}
	return nil
}

// maxDelayMs bounds the one-way latency these options can add.
func (o LinkOptions) maxDelayMs() int64 {
	d := o.DelayMs + o.JitterMs
	if o.ReorderPct > 0 {
		d += o.ReorderMs
	}
	return d
}

// lanState is one simulated LAN: its options, optional per-pair overrides,
// and which directed pairs are cut.
type lanState struct {
	name string
	base LinkOptions    // what `restore` and `heal` come back to
	opts LinkOptions    // current options of the whole LAN
	pair []*LinkOptions // [from*n+to]: override of opts, nil = none
	cut  []bool         // [from*n+to]: true = nothing from `from` reaches `to`
}

// network is the set of simulated LANs between n nodes.
type network struct {
	n    int
	lans []lanState
	rnd  *rng
}

func newNetwork(n int, lanNames []string, base LinkOptions, seed uint64) *network {
	nw := &network{n: n, rnd: newRNG(seed)}
	for _, name := range lanNames {
		nw.lans = append(nw.lans, lanState{
			name: name, base: base, opts: base,
			pair: make([]*LinkOptions, n*n), cut: make([]bool, n*n),
		})
	}
	return nw
}

func (nw *network) lanIndex(name string) (int, error) {
	for i := range nw.lans {
		if nw.lans[i].name == name {
			return i, nil
		}
	}
	names := make([]string, len(nw.lans))
	for i := range nw.lans {
		names[i] = nw.lans[i].name
	}
	return -1, fmt.Errorf("unknown LAN %q (LANs: %v)", name, names)
}

// setPair overrides the options of the directed pair from -> to on one LAN.
func (nw *network) setPair(lan, from, to int, o LinkOptions) {
	nw.lans[lan].pair[from*nw.n+to] = &o
}

// cutBetween cuts a LAN both ways between every node of a and every node of b.
func (nw *network) cutBetween(lan int, a, b []int) {
	l := &nw.lans[lan]
	for _, x := range a {
		for _, y := range b {
			if x != y {
				l.cut[x*nw.n+y] = true
				l.cut[y*nw.n+x] = true
			}
		}
	}
}

// cutAll cuts a LAN between every pair of nodes.
func (nw *network) cutAll(lan int) {
	for i := range nw.lans[lan].cut {
		nw.lans[lan].cut[i] = true
	}
}

// restore brings a LAN back to its base options, uncut, without overrides.
func (nw *network) restore(lan int) {
	l := &nw.lans[lan]
	l.opts = l.base
	clear(l.pair)
	clear(l.cut)
}

// carries reports whether the LAN carries heartbeats from -> to at all
// (not cut and not 100 % loss).
func (nw *network) carries(lan, from, to int) bool {
	l := &nw.lans[lan]
	if l.cut[from*nw.n+to] {
		return false
	}
	o := &l.opts
	if p := l.pair[from*nw.n+to]; p != nil {
		o = p
	}
	return o.LossPct < 100
}

// connected reports whether one of the given LANs (the module's heartbeat
// LANs) carries heartbeats both ways between a and b.
func (nw *network) connected(lans []int, a, b int) bool {
	for _, l := range lans {
		if nw.carries(l, a, b) && nw.carries(l, b, a) {
			return true
		}
	}
	return false
}

// faulty reports whether any LAN currently differs from its base state.
func (nw *network) faulty() bool {
	for i := range nw.lans {
		l := &nw.lans[i]
		if l.opts != l.base {
			return true
		}
		for j := range l.cut {
			if l.cut[j] || l.pair[j] != nil {
				return true
			}
		}
	}
	return false
}

// send decides the fate of one datagram from -> to on a LAN: the delivery
// delays of its copies (none, one, or two with duplication).
func (nw *network) send(lan, from, to int, out *[2]int64) int {
	l := &nw.lans[lan]
	if l.cut[from*nw.n+to] {
		return 0
	}
	o := &l.opts
	if p := l.pair[from*nw.n+to]; p != nil {
		o = p
	}
	r := nw.rnd
	if o.LossPct > 0 && r.float()*100 < o.LossPct {
		return 0
	}
	d := o.DelayMs
	if o.JitterMs > 0 {
		d += r.int63n(o.JitterMs + 1)
	}
	if o.ReorderPct > 0 && r.float()*100 < o.ReorderPct {
		d += 1 + r.int63n(max(o.ReorderMs, 1))
	}
	out[0] = d
	if o.DupPct > 0 && r.float()*100 < o.DupPct {
		out[1] = d + 1 + r.int63n(100)
		return 2
	}
	return 1
}

// maxDelayMs is the largest one-way latency any LAN can currently add.
func (nw *network) maxDelayMs() int64 {
	var m int64
	for i := range nw.lans {
		m = max(m, nw.lans[i].opts.maxDelayMs())
		for _, p := range nw.lans[i].pair {
			if p != nil {
				m = max(m, p.maxDelayMs())
			}
		}
	}
	return m
}

func durMs(d time.Duration) int64 { return int64(d / time.Millisecond) }

// missAll is the probability that one pulse from a to b is lost on every
// LAN (cut LANs lose everything): slost_count such pulses in a row and b
// declares a offline.
func (nw *network) missAll(lans []int, a, b int) float64 {
	p := 1.0
	for _, l := range lans {
		p *= nw.lossPct(l, a, b) / 100
	}
	return p
}

func (nw *network) lossPct(lan, from, to int) float64 {
	l := &nw.lans[lan]
	if l.cut[from*nw.n+to] {
		return 100
	}
	if p := l.pair[from*nw.n+to]; p != nil {
		return p.LossPct
	}
	return l.opts.LossPct
}
