package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/vipfarm/vipfarm/internal/view"
)

// The lab of these tests: a switch namespace with one bridge per LAN and two
// node namespaces, each with one veth per LAN. Names start with vf-h6-,
// addresses are in 198.18.60.0/24 (LAN default) and 198.18.61.0/24 (LAN
// private); the VIP is 198.18.60.100.

const (
	nsSwitch = "vf-h6-sw"
	vipAddr  = "198.18.60.100"
	hbPort   = 4870
)

var nodes = []struct{ name, ns, addr0, addr1 string }{
	{"node1", "vf-h6-n1", "198.18.60.11", "198.18.61.11"},
	{"node2", "vf-h6-n2", "198.18.60.12", "198.18.61.12"},
}

func sh(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// needRoot skips tests that build namespaces when not root.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: builds network namespaces, veths, bridges and attaches XDP")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs the ip command (iproute2)")
	}
	if testing.Short() {
		t.Skip("lab test skipped in -short mode")
	}
}

// teardown removes every namespace of the lab (veths and bridges go with them).
func teardown() {
	for _, ns := range []string{nsSwitch, nodes[0].ns, nodes[1].ns} {
		exec.Command("ip", "netns", "del", ns).Run()
	}
}

func buildLab(t *testing.T) {
	t.Helper()
	teardown()
	t.Cleanup(teardown)
	sh(t, "ip", "netns", "add", nsSwitch)
	sh(t, "ip", "-n", nsSwitch, "link", "set", "lo", "up")
	for lan := range 2 {
		br := fmt.Sprintf("br%d", lan)
		sh(t, "ip", "-n", nsSwitch, "link", "add", br, "type", "bridge")
		sh(t, "ip", "-n", nsSwitch, "link", "set", br, "up")
	}
	for i, n := range nodes {
		sh(t, "ip", "netns", "add", n.ns)
		sh(t, "ip", "-n", n.ns, "link", "set", "lo", "up")
		for lan, addr := range []string{n.addr0, n.addr1} {
			host, port := fmt.Sprintf("eth%d", lan), fmt.Sprintf("p%d-%d", i+1, lan)
			sh(t, "ip", "-n", nsSwitch, "link", "add", port, "type", "veth", "peer", "name", host, "netns", n.ns)
			sh(t, "ip", "-n", nsSwitch, "link", "set", port, "master", fmt.Sprintf("br%d", lan))
			sh(t, "ip", "-n", nsSwitch, "link", "set", port, "up")
			sh(t, "ip", "-n", n.ns, "addr", "add", addr+"/24", "dev", host)
			sh(t, "ip", "-n", n.ns, "link", "set", host, "up")
		}
	}
}

// buildBinaries compiles farmd and farmctl once per test binary.
var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

func binaries(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "vf-h6-bin-")
		if binErr != nil {
			return
		}
		args := []string{"build", "-o", binDir + "/"}
		env := append(os.Environ(), "CGO_ENABLED=0")
		if os.Getenv("VF_FARMD_RACE") != "" { // race-checked daemons for the lab tests
			args, env = append(args, "-race"), append(os.Environ(), "CGO_ENABLED=1")
		}
		cmd := exec.Command("go", append(args, "github.com/vipfarm/vipfarm/cmd/farmd", "github.com/vipfarm/vipfarm/cmd/farmctl")...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binDir
}

const clusterXML = `<cluster>
  <lans port="4800">
    <lan name="default"><node name="node1" addr="198.18.60.11"/><node name="node2" addr="198.18.60.12"/></lan>
    <lan name="private"><node name="node1" addr="198.18.61.11"/><node name="node2" addr="198.18.61.12"/></lan>
  </lans>
</cluster>
`

// userconfig is the test module: the VIP on eth0, one group, the
// recording scripts below.
var userconfig = fmt.Sprintf(`<!DOCTYPE safe>
<safe>
<service mode="farm" boot="off">
  <farm port="%d" pulse="100ms"><lan name="default"/><lan name="private"/></farm>
  <vip>
    <interface_list>
      <interface check="on">
        <virtual_interface>
          <virtual_addr addr="%s" where="alias" check="on"/>
        </virtual_interface>
      </interface>
    </interface_list>
    <loadbalancing_list>
      <group name="FarmProto"><rule port="8080" proto="tcp" filter="on_addr"/></group>
    </loadbalancing_list>
  </vip>
  <user nicestoptimeout="10s" forcestoptimeout="10s">
    <var name="GREETING" value="hello farm"/>
  </user>
</service>
</safe>
`, hbPort, vipAddr)

// The scripts record their calls in $SAFEUSERVAR/calls; start_both fails
// (SafeKit's idiom: printe, stop -i start_both, exit 1) while the file
// $SAFEUSERVAR/fail-start exists.
const recordScript = `#!/bin/sh
echo "$(basename "$0") $1 $2 $3 GREETING=$GREETING" >> "$SAFEUSERVAR/calls"
`

const startBoth = recordScript + `if [ -e "$SAFEUSERVAR/fail-start" ]; then
	"$SAFE/safekit" printe "start_both failed"
	"$SAFE/safekit" stop -i start_both
	exit 1
fi
exit 0
`

