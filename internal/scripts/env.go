package scripts

import (
	"fmt"
	"path/filepath"
	"regexp"

	"github.com/vipfarm/vipfarm/core/config"
)

// DefaultPath is the PATH scripts get: the system directories plus SAFEBIN
// (where farmctl lives), so a script may call farmctl by name.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Env is the SafeKit environment of one module's scripts.
type Env struct {
	Safe        string // SAFE: the home directory (holds the `safekit` alias of farmctl)
	Module      string // SAFEMODULE: module name
	SafeBin     string // SAFEBIN: directory of the farmctl binary
	SafeUserBin string // SAFEUSERBIN: <home>/modules/<AM>/bin
	SafeVar     string // SAFEVAR: the state directory
	SafeUserVar string // SAFEUSERVAR: <state>/modules/<AM>
	Vars        []config.Var
}

var varName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// reserved names a <var> may not override: they are how a script finds farmd.
var reserved = map[string]bool{"SAFE": true, "SAFEMODULE": true, "SAFEBIN": true, "SAFEUSERBIN": true,
	"SAFEVAR": true, "SAFEUSERVAR": true, "PATH": true}

// List returns the environment as KEY=VALUE strings, in a fixed order:
// the SafeKit variables, PATH, then the <var>s in file order.
func (e Env) List() ([]string, error) {
	out := []string{
		"SAFE=" + e.Safe,
		"SAFEMODULE=" + e.Module,
		"SAFEBIN=" + e.SafeBin,
		"SAFEUSERBIN=" + e.SafeUserBin,
		"SAFEVAR=" + e.SafeVar,
		"SAFEUSERVAR=" + e.SafeUserVar,
		"PATH=" + e.SafeBin + ":" + DefaultPath,
	}
	for _, v := range e.Vars {
		if !varName.MatchString(v.Name) {
			return nil, fmt.Errorf("scripts: <var name=%q>: not a valid environment variable name", v.Name)
		}
		if reserved[v.Name] {
			return nil, fmt.Errorf("scripts: <var name=%q>: reserved for farmd", v.Name)
		}
		out = append(out, v.Name+"="+v.Value)
	}
	return out, nil
}

// ModuleEnv builds the environment of module mod under home and state.
func ModuleEnv(home, state, safeBin string, mod *config.Module) Env {
	e := Env{
		Safe:        home,
		Module:      mod.Name,
		SafeBin:     safeBin,
		SafeUserBin: filepath.Join(home, "modules", mod.Name, "bin"),
		SafeVar:     state,
		SafeUserVar: filepath.Join(state, "modules", mod.Name),
	}
	if mod.User != nil {
		e.Vars = mod.User.Vars
	}
	return e
}
