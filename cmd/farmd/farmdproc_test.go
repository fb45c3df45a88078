package main_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vipfarm/vipfarm/internal/nstest"
	"github.com/vipfarm/vipfarm/internal/view"
)

// The farmd processes of the lab tests: built once, started inside a node's
// namespace, driven with farmctl and the admin API.

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

// TestMain removes the binaries built for the lab tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

const token = "vf-h6-test-token-0123456789"

// newKey is a fresh cluster key file's content: 32 random bytes in hex.
func newKey() []byte {
	raw := make([]byte, 32)
	rand.Read(raw)
	return []byte(hex.EncodeToString(raw) + "\n")
}

// writeHome makes a node's configuration directory: files (path below dir
// → content) plus the cluster key and the admin token. Module scripts
// (modules/*/bin/) are executable; the key and the token are readable by
// their owner only, as farmd demands of the key.
func writeHome(t *testing.T, dir string, key []byte, files map[string]string) {
	t.Helper()
	all := map[string]string{"cluster/key": string(key), "admin.token": token + "\n"}
	for p, data := range files {
		all[p] = data
	}
	for path, data := range all {
		mode := os.FileMode(0o644)
		switch {
		case filepath.Base(filepath.Dir(path)) == "bin":
			mode = 0o755
		case path == "cluster/key" || path == "admin.token":
			mode = 0o600
		}
		p := filepath.Join(dir, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
	}
}

// launch says how to run one farmd.
type launch struct {
	name        string        // the node's name in cluster.xml
	ns          *nstest.Named // the node's namespace
	admin       string        // admin HTTP host:port, inside ns
	stopTimeout time.Duration // --stop-timeout; the test's cleanup waits 10s more before SIGKILL
	flags       []string      // more farmd flags
}

type farmd struct {
	t      *testing.T
	name   string
	ns     *nstest.Named
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

// startFarmd runs farmd in l.ns with ROOT/NAME/home (written beforehand)
// and ROOT/NAME/state, and waits for its control socket. The process is
// farmd itself (no wrapper), so signals and /proc/PID reach it.
func startFarmd(t *testing.T, root string, l launch) *farmd {
	t.Helper()
	f := &farmd{t: t, name: l.name, ns: l.ns, home: filepath.Join(root, l.name, "home"),
		state: filepath.Join(root, l.name, "state"), admin: l.admin, log: &syncBuffer{}, exited: make(chan error, 1)}
	f.socket = filepath.Join(f.state, "farmd.sock")
	f.cmd = exec.Command(filepath.Join(binaries(t), "farmd"), append([]string{"--home", f.home, "--state", f.state,
		"--admin", f.admin, "--stop-timeout", l.stopTimeout.String()}, l.flags...)...)
	f.cmd.Stdout, f.cmd.Stderr = f.log, f.log
	if err := l.ns.Start(f.cmd); err != nil {
		t.Fatal(err)
	}
	go func() { f.exited <- f.cmd.Wait() }()
	t.Cleanup(func() {
		if f.cmd.ProcessState == nil {
			f.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-f.exited:
			case <-time.After(l.stopTimeout + 10*time.Second):
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

// startFarm writes each node's home under root (files, key and token) and
// starts its farmd.
func startFarm(t *testing.T, root string, key []byte, files map[string]string, ls []launch) []*farmd {
	t.Helper()
	var f []*farmd
	for _, l := range ls {
		writeHome(t, filepath.Join(root, l.name, "home"), key, files)
		f = append(f, startFarmd(t, root, l))
	}
	return f
}

// startModules starts module AM on every farmd and waits until each is UP
// and ready with its half of the buckets.
func startModules(t *testing.T, f []*farmd) {
	t.Helper()
	for i := range f {
		if code, out := f[i].farmctl("-m", "AM", "start"); code != 0 {
			t.Fatalf("farmctl start on %s: %d %s", f[i].name, code, out)
		}
	}
	for i := range f {
		f[i].waitState(15*time.Second, "UP", true, 128)
	}
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
func dialIn(ns *nstest.Named) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var conn net.Conn
		err := ns.Do(func() error {
			var err error
			conn, err = (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, addr)
			return err
		})
		return conn, err
	}
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
