package sim

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func scenarioFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../scenarios/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios found: %v", err)
	}
	return files
}

// TestScenarios runs every scenario file, with pointers and through the
// wire codec: each must meet its expectations with no invariant violation.
func TestScenarios(t *testing.T) {
	for _, f := range scenarioFiles(t) {
		for _, wire := range []bool{false, true} {
			name := filepath.Base(f)
			if wire {
				name += "/wire"
			}
			t.Run(name, func(t *testing.T) {
				sc, err := LoadScenario(f)
				if err != nil {
					t.Fatal(err)
				}
				var tl bytes.Buffer
				res, err := Run(sc, Options{Wire: wire, Timeline: &tl, Verbose: true})
				if err != nil {
					t.Fatal(err)
				}
				if !res.OK {
					t.Fatalf("failed: %d violations, %d/%d expectations failed, %d core errors\n%s",
						len(res.Violations), res.FailedExpects, res.Expects, res.CoreErrors, tl.String())
				}
				if res.Expects == 0 {
					t.Fatal("scenario checks no expectation")
				}
			})
		}
	}
}

func traceOf(t *testing.T, sc *Scenario, opts Options) []byte {
	t.Helper()
	var b bytes.Buffer
	opts.Trace = &b
	if _, err := Run(sc, opts); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestDeterministicTrace: the same scenario and seed give a byte-identical
// trace; another seed gives another one (the seed reaches the network).
func TestDeterministicTrace(t *testing.T) {
	for _, f := range []string{"../scenarios/14-loss-and-delay.yaml", "../scenarios/05-isolation-and-heal.yaml"} {
		sc, err := LoadScenario(f)
		if err != nil {
			t.Fatal(err)
		}
		a, b := traceOf(t, sc, Options{}), traceOf(t, sc, Options{})
		if !bytes.Equal(a, b) {
			t.Fatalf("%s: two runs gave different traces", f)
		}
		if !bytes.HasSuffix(a, []byte(`{"event":"result","ok":true,"seed":1,"violations":0}`+"\n")) {
			t.Fatalf("%s: trace does not end with the result line:\n%s", f, a[max(0, len(a)-300):])
		}
	}
	for seed := uint64(1); seed <= 5; seed++ {
		sc, wire, _ := GenScenario(seed, FuzzOptions{MinNodes: 2, MaxNodes: 5, ChaosMs: 20000, Wire: "auto"})
		opts := Options{Wire: wire || seed%2 == 1, Net: LinkOptions{JitterMs: 5, DupPct: 5, ReorderPct: 5, ReorderMs: 30}}
		a, b := traceOf(t, sc, opts), traceOf(t, sc, opts)
		if !bytes.Equal(a, b) {
			t.Fatalf("fuzz seed %d: two runs gave different traces", seed)
		}
	}
	sc, _ := LoadScenario("../scenarios/14-loss-and-delay.yaml")
	s2 := uint64(2)
	if bytes.Equal(traceOf(t, sc, Options{}), traceOf(t, sc, Options{Seed: &s2})) {
		t.Fatal("seeds 1 and 2 gave the same trace under 30 % loss: the seed does not reach the network")
	}
}

// TestTraceFormat pins the line shapes of SPEC §6.
func TestTraceFormat(t *testing.T) {
	sc, err := LoadScenario("../scenarios/07-interface-checker-wait.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tr := string(traceOf(t, sc, Options{}))
	for _, want := range []string{
		`{"t_ms":0,"event":"step","do":"start node1"}` + "\n",
		`{"t_ms":5000,"event":"expect","ok":true,"detail":"node1: state UP, share 50%"}` + "\n",
		`"node":"node1","event":"state","state":"WAIT","ready":false,"rule":"interface_failure"}` + "\n",
		`"node":"node1","event":"buckets","group":"FarmProto","owned":[]}` + "\n",
		`"node":"node2","event":"buckets","group":"FarmProto","owned":[0,1,2,`,
	} {
		if !strings.Contains(tr, want) {
			t.Errorf("trace lacks %s", want)
		}
	}
}

// TestWireRejectsReplays: duplicated datagrams reach the verifier, which
// rejects the copies, and the farm is none the worse.
func TestWireRejectsReplays(t *testing.T) {
	sc, err := LoadScenario("../scenarios/02-second-node-joins.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(sc, Options{Wire: true, Net: LinkOptions{DupPct: 20}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Run()
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK {
		t.Fatalf("failed: %+v", res)
	}
	if s.codec.rejected == 0 {
		t.Fatal("20 % duplicated datagrams, yet the verifier rejected none")
	}
}

// TestFuzzBounded is a bounded swarm: every seed must keep safety under
// chaos and reach liveness in the quiet phase.
func TestFuzzBounded(t *testing.T) {
	seeds := 300
	if testing.Short() {
		seeds = 40
	}
	o := FuzzOptions{MinNodes: 2, MaxNodes: 5, ChaosMs: 20000, Wire: "auto"}
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		fr, err := Fuzz(seed, o)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if !fr.Result.OK {
			t.Errorf("seed %d failed (%s): %v; replay: farmsim fuzz --seed %d --seeds 1 --duration 20s -v",
				seed, fr.Knobs, fr.Result.Violations, seed)
		}
	}
}

// TestFuzzScenarioRoundTrip: a generated scenario written as YAML and read
// back runs to the same trace (what a failure's saved scenario relies on).
func TestFuzzScenarioRoundTrip(t *testing.T) {
	fr, err := Fuzz(7, FuzzOptions{MinNodes: 3, MaxNodes: 3, ChaosMs: 15000, Wire: "off"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p, err := fr.WriteScenario(dir)
	if err != nil {
		t.Fatal(err)
	}
	back, err := LoadScenario(p)
	if err != nil {
		t.Fatal(err)
	}
	orig, _, _ := GenScenario(7, FuzzOptions{MinNodes: 3, MaxNodes: 3, ChaosMs: 15000, Wire: "off"})
	if !bytes.Equal(traceOf(t, orig, Options{}), traceOf(t, back, Options{})) {
		t.Fatal("the saved scenario does not replay the same run")
	}
}

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBadInput: each bad scenario is an *InputError naming file and place.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "cluster.xml", `<cluster><lans><lan name="default"><node name="n1" addr="198.18.0.1"/><node name="n2" addr="198.18.0.2"/></lan></lans></cluster>`)
	writeFile(t, dir, "bad-userconfig.xml", "<safe>\n<service mode=\"farm\">\n<farm><lan name=\"default\"/></farm>\n<bogus/>\n</service></safe>\n")
	head := "name: x\ncluster: {nodes: [node1, node2]}\n"
	cases := []struct{ name, text, want string }{
		{"unknown key", head + "steps: []\nwhatever: 1\n", `line 4: unknown key "whatever"`},
		{"unknown nested key", "name: x\ncluster: {nodes: [a], lan: [x]}\nsteps: []\n", `unknown key "lan" in cluster`},
		{"unknown verb", head + "steps:\n  - {at: 1s, do: explode node1}\n", `step 1 (line 4, at 1s): do "explode node1": unknown verb "explode"`},
		{"unknown node", head + "steps:\n  - {at: 1s, do: start node9}\n", `unknown node "node9"`},
		{"bad duration", head + "steps:\n  - {at: soon, do: start node1}\n", `"soon" is not a duration`},
		{"bad state", head + "steps:\n  - {at: 1s, expect: {node1: {state: RUNNING}}}\n", `state "RUNNING"`},
		{"unknown group", head + "steps:\n  - {at: 1s, expect: {node1: {shares: {Nope: 5}}}}\n", `unknown group "Nope"`},
		{"loss range", head + "steps:\n  - {at: 1s, do: loss default 120}\n", `want a percentage 0..100`},
		{"unknown lan", head + "steps:\n  - {at: 1s, do: cut nowhere}\n", `unknown LAN "nowhere"`},
		{"unknown resource", head + "steps:\n  - {at: 1s, do: resource node1 custom.x down}\n", `unknown resource "custom.x"`},
		{"no cluster", "name: x\nsteps: []\n", "needs cluster"},
		{"missing file", "name: x\nfiles: {cluster: nope.xml, userconfig: nope.xml}\nsteps: []\n", "nope.xml"},
		{"bad userconfig", "name: x\nfiles: {cluster: cluster.xml, userconfig: bad-userconfig.xml}\nsteps: []\n", "bad-userconfig.xml:4"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := writeFile(t, dir, "s.yaml", c.text)
			sc, err := LoadScenario(p)
			if err == nil {
				_, err = New(sc, Options{})
			}
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("got %v, want an *InputError", err)
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "s.yaml") && !strings.Contains(err.Error(), ".xml") {
				t.Fatalf("error %q does not say %q and name the file", err, c.want)
			}
		})
	}
}

