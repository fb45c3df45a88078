package sim

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"
)

// tracer writes the JSON Lines trace of SPEC §6 and the readable timeline.
// Lines are assembled by hand: the field order is part of the format, and
// byte-identical traces across runs are a tested property.
type tracer struct {
	jw  *bufio.Writer // nil: no trace
	tw  io.Writer     // nil: no timeline
	buf []byte
	err error
}

func newTracer(trace, timeline io.Writer) *tracer {
	t := &tracer{tw: timeline}
	if trace != nil {
		t.jw = bufio.NewWriterSize(trace, 64<<10)
	}
	return t
}

func (t *tracer) flush() error {
	if t.jw != nil {
		if err := t.jw.Flush(); err != nil && t.err == nil {
			t.err = err
		}
	}
	return t.err
}

func (t *tracer) line(b []byte) {
	if t.jw == nil {
		return
	}
	b = append(b, '}', '\n')
	if _, err := t.jw.Write(b); err != nil && t.err == nil {
		t.err = fmt.Errorf("trace: %w", err)
	}
}

func (t *tracer) start(tMs int64, node, event string) []byte {
	b := append(t.buf[:0], `{"t_ms":`...)
	b = strconv.AppendInt(b, tMs, 10)
	if node != "" {
		b = append(b, `,"node":`...)
		b = appendJSONString(b, node)
	}
	b = append(b, `,"event":`...)
	return appendJSONString(b, event)
}

func (t *tracer) timeline(tMs int64, who, format string, args ...any) {
	if t.tw == nil {
		return
	}
	fmt.Fprintf(t.tw, "%9.3fs  %-8s %s\n", float64(tMs)/1000, who, fmt.Sprintf(format, args...))
}

func (t *tracer) step(tMs int64, do string) {
	if t.jw != nil {
		b := t.start(tMs, "", "step")
		b = append(b, `,"do":`...)
		t.line(appendJSONString(b, do))
	}
	t.timeline(tMs, "step", "%s", do)
}

func (t *tracer) state(tMs int64, node, state string, ready bool, rule string) {
	if t.jw != nil {
		b := t.start(tMs, node, "state")
		b = append(b, `,"state":`...)
		b = appendJSONString(b, state)
		b = append(b, `,"ready":`...)
		b = strconv.AppendBool(b, ready)
		if state == "WAIT" && rule != "" {
			b = append(b, `,"rule":`...)
			b = appendJSONString(b, rule)
		}
		t.line(b)
	}
	if t.tw != nil {
		r := "not ready"
		if ready {
			r = "ready"
		}
		if rule != "" && state == "WAIT" {
			r += " (rule " + rule + ")"
		}
		t.timeline(tMs, node, "%s %s", state, r)
	}
}

func (t *tracer) buckets(tMs int64, node, group string, owned []int) {
	if t.jw != nil {
		b := t.start(tMs, node, "buckets")
		b = append(b, `,"group":`...)
		b = appendJSONString(b, group)
		b = append(b, `,"owned":[`...)
		for i, x := range owned {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, int64(x), 10)
		}
		b = append(b, ']')
		t.line(b)
	}
	t.timeline(tMs, node, "%s %d%% (%d/256)", group, (len(owned)*100+128)/256, len(owned))
}

func (t *tracer) expect(tMs int64, ok bool, detail string) {
	if t.jw != nil {
		b := t.start(tMs, "", "expect")
		b = append(b, `,"ok":`...)
		b = strconv.AppendBool(b, ok)
		b = append(b, `,"detail":`...)
		t.line(appendJSONString(b, detail))
	}
	verdict := "ok"
	if !ok {
		verdict = "FAILED"
	}
	t.timeline(tMs, "expect", "%s %s", verdict, detail)
}

func (t *tracer) violation(tMs int64, inv, detail string) {
	if t.jw != nil {
		b := t.start(tMs, "", "violation")
		b = append(b, `,"invariant":`...)
		b = appendJSONString(b, inv)
		b = append(b, `,"detail":`...)
		t.line(appendJSONString(b, detail))
	}
	t.timeline(tMs, "VIOLATED", "%s %s", inv, detail)
}

func (t *tracer) result(ok bool, seed uint64, violations int) {
	if t.jw != nil {
		b := append(t.buf[:0], `{"event":"result","ok":`...)
		b = strconv.AppendBool(b, ok)
		b = append(b, `,"seed":`...)
		b = strconv.AppendUint(b, seed, 10)
		b = append(b, `,"violations":`...)
		b = strconv.AppendInt(b, int64(violations), 10)
		t.line(b)
	}
}

// appendJSONString appends s as a JSON string (RFC 8259 escaping).
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return append(b, '"')
}
