// Package home reads farmd's configuration directory:
//
//	<home>/cluster/cluster.xml               nodes and LANs
//	<home>/cluster/key                       heartbeat key (farmctl cluster genkey)
//	<home>/modules/<AM>/conf/userconfig.xml  one module per directory
//	<home>/modules/<AM>/bin/                 its scripts
//	<home>/admin.token                       HTTP admin token
//
// Loading is all or nothing: every file is parsed and validated before the
// daemon sees any of it, so a bad edit followed by SIGHUP never half-applies.
package home

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vipfarm/vipfarm/core/config"
)

// Home is a loaded configuration directory.
type Home struct {
	Dir         string
	Cluster     *config.Cluster
	ClusterData []byte // raw cluster.xml, to tell whether a reload changed it
	Key         []byte
	Modules     []Module // sorted by name
}

// Module is one module of the home.
type Module struct {
	Name   string
	Dir    string // <home>/modules/<AM>
	Config *config.Module
	Data   []byte // raw userconfig.xml
	// Port is the module's heartbeat UDP port: <farm port> when set, else
	// <lans port> + the module's index among the home's modules sorted by
	// name (every node of a farm must hold the same modules).
	Port int
}

// ClusterFile, KeyFile and friends locate the files of a home.
func ClusterFile(dir string) string { return filepath.Join(dir, "cluster", "cluster.xml") }
func KeyFile(dir string) string     { return filepath.Join(dir, "cluster", "key") }
func TokenFile(dir string) string   { return filepath.Join(dir, "admin.token") }
func ModuleFile(dir, name string) string {
	return filepath.Join(dir, "modules", name, "conf", "userconfig.xml")
}

// Load reads and validates everything under dir. env resolves %macros%
// that no <macro> defines (os.LookupEnv in farmd).
func Load(dir string, env config.Env) (*Home, error) {
	h, errs := load(dir, env)
	if len(errs) > 0 {
		return nil, errs[0]
	}
	return h, nil
}

// Check loads dir like Load but returns every file's first error, for
// `farmctl cluster check`; warnings are returned as "file:line: warning: msg".
func Check(dir string, env config.Env) (errs []error, warnings []string) {
	h, errs := load(dir, env)
	if h != nil {
		for _, w := range h.Cluster.Warnings {
			warnings = append(warnings, fmt.Sprintf("%s:%d: warning: %s", w.File, w.Line, w.Msg))
		}
		for _, m := range h.Modules {
			for _, w := range m.Config.Warnings {
				warnings = append(warnings, fmt.Sprintf("%s:%d: warning: %s", w.File, w.Line, w.Msg))
			}
		}
	}
	return errs, warnings
}

func load(dir string, env config.Env) (*Home, []error) {
	var errs []error
	h := &Home{Dir: dir}
	cf := ClusterFile(dir)
	data, err := os.ReadFile(cf)
	if err != nil {
		return nil, []error{fmt.Errorf("%s:0: %w", cf, unwrapPath(err))}
	}
	h.ClusterData = data
	if h.Cluster, err = config.ParseCluster(cf, data); err != nil {
		return nil, []error{err}
	}
	if h.Key, err = LoadKey(KeyFile(dir)); err != nil {
		errs = append(errs, err)
	}
	names, err := moduleNames(dir)
	if err != nil {
		return nil, append(errs, err)
	}
	for i, name := range names {
		mf := ModuleFile(dir, name)
		data, err := os.ReadFile(mf)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:0: %w", mf, unwrapPath(err)))
			continue
		}
		mc, err := config.ParseModule(name, mf, data, h.Cluster, env)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		port := mc.Farm.Port
		if port == 0 {
			port = h.Cluster.Port + i
		}
		h.Modules = append(h.Modules, Module{Name: name, Dir: filepath.Join(dir, "modules", name), Config: mc, Data: data, Port: port})
	}
	if err := checkPorts(h.Modules); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return h, errs
	}
	return h, nil
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// moduleNames lists the directories of <home>/modules holding a
// conf/userconfig.xml, sorted. A home without modules is valid (farmd idles).
func moduleNames(dir string) ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(dir, "modules"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("modules: %w", err)
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if _, err := os.Stat(ModuleFile(dir, e.Name())); err == nil {
			out = append(out, e.Name())
		}
	}
	slices.Sort(out)
	return out, nil
}

func checkPorts(mods []Module) error {
	seen := map[int]string{}
	for _, m := range mods {
		if other, dup := seen[m.Port]; dup {
			return fmt.Errorf("%s:0: module %s uses heartbeat port %d, already used by module %s (set <farm port>)",
				ModuleFile(filepath.Dir(filepath.Dir(m.Dir)), m.Name), m.Name, m.Port, other)
		}
		seen[m.Port] = m.Name
	}
	return nil
}

// Module returns the module named name, or nil.
func (h *Home) Module(name string) *Module {
	for i := range h.Modules {
		if h.Modules[i].Name == name {
			return &h.Modules[i]
		}
	}
	return nil
}
