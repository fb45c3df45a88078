package daemon

import (
	"bufio"
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/vipfarm/vipfarm/core"
	"github.com/vipfarm/vipfarm/internal/scripts"
)

// maxModuleLogBytes is the size at which module.log is rotated to module.log.1.
const maxModuleLogBytes = 8 << 20

// moduleLog is $SAFEVAR/modules/<AM>/module.log: the lines an administrator
// greps for (`farm load: 128/256`, `Local state UP Ready`, `Action stop
// called by start_both`), each also sent to the structured log (whose
// logger already carries the module name).
type moduleLog struct {
	path   string
	module string
	slog   *slog.Logger

	mu     sync.Mutex
	f      *os.File
	n      int64
	recent []string // the last recentLines lines, for the API and the console
}

// recentLines is how many module log lines the API shows.
const recentLines = 30

func openModuleLog(dir, module string, log *slog.Logger) (*moduleLog, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("module log: %w", err)
	}
	l := &moduleLog{path: filepath.Join(dir, "module.log"), module: module, slog: log}
	if err := l.open(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *moduleLog) open() error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("module log: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("module log: %w", err)
	}
	l.f, l.n = f, fi.Size()
	return nil
}

// Write appends one line.
func (l *moduleLog) Write(level core.LogLevel, text string) {
	tag := "I"
	if level == core.LogError {
		tag = "E"
		l.slog.Error(text)
	} else {
		l.slog.Info(text)
	}
	line := fmt.Sprintf("%s | %s | %s\n", time.Now().Format(scripts.TimeFormat), tag, text)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recent = append(l.recent, line[:len(line)-1])
	if len(l.recent) > recentLines {
		l.recent = append(l.recent[:0:0], l.recent[len(l.recent)-recentLines:]...)
	}
	if l.f == nil {
		return
	}
	if l.n+int64(len(line)) > maxModuleLogBytes {
		l.f.Close()
		l.f = nil
		if err := os.Rename(l.path, l.path+".1"); err != nil {
			l.slog.Error("module log: rotate", "err", err)
		}
		if err := l.open(); err != nil {
			l.slog.Error("module log: reopen", "err", err)
			return
		}
	}
	n, err := l.f.WriteString(line)
	l.n += int64(n)
	if err != nil {
		l.slog.Error("module log: write", "err", err)
	}
}

// Recent returns the last lines written by this process.
func (l *moduleLog) Recent() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string{}, l.recent...)
}

// Tail returns the last n lines (all when n <= 0).
func (l *moduleLog) Tail(n int) ([]string, error) {
	l.mu.Lock()
	b, err := os.ReadFile(l.path)
	l.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("module log: %w", err)
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if n > 0 && len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines, nil
}

func (l *moduleLog) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
}
