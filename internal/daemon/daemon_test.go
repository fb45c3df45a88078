package daemon

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vipfarm/vipfarm/internal/control"
	"github.com/vipfarm/vipfarm/internal/home"
	"github.com/vipfarm/vipfarm/internal/view"
)

// Two daemons in this process form a farm over loopback (127.0.0.1 and
// 127.0.0.2): real UDP heartbeats, real script processes, the real HTTP
// server and control socket; no VIP, so no root is needed.

const testCluster = `<cluster>
  <lans port="4900">
    <lan name="default"><node name="node1" addr="127.0.0.1"/><node name="node2" addr="127.0.0.2"/></lan>
  </lans>
</cluster>
`

const testModule = `<safe>
<service mode="farm" boot="off">
  <farm port="%PORT%"><lan name="default"/></farm>
  <user><var name="WHO" value="%WHO%"/></user>
</service>
</safe>
`

const testScript = `#!/bin/sh
echo "$(basename "$0") $1 $2 $3 $WHO" >> "$SAFEUSERVAR/calls"
`

func writeTestHome(t *testing.T, dir, port, who string) {
	t.Helper()
	files := map[string]string{
		"cluster/cluster.xml":            testCluster,
		"modules/AM/conf/userconfig.xml": strings.NewReplacer("%PORT%", port, "%WHO%", who).Replace(testModule),
	}
	for _, s := range []string{"prestart", "start_both", "stop_both", "poststop"} {
		files["modules/AM/bin/"+s] = testScript
	}
	for p, data := range files {
		p = filepath.Join(dir, p)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(data), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(home.KeyFile(dir), []byte("00112233445566778899aabbccddeeff\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chmod(home.KeyFile(dir), 0o600)
}

type testDaemon struct {
	d     *Daemon
	home  string
	state string
	stop  context.CancelFunc
	done  chan error
}

func startTestDaemon(t *testing.T, node, port string) *testDaemon {
	t.Helper()
	td := &testDaemon{home: t.TempDir(), state: t.TempDir(), done: make(chan error, 1)}
	writeTestHome(t, td.home, port, node)
	d, err := New(Options{Home: td.home, State: td.state, Node: node, Admin: "127.0.0.1:0",
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), StopTimeout: 10 * time.Second,
		Dataplanes: func(string) (Dataplane, error) {
			t.Error("a module without VIP asked for a dataplane")
			return &noDataplane{}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	td.d = d
	ctx, cancel := context.WithCancel(context.Background())
	td.stop = cancel
	go func() { td.done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-td.done
	})
	waitFor(t, "control socket", func() bool { _, err := os.Stat(filepath.Join(td.state, "farmd.sock")); return err == nil })
	waitFor(t, "admin HTTP", func() bool { return d.AdminAddr() != "" })
	// The control socket answers before the modules' runners exist; a
	// request in between gets "no such module".
	waitFor(t, "module AM", func() bool { return len(d.Modules()) > 0 })
	return td
}

// freePort finds a UDP port free on 127.0.0.1 and 127.0.0.2: fixed ports
// could collide with other tests of the machine.
func freePort(t *testing.T) string {
	t.Helper()
	for range 20 {
		a, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		port := a.LocalAddr().(*net.UDPAddr).Port
		b, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2), Port: port})
		a.Close()
		if err == nil {
			b.Close()
			return strconv.Itoa(port)
		}
	}
	t.Fatal("no free UDP port")
	return ""
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (td *testDaemon) module(t *testing.T) view.Module {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := td.d.Module(ctx, "AM")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (td *testDaemon) calls() string {
	b, _ := os.ReadFile(filepath.Join(td.state, "modules", "AM", "calls"))
	return string(b)
}

func TestTwoDaemonsOverLoopback(t *testing.T) {
	port := freePort(t)
	a := startTestDaemon(t, "node1", port)
	b := startTestDaemon(t, "node2", port)
	sock := filepath.Join(a.state, "farmd.sock")
	if _, err := control.Call(sock, control.Request{Verb: "start", Module: "AM"}, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := control.Call(filepath.Join(b.state, "farmd.sock"), control.Request{Verb: "start", Module: "AM"}, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, td := range []*testDaemon{a, b} {
		waitFor(t, "UP ready with the peer alive", func() bool {
			m := td.module(t)
			return m.State == "UP" && m.Ready && len(m.Peers) == 1 && m.Peers[0].Alive
		})
	}
	if c := a.calls(); !strings.Contains(c, "prestart STOP UP start node1") || !strings.Contains(c, "start_both STOP UP start node1") {
		t.Errorf("scripts of node1: %q", c)
	}
	m := a.module(t)
	if m.Counters.HeartbeatsSent["default"] == 0 || m.Counters.HeartbeatsReceived["default"] == 0 {
		t.Errorf("heartbeat counters %+v", m.Counters)
	}
	if m.Counters.ScriptRuns["start_both"] != 1 {
		t.Errorf("script runs %v", m.Counters.ScriptRuns)
	}

	resp, err := http.Get("http://" + a.d.AdminAddr() + "/var/modules/AM/ready.txt")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("ready.txt: %d", resp.StatusCode)
	}

	// printi and log over the control socket.
	if _, err := control.Call(sock, control.Request{Verb: "printi", Module: "AM", Message: "hello from the test"}, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	r, err := control.Call(sock, control.Request{Verb: "log", Module: "AM", Lines: 1}, 5*time.Second)
	if err != nil || len(r.Lines) != 1 || !strings.HasSuffix(r.Lines[0], "| I | hello from the test") {
		t.Errorf("log: %v %q", err, r.Lines)
	}

	// A bad configuration is refused whole; the module keeps running.
	p := home.ModuleFile(a.home, "AM")
	good, _ := os.ReadFile(p)
	os.WriteFile(p, []byte(strings.Replace(string(good), "<user>", "<user bogus=\"x\">", 1)), 0o644)
	if err := a.d.Reload(); err == nil || !strings.Contains(err.Error(), "userconfig.xml:4") {
		t.Fatalf("bad reload: %v", err)
	}
	if m := a.module(t); m.State != "UP" {
		t.Fatalf("state after a refused reload: %s", m.State)
	}
	// A good change restarts the module with the new configuration.
	os.WriteFile(p, []byte(strings.NewReplacer("%PORT%", port, "%WHO%", "node1-reloaded").Replace(testModule)), 0o644)
	if err := a.d.Reload(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "module restarted after reload", func() bool {
		m := a.module(t)
		return m.State == "UP" && m.Ready && strings.Contains(a.calls(), "start_both STOP UP start node1-reloaded")
	})
	if c := a.calls(); !strings.Contains(c, "stop_both UP STOP stop node1") {
		t.Errorf("old module not stopped on reload: %q", c)
	}

	// Shutdown stops the module cleanly.
	a.stop()
	select {
	case err := <-a.done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return")
	}
	a.done <- nil // for the cleanup
	if c := a.calls(); strings.Count(c, "stop_both UP STOP stop") != 2 {
		t.Errorf("no stop_both at shutdown: %q", c)
	}
	waitFor(t, "node2 sees node1 gone", func() bool { return !b.module(t).Peers[0].Alive })
}

func TestUnknownModule(t *testing.T) {
	a := startTestDaemon(t, "node1", freePort(t))
	ctx := context.Background()
	if _, err := a.d.Module(ctx, "ZZ"); err == nil || !strings.Contains(err.Error(), "ZZ") {
		t.Fatalf("unknown module: %v", err)
	}
	if got := a.d.Modules(); len(got) != 1 || got[0] != "AM" {
		t.Fatalf("modules %v", got)
	}
}

func TestNewRefusesABadHome(t *testing.T) {
	dir := t.TempDir()
	writeTestHome(t, dir, "4931", "x")
	os.Chmod(home.KeyFile(dir), 0o644)
	_, err := New(Options{Home: dir, State: t.TempDir(), Node: "node1", Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable key: %v", err)
	}
	writeTestHome(t, dir, "4931", "x")
	_, err = New(Options{Home: dir, State: t.TempDir(), Node: "node9", Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil || !strings.Contains(err.Error(), "node9") {
		t.Fatalf("unknown node: %v", err)
	}
}

func TestBootOnPersists(t *testing.T) {
	a := startTestDaemon(t, "node1", freePort(t))
	if _, err := control.Call(filepath.Join(a.state, "farmd.sock"), control.Request{Verb: "boot", Module: "AM", Value: "on"}, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if m := a.module(t); !m.Boot || m.State != "STOP" {
		t.Fatalf("boot %v state %s", m.Boot, m.State)
	}
	a.stop()
	<-a.done
	a.done <- nil
	// A new farmd on the same home and state starts the module by itself.
	d, err := New(Options{Home: a.home, State: a.state, Node: "node1", Admin: "off",
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	b := &testDaemon{d: d}
	waitFor(t, "module started at boot", func() bool {
		if len(d.Modules()) == 0 {
			return false
		}
		m := b.module(t)
		return m.Boot && m.State == "UP" && m.Ready
	})
}
