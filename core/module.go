package core

// PLACEHOLDER — replaced wholesale by the module life-cycle implementation.

type module struct {
	cfg *Config
	out *Ready
}

func newModule(cfg *Config, out *Ready) (*module, error) { return &module{cfg: cfg, out: out}, nil }

// tick advances the module's timers.
func (m *module) tick(now int64) {}

// step handles Boot, Command, ScriptDone and ResourceEvent.
func (m *module) step(now int64, ev Event) error { return nil }

// local is what the membership must know of the module.
func (m *module) local() Local { return Local{} }

// setDrained tells the module whether the node holds no bucket any more; it
// returns true when that changed the module (so local() may have changed).
func (m *module) setDrained(now int64, drained bool) bool { return false }

// status fills the module's part of a Status.
func (m *module) status(s *Status) {}
