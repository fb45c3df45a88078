// Package viewtest is an in-memory view.Farm for the front ends' tests: it
// records every call and answers from a table of module snapshots.
package viewtest

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/vipfarm/vipfarm/core"
	"github.com/vipfarm/vipfarm/internal/view"
)

// Farm is a recording view.Farm.
type Farm struct {
	NodeName string

	mu       sync.Mutex
	modules  map[string]view.Module
	Commands []string // "AM start ident" per Do
	Sets     []string // "AM custom.x up"
	Prints   []string // "AM info msg"
	LogLines map[string][]string
}

// New returns a farm with the given modules.
func New(node string, mods ...view.Module) *Farm {
	f := &Farm{NodeName: node, modules: map[string]view.Module{}, LogLines: map[string][]string{}}
	for _, m := range mods {
		f.modules[m.Name] = m
	}
	return f
}

// Put replaces a module snapshot.
func (f *Farm) Put(m view.Module) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.modules[m.Name] = m
}

func (f *Farm) Node() string { return f.NodeName }

func (f *Farm) Modules() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for n := range f.modules {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func (f *Farm) Module(ctx context.Context, name string) (view.Module, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.modules[name]
	if !ok {
		return view.Module{}, fmt.Errorf("module %q: %w", name, view.ErrNoModule)
	}
	return m, nil
}

func (f *Farm) check(name string) error {
	if _, ok := f.modules[name]; !ok {
		return fmt.Errorf("module %q: %w", name, view.ErrNoModule)
	}
	return nil
}

var verbs = map[core.Verb]string{core.VerbStart: "start", core.VerbStop: "stop", core.VerbRestart: "restart",
	core.VerbStopStart: "stopstart", core.VerbBootOn: "boot-on", core.VerbBootOff: "boot-off"}

func (f *Farm) Do(ctx context.Context, name string, cmd core.Command) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(name); err != nil {
		return err
	}
	f.Commands = append(f.Commands, name+" "+verbs[cmd.Verb]+" "+cmd.Ident)
	return nil
}

func (f *Farm) SetResource(ctx context.Context, name, res string, st core.ResourceState) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(name); err != nil {
		return err
	}
	f.Sets = append(f.Sets, name+" "+res+" "+st.String())
	return nil
}

func (f *Farm) Print(ctx context.Context, name string, lvl core.LogLevel, msg string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(name); err != nil {
		return err
	}
	l := "info"
	if lvl == core.LogError {
		l = "error"
	}
	f.Prints = append(f.Prints, name+" "+l+" "+msg)
	f.LogLines[name] = append(f.LogLines[name], msg)
	return nil
}

func (f *Farm) Log(name string, n int) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(name); err != nil {
		return nil, err
	}
	l := f.LogLines[name]
	if n > 0 && len(l) > n {
		l = l[len(l)-n:]
	}
	return slices.Clone(l), nil
}

// Calls returns copies of the recorded calls.
func (f *Farm) Calls() (cmds, sets, prints []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.Commands), slices.Clone(f.Sets), slices.Clone(f.Prints)
}
