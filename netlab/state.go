package netlab

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
)

// stateVersion is bumped when State changes incompatibly; Down still reads
// what it can of an older file and falls back to the name scan.
const stateVersion = 1

// State is what a lab has made, written to StateDir/state.json before each
// thing is made (namespaces, processes) or right after (links), so that Down
// can undo a crashed Up.
type State struct {
	Version    int       `json:"version"`
	Plan       Plan      `json:"plan"`
	Namespaces []string  `json:"namespaces"`
	Links      []LinkRef `json:"links"`
	Procs      []Proc    `json:"procs"`
	Files      []string  `json:"files"` // files and directories, removed in reverse order
	// FarmdArgv is each node's farmd command line, to start it again after
	// a crash (Boot).
	FarmdArgv map[string][]string `json:"farmd_argv,omitempty"`
	// Faults in effect, so that a later farmlab invocation (a scenario
	// step, status) sees them: ports cut, and per LAN its partition, loss
	// and delay.
	Cuts      []PortRef            `json:"cuts,omitempty"`
	LANFaults map[string]*LANFault `json:"lan_faults,omitempty"`
}

// PortRef names a node's attachment to a LAN.
type PortRef struct {
	LAN  string `json:"lan"`
	Node string `json:"node"`
}

// LANFault is what is done to one LAN's frames.
type LANFault struct {
	// Groups partition the nodes: no frame crosses between two nodes of
	// different groups; nodes in no group and clients reach everyone.
	Groups  [][]string `json:"groups,omitempty"`
	LossPct float64    `json:"loss_pct,omitempty"`
	DelayMs int64      `json:"delay_ms,omitempty"`
}

func (f *LANFault) empty() bool {
	return f == nil || (len(f.Groups) == 0 && f.LossPct == 0 && f.DelayMs == 0)
}

// LinkRef names a link inside a namespace.
type LinkRef struct {
	NS   string `json:"netns"`
	Name string `json:"name"`
}

// Proc is a process the lab started.
type Proc struct {
	Role string `json:"role"` // e.g. "farmd node1"
	NS   string `json:"netns"`
	PID  int    `json:"pid"`
	// StartTicks is the process start time (field 22 of /proc/PID/stat): a
	// PID reused by an unrelated process after a crash has another one, so
	// Down never signals a stranger.
	StartTicks uint64   `json:"start_ticks"`
	Argv       []string `json:"argv"`
	Log        string   `json:"log,omitempty"`
}

// stateFile persists a State; every mutation is saved at once (a small
// file, atomically renamed into place).
type stateFile struct {
	mu   sync.Mutex
	path string
	st   State
}

// StatePath is the state file of a lab whose state lives in dir.
func StatePath(dir string) string { return filepath.Join(dir, "state.json") }

func loadState(dir string) (*stateFile, error) {
	p := StatePath(dir)
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("read lab state: %w", err)
	}
	sf := &stateFile{path: p}
	if err := json.Unmarshal(b, &sf.st); err != nil {
		return nil, fmt.Errorf("parse lab state %s: %w", p, err)
	}
	if sf.st.Version != stateVersion {
		return nil, fmt.Errorf("lab state %s: version %d, this farmlab reads %d", p, sf.st.Version, stateVersion)
	}
	return sf, nil
}

// newState creates the state directory and an empty state file; it refuses
// when a state file is already there (a lab is up, or crashed: run Down).
func newState(plan Plan) (*stateFile, error) {
	dir := plan.Spec.StateDir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("lab state dir: %w", err)
	}
	p := StatePath(dir)
	if _, err := os.Stat(p); err == nil {
		return nil, fmt.Errorf("a lab is already up or was not torn down (%s exists): run `farmlab down` first", p)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("lab state: %w", err)
	}
	sf := &stateFile{path: p, st: State{Version: stateVersion, Plan: plan}}
	return sf, sf.saveLocked()
}

func (sf *stateFile) saveLocked() error {
	b, err := json.MarshalIndent(sf.st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode lab state: %w", err)
	}
	tmp := sf.path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write lab state: %w", err)
	}
	if err := os.Rename(tmp, sf.path); err != nil {
		return fmt.Errorf("write lab state: %w", err)
	}
	return nil
}

// update applies fn to the state and saves it.
func (sf *stateFile) update(fn func(*State)) error {
	sf.mu.Lock()
	defer sf.mu.Unlock()
	fn(&sf.st)
	return sf.saveLocked()
}

func (sf *stateFile) snapshot() State {
	sf.mu.Lock()
	defer sf.mu.Unlock()
	st := sf.st
	st.Namespaces = slices.Clone(st.Namespaces)
	st.Links = slices.Clone(st.Links)
	st.Procs = slices.Clone(st.Procs)
	st.Files = slices.Clone(st.Files)
	st.Cuts = slices.Clone(st.Cuts)
	if st.FarmdArgv != nil {
		m := make(map[string][]string, len(st.FarmdArgv))
		for k, v := range st.FarmdArgv {
			m[k] = slices.Clone(v)
		}
		st.FarmdArgv = m
	}
	if st.LANFaults != nil {
		m := make(map[string]*LANFault, len(st.LANFaults))
		for k, v := range st.LANFaults {
			c := *v
			c.Groups = slices.Clone(c.Groups)
			m[k] = &c
		}
		st.LANFaults = m
	}
	return st
}

func (sf *stateFile) addNamespace(name string) error {
	return sf.update(func(s *State) { s.Namespaces = append(s.Namespaces, name) })
}

func (sf *stateFile) addLink(ns, name string) error {
	return sf.update(func(s *State) { s.Links = append(s.Links, LinkRef{NS: ns, Name: name}) })
}

func (sf *stateFile) addProc(p Proc) error {
	return sf.update(func(s *State) { s.Procs = append(s.Procs, p) })
}

func (sf *stateFile) removeProc(pid int) error {
	return sf.update(func(s *State) {
		s.Procs = slices.DeleteFunc(s.Procs, func(p Proc) bool { return p.PID == pid })
	})
}

func (sf *stateFile) addFile(path string) error {
	return sf.update(func(s *State) {
		if !slices.Contains(s.Files, path) {
			s.Files = append(s.Files, path)
		}
	})
}
