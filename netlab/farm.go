package netlab

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vipfarm/vipfarm/internal/view"
)

// FarmOptions say how StartFarm runs the farm.
type FarmOptions struct {
	Farmd   string // farmd binary (absolute path)
	Farmlab string // farmlab binary: the demo service of the module's scripts
	Filter  string // on_addr (default) or on_port
	// Home overrides the module's <farm> and powers (Farmlab and Filter
	// above win over its fields of the same name).
	Home HomeOptions
	// ExtraArgs are appended to every farmd command line (e.g. --debug).
	ExtraArgs []string
	// StartModules starts the module on every node, one after the other,
	// and waits until the farm is UP with balanced shares.
	StartModules bool
	Timeout      time.Duration // for the whole start; default 60s
}

// FindBinary locates a lab binary: the explicit path, else next to the
// running executable (`make build` puts them all in bin/), else on PATH.
func FindBinary(name, explicit string) (string, error) {
	if explicit != "" {
		p, err := filepath.Abs(explicit)
		if err != nil {
			return "", err
		}
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s binary: %w", name, err)
		}
		return p, nil
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return filepath.Abs(p)
	}
	return "", fmt.Errorf("%s binary not found next to %s or on PATH: run `make build` (or go build -o bin/ ./cmd/...) or pass --%s", name, os.Args[0], name)
}

// AdminURL is the base URL of node's farmd admin server.
func (l *Lab) AdminURL(n Node) string {
	return "http://" + netip.AddrPortFrom(n.Addrs[0], uint16(l.Plan.Spec.AdminPort)).String()
}