type farmd struct {
	t      *testing.T
	name   string
	ns     string
	home   string
	state  string
	socket string
	admin  string
	cmd    *exec.Cmd
	log    *syncBuffer
	exited chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// writeHome makes a node's configuration directory.
func writeHome(t *testing.T, dir string, key []byte) {
	t.Helper()
	for path, data := range map[string]string{
		"cluster/cluster.xml":            clusterXML,
		"modules/AM/conf/userconfig.xml": userconfig,
		"modules/AM/bin/prestart":        recordScript,
		"modules/AM/bin/start_both":      startBoth,
		"modules/AM/bin/stop_both":       recordScript,
		"modules/AM/bin/poststop":        recordScript,
	} {
		p := filepath.Join(dir, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "cluster/key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "admin.token"), []byte("vf-h6-test-token-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

const token = "vf-h6-test-token-0123456789"

// startFarmd runs farmd in node i's namespace.
func startFarmd(t *testing.T, i int, root string, extra ...string) *farmd {
	t.Helper()
	n := nodes[i]
	bin := binaries(t)
	f := &farmd{t: t, name: n.name, ns: n.ns, home: filepath.Join(root, n.name, "home"),
		state: filepath.Join(root, n.name, "state"), admin: n.addr0 + ":9010", log: &syncBuffer{}, exited: make(chan error, 1)}
	f.socket = filepath.Join(f.state, "farmd.sock")
	args := append([]string{"netns", "exec", n.ns, filepath.Join(bin, "farmd"), "--home", f.home, "--state", f.state,
		"--admin", f.admin, "--stop-timeout", "20s"}, extra...)
	f.cmd = exec.Command("ip", args...)
	f.cmd.Stdout, f.cmd.Stderr = f.log, f.log
	if err := f.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { f.exited <- f.cmd.Wait() }()
	t.Cleanup(func() {
		if f.cmd.ProcessState == nil {
			f.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-f.exited:
			case <-time.After(30 * time.Second):
				f.cmd.Process.Kill()
				<-f.exited
			}
		}
		if t.Failed() || os.Getenv("VF_FARMD_LOGS") != "" {
			t.Logf("farmd %s log:\n%s", f.name, f.log.String())
		}
	})
	// Dial, not stat: a killed farmd leaves its socket file behind.
	f.waitFor(10*time.Second, "control socket", func() bool {
		c, err := net.Dial("unix", f.socket)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return f
}

// farmctl runs farmctl against this farmd and returns its exit code and output.
func (f *farmd) farmctl(args ...string) (int, string) {
	cmd := exec.Command(filepath.Join(binaries(f.t), "farmctl"), append([]string{"--socket", f.socket}, args...)...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		f.t.Fatalf("farmctl: %v", err)
	}
	return code, string(out)
}

func (f *farmd) module() view.Module {
	f.t.Helper()
	code, out := f.farmctl("-m", "AM", "--json", "state")
	if code != 0 {
		f.t.Fatalf("farmctl state on %s: exit %d: %s", f.name, code, out)
	}
	var m view.Module
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		f.t.Fatalf("farmctl state --json: %v\n%s", err, out)
	}
	return m
}

func (f *farmd) waitFor(timeout time.Duration, what string, ok func() bool) {
	f.t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			f.t.Fatalf("%s: timed out waiting for %s", f.name, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (f *farmd) waitState(timeout time.Duration, state string, ready bool, share int) view.Module {
	f.t.Helper()
	var m view.Module
	f.waitFor(timeout, fmt.Sprintf("state %s ready=%v share=%d", state, ready, share), func() bool {
		m = f.module()
		sh := -1
		if len(m.Groups) > 0 {
			sh = m.Groups[0].Buckets
		}
		return m.State == state && m.Ready == ready && (share < 0 || sh == share)
	})
	return m
}

// http talks to the admin port inside the node's namespace.
func (f *farmd) http(method, path, auth string) (int, string) {
	f.t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: dialIn(f.ns)}}
	req, _ := http.NewRequest(method, "http://"+f.admin+path, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := c.Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// dialIn returns a dialer whose sockets are created in namespace ns.
func dialIn(ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var conn net.Conn
		err := inNS(ns, func() error {
			var err error
			conn, err = (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, addr)
			return err
		})
		return conn, err
	}
}

// inNS runs f on a thread switched into namespace ns; sockets made by f
// stay in ns.
func inNS(ns string, f func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return err
	}
	defer orig.Close()
	h, err := netns.GetFromName(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	if err := netns.Set(h); err != nil {
		return err
	}
	defer netns.Set(orig)
	return f()
}

func (f *farmd) calls() string {
	b, _ := os.ReadFile(filepath.Join(f.state, "modules", "AM", "calls"))
	return string(b)
}

func (f *farmd) moduleLog() string {
	b, _ := os.ReadFile(filepath.Join(f.state, "modules", "AM", "module.log"))
	return string(b)
}

func (f *farmd) rss() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", f.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(l, "VmRSS:")), "%d", &kb)
			return kb * 1024
		}
	}
	return -1
}

func runQuiet(args ...string) error { return exec.Command(args[0], args[1:]...).Run() }

// TestMain removes the binaries built for the lab tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}
