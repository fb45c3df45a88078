package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"
)

// cmdDo carries out scenario step verbs on the running lab, one argument
// each: farmlab do 'stop node2' 'isolate node1|node2,node3' heal.
func cmdDo(args []string) int {
	var lf labFlags
	fs := newFlagSet("do", &lf)
	timeout := fs.Duration("timeout", 30*time.Second, "for each step")
	steps, ok := parseInterleaved(fs, args)
	if !ok {
		return 2
	}
	if len(steps) == 0 {
		fmt.Fprintln(os.Stderr, "usage: farmlab do 'VERB ARGS' ...   (verbs of the scenario steps, e.g. 'stop node2', 'isolate node1|node2')")
		return 2
	}
	l, err := openLab(lf)
	if err != nil {
		return fail(err)
	}
	for _, step := range steps {
		ctx, cancel := context.WithTimeout(context.Background(), *timeout)
		start := time.Now()
		_, err := l.Do(ctx, step)
		cancel()
		if err != nil {
			return fail(err)
		}
		fmt.Printf("%s: done in %v\n", strings.TrimSpace(step), time.Since(start).Round(time.Millisecond))
	}
	return 0
}
