package core

// PLACEHOLDER — replaced wholesale by the membership implementation.

// Heartbeat is one farm heartbeat message.
type Heartbeat struct{}

type membership struct {
	cfg *Config
	out *Ready
}

func newMembership(cfg *Config, self int, out *Ready) (*membership, error) {
	return &membership{cfg: cfg, out: out}, nil
}

// tick sends pulses and expires peers.
func (m *membership) tick(now int64) {}

// recv handles one authenticated heartbeat.
func (m *membership) recv(now int64, r Recv) error { return nil }

// setLocal tells the membership the module's state and whether it should hold buckets.
func (m *membership) setLocal(now int64, l Local) {}

// drained reports whether this node holds no bucket and asks for none.
func (m *membership) drained() bool { return true }

// status fills the membership's part of a Status.
func (m *membership) status(s *Status) {}
