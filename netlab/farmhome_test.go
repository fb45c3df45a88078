package netlab

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vipfarm/vipfarm/core/config"
	"github.com/vipfarm/vipfarm/internal/home"
)

// The homes the lab writes must load exactly as farmd loads them: this
// catches a lab whose module farmd would refuse before any namespace is
// involved (no root needed).
func TestWriteHomesLoadsInFarmd(t *testing.T) {
	l := testLab(t, 3)
	if err := l.WriteHomes(HomeOptions{Farmlab: "/usr/local/bin/farmlab"}); err != nil {
		t.Fatal(err)
	}
	env := config.Env(func(string) (string, bool) { return "", false })
	var key []byte
	for _, n := range l.Plan.Nodes {
		h, err := home.Load(l.HomeDir(n.Name), env)
		if err != nil {
			t.Fatalf("farmd would refuse the home of %s: %v", n.Name, err)
		}
		if strings.Join(h.Cluster.Nodes, " ") != "node1 node2 node3" || len(h.Cluster.LANs) != 2 || h.Cluster.Port != 4800 {
			t.Errorf("cluster of %s: %+v", n.Name, h.Cluster)
		}
		if key != nil && string(h.Key) != string(key) {
			t.Errorf("%s has another heartbeat key than node1", n.Name)
		}
		key = h.Key
		if len(h.Modules) != 1 || h.Modules[0].Name != "AM" {
			t.Fatalf("modules of %s: %+v", n.Name, h.Modules)
		}
		m := h.Modules[0].Config
		if m.VIP == nil || len(m.VIP.Interfaces) != 1 || len(m.VIP.Interfaces[0].Addrs) != 2 ||
			m.VIP.Interfaces[0].Addrs[0].Addr != l.Plan.VIP || m.VIP.Interfaces[0].Addrs[1].Addr != l.Plan.VIP6 {
			t.Errorf("VIPs of %s: %+v", n.Name, m.VIP)
		}
		if len(m.VIP.Groups) != 1 || len(m.VIP.Groups[0].Rules) != 2 || m.VIP.Groups[0].Rules[1].Proto != "udp" ||
			m.VIP.Groups[0].Rules[0].Port != l.Plan.Spec.ServicePort || m.VIP.Groups[0].Rules[0].Filter != config.OnAddr {
			t.Errorf("rules of %s: %+v", n.Name, m.VIP.Groups)
		}
		if m.Service.Boot != config.BootOff || m.User == nil {
			t.Errorf("service of %s: boot %q, user %+v", n.Name, m.Service.Boot, m.User)
		}
		start, err := os.ReadFile(filepath.Join(l.HomeDir(n.Name), "modules", "AM", "bin", "start_both"))
		if err != nil || !strings.Contains(string(start), `NODE="`+n.Name+`"`) {
			t.Errorf("start_both of %s does not name it: %v\n%s", n.Name, err, start)
		}
		for _, f := range []string{"cluster/key", "admin.token"} {
			fi, err := os.Stat(filepath.Join(l.HomeDir(n.Name), f))
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("%s of %s: %v %v, want mode 0600", f, n.Name, fi.Mode(), err)
			}
		}
	}
	if err := l.WriteHomes(HomeOptions{Farmlab: "relative/farmlab"}); err == nil {
		t.Error("a relative farmlab path: no error")
	}
	if err := l.WriteHomes(HomeOptions{Farmlab: "/x/farmlab", Filter: "on_what"}); err == nil {
		t.Error("filter on_what: no error")
	}
	if err := l.WriteHomes(HomeOptions{Farmlab: `/x/"farmlab`}); err == nil {
		t.Error("a quote in the farmlab path: no error")
	}
}
