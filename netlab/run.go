package netlab

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/vipfarm/vipfarm/sim/invariant"
)

// TimedStep is one step verb (see Do) to carry out At after the run starts.
type TimedStep struct {
	At time.Duration
	Do string
}

// RunResult is what a run of steps found.
type RunResult struct {
	Violations   []invariant.Violation
	Judged       int // stable windows the checker judged
	Observations int
}

// RunSteps carries out steps in real time and, every poll, observes the
// farm and feeds the invariant checker of sim/invariant — the loop of
// `farmlab run` (the scenario's expectations and client traffic come on
// top). It runs until total has passed since the start.
func (l *Lab) RunSteps(ctx context.Context, steps []TimedStep, total, poll time.Duration, logf func(string, ...any)) (RunResult, error) {
	if poll <= 0 {
		return RunResult{}, fmt.Errorf("lab run: poll interval %v must be positive", poll)
	}
	if logf == nil {
		logf = func(string, ...any) {}
	}
	steps = slices.Clone(steps)
	slices.SortStableFunc(steps, func(a, b TimedStep) int { return int(a.At - b.At) })
	c := invariant.New(l.CheckerConfig(poll))
	start := time.Now()
	f := NewFeeder(c, start)
	var res RunResult
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		now := time.Now()
		for len(steps) > 0 && now.Sub(start) >= steps[0].At {
			s := steps[0]
			steps = steps[1:]
			ch, err := l.Do(ctx, s.Do)
			if err != nil {
				return res, fmt.Errorf("lab run: step at %v: %w", s.At, err)
			}
			c.Change(f.Ms(now), ch)
			logf("t=%v do %s", now.Sub(start).Round(time.Millisecond), s.Do)
		}
		obs := l.Observe(ctx)
		res.Observations++
		for _, v := range f.Feed(time.Now(), obs) {
			logf("violation %s", v)
		}
		if time.Since(start) >= total {
			break
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-tick.C:
		}
	}
	res.Violations, res.Judged = c.Violations(), c.Judged()
	return res, nil
}
