package netlab

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"

	"github.com/vipfarm/vipfarm/core"
)

// Tracer writes a lab run as the JSON Lines trace of SPEC §6, line for
// line in the shape farmsim writes (same events, same keys in the same
// order), with t_ms in real milliseconds since the run started:
//
//	{"t_ms":0,"event":"step","do":"start node1"}
//	{"t_ms":412,"node":"node1","event":"state","state":"UP","ready":true}
//	{"t_ms":412,"node":"node1","event":"buckets","group":"FarmProto","owned":[0,1,...]}
//	{"t_ms":3000,"event":"expect","ok":true,"detail":"node1: state UP, share 100%"}
//	{"t_ms":...,"event":"violation","invariant":"INV-2","detail":"..."}
//	{"event":"result","ok":true,"seed":1,"violations":0}
//
// States come from each farmd's API; the owned sets from each node's XDP
// maps (XDPOwned): what the kernel would accept, not what farmd says.
// A nil *Tracer writes nothing.
type Tracer struct {
	w    io.Writer
	err  error
	prev []tracedNode
}

type tracedNode struct {
	seen  bool
	state string
	ready bool
	owned []core.Bitmap
}

// NewTracer writes to w.
func NewTracer(w io.Writer) *Tracer { return &Tracer{w: w} }

// Err is the first write error.
func (t *Tracer) Err() error {
	if t == nil {
		return nil
	}
	return t.err
}

// line writes one object; fields are key/value pairs, in order.
func (t *Tracer) line(fields ...any) {
	if t == nil || t.err != nil {
		return
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for i := 0; i+1 < len(fields); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Quote(fields[i].(string)))
		b.WriteByte(':')
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false) // as farmsim: "<" stays "<"
		if err := enc.Encode(fields[i+1]); err != nil {
			t.err = fmt.Errorf("trace: %w", err)
			return
		}
		b.Truncate(b.Len() - 1) // Encode's newline
	}
	b.WriteString("}\n")
	if _, err := t.w.Write(b.Bytes()); err != nil {
		t.err = fmt.Errorf("trace: %w", err)
	}
}

// Step records a `do:` step.
func (t *Tracer) Step(ms int64, do string) { t.line("t_ms", ms, "event", "step", "do", do) }

// Expect records one node's expectation verdict.
func (t *Tracer) Expect(ms int64, ok bool, detail string) {
	t.line("t_ms", ms, "event", "expect", "ok", ok, "detail", detail)
}

// Violation records a broken invariant.
func (t *Tracer) Violation(ms int64, inv, detail string) {
	t.line("t_ms", ms, "event", "violation", "invariant", inv, "detail", detail)
}

// Result closes the trace.
func (t *Tracer) Result(ok bool, seed uint64, violations int) {
	t.line("event", "result", "ok", ok, "seed", seed, "violations", violations)
}

// Observe records what changed since the last call: a state line when a
// node's state or readiness changed (a node whose farmd does not answer is
// STOP, not ready, as a crashed node in farmsim), a buckets line per group
// whose owned set changed in the node's XDP maps (a node that stops or
// crashes gets "owned":[]), ordered as record explains.
func (t *Tracer) Observe(ms int64, l *Lab, obs Observation) {
	if t == nil {
		return
	}
	// Group names from any node that answers (every node runs one module).
	var groups []string
	for _, n := range obs.Nodes {
		if n.Running && len(n.Groups) > 0 {
			groups = n.Groups
			break
		}
	}
	if len(groups) == 0 {
		groups = []string{GroupName}
	}
	owned := make([][]core.Bitmap, len(obs.Nodes))
	var wg sync.WaitGroup
	for i, n := range l.Plan.Nodes {
		wg.Go(func() {
			o, err := l.XDPOwned(n.Name, len(groups))
			if err != nil || o == nil {
				o = make([]core.Bitmap, len(groups)) // no program: accepts nothing as its own
			}
			owned[i] = o
		})
	}
	wg.Wait()
	names := make([]string, len(l.Plan.Nodes))
	for i, n := range l.Plan.Nodes {
		names[i] = n.Name
	}
	t.record(ms, names, groups, obs, owned)
}

// record writes the lines for one poll: obs and owned are indexed like names.
func (t *Tracer) record(ms int64, names, groups []string, obs Observation, owned [][]core.Bitmap) {
	if t.prev == nil {
		t.prev = make([]tracedNode, len(obs.Nodes))
	}
	// One poll can see several nodes change at once. Lines go out in an
	// order a reader going line by line can trust, as the protocol itself
	// orders things: first every release (a node's set shrunk to what it
	// kept), then the state lines, then every acquisition. So no instant of
	// the trace shows two nodes claiming one bucket during a hand-over, nor
	// a node claiming buckets while its last state line is not UP.
	type change struct {
		name         string
		state        string
		ready        bool
		rule         string
		stateChanged bool
		kept, now    []core.Bitmap
		before       []core.Bitmap
	}
	changes := make([]change, len(obs.Nodes))
	for i, n := range obs.Nodes {
		p := &t.prev[i]
		c := change{name: names[i], state: "STOP", now: owned[i], rule: n.Rule}
		if n.Running {
			c.state, c.ready = n.State.String(), n.Ready
		}
		c.stateChanged = !p.seen || p.state != c.state || p.ready != c.ready
		c.before = make([]core.Bitmap, len(owned[i]))
		c.kept = make([]core.Bitmap, len(owned[i]))
		for g, b := range owned[i] {
			if p.seen && g < len(p.owned) {
				c.before[g] = p.owned[g]
			}
			for w := range b {
				c.kept[g][w] = b[w] & c.before[g][w]
			}
		}
		changes[i] = c
		*p = tracedNode{seen: true, state: c.state, ready: c.ready, owned: slices.Clone(owned[i])}
	}
	for _, c := range changes { // releases
		for g := range c.kept {
			if c.kept[g] != c.before[g] {
				t.line("t_ms", ms, "node", c.name, "event", "buckets", "group", groups[g], "owned", bucketList(c.kept[g]))
			}
		}
	}
	for _, c := range changes { // states
		if !c.stateChanged {
			continue
		}
		if c.state == "WAIT" && c.rule != "" {
			t.line("t_ms", ms, "node", c.name, "event", "state", "state", c.state, "ready", c.ready, "rule", c.rule)
		} else {
			t.line("t_ms", ms, "node", c.name, "event", "state", "state", c.state, "ready", c.ready)
		}
	}
	for _, c := range changes { // acquisitions
		for g := range c.now {
			if c.now[g] != c.kept[g] {
				t.line("t_ms", ms, "node", c.name, "event", "buckets", "group", groups[g], "owned", bucketList(c.now[g]))
			}
		}
	}
}

// bucketList is a bitmap as the sorted list of its buckets ([] when empty).
func bucketList(b core.Bitmap) []int {
	out := []int{}
	for k := range core.Buckets {
		if b.Has(k) {
			out = append(out, k)
		}
	}
	return out
}
