package netlab

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vipfarm/vipfarm/internal/namedns"

	"golang.org/x/sys/unix"
)

// ShimArg, as the first argument of a binary that calls RunShimIfAsked
// first thing in main (farmlab, the netlab tests), makes it the namespace
// shim: started by the lab on a thread inside a node's network namespace
// and in a fresh mount namespace, it mounts a sysfs of that network
// namespace on /sys (as `ip netns exec` does, so /sys/class/net shows the
// node's interfaces) and then execs the real command.
const ShimArg = "__netlab_nsexec"

// RunShimIfAsked does the shim's job and never returns when os.Args[1] is
// ShimArg; otherwise it returns at once.
func RunShimIfAsked() {
	if len(os.Args) < 4 || os.Args[1] != ShimArg || os.Args[2] != "--" {
		return
	}
	argv := os.Args[3:]
	fail := func(err error) {
		fmt.Fprintf(os.Stderr, "netlab shim: %v\n", err)
		os.Exit(127)
	}
	// The parent asked for CLONE_NEWNS, and Go made "/" private in it, so
	// these mounts stay in this process's mount namespace.
	if err := unix.Unmount("/sys", unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
		fail(fmt.Errorf("unmount /sys: %w", err))
	}
	if err := unix.Mount("sysfs", "/sys", "sysfs", 0, ""); err != nil {
		fail(fmt.Errorf("mount sysfs: %w", err))
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		fail(err)
	}
	fail(unix.Exec(path, argv, os.Environ()))
}

// Command returns a command that runs argv inside namespace ns through the
// shim (self is the binary that calls RunShimIfAsked; "" = the running
// executable). Start it with StartInNS.
func Command(self, ns string, argv []string) (*exec.Cmd, error) {
	if len(argv) == 0 {
		return nil, errors.New("no command to run")
	}
	if self == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("find own executable for the netns shim: %w", err)
		}
		self = exe
	}
	cmd := exec.Command(self, append([]string{ShimArg, "--"}, argv...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	return cmd, nil
}

// StartInNS starts cmd with its network namespace set to ns: the fork
// happens on a thread inside ns, and the child inherits it.
func StartInNS(ns string, cmd *exec.Cmd) error {
	if err := InNS(ns, cmd.Start); err != nil {
		return fmt.Errorf("start %s in netns %s: %w", strings.Join(cmd.Args, " "), ns, err)
	}
	return nil
}

// StartDaemon starts argv in namespace ns as a lab daemon: its own session
// (it outlives farmlab), output appended to logPath, env added to farmlab's
// environment. The process is recorded in the state before Start returns;
// Down stops it.
func (l *Lab) StartDaemon(role, ns string, argv, env []string, logPath string) (Proc, error) {
	cmd, err := Command("", ns, argv)
	if err != nil {
		return Proc{}, err
	}
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return Proc{}, fmt.Errorf("log dir: %w", err)
	}
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return Proc{}, fmt.Errorf("log of %s: %w", role, err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr.Setsid = true
	if err := StartInNS(ns, cmd); err != nil {
		return Proc{}, err
	}
	// Reap it if it dies while we run (tests, `farmlab run`); after farmlab
	// exits, init does.
	go cmd.Wait() //nolint:errcheck // the exit status is the log's business
	ticks, err := procStartTicks(cmd.Process.Pid)
	if err != nil {
		_ = cmd.Process.Kill()
		return Proc{}, fmt.Errorf("started %s but cannot read its start time: %w", role, err)
	}
	pr := Proc{Role: role, NS: ns, PID: cmd.Process.Pid, StartTicks: ticks, Argv: argv, Log: logPath}
	if err := l.state.addProc(pr); err != nil {
		_ = cmd.Process.Kill()
		return Proc{}, err
	}
	return pr, nil
}

// StopDaemon stops a process the lab started and forgets it.
func (l *Lab) StopDaemon(pr Proc, grace time.Duration) error {
	if err := stopProc(pr, grace); err != nil {
		return err
	}
	return l.state.removeProc(pr.PID)
}

// procStat returns the state letter and start time of a process.
func procStat(pid int) (state byte, startTicks uint64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// The command name (field 2) may hold spaces and parentheses: fields
	// are counted after its last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	// f[0] is field 3 (state); field 22 (starttime) is f[19].
	st, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("/proc/%d/stat starttime: %w", pid, err)
	}
	return f[0][0], st, nil
}

func procStartTicks(pid int) (uint64, error) {
	_, t, err := procStat(pid)
	return t, err
}

// alive says whether pid is still the process started at startTicks and has
// not exited (a zombie counts as gone).
func alive(pid int, startTicks uint64) bool {
	st, t, err := procStat(pid)
	return err == nil && t == startTicks && st != 'Z' && st != 'X'
}

// stopProc sends SIGTERM, waits up to grace, then SIGKILL; it does nothing
// when the PID no longer belongs to the process recorded.
func stopProc(pr Proc, grace time.Duration) error {
	if !alive(pr.PID, pr.StartTicks) {
		return nil
	}
	if err := unix.Kill(pr.PID, unix.SIGTERM); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("stop %s (pid %d): %w", pr.Role, pr.PID, err)
	}
	if waitGone(pr.PID, pr.StartTicks, grace) {
		return nil
	}
	if err := unix.Kill(pr.PID, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("kill %s (pid %d): %w", pr.Role, pr.PID, err)
	}
	if !waitGone(pr.PID, pr.StartTicks, 2*time.Second) {
		return fmt.Errorf("%s (pid %d) survived SIGKILL", pr.Role, pr.PID)
	}
	return nil
}

func waitGone(pid int, startTicks uint64, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if !alive(pid, startTicks) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// procsInNS lists the processes whose network namespace is the named one
// (compared by nsfs inode and device), except this process. They can only
// be there because the lab put them there.
func procsInNS(name string) ([]Proc, error) {
	var want unix.Stat_t
	if err := unix.Stat(NSPath(name), &want); err != nil {
		return nil, fmt.Errorf("stat netns %s: %w", name, err)
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("scan /proc: %w", err)
	}
	self := os.Getpid()
	var out []Proc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		var st unix.Stat_t
		if unix.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &st) != nil {
			continue // gone, or a kernel thread
		}
		if st.Ino != want.Ino || st.Dev != want.Dev {
			continue
		}
		state, ticks, err := procStat(pid)
		if err != nil || state == 'Z' {
			continue
		}
		out = append(out, Proc{Role: "process in " + name, NS: name, PID: pid, StartTicks: ticks})
	}
	slices.SortFunc(out, func(a, b Proc) int { return a.PID - b.PID })
	return out, nil
}

// Alive says whether the process is still running (the same process: its
// PID not reused since).
func (p Proc) Alive() bool { return alive(p.PID, p.StartTicks) }

// LabProcs lists every process running in one of the plan's namespaces
// (recorded or not: farmd, its scripts, the demo services).
func LabProcs(p Plan) ([]Proc, error) {
	var out []Proc
	for _, ns := range p.Namespaces() {
		if !namedns.Exists(ns) {
			continue
		}
		procs, err := procsInNS(ns)
		if err != nil {
			return nil, err
		}
		out = append(out, procs...)
	}
	return out, nil
}
