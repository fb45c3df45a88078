package main_test

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vipfarm/vipfarm/internal/console"
	"github.com/vipfarm/vipfarm/internal/view"
)

// TestFarm runs two real farmd processes in namespaces: they form a farm
// over real UDP on two LANs, share the buckets, serve the health check and
// the API, refuse forged heartbeats, stop a module whose start_both fails,
// keep their config on a bad SIGHUP and stop cleanly on SIGTERM.
func TestFarm(t *testing.T) {
	needRoot(t)
	binaries(t)
	l := buildLab(t)
	key := newKey()
	f := startFarm(t, t.TempDir(), key, labHome, l.farmds)

	// Both modules start on command and split the 256 buckets.
	startModules(t, f)
	m := f[0].module()
	if len(m.Peers) != 1 || !m.Peers[0].Alive || len(m.Peers[0].LastHeartbeatMs) != 2 ||
		m.Peers[0].LastHeartbeatMs["default"] < 0 || m.Peers[0].LastHeartbeatMs["private"] < 0 {
		t.Fatalf("node1 does not hear node2 on both LANs: %+v", m.Peers)
	}
	if m.Counters.HeartbeatsReceived["default"] == 0 || m.Counters.HeartbeatsReceived["private"] == 0 {
		t.Errorf("heartbeats received per LAN: %v", m.Counters.HeartbeatsReceived)
	}
	for i := range f {
		if c := f[i].calls(); !strings.Contains(c, "prestart STOP UP start GREETING=hello farm") ||
			!strings.Contains(c, "start_both STOP UP start GREETING=hello farm") {
			t.Errorf("%s scripts: %q", f[i].name, c)
		}
		if code, _ := f[i].farmctl("-m", "AM", "state", "-lq"); code != 2 {
			t.Errorf("%s state -lq: %d, want 2 (UP)", f[i].name, code)
		}
	}
	// Exactly one ARP holder, with the VIP on eth0; the other UP node
	// carries it on lo (it accepts its buckets but is no neighbour for it).
	holders := 0
	for i := range f {
		where, bits := "eth0", 24
		if f[i].module().ARPHolder {
			holders++
		} else {
			where, bits = "lo", 32
		}
		if addrs := f[i].ns.Addrs(t, where); !hasAddr(addrs, vipAddr, bits) {
			t.Errorf("%s: VIP not on %s as %s/%d: %v", f[i].name, where, vipAddr, bits, addrs)
		}
	}
	if holders != 1 {
		t.Errorf("%d ARP holders, want 1", holders)
	}
	if l := f[0].moduleLog(); !strings.Contains(l, "farm load: 128/256") || !strings.Contains(l, "Local state UP Ready") {
		t.Errorf("module log lacks the farm load or state lines:\n%s", l)
	}

	t.Run("health check and API", func(t *testing.T) {
		if code, body := f[0].http("GET", "/var/modules/AM/ready.txt", ""); code != 200 || body != "OK" {
			t.Errorf("ready.txt: %d %q", code, body)
		}
		code, body := f[0].http("GET", "/api/v1/modules/AM", "")
		var m view.Module
		if code != 200 || json.Unmarshal([]byte(body), &m) != nil || m.Groups[0].Share != 50 {
			t.Errorf("API: %d %s", code, body)
		}
		var mv console.ModuleView
		if err := json.Unmarshal([]byte(body), &mv); err != nil || mv.Validate() != nil {
			t.Errorf("the web console cannot draw the API's answer: %v %v", err, mv.Validate())
		}
		if n := len(mv.Groups[0].Owners); n != 256 || mv.Groups[0].Owners[mv.Groups[0].Owned[0]] != "node1" {
			t.Errorf("owners table: %d entries", n)
		}
		if code, body := f[0].http("GET", "/metrics", ""); code != 200 || !strings.Contains(body, `vipfarm_share_buckets{group="FarmProto",module="AM"} 128`) {
			t.Errorf("metrics: %d", code)
		}
	})

	t.Run("forged heartbeat rejected and counted", func(t *testing.T) {
		before := f[1].module().Counters.HeartbeatsRejected["default"]["forged"]
		// A genuine-looking packet of node1's cluster, sent from node1's
		// address, but its HMAC made with another key.
		err := f[0].ns.Do(func() error {
			c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(nodes[0].addr0)}, &net.UDPAddr{IP: net.ParseIP(nodes[1].addr0), Port: hbPort})
			if err != nil {
				return err
			}
			defer c.Close()
			pkt := forgedHeartbeat(t, key)
			_, err = c.Write(pkt)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		f[1].waitFor(5*time.Second, "forged count", func() bool {
			return f[1].module().Counters.HeartbeatsRejected["default"]["forged"] > before
		})
		if code, body := f[1].http("GET", "/metrics", ""); !strings.Contains(body, `vipfarm_heartbeats_rejected_total{lan="default",module="AM",reason="forged"}`) {
			t.Errorf("metrics lack the forged count: %d", code)
		}
		f[1].waitState(5*time.Second, "UP", true, 128) // the farm did not notice
	})

	t.Run("mutating API calls need the token", func(t *testing.T) {
		if code, _ := f[1].http("POST", "/api/v1/modules/AM/stop", ""); code != 401 {
			t.Errorf("stop without token: %d", code)
		}
		if code, _ := f[1].http("POST", "/api/v1/modules/AM/stop", "Bearer wrong-token-wrong-token"); code != 401 {
			t.Errorf("stop with a bad token: %d", code)
		}
		if m := f[1].module(); m.State != "UP" {
			t.Fatalf("an unauthorized call stopped the module: %s", m.State)
		}
		if code, body := f[1].http("POST", "/api/v1/modules/AM/stop", "Bearer "+token); code != 202 {
			t.Fatalf("stop with the token: %d %s", code, body)
		}
		f[1].waitState(15*time.Second, "STOP", true, 0)
		f[0].waitState(10*time.Second, "UP", true, 256)
		if code, body := f[1].http("GET", "/var/modules/AM/ready.txt", ""); code != 404 || body != "NOT FOUND" {
			t.Errorf("ready.txt of a stopped module: %d %q", code, body)
		}
		if addrs := f[1].ns.Addrs(t, ""); hasAddr(addrs, vipAddr, -1) {
			t.Errorf("stopped node still has the VIP: %v", addrs)
		}
		if c := f[1].calls(); !strings.Contains(c, "stop_both UP STOP stop") || !strings.Contains(c, "poststop UP STOP stop") {
			t.Errorf("stop scripts: %q", c)
		}
	})

	t.Run("failing start_both stops the module", func(t *testing.T) {
		os.WriteFile(filepath.Join(f[1].state, "modules/AM/fail-start"), nil, 0o644)
		defer os.Remove(filepath.Join(f[1].state, "modules/AM/fail-start"))
		if code, out := f[1].farmctl("-m", "AM", "start"); code != 0 {
			t.Fatalf("start: %d %s", code, out)
		}
		f[1].waitFor(15*time.Second, "STOP after the failed start", func() bool {
			return strings.Contains(f[1].moduleLog(), "start_both failed") && f[1].module().State == "STOP"
		})
		f[1].waitState(15*time.Second, "STOP", true, 0)
		if l := f[1].moduleLog(); !strings.Contains(l, "Action stop called by start_both") {
			t.Errorf("module log lacks the stop by start_both:\n%s", l)
		}
		f[0].waitState(5*time.Second, "UP", true, 256)
	})

	t.Run("SIGHUP with a bad config keeps the running one", func(t *testing.T) {
		p := filepath.Join(f[0].home, "modules/AM/conf/userconfig.xml")
		good, _ := os.ReadFile(p)
		os.WriteFile(p, []byte(strings.Replace(string(good), "<farm ", "<farm bogus=\"1\" ", 1)), 0o644)
		defer os.WriteFile(p, good, 0o644)
		f[0].cmd.Process.Signal(syscall.SIGHUP)
		f[0].waitFor(5*time.Second, "reload refusal in the log", func() bool {
			return strings.Contains(f[0].log.String(), "reload refused")
		})
		if !strings.Contains(f[0].log.String(), "userconfig.xml:4") {
			t.Errorf("the refusal does not name file and line:\n%s", f[0].log.String())
		}
		m := f[0].waitState(2*time.Second, "UP", true, 256)
		if m.Groups[0].Share != 100 {
			t.Errorf("share %d", m.Groups[0].Share)
		}
	})

	t.Run("SIGTERM stops cleanly", func(t *testing.T) {
		if rss := f[0].rss(); rss > 0 {
			t.Logf("farmd RSS with one module, UP: %.1f MiB", float64(rss)/(1<<20))
			if rss > 30<<20 && os.Getenv("VF_FARMD_RACE") == "" { // the race detector inflates memory
				t.Errorf("farmd RSS %d bytes, bar is 30 MiB", rss)
			}
		}
		f[0].cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-f[0].exited:
			if err != nil {
				t.Errorf("farmd exit: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("farmd did not exit after SIGTERM")
		}
		if c := f[0].calls(); !strings.Contains(c, "stop_both UP STOP stop") {
			t.Errorf("no stop_both at shutdown: %q", c)
		}
		if addrs := f[0].ns.Addrs(t, ""); hasAddr(addrs, vipAddr, -1) {
			t.Errorf("VIP left after shutdown: %v", addrs)
		}
		if _, err := os.Stat(f[0].socket); err == nil {
			t.Errorf("control socket left behind")
		}
	})
}

// forgedHeartbeat is a heartbeat of the right cluster (right cluster id)
// whose HMAC does not verify: a real one from the core codec with its last
// byte changed.
func forgedHeartbeat(t *testing.T, hexKey []byte) []byte {
	t.Helper()
	return forge(t, hexKey)
}
