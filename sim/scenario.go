package sim

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"gopkg.in/yaml.v3"
)

// Scenario is one scenario file (SPEC §6). It round-trips through YAML so
// that the fuzzer can write the scenario of a failing seed.
type Scenario struct {
	Name    string              `yaml:"name"`
	Seed    *uint64             `yaml:"seed,omitempty"`
	Cluster *InlineCluster      `yaml:"cluster,omitempty"`
	Files   *Files              `yaml:"files,omitempty"`
	Farm    *FarmOverrides      `yaml:"farm,omitempty"`
	Scripts map[string]Duration `yaml:"scripts,omitempty"` // simulated durations; default prestart 10ms, start_both 100ms, stop_both 100ms, poststop 10ms
	Traffic *Traffic            `yaml:"traffic,omitempty"`
	Steps   []Step              `yaml:"steps"`

	// Path is the file the scenario came from ("" when built in memory);
	// `files:` are relative to its directory and errors name it.
	Path string `yaml:"-"`
	// stepLines[i] is the YAML line of Steps[i], for error messages.
	stepLines []int
}

// InlineCluster is `cluster:`: every node on every LAN, the default module AM.
type InlineCluster struct {
	Nodes []string       `yaml:"nodes"`
	LANs  []string       `yaml:"lans,omitempty"`
	Power map[string]int `yaml:"power,omitempty"`
	Files *Files         `yaml:"files,omitempty"` // `cluster: {files: ...}` is accepted too
}

// Files names real SafeKit files, relative to the scenario file.
type Files struct {
	Cluster    string `yaml:"cluster"`
	Userconfig string `yaml:"userconfig"`
}

// FarmOverrides replaces <farm> attributes of the module.
type FarmOverrides struct {
	Pulse      *Duration `yaml:"pulse,omitempty"`
	SlostCount *int      `yaml:"slost_count,omitempty"`
	MlostCount *int      `yaml:"mlost_count,omitempty"`
}

// Traffic asks for synthetic client flows checked by INV-8.
type Traffic struct {
	Clients int    `yaml:"clients"`
	Filter  string `yaml:"filter,omitempty"` // on_addr (default) | on_port: the inline module's rule filter
	Proto   string `yaml:"proto,omitempty"`  // tcp (default) | udp
	IPv6    bool   `yaml:"ipv6,omitempty"`   // clients (and the inline VIP) are IPv6
}

// Step is one timed step: a verb, an expectation, or both (verb first).
type Step struct {
	At     Duration              `yaml:"at"`
	Do     string                `yaml:"do,omitempty"`
	Expect map[string]NodeExpect `yaml:"expect,omitempty"`
}

// NodeExpect is what one node must show at a step.
type NodeExpect struct {
	State   string         `yaml:"state,omitempty"` // STOP | WAIT | UP
	Ready   *bool          `yaml:"ready,omitempty"`
	Share   *int           `yaml:"share,omitempty"` // percent of the first group
	Shares  map[string]int `yaml:"shares,omitempty"`
	Buckets *int           `yaml:"buckets,omitempty"` // count in the first group
	Rule    *string        `yaml:"rule,omitempty"`
}

// Duration is a time.Duration written as "3s", "250ms" in YAML.
type Duration time.Duration

