// Package checkers runs a module's <check> checkers and <errd> process
// monitor for farmd. Each checker publishes its resource (<kind>.<ident>)
// as a core.ResourceEvent when its verdict changes (and once at start);
// the core's failover rules decide what to do. errd instead asks for its
// configured action directly, as a Command identified "errd" (it counts
// toward maxloop like any checker-initiated action).
//
// A Set runs from the moment the module leaves STOP until it returns to it;
// every checker is one goroutine that ends when the Set's context does.
package checkers

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/vipfarm/vipfarm/core"
	"github.com/vipfarm/vipfarm/core/config"
)

// Setup is what the checkers of one module need from the daemon.
type Setup struct {
	Module *config.Module
	// Post hands an event to the module's goroutine; it must not block.
	Post func(core.Event)
	Log  *slog.Logger
	// ScriptEnv and WorkDir are the environment and directory of custom
	// checker programs (the scripts' clean environment).
	ScriptEnv []string
	WorkDir   string
	// Holder reports whether this node is the ARP holder (the ip checker's
	// duplicate probe only means something there).
	Holder func() bool
	// UpReady reports whether the module is UP and ready (errd acts only then).
	UpReady func() bool
	// VIPOpen reports whether this node has opened the VIP: the ip checker
	// judges presence only then (a VIP this node did not open is nothing to
	// check, so the verdict is up).
	VIPOpen func() bool
}

// Set is the running checkers of one module.
type Set struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	kicks  []chan struct{} // one per checker that re-probes on Kick
}

// Kick makes the polling checkers (ip, tcp, ping) probe at once: the daemon
// calls it when it opens or closes the VIP and when the module becomes UP
// ready, so a verdict taken before start_both started the application
// (or before the VIP opened) does not stand for a whole interval.
func (s *Set) Kick() {
	if s == nil {
		return
	}
	for _, k := range s.kicks {
		select {
		case k <- struct{}{}:
		default:
		}
	}
}

// Start launches every checker of s.Module.
func Start(s Setup) (*Set, error) {
	ctx, cancel := context.WithCancel(context.Background())
	set := &Set{cancel: cancel}
	for _, c := range s.Module.Checks {
		kick := make(chan struct{}, 1)
		run, err := checker(c, s, kick)
		if err != nil {
			cancel()
			set.wg.Wait()
			return nil, fmt.Errorf("checker %s (line %d): %w", c.Resource(), c.Line, err)
		}
		switch c.Kind {
		case config.CheckIP, config.CheckTCP, config.CheckPing:
			set.kicks = append(set.kicks, kick)
		}
		set.wg.Add(1)
		go func() {
			defer set.wg.Done()
			run(ctx)
		}()
	}
	if e := s.Module.Errd; e != nil && len(e.Procs) > 0 {
		set.wg.Add(1)
		go func() {
			defer set.wg.Done()
			runErrd(ctx, e, s)
		}()
	}
	return set, nil
}

// Stop ends every checker and waits for them.
func (s *Set) Stop() {
	if s == nil {
		return
	}
	s.cancel()
	s.wg.Wait()
}

func checker(c config.Check, s Setup, kick <-chan struct{}) (func(context.Context), error) {
	p := &publisher{name: c.Resource(), post: s.Post, log: s.Log}
	switch c.Kind {
	case config.CheckIntf:
		return intfChecker(c, p)
	case config.CheckIP:
		return ipChecker(c, p, s.Holder, s.VIPOpen, kick)
	case config.CheckTCP:
		return tcpChecker(c, p, kick)
	case config.CheckPing:
		return pingChecker(c, p, kick)
	case config.CheckCustom:
		return customChecker(c, p, s)
	}
	return nil, fmt.Errorf("unknown checker kind %q", c.Kind)
}

// publisher posts a resource's verdict when it changes.
type publisher struct {
	name string
	post func(core.Event)
	log  *slog.Logger
	last core.ResourceState
	sent bool
}

func (p *publisher) set(st core.ResourceState, why string) {
	if p.sent && p.last == st {
		return
	}
	p.sent, p.last = true, st
	p.log.Info("checker verdict", "resource", p.name, "state", st.String(), "why", why)
	p.post(core.ResourceEvent{Name: p.name, State: st})
}

// every runs probe now and then every interval until ctx ends.
func every(ctx context.Context, interval time.Duration, probe func()) {
	everyOrKick(ctx, interval, nil, probe)
}

// everyOrKick is every, probing also at each kick.
func everyOrKick(ctx context.Context, interval time.Duration, kick <-chan struct{}, probe func()) {
	t := newTicker(interval)
	defer t.Stop()
	for {
		probe()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-kick:
		}
	}
}

func timeoutOf(c config.Check) time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return 5 * time.Second
}
