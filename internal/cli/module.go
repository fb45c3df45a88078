package cli

import (
	"github.com/vipfarm/vipfarm/internal/control"
)

func init() {
	for _, verb := range []string{"start", "stop", "restart", "stopstart"} {
		register(verb, verb+" [-m MODULE] [-i ID]", func(e *env, args []string) error { return moduleAction(e, verb, args) })
	}
	register("boot", "boot [-m MODULE] on|off", boot)
}

// moduleAction asks farmd to start, stop, restart or stopstart the module.
func moduleAction(e *env, verb string, args []string) error {
	fs := e.flags(verb)
	ident := fs.String("i", "", "who asks (a script or checker name); counts toward maxloop")
	if _, err := e.parse(fs, args, 0); err != nil {
		return err
	}
	_, err := e.call(control.Request{Verb: verb, Ident: *ident})
	return err
}

func boot(e *env, args []string) error {
	fs := e.flags("boot")
	pos, err := e.parse(fs, args, 1)
	if err != nil {
		return err
	}
	if len(pos) != 1 || (pos[0] != "on" && pos[0] != "off") {
		return usagef("boot wants on or off, got %q", first(pos))
	}
	_, err = e.call(control.Request{Verb: "boot", Value: pos[0]})
	return err
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}
