package report

import (
	"fmt"
	"io"
)

// Write reads a farmsim JSONL trace and writes one self-contained HTML page
// titled title. The whole trace is read and checked before anything is
// written, so a malformed trace leaves w untouched; the error names the line
// (a *LineError) and what is wrong with it.
func Write(w io.Writer, title string, trace io.Reader) error {
	lines, err := readTrace(trace)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	runs, err := buildRuns(lines)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if title == "" {
		title = "farmsim report"
	}
	if _, err := io.WriteString(w, page(title, runs, len(lines))); err != nil {
		return fmt.Errorf("report: writing the page: %w", err)
	}
	return nil
}