// TestXKeysIgnored: keys starting with x- are annotations, anywhere.
func TestXKeysIgnored(t *testing.T) {
	p := writeFile(t, t.TempDir(), "s.yaml", "name: x\nx-owner: me\ncluster: {nodes: [node1], x-note: hi}\nsteps:\n  - {at: 0s, do: start node1, x-why: because}\n  - {at: 3s, expect: {node1: {state: UP, x-c: 1}, x-all: 2}}\n")
	sc, err := LoadScenario(p)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(sc, Options{})
	if err != nil || !res.OK || res.Expects != 1 {
		t.Fatalf("res %+v err %v", res, err)
	}
}

// TestCLIExitCodes: 0 ok, 1 failed expectation, 2 bad input.
func TestCLIExitCodes(t *testing.T) {
	dir := t.TempDir()
	ok := writeFile(t, dir, "ok.yaml", "name: ok\ncluster: {nodes: [node1]}\nsteps:\n  - {at: 0s, do: start node1}\n  - {at: 3s, expect: {node1: {state: UP, share: 100}}}\n")
	bad := writeFile(t, dir, "fail.yaml", "name: fail\ncluster: {nodes: [node1]}\nsteps:\n  - {at: 0s, do: start node1}\n  - {at: 3s, expect: {node1: {state: STOP}}}\n")
	broken := writeFile(t, dir, "broken.yaml", "name: broken\ncluster: {nodes: [node1]}\nsteps:\n  - {at: 0s, do: fly node1}\n")
	tracePath := filepath.Join(dir, "t.jsonl")
	for _, c := range []struct {
		args []string
		want int
	}{
		{[]string{"run", ok}, 0},
		{[]string{"run", ok, "--seed", "9", "--trace", tracePath}, 0},
		{[]string{"run", ok, bad}, 1},
		{[]string{"run", broken}, 2},
		{[]string{"run", ok, "--seed", "x"}, 2},
		{[]string{"frobnicate"}, 2},
		{[]string{"fuzz", "--seeds", "3", "--duration", "10s", "--nodes", "2..3"}, 0},
		{[]string{"fuzz", "--nodes", "1..9"}, 2},
	} {
		var out, errb bytes.Buffer
		if got := Main(c.args, &out, &errb); got != c.want {
			t.Errorf("farmsim %v: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", c.args, got, c.want, out.String(), errb.String())
		}
	}
	tr, err := os.ReadFile(tracePath)
	if err != nil || !bytes.Contains(tr, []byte(`{"event":"result","ok":true,"seed":9,"violations":0}`)) {
		t.Fatalf("trace file: %v\n%s", err, tr)
	}
}

