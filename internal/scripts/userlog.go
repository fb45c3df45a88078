package scripts

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// TimeFormat stamps every line of the script log and the module log.
const TimeFormat = "2006-01-02 15:04:05.000"

// DefaultMaxLogBytes is the size at which the script log is rotated.
const DefaultMaxLogBytes = 8 << 20

// UserLog is the script log $SAFEUSERVAR/userlog_<date>.ulog. When a file
// grows past MaxBytes it is renamed to <name>.1 (replacing the previous one)
// and a fresh file is started, so a chatty script cannot fill the disk.
type UserLog struct {
	Dir      string
	MaxBytes int64
	Now      func() time.Time // for tests; nil = time.Now
	// Discard drops the scripts' output (<user logging="none">).
	Discard bool

	mu sync.Mutex
}

// Path is the log file of the day t.
func (l *UserLog) Path(t time.Time) string {
	return filepath.Join(l.Dir, "userlog_"+t.Format("2006-01-02")+".ulog")
}

func (l *UserLog) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

// Open returns the current log file opened for appending, rotated first when
// it is too big. The caller hands it to a script and closes it.
func (l *UserLog) Open() (*os.File, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.Discard {
		f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			return nil, fmt.Errorf("script log: %w", err)
		}
		return f, nil
	}
	if err := os.MkdirAll(l.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("script log: %w", err)
	}
	p := l.Path(l.now())
	max := l.MaxBytes
	if max <= 0 {
		max = DefaultMaxLogBytes
	}
	if fi, err := os.Stat(p); err == nil && fi.Size() >= max {
		if err := os.Rename(p, p+".1"); err != nil {
			return nil, fmt.Errorf("script log: rotate: %w", err)
		}
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("script log: %w", err)
	}
	return f, nil
}

// Printf appends one stamped line.
func (l *UserLog) Printf(format string, args ...any) error {
	f, err := l.Open()
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = fmt.Fprintf(f, "%s | %s\n", l.now().Format(TimeFormat), fmt.Sprintf(format, args...))
	return err
}