// UnmarshalYAML accepts Go duration strings ("1m30s", "200ms", "0").
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: a duration must be a scalar like 3s or 200ms", n.Line)
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil || v < 0 {
		return fmt.Errorf("line %d: %q is not a duration (write e.g. 3s or 200ms)", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration in Go syntax.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// Ms is the duration in milliseconds.
func (d Duration) Ms() int64 { return int64(time.Duration(d) / time.Millisecond) }

// InputError is bad scenario input (farmsim exits 2 on it).
type InputError struct{ Msg string }

func (e *InputError) Error() string { return e.Msg }

func inputErr(format string, args ...any) error {
	return &InputError{Msg: fmt.Sprintf(format, args...)}
}

// LoadScenario reads and validates a scenario file.
func LoadScenario(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, inputErr("scenario: %v", err)
	}
	return ParseScenario(path, data)
}

// ParseScenario parses scenario YAML; path names it in errors and anchors `files:`.
func ParseScenario(path string, data []byte) (*Scenario, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		return nil, inputErr("%s: %v", path, err)
	}
	if len(root.Content) == 0 {
		return nil, inputErr("%s: empty scenario", path)
	}
	doc := root.Content[0]
	// Unknown keys are errors, x- keys are comments: check the keys against
	// the struct tags here (with line numbers), then decode leniently.
	if err := checkKeys(doc, typeOfScenario, ""); err != nil {
		return nil, inputErr("%s: %v", path, err)
	}
	stripX(doc)
	var sc Scenario
	if err := doc.Decode(&sc); err != nil {
		return nil, inputErr("%s: %v", path, err)
	}
	sc.Path = path
	if steps := mapValue(doc, "steps"); steps != nil && steps.Kind == yaml.SequenceNode {
		for _, s := range steps.Content {
			sc.stepLines = append(sc.stepLines, s.Line)
		}
	}
	if err := sc.validate(); err != nil {
		return nil, err
	}
	return &sc, nil
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// where names a step in errors: "scenarios/x.yaml: step 3 (line 12, at 3s)".
func (sc *Scenario) where(i int) string {
	line := ""
	if i < len(sc.stepLines) {
		line = fmt.Sprintf("line %d, ", sc.stepLines[i])
	}
	return fmt.Sprintf("%s: step %d (%sat %s)", sc.Path, i+1, line, time.Duration(sc.Steps[i].At))
}

// validate checks what does not need the cluster configuration.
func (sc *Scenario) validate() error {
	if sc.Name == "" {
		return inputErr("%s: missing name", sc.Path)
	}
	files := sc.Files
	if sc.Cluster != nil && sc.Cluster.Files != nil {
		if files != nil || len(sc.Cluster.Nodes) > 0 {
			return inputErr("%s: cluster: give either nodes/lans or files, not both", sc.Path)
		}
		files = sc.Cluster.Files
	}
	switch {
	case files == nil && sc.Cluster == nil:
		return inputErr("%s: needs cluster: {nodes: [...]} or files: {cluster: ..., userconfig: ...}", sc.Path)
	case files != nil && sc.Cluster != nil && sc.Cluster.Files == nil:
		return inputErr("%s: give either cluster: or files:, not both", sc.Path)
	case files != nil && (files.Cluster == "" || files.Userconfig == ""):
		return inputErr("%s: files: needs both cluster and userconfig", sc.Path)
	case files == nil && len(sc.Cluster.Nodes) == 0:
		return inputErr("%s: cluster: nodes is empty", sc.Path)
	}
	if sc.Traffic != nil {
		t := sc.Traffic
		if t.Clients < 0 || t.Clients > 100000 {
			return inputErr("%s: traffic: clients %d outside 0..100000", sc.Path, t.Clients)
		}
		if t.Filter != "" && t.Filter != "on_addr" && t.Filter != "on_port" {
			return inputErr("%s: traffic: filter %q (want on_addr or on_port)", sc.Path, t.Filter)
		}
		if t.Proto != "" && t.Proto != "tcp" && t.Proto != "udp" {
			return inputErr("%s: traffic: proto %q (want tcp or udp)", sc.Path, t.Proto)
		}
	}
	for name := range sc.Scripts {
		if !isScriptName(name) {
			return inputErr("%s: scripts: unknown script %q (prestart, start_both, stop_both, poststop)", sc.Path, name)
		}
	}
	for i, st := range sc.Steps {
		if st.Do == "" && len(st.Expect) == 0 {
			return inputErr("%s: needs do: or expect:", sc.where(i))
		}
		for node, e := range st.Expect {
			if e.State != "" && e.State != "STOP" && e.State != "WAIT" && e.State != "UP" {
				return inputErr("%s: expect %s: state %q (want STOP, WAIT or UP)", sc.where(i), node, e.State)
			}
		}
	}
	// Steps run in time order; equal times keep file order.
	idx := make([]int, len(sc.Steps))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return sc.Steps[idx[a]].At < sc.Steps[idx[b]].At })
	steps := make([]Step, len(idx))
	lines := make([]int, len(idx))
	for i, j := range idx {
		steps[i] = sc.Steps[j]
		if j < len(sc.stepLines) {
			lines[i] = sc.stepLines[j]
		}
	}
	sc.Steps, sc.stepLines = steps, lines
	return nil
}

func isScriptName(s string) bool {
	switch s {
	case "prestart", "start_both", "stop_both", "poststop":
		return true
	}
	return false
}

// Marshal writes the scenario as YAML (what the fuzzer saves for a replay).
func (sc *Scenario) Marshal() ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(sc); err != nil {
		return nil, fmt.Errorf("scenario %s: %w", sc.Name, err)
	}
	return b.Bytes(), nil
}

// resolve makes a `files:` path relative to the scenario's directory.
func (sc *Scenario) resolve(p string) string {
	if filepath.IsAbs(p) || sc.Path == "" {
		return p
	}
	return filepath.Join(filepath.Dir(sc.Path), p)
}

// String is the Go syntax of the duration.
func (d Duration) String() string { return time.Duration(d).String() }

func durationOf(d Duration) time.Duration { return time.Duration(d) }
