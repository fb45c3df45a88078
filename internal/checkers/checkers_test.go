package checkers

import (
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/vipfarm/vipfarm/core"
	"github.com/vipfarm/vipfarm/core/config"
)

type sink chan core.Event

func (s sink) post(ev core.Event) { s <- ev }

// want waits for want, skipping other events (checkers run concurrently, so
// tests only wait for events whose order is guaranteed).
func (s sink) want(t *testing.T, want core.Event) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case ev := <-s:
			if ev == want {
				return
			}
		case <-deadline:
			t.Fatalf("no %+v", want)
		}
	}
}

// wantAll waits for every event of want, in any order.
func (s sink) wantAll(t *testing.T, want ...core.Event) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for len(want) > 0 {
		select {
		case ev := <-s:
			if i := slices.Index(want, ev); i >= 0 {
				want = slices.Delete(want, i, i+1)
			}
		case <-deadline:
			t.Fatalf("missing %+v", want)
		}
	}
}

func setup(s sink, checks ...config.Check) Setup {
	return Setup{Module: &config.Module{Name: "AM", Checks: checks}, Post: s.post,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func TestTCPChecker(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	s := make(sink, 16)
	set, err := Start(setup(s, config.Check{Kind: config.CheckTCP, Ident: "web", Addr: "127.0.0.1", Port: port,
		Interval: 20 * time.Millisecond, Timeout: time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	defer set.Stop()
	s.want(t, core.ResourceEvent{Name: "tcp.web", State: core.ResUp})
	ln.Close()
	s.want(t, core.ResourceEvent{Name: "tcp.web", State: core.ResDown})
}

func TestTCPCheckerKick(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	ln.Close() // nothing listens yet: the application is not started
	s := make(sink, 16)
	set, err := Start(setup(s, config.Check{Kind: config.CheckTCP, Ident: "app", Addr: "127.0.0.1", Port: addr.Port,
		Interval: time.Hour, Timeout: time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	defer set.Stop()
	s.want(t, core.ResourceEvent{Name: "tcp.app", State: core.ResDown})
	ln, err = net.Listen("tcp", addr.String())
	if err != nil {
		t.Skipf("port taken meanwhile: %v", err)
	}
	defer ln.Close()
	set.Kick() // the module became UP ready: no hour-long wait for the verdict
	s.want(t, core.ResourceEvent{Name: "tcp.app", State: core.ResUp})
}

func TestBadCheckerRefused(t *testing.T) {
	s := make(sink, 1)
	if _, err := Start(setup(s, config.Check{Kind: config.CheckTCP, Ident: "x", Addr: "127.0.0.1", Port: 0})); err == nil {
		t.Fatal("tcp checker without port accepted")
	}
	if _, err := Start(setup(s, config.Check{Kind: config.CheckPing, Ident: "x", Addr: "not-an-ip"})); err == nil {
		t.Fatal("ping checker with a bad address accepted")
	}
}

func TestPingLoopback(t *testing.T) {
	if _, err := Ping(netip.MustParseAddr("127.0.0.1"), time.Second); err != nil {
		t.Skipf("no ICMP socket here (need root or net.ipv4.ping_group_range): %v", err)
	}
	s := make(sink, 4)
	set, err := Start(setup(s, config.Check{Kind: config.CheckPing, Ident: "gw", Addr: "127.0.0.1", Interval: time.Second, Timeout: time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	defer set.Stop()
	s.want(t, core.ResourceEvent{Name: "ping.gw", State: core.ResUp})
}

func TestIPChecker(t *testing.T) {
	s := make(sink, 4)
	st := setup(s,
		config.Check{Kind: config.CheckIP, Ident: "127.0.0.1", Interval: time.Hour},
		config.Check{Kind: config.CheckIP, Ident: "198.18.255.254", Interval: time.Hour})
	var open atomic.Bool
	st.VIPOpen = open.Load
	set, err := Start(st)
	if err != nil {
		t.Fatal(err)
	}
	defer set.Stop()
	// VIP not opened by this node: nothing to check.
	s.wantAll(t, core.ResourceEvent{Name: "ip.127.0.0.1", State: core.ResUp},
		core.ResourceEvent{Name: "ip.198.18.255.254", State: core.ResUp})
	// Opened: presence decides, at once on Kick (the interval is an hour).
	open.Store(true)
	set.Kick()
	s.want(t, core.ResourceEvent{Name: "ip.198.18.255.254", State: core.ResDown})
}

func TestIntfCheckerFollowsTheLink(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a veth pair")
	}
	suffix := strconv.Itoa(os.Getpid() % 10000)
	name, peer := "vf-h6-a"+suffix, "vf-h6-b"+suffix
	l := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: peer}
	if err := netlink.LinkAdd(l); err != nil {
		t.Skipf("cannot create a veth pair: %v", err)
	}
	defer netlink.LinkDel(l)
	p, err := netlink.LinkByName(peer)
	if err != nil {
		t.Fatal(err)
	}
	s := make(sink, 16)
	set, err := Start(setup(s, config.Check{Kind: config.CheckIntf, Ident: "198.18.250.0", Intf: name, Interval: 10 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	defer set.Stop()
	s.want(t, core.ResourceEvent{Name: "intf.198.18.250.0", State: core.ResDown})
	// Both ends up: carrier. The verdict comes from the subscription, not the 10 s poll.
	if err := netlink.LinkSetUp(l); err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(p); err != nil {
		t.Fatal(err)
	}
	s.want(t, core.ResourceEvent{Name: "intf.198.18.250.0", State: core.ResUp})
	// The far end down: our end loses its carrier.
	if err := netlink.LinkSetDown(p); err != nil {
		t.Fatal(err)
	}
	s.want(t, core.ResourceEvent{Name: "intf.198.18.250.0", State: core.ResDown})
}

func TestCustomCheckerRunsWithTheScriptEnvironment(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	prog := filepath.Join(dir, "check.sh")
	os.WriteFile(prog, []byte("#!/bin/sh\necho \"$1|$2|$SAFEMODULE\" > "+out+"\nexec sleep 60\n"), 0o755)
	s := make(sink, 1)
	st := setup(s, config.Check{Kind: config.CheckCustom, Ident: "x", Program: prog, Args: `"a b" c`, Interval: time.Second})
	st.ScriptEnv = []string{"SAFEMODULE=AM", "PATH=/usr/bin:/bin"}
	st.WorkDir = dir
	set, err := Start(st)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	var b []byte
	for time.Now().Before(deadline) {
		if b, _ = os.ReadFile(out); len(b) > 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if string(b) != "a b|c|AM\n" {
		t.Fatalf("program saw %q", b)
	}
	done := make(chan struct{})
	go func() { set.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("stop did not kill the custom checker")
	}
}

func TestSplitArgs(t *testing.T) {
	got, err := SplitArgs(`-x 'single q' "double \"q\"" back\ slash`)
	if err != nil || !slices.Equal(got, []string{"-x", "single q", `double "q"`, "back slash"}) {
		t.Fatalf("%q %v", got, err)
	}
	if _, err := SplitArgs(`"open`); err == nil {
		t.Fatal("unterminated quote accepted")
	}
}

func TestErrdAsksForTheAction(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	counts, err := CountProcs("/proc")
	if err != nil || counts["sleep"] < 1 {
		t.Fatalf("sleep not counted: %v %v", err, counts["sleep"])
	}
	s := make(sink, 4)
	st := setup(s)
	st.Module.Errd = &config.Errd{PollTimer: 20 * time.Millisecond, Procs: []config.Proc{
		{Name: "sleep", AtLeast: 1, Action: "restart"},
		{Name: "vf-h6-nonexistent-daemon", AtLeast: 1, Action: "stopstart"},
	}}
	st.UpReady = func() bool { return true }
	set, err := Start(st)
	if err != nil {
		t.Fatal(err)
	}
	defer set.Stop()
	s.wantAll(t, core.ResourceEvent{Name: "proc.sleep", State: core.ResUp},
		core.ResourceEvent{Name: "proc.vf-h6-nonexistent-daemon", State: core.ResDown},
		core.Command{Verb: core.VerbStopStart, Ident: "errd"})
}
