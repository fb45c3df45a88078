package core

import (
	"math/bits"
	"strconv"
	"strings"
)

// What the driver sees of the membership: the owner table of every group as
// this node knows it (its own claims and those of its component's peers), and
// the module log lines an administrator greps for.

// updateViews recomputes each group's owner table and emits those that changed.
// This node's own claims win; then its component's peers in index order, so a transient
// double claim shows one owner deterministically.
func (m *membership) updateViews() {
	for g := range m.grp {
		v := &m.scratch
		for b := range v {
			v[b] = NoOwner
		}
		fillOwner(v, &m.claims[g], uint8(m.self))
		for s := m.alive; s != 0; s &= s - 1 {
			j := bits.TrailingZeros64(s)
			fillOwner(v, &m.peers[j].info.Claims[g], uint8(j))
		}
		if *v == m.view[g] {
			continue
		}
		m.view[g] = *v
		m.out.Tables = append(m.out.Tables, TableUpdate{Group: g, Name: m.grp[g].name, Owners: *v})
	}
}

// logChanges writes `farm membership: node1 node2 (group FarmProto)` when the
// set of members changes and `farm load: 128/256 (group FarmProto)` when this
// node's count changes.
func (m *membership) logChanges() {
	if !m.logged || m.members != m.logMembers {
		if m.logged || m.members != 0 {
			m.logMembership()
		}
		m.logged, m.logMembers = true, m.members
	}
	for g := range m.grp {
		n := m.claims[g].Count()
		if n == m.logCount[g] {
			continue
		}
		m.logCount[g] = n
		m.out.Logs = append(m.out.Logs, LogLine{Level: LogInfo,
			Text: "farm load: " + strconv.Itoa(n) + "/" + strconv.Itoa(Buckets) + " (group " + m.grp[g].name + ")"})
	}
}

func (m *membership) logMembership() {
	var sb strings.Builder
	sb.WriteString("farm membership:")
	if m.members == 0 {
		sb.WriteString(" none")
	}
	for s := m.members; s != 0; s &= s - 1 {
		sb.WriteByte(' ')
		sb.WriteString(m.cfg.Cluster.Nodes[bits.TrailingZeros64(s)])
	}
	list := sb.String()
	if len(m.grp) == 0 {
		m.out.Logs = append(m.out.Logs, LogLine{Level: LogInfo, Text: list})
		return
	}
	for _, g := range m.grp {
		m.out.Logs = append(m.out.Logs, LogLine{Level: LogInfo, Text: list + " (group " + g.name + ")"})
	}
}
