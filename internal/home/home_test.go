package home

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vipfarm/vipfarm/core/config"
)

// exampleHome copies the repository's example module into a fresh home.
func exampleHome(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	copyFile(t, "../../examples/cluster.xml", ClusterFile(dir))
	copyFile(t, "../../examples/AM/conf/userconfig.xml", ModuleFile(dir, "AM"))
	if err := GenerateKey(KeyFile(dir), false); err != nil {
		t.Fatal(err)
	}
	return dir
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Dir(to), 0o755)
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadExample(t *testing.T) {
	dir := exampleHome(t)
	h, err := Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Modules) != 1 || h.Modules[0].Name != "AM" || h.Modules[0].Port != 4800 {
		t.Fatalf("modules %+v", h.Modules)
	}
	if len(h.Key) != KeyBytes || len(h.Cluster.Nodes) != 2 {
		t.Fatalf("key %d bytes, nodes %v", len(h.Key), h.Cluster.Nodes)
	}
	// A second module gets the next port; an explicit <farm port> wins.
	copyFile(t, ModuleFile(dir, "AM"), ModuleFile(dir, "BM"))
	h, err = Load(dir, nil)
	if err != nil || h.Module("BM").Port != 4801 {
		t.Fatalf("BM: %v %+v", err, h.Module("BM"))
	}
}

func TestSamePortTwiceRefused(t *testing.T) {
	dir := exampleHome(t)
	b, _ := os.ReadFile(ModuleFile(dir, "AM"))
	withPort := strings.Replace(string(b), "<farm ", `<farm port="4801" `, 1)
	os.WriteFile(ModuleFile(dir, "AM"), []byte(withPort), 0o644)
	copyFile(t, ModuleFile(dir, "AM"), ModuleFile(dir, "BM")) // BM: explicit 4801 too
	if _, err := Load(dir, nil); err == nil || !strings.Contains(err.Error(), "port 4801") {
		t.Fatalf("duplicate port: %v", err)
	}
}

func TestCheckReportsEveryFile(t *testing.T) {
	dir := exampleHome(t)
	copyFile(t, ModuleFile(dir, "AM"), ModuleFile(dir, "BM"))
	os.WriteFile(ModuleFile(dir, "AM"), []byte("<safe>\n<service mode=\"farm\">\n<bogus/>\n</service></safe>"), 0o644)
	os.WriteFile(ModuleFile(dir, "BM"), []byte("<safe>\n<service mode=\"farm\"><farm><lan name=\"nowhere\"/></farm></service></safe>"), 0o644)
	os.Chmod(KeyFile(dir), 0o644)
	errs, _ := Check(dir, nil)
	var all []string
	for _, e := range errs {
		all = append(all, e.Error())
	}
	text := strings.Join(all, "\n")
	for _, want := range []string{"AM/conf/userconfig.xml:2:", "BM/conf/userconfig.xml:2:", "cluster/key:0:"} {
		if !strings.Contains(text, want) {
			t.Errorf("check output lacks %q:\n%s", want, text)
		}
	}
}

func TestMissingClusterFile(t *testing.T) {
	_, err := Load(t.TempDir(), nil)
	if err == nil || !strings.Contains(err.Error(), "cluster.xml:0:") {
		t.Fatalf("%v", err)
	}
}

func TestKeys(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "cluster", "key")
	if _, err := LoadKey(p); err == nil || !strings.Contains(err.Error(), "genkey") {
		t.Errorf("missing key: %v", err)
	}
	if err := GenerateKey(p, false); err != nil {
		t.Fatal(err)
	}
	k1, err := LoadKey(p)
	if err != nil || len(k1) != KeyBytes {
		t.Fatalf("%v %d", err, len(k1))
	}
	if err := GenerateKey(p, false); err == nil {
		t.Error("existing key replaced without --force")
	}
	if err := GenerateKey(p, true); err != nil {
		t.Fatal(err)
	}
	if k2, _ := LoadKey(p); string(k2) == string(k1) {
		t.Error("--force kept the old key")
	}
	os.WriteFile(p, []byte("zz not hex\n"), 0o600)
	if _, err := LoadKey(p); err == nil || !strings.Contains(err.Error(), ":1: key is not hex") {
		t.Errorf("bad hex: %v", err)
	}
	os.WriteFile(p, []byte("0011\n"), 0o600)
	if _, err := LoadKey(p); err == nil || !strings.Contains(err.Error(), "2 bytes") {
		t.Errorf("short key: %v", err)
	}
}

func TestSelf(t *testing.T) {
	c := &config.Cluster{Nodes: []string{"node1", "node2"}, LANs: []config.LAN{
		{Name: "default", Addrs: []netip.Addr{netip.MustParseAddr("198.18.0.11"), netip.MustParseAddr("198.18.0.12")}},
		{Name: "private", Addrs: []netip.Addr{netip.MustParseAddr("198.18.1.11"), netip.MustParseAddr("198.18.1.12")}},
	}}
	addr := netip.MustParseAddr
	for _, tc := range []struct {
		explicit string
		local    []netip.Addr
		want     string
		err      string
	}{
		{"node2", nil, "node2", ""},
		{"node7", nil, "", "--node node7: not in cluster.xml"},
		{"", []netip.Addr{addr("127.0.0.1"), addr("198.18.1.12")}, "node2", ""},
		{"", []netip.Addr{addr("127.0.0.1")}, "", "no address of cluster.xml is local"},
		{"", []netip.Addr{addr("198.18.0.11"), addr("198.18.0.12")}, "", "several nodes (node1 node2)"},
	} {
		got, err := Self(c, tc.explicit, tc.local)
		if got != tc.want || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("Self(%q, %v) = %q, %v; want %q, %q", tc.explicit, tc.local, got, err, tc.want, tc.err)
		}
	}
}