// TestCLIReport: --report draws the run's own trace, a failed run included,
// as one self-contained page; an unwritable path is bad input.
func TestCLIReport(t *testing.T) {
	dir := t.TempDir()
	ok := writeFile(t, dir, "ok.yaml", "name: ok-run\ncluster: {nodes: [node1]}\nsteps:\n  - {at: 0s, do: start node1}\n  - {at: 3s, expect: {node1: {state: UP, share: 100}}}\n")
	bad := writeFile(t, dir, "fail.yaml", "name: failing-run\ncluster: {nodes: [node1]}\nsteps:\n  - {at: 0s, do: start node1}\n  - {at: 3s, expect: {node1: {state: STOP}}}\n")
	page := filepath.Join(dir, "r.html")
	var out, errb bytes.Buffer
	if got := Main([]string{"run", ok, bad, "--report", page}, &out, &errb); got != ExitFailed {
		t.Fatalf("exit %d, want %d\n%s", got, ExitFailed, errb.String())
	}
	html, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ok-run, failing-run", "<svg", "node1"} {
		if !bytes.Contains(html, []byte(want)) {
			t.Errorf("report lacks %q", want)
		}
	}
	// The SVG namespace is a name, not a fetch; anything else would be.
	rest := bytes.ReplaceAll(html, []byte("http://www.w3.org/2000/svg"), nil)
	if bytes.Contains(rest, []byte("http://")) || bytes.Contains(rest, []byte("https://")) {
		t.Error("report refers to an external asset")
	}
	if got := Main([]string{"run", ok, "--report", filepath.Join(dir, "missing", "r.html")}, &out, &errb); got != ExitBadInput {
		t.Errorf("unwritable report: exit %d, want %d", got, ExitBadInput)
	}
}

