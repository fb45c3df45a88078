package sim

import "github.com/vipfarm/vipfarm/core"

// evKind says what a queued event does when it comes due.
type evKind uint8

const (
	evDeliver    evKind = iota + 1 // a heartbeat reaches node `to` on LAN `lan`
	evScriptDone                   // script `id` of node `to` ends with `code`
	evResource                     // a simulated checker of node `to` reports resource `res`
)

// event is one queued event. It is a plain value without pointers (a
// heartbeat in flight is a slot of the inflight table), so queueing it
// allocates nothing once the heap has grown, and the garbage collector
// neither scans the queue nor pays write barriers when the heap moves events.
type event struct {
	atMs int64
	seq  uint64 // insertion order: breaks ties deterministically
	kind evKind
	to   int16  // target node index
	lan  int16  // evDeliver: index into the module's farm LANs
	gen  uint32 // target node's process generation when queued: stale events of a crashed process are dropped
	code int32  // evScriptDone: exit code; evResource: core.ResourceState
	id   uint64 // evScriptDone: script id; evResource: epoch<<32 | resource index; evDeliver: inflight slot
}

// queue is a 4-ary min-heap of events ordered by (atMs, seq): shallower
// than a binary heap, so a pop touches fewer cache lines.
type queue struct {
	h   []event
	seq uint64
}

func (q *queue) less(i, j int) bool {
	a, b := &q.h[i], &q.h[j]
	if a.atMs != b.atMs {
		return a.atMs < b.atMs
	}
	return a.seq < b.seq
}

func (q *queue) push(e event) {
	q.seq++
	e.seq = q.seq
	q.h = append(q.h, e)
	i := len(q.h) - 1
	for i > 0 {
		p := (i - 1) / 4
		if !q.less(i, p) {
			break
		}
		q.h[i], q.h[p] = q.h[p], q.h[i]
		i = p
	}
}

func (q *queue) len() int { return len(q.h) }

// peekAt is the due time of the earliest event; only valid when len() > 0.
func (q *queue) peekAt() int64 { return q.h[0].atMs }

func (q *queue) pop() event {
	top := q.h[0]
	n := len(q.h) - 1
	q.h[0] = q.h[n]
	q.h = q.h[:n]
	i := 0
	for {
		c := 4*i + 1
		if c >= n {
			break
		}
		m := c
		for k := c + 1; k < c+4 && k < n; k++ {
			if q.less(k, m) {
				m = k
			}
		}
		if !q.less(m, i) {
			break
		}
		q.h[i], q.h[m] = q.h[m], q.h[i]
		i = m
	}
	return top
}

// flight is one heartbeat in flight on one LAN: the event every receiver is
// stepped with (boxed once, not once per receiver), or in wire mode the
// datagram each receiver decodes, and how many queued copies still hold it.
type flight struct {
	ev   core.Event
	wire []byte
	refs int32
}

// inflight recycles flight slots; slot 0 is never used.
type inflight struct {
	slots []flight
	free  []uint64
}

func (f *inflight) put(ev core.Event, wire []byte) uint64 {
	if k := len(f.free); k > 0 {
		id := f.free[k-1]
		f.free = f.free[:k-1]
		f.slots[id] = flight{ev: ev, wire: wire}
		return id
	}
	if len(f.slots) == 0 {
		f.slots = append(f.slots, flight{})
	}
	f.slots = append(f.slots, flight{ev: ev, wire: wire})
	return uint64(len(f.slots) - 1)
}

// release drops one queued copy; the last frees the slot (also when no
// copy was ever queued: every LAN lost the datagram).
func (f *inflight) release(id uint64) {
	fl := &f.slots[id]
	if fl.refs--; fl.refs <= 0 {
		*fl = flight{}
		f.free = append(f.free, id)
	}
}