// StartFarm writes the nodes' homes, starts farmd in every node namespace
// and, with StartModules, starts the module everywhere and waits for a
// balanced farm.
func (l *Lab) StartFarm(ctx context.Context, o FarmOptions) error {
	if o.Timeout == 0 {
		o.Timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	ho := o.Home
	ho.Farmlab, ho.Filter = o.Farmlab, o.Filter
	if err := l.WriteHomes(ho); err != nil {
		return err
	}
	for _, n := range l.Plan.Nodes {
		admin := netip.AddrPortFrom(n.Addrs[0], uint16(l.Plan.Spec.AdminPort)).String()
		argv := append([]string{o.Farmd,
			"--home", l.HomeDir(n.Name),
			"--state", l.VarDir(n.Name),
			"--node", n.Name,
			"--admin", admin,
		}, o.ExtraArgs...)
		if err := l.state.update(func(s *State) {
			if s.FarmdArgv == nil {
				s.FarmdArgv = map[string][]string{}
			}
			s.FarmdArgv[n.Name] = argv
		}); err != nil {
			return err
		}
		if _, err := l.StartDaemon("farmd "+n.Name, n.NS, argv, nil, l.FarmdLog(n.Name)); err != nil {
			return err
		}
		// One after the other, in the plan's (the scenario's) order: with
		// boot="on" the modules join in that order, as the simulator's do.
		if err := l.waitAdmin(ctx, n); err != nil {
			return err
		}
	}
	if !o.StartModules {
		return nil
	}
	for _, n := range l.Plan.Nodes {
		if err := l.ModuleAction(ctx, n.Name, "start"); err != nil {
			return err
		}
	}
	return l.WaitBalanced(ctx)
}

// waitAdmin waits until node's farmd answers on its admin port, or its
// process dies.
func (l *Lab) waitAdmin(ctx context.Context, n Node) error {
	for {
		_, err := l.Module(ctx, n.Name)
		if err == nil {
			return nil
		}
		for _, pr := range l.State().Procs {
			if pr.NS == n.NS && !alive(pr.PID, pr.StartTicks) {
				return fmt.Errorf("farmd of %s exited; its log %s ends:\n%s", n.Name, pr.Log, tail(pr.Log, 15))
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("farmd of %s does not answer on %s (%v); see %s", n.Name, l.AdminURL(n), err, l.FarmdLog(n.Name))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// WaitBalanced waits until every node's module is UP ready and the shares
// follow INV-3 (equal powers: each count within ±1 of 256/N, all 256
// buckets owned).
func (l *Lab) WaitBalanced(ctx context.Context) error {
	var last string
	for {
		st, err := l.Status(ctx)
		if err == nil {
			last = st.summary()
			if st.balanced() {
				return nil
			}
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the farm is not UP and balanced: %s", last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// httpClient dials from inside node's namespace (the admin address lives
// there; farmlab itself runs outside every lab namespace).
func (l *Lab) httpClient(ns string) *http.Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return DialContext(ctx, ns, network, addr, nil)
		},
		DisableKeepAlives: true,
	}
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

// Module returns node's view of the lab module (GET /api/v1/modules/<AM>).
func (l *Lab) Module(ctx context.Context, node string) (view.Module, error) {
	n, ok := l.Plan.NodeByName(node)
	if !ok {
		return view.Module{}, fmt.Errorf("lab: no node called %q", node)
	}
	url := l.AdminURL(n) + "/api/v1/modules/" + l.Plan.Spec.Module
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return view.Module{}, err
	}
	resp, err := l.httpClient(n.NS).Do(req)
	if err != nil {
		return view.Module{}, fmt.Errorf("%s: %w", node, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return view.Module{}, fmt.Errorf("%s: GET %s: %w", node, url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return view.Module{}, fmt.Errorf("%s: GET %s: %s: %s", node, url, resp.Status, strings.TrimSpace(string(body)))
	}
	var m view.Module
	if err := json.Unmarshal(body, &m); err != nil {
		return view.Module{}, fmt.Errorf("%s: GET %s: %w", node, url, err)
	}
	return m, nil
}

// ModuleAction asks node's farmd to start|stop|restart|stopstart the module.
func (l *Lab) ModuleAction(ctx context.Context, node, verb string) error {
	n, ok := l.Plan.NodeByName(node)
	if !ok {
		return fmt.Errorf("lab: no node called %q", node)
	}
	tok, err := os.ReadFile(l.TokenPath(node))
	if err != nil {
		return fmt.Errorf("%s %s: admin token: %w", verb, node, err)
	}
	url := l.AdminURL(n) + "/api/v1/modules/" + l.Plan.Spec.Module + "/" + verb
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	resp, err := l.httpClient(n.NS).Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", verb, node, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: POST %s: %s: %s", verb, node, url, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

// Status is `farmlab status --json`.
type Status struct {
	Module  string         `json:"module"`
	VIP     string         `json:"vip"`
	VIP6    string         `json:"vip6,omitempty"`
	Nodes   []NodeStatus   `json:"nodes"`
	Clients []ClientStatus `json:"clients"`
	Faults  []string       `json:"faults,omitempty"`
}

// NodeStatus is one node in Status. State is the module state from its
// farmd (STOP|WAIT|UP), "ERROR" when farmd does not answer, "" when the lab
// runs no farmd.
type NodeStatus struct {
	Name     string            `json:"name"`
	NS       string            `json:"netns"`
	Addrs    map[string]string `json:"addrs"`
	AdminURL string            `json:"admin_url"`
	State    string            `json:"state"`
	Ready    bool              `json:"ready"`
	Share    int               `json:"share"`
	Buckets  int               `json:"buckets"`
	Error    string            `json:"error,omitempty"`
}

// ClientStatus is one client in Status.
type ClientStatus struct {
	Name string `json:"name"`
	NS   string `json:"netns"`
	Addr string `json:"addr"`
	// Sources is the range of extra source addresses, "first-last".
	Sources string `json:"sources,omitempty"`
}

// Status asks every node's farmd for its module (when the lab runs farmd).
func (l *Lab) Status(ctx context.Context) (Status, error) {
	p := l.Plan
	st := Status{Module: p.Spec.Module, VIP: p.VIP.String()}
	if p.VIP6.IsValid() {
		st.VIP6 = p.VIP6.String()
	}
	state := l.State()
	farm := false
	for _, pr := range state.Procs {
		if strings.HasPrefix(pr.Role, "farmd ") {
			farm = true
		}
	}
	for _, n := range p.Nodes {
		ns := NodeStatus{Name: n.Name, NS: n.NS, Addrs: map[string]string{}, AdminURL: l.AdminURL(n)}
		for i, lan := range p.Spec.LANs {
			ns.Addrs[lan] = n.Addrs[i].String()
		}
		if farm {
			m, err := l.Module(ctx, n.Name)
			if err != nil {
				ns.State, ns.Error = "ERROR", err.Error()
			} else {
				ns.State, ns.Ready = m.State, m.Ready
				if len(m.Groups) > 0 {
					ns.Share, ns.Buckets = m.Groups[0].Share, m.Groups[0].Buckets
				}
			}
		}
		st.Nodes = append(st.Nodes, ns)
	}
	for _, c := range p.Clients {
		cs := ClientStatus{Name: c.Name, NS: c.NS, Addr: c.Addr.String()}
		if len(c.Sources) > 0 {
			cs.Sources = c.Sources[0].String() + "-" + c.Sources[len(c.Sources)-1].String()
		}
		st.Clients = append(st.Clients, cs)
	}
	for _, c := range state.Cuts {
		st.Faults = append(st.Faults, "cut "+c.LAN+" "+c.Node)
	}
	lans := make([]string, 0, len(state.LANFaults))
	for lan := range state.LANFaults {
		lans = append(lans, lan)
	}
	slices.Sort(lans) // a stable listing, whatever the map's order
	for _, lan := range lans {
		f := state.LANFaults[lan]
		if len(f.Groups) > 0 {
			var gs []string
			for _, g := range f.Groups {
				gs = append(gs, strings.Join(g, ","))
			}
			st.Faults = append(st.Faults, "partition "+lan+" "+strings.Join(gs, "|"))
		}
		if f.LossPct > 0 {
			st.Faults = append(st.Faults, "loss "+lan+" "+strconv.FormatFloat(f.LossPct, 'g', -1, 64)+"%")
		}
		if f.DelayMs > 0 {
			st.Faults = append(st.Faults, "delay "+lan+" "+(time.Duration(f.DelayMs)*time.Millisecond).String())
		}
	}
	return st, nil
}

// balanced: every node UP ready, all 256 buckets owned, each within ±1 of
// the equal share (INV-3 with equal powers).
func (s Status) balanced() bool {
	if len(s.Nodes) == 0 {
		return false
	}
	total := 0
	for _, n := range s.Nodes {
		if n.State != "UP" || !n.Ready {
			return false
		}
		total += n.Buckets
	}
	if total != 256 {
		return false
	}
	for _, n := range s.Nodes {
		want := 256 * 1000 / len(s.Nodes) // thousandths of a bucket
		if d := n.Buckets*1000 - want; d <= -1000 || d >= 1000 {
			return false
		}
	}
	return true
}

func (s Status) summary() string {
	var parts []string
	for _, n := range s.Nodes {
		p := fmt.Sprintf("%s %s %d/256", n.Name, n.State, n.Buckets)
		if n.Error != "" {
			p += " (" + n.Error + ")"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ", ")
}

// tail returns the last n lines of a file, for error messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