// TestCheckersCatchABrokenDriver: a driver whose dataplane keeps released
// buckets must be caught (the checkers are not vacuous).
func TestCheckersCatchABrokenDriver(t *testing.T) {
	sc, err := LoadScenario("../scenarios/03-stop.yaml")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(sc, Options{keepReleased: true})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, v := range res.Violations {
		got[v.Invariant] = true
	}
	if res.OK || !got["INV-1"] || !got["INV-7"] {
		t.Fatalf("broken driver not caught as INV-1 and INV-7: %+v", res.Violations)
	}
}

// TestAsymmetricLinkIsNotConnected: a LAN that carries heartbeats one way
// only does not connect two nodes (SPEC §5: both ways); with every LAN so
// cut, each node goes on alone with 100 %.
func TestAsymmetricLinkIsNotConnected(t *testing.T) {
	sc, err := ParseScenario("asym.yaml", []byte("name: asym\ncluster: {nodes: [node1, node2], lans: [default, private]}\nsteps:\n"+
		"  - {at: 0s, do: start node1}\n  - {at: 0s, do: start node2}\n  - {at: 8s, expect: {node1: {share: 100}, node2: {share: 100}}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(sc, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, lan := range []string{"default", "private"} {
		if err := s.SetLink(lan, "node1", "node2", LinkOptions{LossPct: 100}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetLink("nowhere", "node1", "node2", LinkOptions{}); err == nil {
		t.Fatal("unknown LAN accepted")
	}
	res, err := s.Run()
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK || len(s.comps) != 2 {
		t.Fatalf("res %+v, components %v", res, s.comps)
	}
}

// TestInlineConfigIsRealSafeKit: the generated files of an inline cluster
// are SafeKit XML that the real parser reads into the default module AM.
func TestInlineConfigIsRealSafeKit(t *testing.T) {
	sc, err := LoadScenario("../scenarios/10-three-nodes-power.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cl, mod, cx, ux, err := sc.Config()
	if err != nil {
		t.Fatal(err)
	}
	if len(cl.Nodes) != 3 || len(cl.LANs) != 2 || mod.Name != "AM" || mod.VIP == nil || len(mod.VIP.Groups) != 1 {
		t.Fatalf("cluster %+v module %+v", cl, mod)
	}
	g := mod.VIP.Groups[0]
	if g.Name != "FarmProto" || len(g.Hosts) != 3 || g.Hosts[0].Power != 2 || g.Rules[0].Port != 9010 {
		t.Fatalf("group %+v", g)
	}
	if mod.Service.Boot != "off" || mod.User == nil {
		t.Fatalf("service %+v user %v", mod.Service, mod.User)
	}
	for _, want := range []string{`<lan name="private">`, `addr="198.18.1.13"`} {
		if !strings.Contains(string(cx), want) {
			t.Errorf("cluster.xml lacks %s:\n%s", want, cx)
		}
	}
	for _, want := range []string{`<virtual_addr addr="%VIRTUAL_IP%" where="alias" check="on"/>`, `<host name="node1" power="2"/>`, `boot="off"`} {
		if !strings.Contains(string(ux), want) {
			t.Errorf("userconfig.xml lacks %s:\n%s", want, ux)
		}
	}
}
