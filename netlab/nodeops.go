package netlab

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// Crash makes node die as a machine does: every process in its namespace
// (farmd, scripts, the demo service) is killed at once, and its cables are
// pulled on every LAN so that nothing it left configured (the VIP, an XDP
// program) answers any more. Boot brings it back.
func (l *Lab) Crash(node string) error {
	n, ok := l.Plan.NodeByName(node)
	if !ok {
		return fmt.Errorf("lab: no node called %q", node)
	}
	var errs []error
	for _, lan := range l.Plan.Spec.LANs {
		errs = append(errs, l.Cut(lan, node))
	}
	procs, err := procsInNS(n.NS)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, pr := range procs {
		if err := unix.Kill(pr.PID, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("crash %s: kill pid %d: %w", node, pr.PID, err))
		}
	}
	for _, pr := range procs {
		if !waitGone(pr.PID, pr.StartTicks, stopGrace) {
			errs = append(errs, fmt.Errorf("crash %s: pid %d survived SIGKILL", node, pr.PID))
		}
	}
	// Forget the dead farmd so that Boot starts a fresh one.
	for _, pr := range l.State().Procs {
		if pr.NS == n.NS {
			errs = append(errs, l.state.removeProc(pr.PID))
		}
	}
	return errors.Join(errs...)
}

// Boot plugs node's cables back in and, when the lab runs farmd, starts
// node's farmd again with the command line StartFarm gave it, as a service
// manager would after a reboot (the module starts only if its boot setting
// says so).
func (l *Lab) Boot(node string) error {
	n, ok := l.Plan.NodeByName(node)
	if !ok {
		return fmt.Errorf("lab: no node called %q", node)
	}
	for _, lan := range l.Plan.Spec.LANs {
		if err := l.Restore(lan, node); err != nil {
			return err
		}
	}
	farmdArgv, ok := l.FarmdArgv(node)
	if !ok {
		return nil
	}
	for _, pr := range l.State().Procs {
		if pr.NS == n.NS && strings.HasPrefix(pr.Role, "farmd ") && alive(pr.PID, pr.StartTicks) {
			return fmt.Errorf("boot %s: its farmd (pid %d) is running", node, pr.PID)
		}
	}
	_, err := l.StartDaemon("farmd "+node, n.NS, slices.Clone(farmdArgv), nil, l.FarmdLog(node))
	return err
}

// FarmdArgv returns the command line StartFarm gave node's farmd.
func (l *Lab) FarmdArgv(node string) ([]string, bool) {
	argv, ok := l.State().FarmdArgv[node]
	return argv, ok
}
