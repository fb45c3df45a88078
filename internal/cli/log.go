package cli

import (
	"fmt"

	"github.com/vipfarm/vipfarm/internal/control"
)

func init() { register("log", "log [-m MODULE] [-s N]", moduleLog) }

func moduleLog(e *env, args []string) error {
	fs := e.flags("log")
	n := fs.Int("s", 0, "only the last N lines")
	if _, err := e.parse(fs, args, 0); err != nil {
		return err
	}
	if *n < 0 {
		return usagef("-s %d: want a positive number of lines", *n)
	}
	resp, err := e.call(control.Request{Verb: "log", Lines: *n})
	if err != nil {
		return err
	}
	if e.json {
		return e.printJSON(resp.Lines)
	}
	for _, l := range resp.Lines {
		fmt.Fprintln(e.stdout, l)
	}
	return nil
}
