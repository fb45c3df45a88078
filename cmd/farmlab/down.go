package main

import (
	"fmt"
	"os"

	"github.com/vipfarm/vipfarm/netlab"
)

func cmdDown(args []string) int {
	var lf labFlags
	fs := newFlagSet("down", &lf)
	if !parse(fs, args) {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "farmlab down: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if err := netlab.Down(netlab.Spec{Prefix: lf.prefix, StateDir: lf.state}); err != nil {
		return fail(err)
	}
	fmt.Println("lab down")
	return 0
}
