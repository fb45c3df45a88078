package cli

import (
	"strings"

	"github.com/vipfarm/vipfarm/internal/control"
)

func init() {
	register("printi", "printi [-m MODULE] MESSAGE", func(e *env, a []string) error { return printLine(e, "printi", a) })
	register("printe", "printe [-m MODULE] MESSAGE", func(e *env, a []string) error { return printLine(e, "printe", a) })
}

// printLine writes an information (printi) or error (printe) line to the module log.
func printLine(e *env, verb string, args []string) error {
	fs := e.flags(verb)
	pos, err := e.parse(fs, args, 1<<10)
	if err != nil {
		return err
	}
	msg := strings.Join(pos, " ")
	if msg == "" {
		return usagef("no message")
	}
	_, err = e.call(control.Request{Verb: verb, Message: msg})
	return err
}
