package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// LineError is a trace line that cannot be read; Line counts from 1.
type LineError struct {
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("trace line %d: %v", e.Line, e.Err) }

func (e *LineError) Unwrap() error { return e.Err }

// rawLine is one trace object as written by farmsim. Pointers tell a missing
// field from a zero one where the difference matters.
type rawLine struct {
	TMs        *int64       `json:"t_ms"`
	Node       string       `json:"node"`
	Event      string       `json:"event"`
	Do         string       `json:"do"`
	State      string       `json:"state"`
	Ready      *bool        `json:"ready"`
	Rule       string       `json:"rule"`
	Group      string       `json:"group"`
	Owned      *[]int       `json:"owned"`
	OK         *bool        `json:"ok"`
	Detail     string       `json:"detail"`
	Invariant  string       `json:"invariant"`
	Seed       *json.Number `json:"seed"`
	Violations *int         `json:"violations"`
}

// line is a validated trace line.
type line struct {
	no    int
	tMs   int64
	hasT  bool
	event string
	raw   rawLine
}

// knownEvents are the events of SPEC §6.
var knownEvents = []string{"step", "state", "buckets", "expect", "violation", "result"}

// readTrace reads every line of a trace and checks each one on its own.
// Blank lines are skipped (a trace concatenated by hand often ends with one).
func readTrace(r io.Reader) ([]line, error) {
	br := bufio.NewReader(r)
	var out []line
	for no := 1; ; no++ {
		b, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(b)) > 0 {
			l, perr := parseLine(no, b)
			if perr != nil {
				return nil, &LineError{Line: no, Err: perr}
			}
			out = append(out, l)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading trace after line %d: %w", no-1, err)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("trace is empty: no JSON line to report on")
	}
	return out, nil
}

func parseLine(no int, b []byte) (line, error) {
	b = bytes.TrimSpace(b)
	if b[0] != '{' {
		return line{}, fmt.Errorf("not a JSON object (starts with %q)", clip(string(b), 20))
	}
	var raw rawLine
	if err := json.Unmarshal(b, &raw); err != nil {
		return line{}, fmt.Errorf("bad JSON: %v", err)
	}
	l := line{no: no, event: raw.Event, raw: raw}
	if raw.TMs != nil {
		if *raw.TMs < 0 {
			return line{}, fmt.Errorf("t_ms %d is negative", *raw.TMs)
		}
		l.tMs, l.hasT = *raw.TMs, true
	}
	switch raw.Event {
	case "":
		return line{}, errors.New(`no "event" field`)
	case "result":
		if raw.OK == nil {
			return line{}, errors.New(`result line without "ok"`)
		}
		return l, nil
	}
	if !l.hasT && slices.Contains(knownEvents, raw.Event) {
		return line{}, fmt.Errorf("%s line without \"t_ms\"", raw.Event)
	}
	switch raw.Event {
	case "step":
		if strings.TrimSpace(raw.Do) == "" {
			return line{}, errors.New(`step line without "do"`)
		}
	case "state":
		if raw.Node == "" {
			return line{}, errors.New(`state line without "node"`)
		}
		switch raw.State {
		case "STOP", "WAIT", "UP":
		case "":
			return line{}, errors.New(`state line without "state"`)
		default:
			return line{}, fmt.Errorf("state %q: want STOP|WAIT|UP", raw.State)
		}
		if raw.Ready == nil {
			return line{}, errors.New(`state line without "ready"`)
		}
	case "buckets":
		if raw.Node == "" {
			return line{}, errors.New(`buckets line without "node"`)
		}
		if raw.Group == "" {
			return line{}, errors.New(`buckets line without "group"`)
		}
		if raw.Owned == nil {
			return line{}, errors.New(`buckets line without "owned"`)
		}
		var seen [buckets]bool
		for _, bk := range *raw.Owned {
			if bk < 0 || bk >= buckets {
				return line{}, fmt.Errorf("bucket %d of group %q: want 0..%d", bk, raw.Group, buckets-1)
			}
			if seen[bk] {
				return line{}, fmt.Errorf("bucket %d of group %q listed twice", bk, raw.Group)
			}
			seen[bk] = true
		}
	case "expect":
		if raw.OK == nil {
			return line{}, errors.New(`expect line without "ok"`)
		}
	case "violation":
		if raw.Invariant == "" {
			return line{}, errors.New(`violation line without "invariant"`)
		}
	}
	return l, nil
}

// clip shortens s to at most n runes for an error message.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
