// Package daemon is farmd: the production driver of the core. It loads the
// home directory, runs one goroutine per module around its core.Node
// (Tick on a 10 ms ticker, Step on heartbeats, script ends, checker verdicts
// and commands, then carries out Ready: UDP heartbeats, script processes,
// VIP addresses, XDP tables, ARP announcements, module log lines), and
// serves the HTTP admin API and the farmctl control socket. Front ends never
// touch a module's state: their calls are messages to its goroutine.
package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/vipfarm/vipfarm/core"
	"github.com/vipfarm/vipfarm/internal/api"
	"github.com/vipfarm/vipfarm/internal/console"
	"github.com/vipfarm/vipfarm/internal/control"
	"github.com/vipfarm/vipfarm/internal/home"
	"github.com/vipfarm/vipfarm/internal/metrics"
	"github.com/vipfarm/vipfarm/internal/view"
)

// Options configure farmd (its flags).
type Options struct {
	Home       string // configuration directory (default /etc/vipfarm)
	State      string // state directory: logs, socket (default /var/lib/vipfarm)
	Socket     string // control socket; "" = <State>/farmd.sock, or /run/vipfarm/farmd.sock with the default State
	Node       string // this node's name; "" = found from the local addresses
	Admin      string // HTTP listen address (default :9010); "off" disables it
	NoXDP      bool   // run without the XDP dataplane (failover only), loudly
	XDPGeneric bool   // attach XDP in generic (skb) mode
	DrainMs    uint32 // how long moved buckets keep reaching their previous owner's flows
	Farmctl    string // farmctl binary for the $SAFE/safekit alias; "" = next to farmd
	// StopTimeout bounds a module's clean stop at shutdown and reload.
	StopTimeout time.Duration
	Log         *slog.Logger
	// Dataplanes overrides the dataplane factory (tests); nil = XDP or NoDataplane per NoXDP.
	Dataplanes DataplaneFactory
}

// Default values of Options.
const (
	DefaultHome        = "/etc/vipfarm"
	DefaultState       = "/var/lib/vipfarm"
	DefaultDrainMs     = 3000
	DefaultStopTimeout = 60 * time.Second
)

// Daemon is a running farmd.
type Daemon struct {
	opts       Options
	log        *slog.Logger
	metrics    *metrics.Metrics
	dataplanes DataplaneFactory
	self       string
	safeBin    string
	started    time.Time

	mu      sync.Mutex // guards cfg and runners (reload vs. API lookups)
	cfg     *home.Home
	runners map[string]*runner

	reloadMu sync.Mutex // one reload at a time
	http     *http.Server
	httpLn   net.Listener
	ctl      *control.Server
}

// New loads the home and prepares the daemon; Run starts it.
func New(opts Options) (*Daemon, error) {
	if opts.Home == "" {
		opts.Home = DefaultHome
	}
	if opts.State == "" {
		opts.State = DefaultState
	}
	if opts.Socket == "" {
		opts.Socket = filepath.Join(opts.State, "farmd.sock")
		if opts.State == DefaultState {
			opts.Socket = control.DefaultSocket
		}
	}
	if opts.Admin == "" {
		opts.Admin = api.DefaultAddr
	}
	if opts.DrainMs == 0 {
		opts.DrainMs = DefaultDrainMs
	}
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = DefaultStopTimeout
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	var err error
	for _, p := range []*string{&opts.Home, &opts.State, &opts.Socket} {
		if *p, err = filepath.Abs(*p); err != nil {
			return nil, err
		}
	}
	d := &Daemon{opts: opts, log: opts.Log, metrics: metrics.New(), runners: map[string]*runner{}, started: time.Now()}
	d.dataplanes = opts.Dataplanes
	if d.dataplanes == nil {
		d.dataplanes = XDP()
		if opts.NoXDP {
			d.dataplanes = NoDataplane(d.log)
		}
	}
	if d.cfg, err = home.Load(opts.Home, os.LookupEnv); err != nil {
		return nil, err
	}
	local, err := home.LocalAddrs()
	if err != nil {
		return nil, err
	}
	if d.self, err = home.Self(d.cfg.Cluster, opts.Node, local); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.State, 0o755); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	d.safeBin = d.linkSafekit()
	return d, nil
}

// linkSafekit makes $SAFE/safekit a symlink to farmctl (SafeKit scripts call
// "$SAFE/safekit" printe / stop -i ...) and returns farmctl's directory.
func (d *Daemon) linkSafekit() string {
	ctl := d.opts.Farmctl
	if ctl == "" {
		exe, err := os.Executable()
		if err == nil {
			ctl = filepath.Join(filepath.Dir(exe), "farmctl")
		}
	}
	if ctl == "" {
		d.log.Warn("farmctl not found: $SAFE/safekit will not work in scripts")
		return "/usr/sbin"
	}
	if _, err := os.Stat(ctl); err != nil {
		d.log.Warn("farmctl not found: $SAFE/safekit will not work in scripts", "path", ctl, "err", err)
		return filepath.Dir(ctl)
	}
	link := filepath.Join(d.opts.Home, "safekit")
	if cur, err := os.Readlink(link); err != nil || cur != ctl {
		_ = os.Remove(link)
		if err := os.Symlink(ctl, link); err != nil {
			d.log.Warn("cannot create the safekit alias of farmctl", "link", link, "err", err)
		}
	}
	return filepath.Dir(ctl)
}

// Self is this node's name.
func (d *Daemon) Self() string { return d.self }

