package model

// Counts tallies decisions by reason, as the XDP program's counters do.
type Counts struct {
	Accepted, Forwarded, Dropped, NotOurs uint64
}

// Add counts one decision with reason r (ReasonNone counts nowhere).
func (c *Counts) Add(r Reason) {
	switch r {
	case Accepted:
		c.Accepted++
	case Forwarded:
		c.Forwarded++
	case Dropped:
		c.Dropped++
	case NotOurs:
		c.NotOurs++
	}
}

// Plus is the sum of two tallies.
func (c Counts) Plus(o Counts) Counts {
	return Counts{c.Accepted + o.Accepted, c.Forwarded + o.Forwarded, c.Dropped + o.Dropped, c.NotOurs + o.NotOurs}
}

// MaxHops bounds Deliver's walk: a frame is forwarded at most once by
// ownership and once by the drain rule, so more hops mean a loop.
const MaxHops = 4

// Deliver follows a frame through a farm: it arrives at node entry, and each
// Tx decision hands it to the target node (tables[i] is node i's, nil for a
// node that is down: the frame is lost there). It returns the node that
// accepts it (XDP_PASS with a counted reason) or -1 when it is dropped or
// lost, and the nodes it visited in order. env(node) supplies each node's
// run-time inputs. A frame not addressed to a VIP is accepted by entry.
func Deliver(frame []byte, tables []*Tables, entry int, env func(node int) Env) (int, []int) {
	path := []int{}
	node := entry
	for hop := 0; hop <= MaxHops; hop++ {
		if node < 0 || node >= len(tables) || tables[node] == nil {
			return -1, path
		}
		path = append(path, node)
		d := Decide(frame, tables[node], env(node))
		switch d.Verdict {
		case Pass:
			return node, path
		case Tx:
			frame, node = d.Out, d.Target
		default:
			return -1, path
		}
	}
	return -1, path
}
