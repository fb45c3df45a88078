package core

// maxLoop counts the actions that have an identity (a script or checker
// asking with -i, a failover rule, a checker's own action) in a sliding
// window of loop_interval. SafeKit stops a module whose automatic actions
// keep firing — a restart loop would otherwise flap the farm for ever — and
// lets the administrator start it again, which clears the count.
type maxLoop struct {
	max         int   // actions tolerated within the window
	windowTicks int64 // loop_interval in ticks
	at          []int64
}

// allow records an identity action at now and reports whether it is within
// the limit; the action that would be the max+1-th in the window is refused
// (not recorded) and the caller stops the module instead.
func (l *maxLoop) allow(now int64) bool {
	keep := l.at[:0]
	for _, t := range l.at {
		if now-t < l.windowTicks {
			keep = append(keep, t)
		}
	}
	l.at = keep
	if len(l.at) >= l.max {
		return false
	}
	l.at = append(l.at, now)
	return true
}

// reset forgets every counted action (an administrator's action).
func (l *maxLoop) reset() { l.at = l.at[:0] }
