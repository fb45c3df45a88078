package checkers

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/vipfarm/vipfarm/core"
	"github.com/vipfarm/vipfarm/core/config"
)

// errdVerbs maps a <proc action> to the command errd asks for. SafeKit's
// "wait" has no admin verb; errd asks for a stopstart then, so the failover
// rules see the module come back through its normal start.
var errdVerbs = map[string]core.Verb{"restart": core.VerbRestart, "stopstart": core.VerbStopStart,
	"stop": core.VerbStop, "wait": core.VerbStopStart}

// runErrd scans /proc every polltimer, publishes proc.<name> up when at
// least atleast processes of that name run (down otherwise) and, while the
// module is UP ready,
// asks for a proc's action when fewer than atleast processes of that name
// run. After acting it waits for the module to leave and regain UP ready
// (or three poll periods) before judging again, so one failure is one action.
func runErrd(ctx context.Context, e *config.Errd, s Setup) {
	poll := e.PollTimer
	if poll <= 0 {
		poll = 30 * time.Second
	}
	cooldown := 0 // polls to skip
	sawDown := false
	pubs := make([]*publisher, len(e.Procs))
	for i, p := range e.Procs {
		pubs[i] = &publisher{name: "proc." + p.Name, post: s.Post, log: s.Log}
	}
	every(ctx, poll, func() {
		counts, err := CountProcs("/proc")
		if err != nil {
			s.Log.Error("errd: scan /proc", "err", err)
			return
		}
		// The proc.<name> resources feed the failover rules; they are
		// published whatever the module state (a resource left in init
		// holds the module in WAIT).
		for i, p := range e.Procs {
			n := counts[p.Name]
			if n >= p.AtLeast {
				pubs[i].set(core.ResUp, fmt.Sprintf("%d running", n))
			} else {
				pubs[i].set(core.ResDown, fmt.Sprintf("%d running, at least %d wanted", n, p.AtLeast))
			}
		}
		up := s.UpReady == nil || s.UpReady()
		if cooldown > 0 {
			if !up {
				sawDown = true
			}
			cooldown--
			if !(sawDown && up) && cooldown > 0 {
				return
			}
			cooldown = 0
		}
		if !up {
			return
		}
		for _, p := range e.Procs {
			if n := counts[p.Name]; n < p.AtLeast {
				verb, ok := errdVerbs[p.Action]
				if !ok {
					verb = core.VerbRestart
				}
				s.Log.Warn("errd: process missing", "proc", p.Name, "running", n, "atleast", p.AtLeast, "action", p.Action)
				s.Post(core.Command{Verb: verb, Ident: "errd"})
				cooldown, sawDown = 3, false
				return
			}
		}
	})
}

// CountProcs counts running processes by name: the kernel's comm and the
// base name of argv[0] both count (comm is cut at 15 characters).
func CountProcs(proc string) (map[string]int, error) {
	ents, err := os.ReadDir(proc)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", proc, err)
	}
	counts := map[string]int{}
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		names := map[string]bool{}
		if b, err := os.ReadFile(filepath.Join(proc, e.Name(), "comm")); err == nil {
			names[string(bytes.TrimSpace(b))] = true
		}
		if b, err := os.ReadFile(filepath.Join(proc, e.Name(), "cmdline")); err == nil && len(b) > 0 {
			arg0, _, _ := bytes.Cut(b, []byte{0})
			names[filepath.Base(string(arg0))] = true
		}
		for n := range names {
			if n != "" {
				counts[n]++
			}
		}
	}
	return counts, nil
}
