package config

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// attrs is the attributes of one element, checked against the schema: an
// attribute outside known is an error, and each accessor reports a bad value
// as "<element> <attribute> "<value>": <what is wanted>" on the attribute's
// own line.
type attrs struct {
	p *problems
	e *element
	m map[string]*attribute
}

func (p *problems) attrs(e *element, known ...string) *attrs {
	a := &attrs{p: p, e: e, m: map[string]*attribute{}}
	for _, at := range e.attrs {
		if first, dup := a.m[at.name]; dup {
			p.errorf(at.line, "%s: attribute %q given twice (first at line %d)", e.name, at.name, first.line)
			continue
		}
		if !slices.Contains(known, at.name) {
			p.errorf(at.line, "%s: unknown attribute %q (want %s)", e.name, at.name, orList(known))
			continue
		}
		a.m[at.name] = at
	}
	return a
}

func (a *attrs) has(name string) bool { _, ok := a.m[name]; return ok }

func (a *attrs) line(name string) int {
	if at, ok := a.m[name]; ok {
		return at.line
	}
	return a.e.line
}

func (a *attrs) bad(name, format string, args ...any) {
	at, ok := a.m[name]
	if !ok { // not reached by the parsers; keeps a slip from becoming a panic
		a.p.errorf(a.e.line, "%s %s: %s", a.e.name, name, fmt.Sprintf(format, args...))
		return
	}
	a.p.errorf(at.line, "%s %s %q: %s", a.e.name, name, clip(at.value), fmt.Sprintf(format, args...))
}

// str returns the value, or def when absent.
func (a *attrs) str(name, def string) string {
	if at, ok := a.m[name]; ok {
		return at.value
	}
	return def
}

// req returns a required value; ok is false (and an error recorded) when it
// is absent or empty.
func (a *attrs) req(name string) (string, bool) {
	at, ok := a.m[name]
	if !ok {
		a.p.errorf(a.e.line, "%s: missing attribute %q", a.e.name, name)
		return "", false
	}
	if strings.TrimSpace(at.value) == "" {
		a.bad(name, "must not be empty")
		return "", false
	}
	return at.value, true
}

func (a *attrs) onOff(name string, def bool) bool {
	at, ok := a.m[name]
	if !ok {
		return def
	}
	switch at.value {
	case "on":
		return true
	case "off":
		return false
	}
	a.bad(name, "want on or off")
	return def
}

func (a *attrs) enum(name, def string, allowed ...string) string {
	at, ok := a.m[name]
	if !ok {
		return def
	}
	if !slices.Contains(allowed, at.value) {
		a.bad(name, "want %s", orList(allowed))
		return def
	}
	return at.value
}

func (a *attrs) intIn(name string, def, lo, hi int) int {
	at, ok := a.m[name]
	if !ok {
		return def
	}
	n, err := strconv.Atoi(strings.TrimSpace(at.value))
	if err != nil || n < lo || n > hi {
		if hi == math.MaxInt32 {
			a.bad(name, "want an integer ≥ %d", lo)
		} else {
			a.bad(name, "want an integer from %d to %d", lo, hi)
		}
		return def
	}
	return n
}

// duration reads a time attribute; bare numbers are in bare (SafeKit's unit
// for that attribute). Zero is refused when positive is set.
func (a *attrs) duration(name string, def, bare time.Duration, positive bool) time.Duration {
	at, ok := a.m[name]
	if !ok {
		return def
	}
	d, err := ParseDuration(at.value, bare)
	if err != nil {
		a.bad(name, "want a duration such as 100ms, 5s, 24h, or a number of %s", unitName(bare))
		return def
	}
	if positive && d <= 0 {
		a.bad(name, "must be more than 0")
		return def
	}
	return d
}

func unitName(d time.Duration) string {
	switch d {
	case time.Millisecond:
		return "milliseconds"
	case time.Second:
		return "seconds"
	case time.Minute:
		return "minutes"
	case time.Hour:
		return "hours"
	}
	return d.String()
}

// ignored accepts SafeKit attributes vipfarm does not act on, with a warning
// naming each, so an administrator porting a file learns what has no effect.
func (a *attrs) ignored(names ...string) {
	for _, n := range names {
		if at, ok := a.m[n]; ok {
			a.p.warnf(at.line, "%s %s=%q: accepted for SafeKit compatibility, vipfarm does not act on it", a.e.name, n, clip(at.value))
		}
	}
}

// children groups e's child elements by name, reporting any outside allowed
// and any non-blank text (unless the element takes text).
func (p *problems) children(e *element, takesText bool, allowed ...string) map[string][]*element {
	m := map[string][]*element{}
	for _, k := range e.kids {
		if !slices.Contains(allowed, k.name) {
			if len(allowed) == 0 {
				p.errorf(k.line, "%s: unexpected element <%s> (it has no child elements)", e.name, k.name)
			} else {
				p.errorf(k.line, "%s: unknown element <%s> (want %s)", e.name, k.name, orList(wrapTags(allowed)))
			}
			continue
		}
		m[k.name] = append(m[k.name], k)
	}
	if !takesText {
		if ok, l := e.hasText(); ok {
			p.errorf(l, "%s: unexpected text (values go in attributes)", e.name)
		}
	}
	return m
}

// single returns the only child of that name (nil if none), reporting repeats.
func (p *problems) single(parent *element, kids map[string][]*element, name string) *element {
	list := kids[name]
	if len(list) == 0 {
		return nil
	}
	for _, k := range list[1:] {
		p.errorf(k.line, "%s: <%s> given twice (first at line %d)", parent.name, name, list[0].line)
	}
	return list[0]
}

func wrapTags(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = "<" + n + ">"
	}
	return out
}

// orList renders "a", "a or b", "a, b or c".
func orList(items []string) string {
	switch len(items) {
	case 0:
		return "nothing"
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}
