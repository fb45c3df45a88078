package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/vipfarm/vipfarm/netlab"
	"github.com/vipfarm/vipfarm/sim"
)

// maxVirtual is the longest scenario the suite plays in real time: a
// scenario is worth its minutes in farmsim, not in CI.
const maxVirtual = 120 * time.Second

// scenarioFiles lists scenarios/*.yaml and scenarios/lab/*.yaml.
func scenarioFiles() []string {
	var out []string
	for _, pat := range []string{"*.yaml", "lab/*.yaml"} {
		m, err := filepath.Glob(filepath.Join(scenariosDir, pat))
		if err != nil {
			panic(err) // a constant, well-formed pattern
		}
		out = append(out, m...)
	}
	slices.Sort(out)
	return out
}

// lastStep is the time of a scenario's last step.
func lastStep(sc *sim.Scenario) time.Duration {
	var end time.Duration
	for _, st := range sc.Steps {
		end = max(end, time.Duration(st.At))
	}
	return end
}

// traceLine is the union of the fields of SPEC §6's trace lines.
type traceLine struct {
	TMs        *int64 `json:"t_ms"`
	Node       string `json:"node"`
	Event      string `json:"event"`
	Do         string `json:"do"`
	State      string `json:"state"`
	Group      string `json:"group"`
	Owned      []int  `json:"owned"`
	OK         *bool  `json:"ok"`
	Violations *int   `json:"violations"`
}

func readTrace(path string) []traceLine {
	GinkgoHelper()
	f, err := os.Open(path)
	Expect(err).NotTo(HaveOccurred())
	defer f.Close()
	var out []traceLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var tl traceLine
		Expect(json.Unmarshal(sc.Bytes(), &tl)).To(Succeed(), "trace line %q", sc.Text())
		out = append(out, tl)
	}
	Expect(sc.Err()).NotTo(HaveOccurred())
	return out
}

var _ = Describe("farmlab run plays the scenarios in real time", func() {
	for _, path := range scenarioFiles() {
		name := strings.TrimPrefix(path, scenariosDir+string(filepath.Separator))
		It(name, func() {
			sc, err := sim.LoadScenario(path)
			Expect(err).NotTo(HaveOccurred())
			if end := lastStep(sc); end > maxVirtual {
				Skip("runs " + end.String() + " of virtual time (over " + maxVirtual.String() + "): farmsim's job, not real time's")
			}
			if netlab.NeedsDelay(sc) {
				Skip("delays a LAN: this kernel has no sch_netem (the lab refuses `delay`; see the spec below)")
			}
			state := filepath.Join(GinkgoT().TempDir(), "lab")
			trace := filepath.Join(GinkgoT().TempDir(), "trace.jsonl")
			ctx, cancel := context.WithTimeout(context.Background(), lastStep(sc)+90*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, filepath.Join(binDir, "farmlab"), "run",
				"--prefix", prefix, "--state", state, "--trace", trace, path)
			out, err := cmd.CombinedOutput()
			GinkgoWriter.Printf("%s", out)
			// Whatever happened, nothing of the run's lab may stay up.
			left, _ := filepath.Glob("/run/netns/" + prefix + "*")
			Expect(left).To(BeEmpty(), "namespaces left by farmlab run")
			Expect(err).NotTo(HaveOccurred(), "farmlab run %s:\n%s", path, out)
			Expect(string(out)).To(MatchRegexp(`== %s: ok in `, sc.Name))

			// The trace: farmsim's shape, states from farmd, owned sets
			// from the XDP maps, and a passing result last.
			tr := readTrace(trace)
			Expect(tr).NotTo(BeEmpty())
			last := tr[len(tr)-1]
			Expect(last.Event).To(Equal("result"))
			Expect(last.OK).To(HaveValue(BeTrue()))
			Expect(last.Violations).To(HaveValue(BeZero()))
			var steps, expects, states, buckets int
			for _, l := range tr[:len(tr)-1] {
				Expect(l.TMs).NotTo(BeNil(), "every line but the result has t_ms: %+v", l)
				switch l.Event {
				case "step":
					steps++
				case "expect":
					expects++
					Expect(l.OK).To(HaveValue(BeTrue()))
				case "state":
					states++
					Expect(l.Node).NotTo(BeEmpty())
				case "buckets":
					buckets++
					Expect(l.Group).NotTo(BeEmpty())
					Expect(len(l.Owned)).To(BeNumerically("<=", 256))
				}
			}
			Expect(states).To(BeNumerically(">", 0), "no state line")
			Expect(buckets).To(BeNumerically(">", 0), "no buckets line (the XDP maps were not read)")
			Expect(expects).To(BeNumerically(">", 0))
			for _, st := range sc.Steps {
				if st.Do != "" {
					Expect(steps).To(BeNumerically(">", 0))
					break
				}
			}
		})
	}

	It("reports a scenario that delays a LAN as skipped, with the reason, when the kernel has no netem", func() {
		dir := GinkgoT().TempDir()
		path := filepath.Join(dir, "delay.yaml")
		Expect(os.WriteFile(path, []byte(`name: short-delay
cluster: {nodes: [node1, node2]}
steps:
  - {at: 0s, do: start node1}
  - {at: 1s, do: delay default 20ms}
  - {at: 2s, expect: {node1: {state: UP}}}
`), 0o644)).To(Succeed())
		out, err := exec.Command(filepath.Join(binDir, "farmlab"), "run", "--prefix", prefix,
			"--state", filepath.Join(dir, "lab"), path).CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "%s", out)
		if strings.Contains(string(out), ": ok in ") {
			AddReportEntry("this kernel has sch_netem: the delay scenario ran", string(out))
			return
		}
		Expect(string(out)).To(ContainSubstring("== short-delay: SKIPPED: a step delays a LAN and this kernel has no sch_netem"))
		left, _ := filepath.Glob("/run/netns/" + prefix + "*")
		Expect(left).To(BeEmpty())
	})
})
