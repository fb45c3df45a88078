package sim

import (
	"slices"
	"sort"
	"testing"
)

// TestQueueOrder: events come out by time, ties in insertion order.
func TestQueueOrder(t *testing.T) {
	var q queue
	r := newRNG(42)
	for i := 0; i < 5000; i++ {
		q.push(event{atMs: r.int63n(200), id: uint64(i)})
	}
	var last event
	for i := 0; q.len() > 0; i++ {
		e := q.pop()
		if i > 0 && (e.atMs < last.atMs || e.atMs == last.atMs && e.id < last.id) {
			t.Fatalf("pop %d: (%d,%d) after (%d,%d)", i, e.atMs, e.id, last.atMs, last.id)
		}
		last = e
	}
}

// TestQueueMatchesASortedList: pushes interleaved with pops come out
// exactly in (atMs, insertion) order.
func TestQueueMatchesASortedList(t *testing.T) {
	var q queue
	var ref []event // kept sorted by (atMs, seq)
	r := newRNG(7)
	var now int64
	var seq uint64
	for i := 0; i < 30000; i++ {
		if r.intn(3) > 0 || q.len() == 0 {
			d := r.int63n(30)
			if r.intn(20) == 0 {
				d = r.int63n(5000)
			}
			seq++
			e := event{atMs: now + d, id: seq}
			q.push(e)
			k := sort.Search(len(ref), func(i int) bool { return ref[i].atMs > e.atMs })
			ref = slices.Insert(ref, k, e)
			continue
		}
		a, b := q.pop(), ref[0]
		ref = ref[1:]
		if a.atMs != b.atMs || a.id != b.id {
			t.Fatalf("pop %d: queue (%d,%d), heap (%d,%d)", i, a.atMs, a.id, b.atMs, b.id)
		}
		now = a.atMs
	}
	if q.len() != len(ref) {
		t.Fatalf("len %d, want %d", q.len(), len(ref))
	}
}
