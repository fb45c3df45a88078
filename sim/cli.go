package sim

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vipfarm/vipfarm/sim/report"
)

// Exit codes of farmsim.
const (
	ExitOK       = 0
	ExitFailed   = 1 // an expectation or an invariant failed
	ExitBadInput = 2
)

const usage = `usage:
  farmsim run SCENARIO.yaml... [--seed N] [--trace FILE.jsonl] [--report FILE.html] [--json] [--wire] [-v]
        [--delay D] [--jitter D] [--loss PCT] [--dup PCT] [--reorder PCT] [--reorder-window D]
  farmsim fuzz [--seeds N] [--nodes 2..5] [--duration 60s] [--seed N] [--wire auto|on|off] [--actions start,stop,...] [--out DIR] [-v]
`

// Main is farmsim's command line (cmd/farmsim is a thin wrapper).
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return ExitBadInput
	}
	switch args[0] {
	case "run":
		return runCmd(args[1:], stdout, stderr)
	case "fuzz":
		return fuzzCmd(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return ExitOK
	}
	fmt.Fprintf(stderr, "farmsim: unknown command %q\n%s", args[0], usage)
	return ExitBadInput
}

// interleave lets flags follow positional arguments (farmsim run a.yaml --seed 3).
func interleave(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func runCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("farmsim run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	seed := fs.String("seed", "", "root seed (overrides the scenario's)")
	tracePath := fs.String("trace", "", "write the JSON Lines trace to this file")
	reportPath := fs.String("report", "", "write a self-contained HTML report (timelines, shares, violations) to this file")
	jsonOut := fs.Bool("json", false, "write the JSON Lines trace to stdout instead of the timeline")
	wire := fs.Bool("wire", false, "round-trip every heartbeat through the wire codec")
	verbose := fs.Bool("v", false, "timeline shows scripts, ARP duty and module log lines")
	delay := fs.Duration("delay", 0, "base one-way delay of every LAN")
	jitter := fs.Duration("jitter", 0, "base jitter of every LAN (uniform extra delay)")
	loss := fs.Float64("loss", 0, "base loss of every LAN, percent")
	dup := fs.Float64("dup", 0, "base duplication of every LAN, percent")
	reorder := fs.Float64("reorder", 0, "base reordering of every LAN, percent")
	reorderWin := fs.Duration("reorder-window", 150*time.Millisecond, "how long a reordered datagram is held back at most")
	files, err := interleave(fs, args)
	if err != nil {
		return ExitBadInput
	}
	if len(files) == 0 {
		fmt.Fprintf(stderr, "farmsim run: no scenario file\n%s", usage)
		return ExitBadInput
	}
	opts := Options{Wire: *wire, Verbose: *verbose, Net: LinkOptions{
		DelayMs: int64(*delay / time.Millisecond), JitterMs: int64(*jitter / time.Millisecond),
		LossPct: *loss, DupPct: *dup, ReorderPct: *reorder, ReorderMs: int64(*reorderWin / time.Millisecond),
	}}
	if *reorder == 0 {
		opts.Net.ReorderMs = 0
	}
	if *seed != "" {
		v, err := strconv.ParseUint(*seed, 10, 64)
		if err != nil {
			fmt.Fprintf(stderr, "farmsim run: --seed %q: want an unsigned integer\n", *seed)
			return ExitBadInput
		}
		opts.Seed = &v
	}
	if *jsonOut {
		opts.Trace = stdout
	} else {
		opts.Timeline = stdout
	}
	if *tracePath != "" {
		f, err := os.Create(*tracePath)
		if err != nil {
			fmt.Fprintf(stderr, "farmsim run: --trace: %v\n", err)
			return ExitBadInput
		}
		defer f.Close()
		if *jsonOut {
			opts.Trace = io.MultiWriter(stdout, f)
		} else {
			opts.Trace = f
		}
	}
	// The report is drawn from the very trace the run writes, so it shows
	// exactly what a trace reader would see.
	var traceBuf *bytes.Buffer
	if *reportPath != "" {
		traceBuf = new(bytes.Buffer)
		if opts.Trace != nil {
			opts.Trace = io.MultiWriter(opts.Trace, traceBuf)
		} else {
			opts.Trace = traceBuf
		}
	}
	// Load every scenario first: bad input anywhere fails before any run.
	var scs []*Scenario
	for _, p := range files {
		sc, err := LoadScenario(p)
		if err != nil {
			fmt.Fprintf(stderr, "farmsim: %v\n", err)
			return ExitBadInput
		}
		scs = append(scs, sc)
	}
	code := ExitOK
	for i, sc := range scs {
		if i > 0 && opts.Timeline != nil {
			fmt.Fprintln(stdout)
		}
		res, err := Run(sc, opts)
		if err != nil {
			var ie *InputError
			if errors.As(err, &ie) {
				fmt.Fprintf(stderr, "farmsim: %v\n", err)
				return ExitBadInput
			}
			fmt.Fprintf(stderr, "farmsim: %s: %v\n", sc.Path, err)
			return ExitBadInput
		}
		if !res.OK {
			code = ExitFailed
			fmt.Fprintf(stderr, "farmsim: %s FAILED (seed %d): %d violations, %d/%d expectations failed; replay: farmsim run %s --seed %d%s\n",
				sc.Name, res.Seed, len(res.Violations)+res.CoreErrors, res.FailedExpects, res.Expects, sc.Path, res.Seed, wireFlag(opts.Wire))
		}
	}
	if traceBuf != nil {
		if err := writeReport(*reportPath, scs, traceBuf); err != nil {
			fmt.Fprintf(stderr, "farmsim run: --report: %v\n", err)
			return ExitBadInput
		}
	}
	return code
}

// writeReport renders the runs' trace as one HTML page.
func writeReport(path string, scs []*Scenario, trace *bytes.Buffer) error {
	names := make([]string, len(scs))
	for i, sc := range scs {
		names[i] = sc.Name
	}
	var page bytes.Buffer
	if err := report.Write(&page, strings.Join(names, ", "), trace); err != nil {
		return err
	}
	return os.WriteFile(path, page.Bytes(), 0o644)
}

func wireFlag(w bool) string {
	if w {
		return " --wire"
	}
	return ""
}

// parseNodes reads "3" or "2..5".
func parseNodes(s string) (lo, hi int, err error) {
	a, b, found := strings.Cut(s, "..")
	if lo, err = strconv.Atoi(a); err != nil {
		return 0, 0, fmt.Errorf("--nodes %q: want N or LO..HI", s)
	}
	hi = lo
	if found {
		if hi, err = strconv.Atoi(b); err != nil {
			return 0, 0, fmt.Errorf("--nodes %q: want N or LO..HI", s)
		}
	}
	if lo < 2 || hi > 16 || lo > hi {
		return 0, 0, fmt.Errorf("--nodes %q: want a range within 2..16", s)
	}
	return lo, hi, nil
}

func fuzzCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("farmsim fuzz", flag.ContinueOnError)
	fs.SetOutput(stderr)
	seeds := fs.Int("seeds", 100, "number of seeds to run")
	nodes := fs.String("nodes", "2..5", "node count, N or LO..HI")
	duration := fs.Duration("duration", 60*time.Second, "virtual duration of the chaos phase of each seed (a 60s quiet phase follows, for liveness)")
	seed := fs.Uint64("seed", 1, "first seed")
	wire := fs.String("wire", "auto", "wire codec: auto (one seed in four), on, off")
	out := fs.String("out", "", "directory where the scenario of a failing seed is written")
	verbose := fs.Bool("v", false, "print one line per seed")
	actions := fs.String("actions", "", "comma-separated verbs the swarm may use (default all: "+strings.Join(fuzzActions, ",")+")")
	if _, err := interleave(fs, args); err != nil {
		return ExitBadInput
	}
	lo, hi, err := parseNodes(*nodes)
	if err != nil {
		fmt.Fprintf(stderr, "farmsim fuzz: %v\n", err)
		return ExitBadInput
	}
	if *seeds < 1 || *duration < time.Second {
		fmt.Fprintln(stderr, "farmsim fuzz: want --seeds >= 1 and --duration >= 1s")
		return ExitBadInput
	}
	if *wire != "auto" && *wire != "on" && *wire != "off" {
		fmt.Fprintf(stderr, "farmsim fuzz: --wire %q: want auto, on or off\n", *wire)
		return ExitBadInput
	}
	fo := FuzzOptions{MinNodes: lo, MaxNodes: hi, ChaosMs: int64(*duration / time.Millisecond), Wire: *wire}
	if *actions != "" {
		for _, a := range strings.Split(*actions, ",") {
			if !slices.Contains(fuzzActions, a) {
				fmt.Fprintf(stderr, "farmsim fuzz: --actions: unknown verb %q (%s)\n", a, strings.Join(fuzzActions, ","))
				return ExitBadInput
			}
			fo.Actions = append(fo.Actions, a)
		}
	}
	fmt.Fprintf(stdout, "fuzz: seeds %d..%d, nodes %s, chaos %s then 60s quiet, wire %s\n", *seed, *seed+uint64(*seeds)-1, *nodes, *duration, *wire)
	failed := 0
	start := time.Now()
	var virtual int64
	windows := 0
	for i := 0; i < *seeds; i++ {
		sd := *seed + uint64(i)
		fr, err := Fuzz(sd, fo)
		if err != nil {
			fmt.Fprintf(stderr, "farmsim fuzz: seed %d: %v\n", sd, err)
			return ExitBadInput
		}
		virtual += fr.Result.VirtualMs
		windows += fr.Result.Windows
		if *verbose || !fr.Result.OK {
			fmt.Fprintf(stdout, "%s %s\n", verdictWord(fr.Result.OK), fr.Knobs)
		}
		if fr.Result.OK {
			continue
		}
		failed++
		for _, v := range fr.Result.Violations {
			fmt.Fprintf(stdout, "  %s\n", v)
		}
		if fr.Result.FailedExpects > 0 {
			fmt.Fprintf(stdout, "  %d expectations failed\n", fr.Result.FailedExpects)
		}
		only := ""
		if *actions != "" {
			only = " --actions " + *actions
		}
		fmt.Fprintf(stdout, "  replay: farmsim fuzz --seed %d --seeds 1 --nodes %s --duration %s --wire %s%s -v\n", sd, *nodes, *duration, *wire, only)
		if *out != "" {
			p, err := fr.WriteScenario(*out)
			if err != nil {
				fmt.Fprintf(stderr, "farmsim fuzz: %v\n", err)
			} else {
				fmt.Fprintf(stdout, "  scenario: %s (farmsim run %s)\n", p, fr.RunFlags(p))
			}
		}
	}
	wall := time.Since(start)
	fmt.Fprintf(stdout, "fuzz: %d seeds from %d, %d failed; %d stable windows judged; %s virtual in %s (%.0fx real time)\n",
		*seeds, *seed, failed, windows, time.Duration(virtual)*time.Millisecond, wall.Round(time.Millisecond),
		float64(virtual)/float64(max(wall.Milliseconds(), 1)))
	if failed > 0 {
		return ExitFailed
	}
	return ExitOK
}

func verdictWord(ok bool) string {
	if ok {
		return "ok  "
	}
	return "FAIL"
}
