package config

import (
	"fmt"
	"slices"
)

// Error is a configuration error located in a file. Line is 1-based; 0 means
// the file as a whole (e.g. a bad module name).
type Error struct {
	File string
	Line int
	Msg  string
}

// Error renders exactly "file:line: msg", the form editors and grep understand.
func (e *Error) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// problems collects the errors and warnings of one file. Validation goes on
// after an error so that the reported error is the first one *by line*, not
// the first one our walk happened to meet: an administrator fixes a file from
// top to bottom.
type problems struct {
	file  string
	errs  []*Error
	warns []Warning
}

func (p *problems) errorf(line int, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

func (p *problems) warnf(line int, format string, args ...any) {
	p.warns = append(p.warns, Warning{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// first returns the error with the smallest line; among errors on one line,
// the one found first (the walk visits a line's element before its children).
func (p *problems) first() error {
	if len(p.errs) == 0 {
		return nil
	}
	best := p.errs[0]
	for _, e := range p.errs[1:] {
		if e.Line < best.Line {
			best = e
		}
	}
	return best
}

// warnings returns the warnings ordered by line (stable, so deterministic).
func (p *problems) warnings() []Warning {
	w := slices.Clone(p.warns)
	slices.SortStableFunc(w, func(a, b Warning) int { return a.Line - b.Line })
	return w
}

// String renders a warning like an error: "file:line: msg".
func (w Warning) String() string { return fmt.Sprintf("%s:%d: %s", w.File, w.Line, w.Msg) }
