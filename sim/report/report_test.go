package report

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestGolden renders the hand-written trace (a node starts, a second joins,
// isolation and heal, a WAIT on an interface failure, a crash, one violation
// and one failed expectation) and compares it byte for byte.
func TestGolden(t *testing.T) {
	in, err := os.ReadFile(filepath.Join("testdata", "small.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Write(&out, "small: two-node farm", bytes.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "small.golden.html")
	if *update {
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Fatalf("report differs from %s (go test ./sim/report -update to accept); got %d bytes, want %d", golden, out.Len(), len(want))
	}
}

func render(t *testing.T, trace string) string {
	t.Helper()
	var out bytes.Buffer
	if err := Write(&out, "t", strings.NewReader(trace)); err != nil {
		t.Fatalf("Write: %v", err)
	}
	return out.String()
}

func TestDeterministic(t *testing.T) {
	in, err := os.ReadFile(filepath.Join("testdata", "small.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	a, b := render(t, string(in)), render(t, string(in))
	if a != b {
		t.Fatal("two renderings of one trace differ")
	}
}

// TestContent checks what an administrator looks for, independently of the golden bytes.
func TestContent(t *testing.T) {
	in, err := os.ReadFile(filepath.Join("testdata", "small.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	page := render(t, string(in))
	for _, want := range []string{
		`<span class="verdict fail">FAILED</span>`,
		`INV-2 at 16.5s on node2: bucket 3 of FarmProto`, // violation marker tooltip
		`<tr class="bad"><td class="t">16.5s</td><td>INV-2</td><td>node2</td>`,
		`node2: WAIT not ready (interface_failure) from 12.2s to 14.1s`,
		`fill="` + colourRed + `"><title>node2: WAIT not ready (interface_failure)`,
		`fill="` + colourGrey + `"><title>node1: crashed from 16s`,
		`fill="` + colourGreen + `"><title>node1: UP ready from 0.31s to 16s`,
		`fill="` + colourOrange + `"><title>node2: UP transient from 3s to 3.31s`,
		`step 7 at 16s: crash node1`,
		`expectation FAILED at 18s: node1: state: want UP, got STOP`,
		`Group FarmProto: buckets claimed per node`,
		`1 line(s) with events this report does not know were skipped: checker.`,
		`<td>node2</td><td><span class="sw" style="background:#2e9e44"></span>UP ready</td><td class="t">256/256 (100%)</td>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// Self-contained: no script, no fetched asset.
	if strings.Contains(page, "<script") {
		t.Error("page has a script")
	}
	if m := regexp.MustCompile(`(src|href)=`).FindString(page); m != "" {
		t.Errorf("page references an external asset: %s", m)
	}
	// Isolation: both nodes claim 256, so the y axis grows to 512.
	if !strings.Contains(page, `text-anchor="end">512</text>`) {
		t.Error("area chart does not reach 512 during the isolation")
	}
}

func TestMalformed(t *testing.T) {
	ok := `{"t_ms":0,"event":"step","do":"start node1"}` + "\n"
	for _, tc := range []struct {
		name, trace string
		line        int
		msg         string
	}{
		{"not json", ok + "hello\n", 2, "not a JSON object"},
		{"array", ok + "[1,2]\n", 2, "not a JSON object"},
		{"broken json", ok + `{"t_ms":1,"event":"step"` + "\n", 2, "bad JSON"},
		{"trailing garbage", `{"t_ms":1,"event":"step","do":"heal"} x` + "\n", 1, "bad JSON"},
		{"wrong type", ok + `{"t_ms":"soon","event":"step","do":"heal"}` + "\n", 2, "bad JSON"},
		{"no event", ok + `{"t_ms":1}` + "\n", 2, `no "event"`},
		{"no time", ok + `{"event":"step","do":"heal"}` + "\n", 2, `step line without "t_ms"`},
		{"negative time", `{"t_ms":-5,"event":"step","do":"heal"}`, 1, "negative"},
		{"backwards", ok + `{"t_ms":500,"event":"step","do":"heal"}` + "\n" + `{"t_ms":400,"event":"step","do":"heal"}` + "\n", 3, "t_ms 400 is before t_ms 500 of line 2"},
		{"blank lines count", ok + "\n\n" + `{"t_ms":1,"event":"state","node":"n1","state":"RUNNING","ready":true}`, 4, `state "RUNNING": want STOP|WAIT|UP`},
		{"state without node", `{"t_ms":1,"event":"state","state":"UP","ready":true}`, 1, `without "node"`},
		{"state without ready", `{"t_ms":1,"event":"state","node":"n1","state":"UP"}`, 1, `without "ready"`},
		{"bucket out of range", `{"t_ms":1,"event":"buckets","node":"n1","group":"G","owned":[1,256]}`, 1, "bucket 256 of group \"G\": want 0..255"},
		{"bucket twice", `{"t_ms":1,"event":"buckets","node":"n1","group":"G","owned":[1,1]}`, 1, "listed twice"},
		{"buckets without owned", `{"t_ms":1,"event":"buckets","node":"n1","group":"G"}`, 1, `without "owned"`},
		{"buckets without group", `{"t_ms":1,"event":"buckets","node":"n1","owned":[]}`, 1, `without "group"`},
		{"expect without ok", `{"t_ms":1,"event":"expect","detail":"x"}`, 1, `without "ok"`},
		{"violation without invariant", `{"t_ms":1,"event":"violation","detail":"x"}`, 1, `without "invariant"`},
		{"step without do", `{"t_ms":1,"event":"step","do":"  "}`, 1, `without "do"`},
		{"result without ok", ok + `{"event":"result","seed":1}`, 2, `without "ok"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := Write(&out, "t", strings.NewReader(tc.trace))
			var le *LineError
			if !errors.As(err, &le) {
				t.Fatalf("err = %v, want a *LineError", err)
			}
			if le.Line != tc.line {
				t.Errorf("line = %d, want %d (%v)", le.Line, tc.line, err)
			}
			if !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), "trace line ") {
				t.Errorf("err = %q, want it to name the line and say %q", err, tc.msg)
			}
			if out.Len() != 0 {
				t.Errorf("wrote %d bytes despite the error", out.Len())
			}
		})
	}
}

func TestEmpty(t *testing.T) {
	var out bytes.Buffer
	err := Write(&out, "t", strings.NewReader("\n  \n"))
	if err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("err = %v, want an empty-trace error", err)
	}
}

// TestSeveralRuns: a trace of several scenarios restarts its clock after each result line.
func TestSeveralRuns(t *testing.T) {
	trace := `{"t_ms":0,"event":"step","do":"start a"}
{"t_ms":200,"node":"a","event":"state","state":"UP","ready":true}
{"event":"result","ok":true,"seed":7,"violations":0}
{"t_ms":0,"event":"step","do":"start b"}
{"t_ms":100,"node":"b","event":"state","state":"UP","ready":false}
`
	page := render(t, trace)
	for _, want := range []string{"Run 1 of 2, seed 7", "Run 2 of 2", `<span class="verdict incomplete">INCOMPLETE</span> the trace ends`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

// TestCrashThenStart: a crashed node is grey until it is started again, even
// if the simulator also reports STOP at the crash.
func TestCrashThenStart(t *testing.T) {
	trace := `{"t_ms":0,"node":"n1","event":"state","state":"UP","ready":true}
{"t_ms":1000,"event":"step","do":"crash n1"}
{"t_ms":1000,"node":"n1","event":"state","state":"STOP","ready":true}
{"t_ms":2000,"event":"step","do":"start n1"}
{"t_ms":2000,"node":"n1","event":"state","state":"UP","ready":false}
{"t_ms":2500,"node":"n1","event":"state","state":"UP","ready":true}
`
	page := render(t, trace)
	for _, want := range []string{"n1: crashed from 1s to 2s", "n1: UP transient from 2s to 2.5s", "n1: UP ready from 2.5s"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

func TestTickStep(t *testing.T) {
	for _, tc := range []struct{ last, want int64 }{{1000, 100}, {6000, 1000}, {18000, 2000}, {60000, 10000}, {3600000, 500000}} {
		if got := tickStep(tc.last); got != tc.want {
			t.Errorf("tickStep(%d) = %d, want %d", tc.last, got, tc.want)
		}
	}
}

func TestNaturalCompare(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		less bool
	}{{"node2", "node10", true}, {"node10", "node2", false}, {"a", "b", true}, {"node1", "node01", true}, {"n", "n1", true}} {
		if got := naturalCompare(tc.a, tc.b) < 0; got != tc.less {
			t.Errorf("naturalCompare(%q, %q) < 0 = %v, want %v", tc.a, tc.b, got, tc.less)
		}
	}
}

// TestColours pins the SafeKit console colours as core reports states: a
// WAIT held by a failover rule is red, a WAIT on init resources orange.
func TestColours(t *testing.T) {
	for _, tc := range []struct {
		st   status
		want string
	}{
		{status{state: "UP", ready: true}, colourGreen},
		{status{state: "UP"}, colourOrange},
		{status{state: "WAIT"}, colourOrange},
		{status{state: "WAIT", rule: "interface_failure"}, colourRed},
		{status{state: "WAIT", ready: true}, colourRed},
		{status{state: "STOP", ready: true}, colourRed},
		{status{state: "STOP"}, colourRed},
		{status{state: "STOP", ready: true, crashed: true}, colourGrey},
	} {
		if got := stateColour(tc.st); got != tc.want {
			t.Errorf("stateColour(%+v) = %s, want %s", tc.st, got, tc.want)
		}
	}
}

// TestFarmsimTrace reads a trace written by farmsim itself (scenario
// 15-crash-reboot-boot-on, seed 1), so a change of the simulator's format
// that this package cannot read shows up here.
func TestFarmsimTrace(t *testing.T) {
	in, err := os.ReadFile(filepath.Join("testdata", "farmsim-crash-reboot.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	page := render(t, string(in))
	for _, want := range []string{
		`<span class="verdict ok">OK</span>`,
		`node2: crashed from 5s to 10s`,
		`step 3 at 15s: reboot node1`,
		`<td>node1</td><td><span class="sw" style="background:#2e9e44"></span>UP ready</td><td class="t">128/256 (50%)</td>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}
