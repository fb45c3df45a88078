package checkers

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vipfarm/vipfarm/core/config"
)

// customChecker runs the administrator's program with the scripts' clean
// environment; the program reports by itself with
// `farmctl set -r custom.<ident> -v up|down` (or `$SAFE/safekit set ...`).
// When it exits it is started again after the interval; when the checker
// stops, the program's whole process group is killed.
func customChecker(c config.Check, p *publisher, s Setup) (func(context.Context), error) {
	if c.Program == "" {
		return nil, errors.New("custom checker has no program (<custom exec>)")
	}
	args, err := SplitArgs(c.Args)
	if err != nil {
		return nil, fmt.Errorf("custom checker arguments: %w", err)
	}
	prog := c.Program
	if !filepath.IsAbs(prog) {
		prog = filepath.Join(s.WorkDir, "bin", prog)
	}
	return func(ctx context.Context) {
		for {
			cmd := exec.Command(prog, args...)
			cmd.Env = append([]string{}, s.ScriptEnv...)
			cmd.Dir = s.WorkDir
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			if err := cmd.Start(); err != nil {
				p.log.Error("custom checker: start", "resource", p.name, "program", prog, "err", err)
			} else {
				exited := make(chan error, 1)
				go func() { exited <- cmd.Wait() }()
				select {
				case <-ctx.Done():
					_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
					<-exited
					return
				case err := <-exited:
					p.log.Warn("custom checker program ended; restarting it after the interval", "resource", p.name, "err", err)
				}
			}
			wait := c.Interval
			if wait <= 0 {
				wait = 10 * time.Second
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
	}, nil
}

// SplitArgs splits an argument string like a POSIX shell would for plain
// words, single and double quotes and backslash escapes (no expansion).
func SplitArgs(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	inWord, quote := false, rune(0)
	esc := false
	for _, r := range s {
		switch {
		case esc:
			cur.WriteRune(r)
			esc = false
		case r == '\\' && quote != '\'':
			esc, inWord = true, true
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 || esc {
		return nil, fmt.Errorf("unterminated quote or escape in %q", s)
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out, nil
}
