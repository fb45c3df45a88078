package scripts

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/vipfarm/vipfarm/core"
)

// Names are the scripts a ScriptRun may name; anything else is refused so a
// core bug cannot make farmd execute an arbitrary file of bin/.
var Names = map[string]bool{"prestart": true, "start_both": true, "stop_both": true, "poststop": true}

// Result is what the runner reports when a script ends.
type Result struct {
	Done     core.ScriptDone
	Name     string
	Duration time.Duration
	Missing  bool // the script does not exist (counted as a success)
}

// Runner starts and kills one module's scripts.
type Runner struct {
	BinDir  string   // <home>/modules/<AM>/bin
	WorkDir string   // working directory of scripts (the module directory)
	Env     []string // from Env.List
	Log     *UserLog
	// Done receives every script end, from the script's own goroutine; it
	// must not block for long (the daemon posts it to the module's channel).
	Done func(Result)

	mu      sync.Mutex
	running map[uint64]*exec.Cmd
	wg      sync.WaitGroup
}

// Start runs the script of r in the background. It returns an error (and
// reports nothing through Done) only when the script cannot be started at
// all; the caller then reports a failed ScriptDone itself.
func (r *Runner) Start(run core.ScriptRun) error {
	if !Names[run.Name] {
		return fmt.Errorf("scripts: unknown script %q", run.Name)
	}
	path := filepath.Join(r.BinDir, run.Name)
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		_ = r.Log.Printf("%s %s %s %s: no script %s, counted as success", run.Name, run.Args[0], run.Args[1], run.Args[2], path)
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.Done(Result{Done: core.ScriptDone{ID: run.ID}, Name: run.Name, Missing: true})
		}()
		return nil
	}
	if err != nil {
		return fmt.Errorf("scripts: %s: %w", path, err)
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("scripts: %s: not an executable file", path)
	}
	out, err := r.Log.Open()
	if err != nil {
		return err
	}
	cmd := &exec.Cmd{
		Path:   path,
		Args:   []string{path, run.Args[0], run.Args[1], run.Args[2]},
		Env:    r.Env,
		Dir:    r.WorkDir,
		Stdout: out, // a file, not a pipe: Wait must not wait for daemons the script leaves behind
		Stderr: out,
		// A group of its own: Kill reaches the script's children too, and a
		// signal to farmd's terminal does not reach the scripts.
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	if cmd.Env == nil {
		cmd.Env = []string{} // never inherit farmd's environment
	}
	fmt.Fprintf(out, "%s | ---- %s %s %s %s (id %d)\n", time.Now().Format(TimeFormat), run.Name, run.Args[0], run.Args[1], run.Args[2], run.ID)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		out.Close()
		return fmt.Errorf("scripts: start %s: %w", path, err)
	}
	r.mu.Lock()
	if r.running == nil {
		r.running = map[uint64]*exec.Cmd{}
	}
	r.running[run.ID] = cmd
	r.mu.Unlock()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		err := cmd.Wait()
		dur := time.Since(start)
		r.mu.Lock()
		delete(r.running, run.ID)
		r.mu.Unlock()
		d := core.ScriptDone{ID: run.ID}
		var ee *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &ee):
			d.ExitCode = ee.ExitCode()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				d.Killed = true
				d.ExitCode = 128 + int(ws.Signal())
			}
		default:
			d.ExitCode = 1
		}
		fmt.Fprintf(out, "%s | ---- %s exit %d%s after %s\n", time.Now().Format(TimeFormat), run.Name, d.ExitCode, killedNote(d.Killed), dur.Round(time.Millisecond))
		out.Close()
		r.Done(Result{Done: d, Name: run.Name, Duration: dur})
	}()
	return nil
}

func killedNote(k bool) string {
	if k {
		return " (killed)"
	}
	return ""
}

// Kill ends the script id and its whole process group. Killing a script
// that already ended is not an error: the kill and the exit may cross.
func (r *Runner) Kill(id uint64) error {
	r.mu.Lock()
	cmd := r.running[id]
	r.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return nil
	}
	err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("scripts: kill group %d: %w", cmd.Process.Pid, err)
	}
	return nil
}

// Running is the number of scripts not yet ended.
func (r *Runner) Running() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.running)
}

// KillAll kills every running script and waits for their ends to be
// reported (used when farmd gives up waiting at shutdown).
func (r *Runner) KillAll() {
	r.mu.Lock()
	ids := make([]uint64, 0, len(r.running))
	for id := range r.running {
		ids = append(ids, id)
	}
	r.mu.Unlock()
	for _, id := range ids {
		_ = r.Kill(id)
	}
	r.wg.Wait()
}
