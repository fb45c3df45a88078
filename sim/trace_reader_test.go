package sim

import (
	"bufio"
	"bytes"
	"encoding/json"
	"path/filepath"
	"testing"
)

// TestTracesReadLineByLine reads every scenario's trace the way an
// independent checker would — one line at a time, no look-ahead within an
// instant — and checks what a trace alone can prove: a node claims buckets
// only while its last state line says UP (INV-1), every buckets line is a
// sorted set of valid buckets, and the run ends with a result line.
func TestTracesReadLineByLine(t *testing.T) {
	files, err := filepath.Glob("../scenarios/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, f := range files {
		sc, err := LoadScenario(f)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if _, err := Run(sc, Options{Trace: &buf}); err != nil {
			t.Fatal(err)
		}
		state := map[string]string{}
		claims := map[string]map[string]int{} // node -> group -> count
		sawResult := false
		sc2 := bufio.NewScanner(&buf)
		sc2.Buffer(make([]byte, 1<<20), 1<<20)
		for line := 1; sc2.Scan(); line++ {
			var l struct {
				TMs   int64  `json:"t_ms"`
				Node  string `json:"node"`
				Event string `json:"event"`
				State string `json:"state"`
				Group string `json:"group"`
				Owned []int  `json:"owned"`
			}
			if err := json.Unmarshal(sc2.Bytes(), &l); err != nil {
				t.Fatalf("%s line %d: %v", f, line, err)
			}
			switch l.Event {
			case "state":
				state[l.Node] = l.State
			case "buckets":
				for i, b := range l.Owned {
					if b < 0 || b > 255 || (i > 0 && b <= l.Owned[i-1]) {
						t.Fatalf("%s line %d: owned is not a sorted set of buckets: %v", f, line, l.Owned)
					}
				}
				if claims[l.Node] == nil {
					claims[l.Node] = map[string]int{}
				}
				claims[l.Node][l.Group] = len(l.Owned)
			case "result":
				sawResult = true
			}
			if l.Node != "" && state[l.Node] != "UP" {
				for g, n := range claims[l.Node] {
					if n > 0 {
						t.Fatalf("%s line %d (t=%dms): %s is %s yet claims %d buckets of %s", f, line, l.TMs, l.Node, state[l.Node], n, g)
					}
				}
			}
		}
		if !sawResult {
			t.Fatalf("%s: no result line", f)
		}
	}
}