// Run starts the modules, the control socket and the HTTP server, and
// blocks until ctx ends; then it stops every module cleanly and returns.
func (d *Daemon) Run(ctx context.Context) error {
	d.log.Info("farmd starting", "node", d.self, "home", d.opts.Home, "state", d.opts.State,
		"modules", len(d.cfg.Modules), "no_xdp", d.opts.NoXDP)
	tok, err := api.LoadToken(home.TokenFile(d.opts.Home))
	if err != nil {
		return err
	}
	d.ctl = &control.Server{Farm: d, Log: d.log, AllowUID: os.Getuid()}
	if err := d.ctl.Listen(d.opts.Socket); err != nil {
		return err
	}
	go func() {
		if err := d.ctl.Serve(); err != nil {
			d.log.Error("control socket", "err", err)
		}
	}()
	if d.opts.Admin != "off" {
		ln, err := net.Listen("tcp", d.opts.Admin)
		if err != nil {
			d.ctl.Close()
			return fmt.Errorf("admin HTTP %s: %w", d.opts.Admin, err)
		}
		d.mu.Lock()
		d.httpLn = ln
		d.mu.Unlock()
		d.http = &http.Server{Handler: api.New(d, tok, d.metrics.Registry, d.log, d.console()), ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := d.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				d.log.Error("admin HTTP", "err", err)
			}
		}()
	}
	d.mu.Lock()
	for _, m := range d.cfg.Modules {
		r, err := newRunner(d, m, d.cfg, uint64(time.Now().UnixNano()))
		if err != nil {
			d.log.Error("module not started", "module", m.Name, "err", err)
			continue
		}
		d.runners[m.Name] = r
		r.start()
	}
	d.mu.Unlock()
	<-ctx.Done()
	d.log.Info("farmd stopping: stopping every module")
	d.mu.Lock()
	rs := make([]*runner, 0, len(d.runners))
	for _, r := range d.runners {
		rs = append(rs, r)
	}
	d.runners = map[string]*runner{}
	d.mu.Unlock()
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.shutdown(d.opts.StopTimeout)
		}()
	}
	wg.Wait()
	if d.http != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = d.http.Shutdown(sctx)
		cancel()
	}
	d.ctl.Close()
	d.log.Info("farmd stopped")
	return nil
}

// console is the web console, reading every node's admin port at its
// address on the first LAN of cluster.xml (the same port as ours).
func (d *Daemon) console() http.Handler {
	_, port, err := net.SplitHostPort(d.opts.Admin)
	if err != nil || len(d.cfg.Cluster.LANs) == 0 {
		return console.Handler(console.Options{})
	}
	var o console.Options
	for i, n := range d.cfg.Cluster.Nodes {
		a := d.cfg.Cluster.LANs[0].Addrs[i].Unmap()
		o.Peers = append(o.Peers, "http://"+net.JoinHostPort(a.String(), port))
		o.Names = append(o.Names, n)
	}
	if err := o.Validate(); err != nil {
		d.log.Warn("web console shows this node only", "err", err)
		return console.Handler(console.Options{})
	}
	return console.Handler(o)
}

// AdminAddr is the HTTP server's address (after Run started it).
func (d *Daemon) AdminAddr() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.httpLn == nil {
		return ""
	}
	return d.httpLn.Addr().String()
}

// Reload re-reads the home. A new configuration with any error is refused
// as a whole and the running one stays. Modules whose files did not change
// keep running untouched; a changed module is stopped cleanly and started
// again with the new configuration when it was running; new modules start
// as at boot; removed modules stop.
func (d *Daemon) Reload() error {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	nh, err := home.Load(d.opts.Home, os.LookupEnv)
	if err != nil {
		d.log.Error("reload refused: the running configuration is kept", "err", err)
		return fmt.Errorf("reload refused: %w", err)
	}
	if !slices.Contains(nh.Cluster.Nodes, d.self) {
		err := fmt.Errorf("reload refused: node %s is no longer in cluster.xml", d.self)
		d.log.Error(err.Error())
		return err
	}
	d.mu.Lock()
	old := d.cfg
	d.mu.Unlock()
	clusterChanged := !bytes.Equal(old.ClusterData, nh.ClusterData) || !bytes.Equal(old.Key, nh.Key)
	var restart []string
	for _, om := range old.Modules {
		nm := nh.Module(om.Name)
		if nm != nil && !clusterChanged && bytes.Equal(nm.Data, om.Data) && nm.Port == om.Port {
			continue
		}
		d.mu.Lock()
		r := d.runners[om.Name]
		delete(d.runners, om.Name)
		d.mu.Unlock()
		if r == nil {
			continue
		}
		wasRunning := core.State(r.state.Load()) != core.StateStop
		r.shutdown(d.opts.StopTimeout)
		d.metrics.ForgetModule(om.Name)
		if nm != nil && wasRunning {
			restart = append(restart, om.Name)
		}
	}
	d.mu.Lock()
	d.cfg = nh
	d.mu.Unlock()
	for _, m := range nh.Modules {
		d.mu.Lock()
		_, running := d.runners[m.Name]
		d.mu.Unlock()
		if running {
			continue
		}
		r, err := newRunner(d, m, nh, uint64(time.Now().UnixNano()))
		if err != nil {
			d.log.Error("module not started after reload", "module", m.Name, "err", err)
			continue
		}
		d.mu.Lock()
		d.runners[m.Name] = r
		d.mu.Unlock()
		r.start()
		if slices.Contains(restart, m.Name) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = r.call(ctx, func() error { return r.node.Step(core.Command{Verb: core.VerbStart}) })
			cancel()
		}
	}
	d.log.Info("configuration reloaded", "modules", len(nh.Modules), "restarted", restart)
	return nil
}

func (d *Daemon) runner(name string) (*runner, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.runners[name]
	if r == nil {
		return nil, fmt.Errorf("module %q: %w", name, view.ErrNoModule)
	}
	return r, nil
}
