package cli

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vipfarm/vipfarm/internal/control"
	"github.com/vipfarm/vipfarm/internal/view"
	"github.com/vipfarm/vipfarm/internal/view/viewtest"
)

func serve(t *testing.T, mods ...view.Module) (*viewtest.Farm, string) {
	t.Helper()
	farm := viewtest.New("node1", mods...)
	s := &control.Server{Farm: farm, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), AllowUID: os.Getuid()}
	path := filepath.Join(t.TempDir(), "farmd.sock")
	if err := s.Listen(path); err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	t.Cleanup(func() { s.Close() })
	return farm, path
}

func run(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(args, &out, &errb, func(k string) string { return env[k] })
	return code, out.String(), errb.String()
}

func TestStateLqExitCodes(t *testing.T) {
	for st, want := range map[string]int{"STOP": 0, "WAIT": 1, "UP": 2} {
		_, sock := serve(t, view.Module{Name: "AM", State: st})
		code, out, _ := run(t, nil, "farmctl", "--socket", sock, "-m", "AM", "state", "-lq")
		if code != want || out != "" {
			t.Errorf("%s: exit %d output %q, want %d and nothing", st, code, out, want)
		}
	}
	code, _, _ := run(t, nil, "farmctl", "--socket", filepath.Join(t.TempDir(), "x.sock"), "-m", "AM", "state", "-lq")
	if code != 3 {
		t.Errorf("no daemon: exit %d, want 3", code)
	}
}

func TestSafekitAliasUsesSAFEMODULE(t *testing.T) {
	farm, sock := serve(t, view.Module{Name: "AM", State: "UP"}, view.Module{Name: "BM", State: "UP"})
	env := map[string]string{"SAFEMODULE": "BM"}
	if code, _, errs := run(t, env, "/opt/x/safekit", "--socket", sock, "stop", "-i", "start_both"); code != 0 {
		t.Fatalf("safekit stop: %d %s", code, errs)
	}
	if code, _, errs := run(t, env, "/opt/x/safekit", "--socket", sock, "printe", "start_both failed"); code != 0 {
		t.Fatalf("safekit printe: %d %s", code, errs)
	}
	cmds, _, prints := farm.Calls()
	if !slices.Equal(cmds, []string{"BM stop start_both"}) || !slices.Equal(prints, []string{"BM error start_both failed"}) {
		t.Fatalf("commands %q prints %q", cmds, prints)
	}
	// farmctl (not safekit) ignores SAFEMODULE and needs -m with two modules.
	code, _, errs := run(t, env, "farmctl", "--socket", sock, "stop")
	if code != 2 || !strings.Contains(errs, "-m MODULE") {
		t.Fatalf("farmctl stop without -m: %d %q", code, errs)
	}
}

func TestVerbsReachTheDaemon(t *testing.T) {
	farm, sock := serve(t, view.Module{Name: "AM", State: "UP", Ready: true,
		Resources: []view.Resource{{Name: "custom.web", State: "up"}},
		Groups:    []view.Group{{Name: "FarmProto", Buckets: 128, Share: 50}}})
	for _, args := range [][]string{
		{"start"}, {"restart", "-i", "checker"}, {"stopstart"}, {"boot", "on"},
		{"set", "-r", "custom.web", "-v", "down", "-i", "mycheck"}, {"printi", "hello", "world"},
	} {
		// No -m: the daemon runs one module, farmctl uses it.
		if code, _, errs := run(t, nil, append([]string{"farmctl", "--socket", sock}, args...)...); code != 0 {
			t.Fatalf("%q: exit %d: %s", args, code, errs)
		}
	}
	cmds, sets, prints := farm.Calls()
	if want := []string{"AM start ", "AM restart checker", "AM stopstart ", "AM boot-on "}; !slices.Equal(cmds, want) {
		t.Errorf("commands %q, want %q", cmds, want)
	}
	if !slices.Equal(sets, []string{"AM custom.web down"}) || !slices.Equal(prints, []string{"AM info hello world"}) {
		t.Errorf("sets %q prints %q", sets, prints)
	}
	code, out, _ := run(t, nil, "farmctl", "--socket", sock, "get", "-r", "custom.web")
	if code != 0 || out != "up\n" {
		t.Errorf("get: %d %q", code, out)
	}
	code, out, _ = run(t, nil, "farmctl", "--socket", sock, "state", "-v")
	if code != 0 || !strings.Contains(out, "AM") || !strings.Contains(out, "UP (Ready)") || !strings.Contains(out, "FarmProto 50%") {
		t.Errorf("state -v: %d %q", code, out)
	}
	code, out, _ = run(t, nil, "farmctl", "--socket", sock, "--json", "status")
	if code != 0 || !strings.Contains(out, `"module": "AM"`) {
		t.Errorf("status --json: %d %q", code, out)
	}
	code, out, _ = run(t, nil, "farmctl", "--socket", sock, "log", "-s", "1")
	if code != 0 || out != "hello world\n" {
		t.Errorf("log: %d %q", code, out)
	}
}

func TestUsageErrorsNameTheArgument(t *testing.T) {
	_, sock := serve(t, view.Module{Name: "AM"})
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"frob"}, `"frob"`},
		{[]string{"boot", "maybe"}, `"maybe"`},
		{[]string{"set", "-r", "custom.x", "-v", "sideways"}, `"sideways"`},
		{[]string{"set", "-v", "up"}, "-r"},
		{[]string{"state", "-x"}, "-x"},
		{[]string{"stop", "extra"}, `"extra"`},
		{[]string{"log", "-s", "-3"}, "-3"},
		{[]string{"cluster", "explode"}, `"explode"`},
		{[]string{"get"}, "-r"},
	} {
		code, _, errs := run(t, nil, append([]string{"farmctl", "--socket", sock, "-m", "AM"}, c.args...)...)
		if code != 2 || !strings.Contains(errs, c.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 naming %s", c.args, code, errs, c.want)
		}
	}
}

func TestDaemonErrorExit1(t *testing.T) {
	_, sock := serve(t, view.Module{Name: "AM"})
	code, _, errs := run(t, nil, "farmctl", "--socket", sock, "-m", "ZZ", "start")
	if code != 1 || !strings.Contains(errs, "ZZ") {
		t.Fatalf("exit %d %q", code, errs)
	}
}

func TestClusterGenkey(t *testing.T) {
	dir := t.TempDir()
	code, _, errs := run(t, nil, "farmctl", "cluster", "genkey", "--home", dir)
	if code != 0 {
		t.Fatalf("genkey: %d %s", code, errs)
	}
	fi, err := os.Stat(filepath.Join(dir, "cluster", "key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key: %v %v", err, fi)
	}
	if code, _, errs := run(t, nil, "farmctl", "cluster", "genkey", "--home", dir); code != 1 || !strings.Contains(errs, "--force") {
		t.Fatalf("second genkey: %d %q", code, errs)
	}
	if code, _, _ := run(t, nil, "farmctl", "cluster", "genkey", "--home", dir, "--force"); code != 0 {
		t.Fatalf("genkey --force: %d", code)
	}
}

func TestClusterCheck(t *testing.T) {
	dir := t.TempDir()
	for from, to := range map[string]string{
		"../../examples/cluster.xml":            "cluster/cluster.xml",
		"../../examples/AM/conf/userconfig.xml": "modules/AM/conf/userconfig.xml",
	} {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(filepath.Join(dir, to)), 0o755)
		os.WriteFile(filepath.Join(dir, to), b, 0o644)
	}
	if code, _, errs := run(t, nil, "farmctl", "cluster", "genkey", "--home", dir); code != 0 {
		t.Fatal(errs)
	}
	if code, out, errs := run(t, nil, "farmctl", "cluster", "check", "--home", dir); code != 0 || !strings.Contains(out, "configuration OK") {
		t.Fatalf("example: %d %q %q", code, out, errs)
	}
	p := filepath.Join(dir, "modules/AM/conf/userconfig.xml")
	b, _ := os.ReadFile(p)
	os.WriteFile(p, []byte(strings.Replace(string(b), `proto="tcp"`, `proto="sctp"`, 1)), 0o644)
	code, out, _ := run(t, nil, "farmctl", "cluster", "check", "--home", dir)
	if code != 1 || !strings.Contains(out, p+":") || !strings.Contains(out, "sctp") {
		t.Fatalf("broken: %d %q", code, out)
	}
	code, out, _ = run(t, nil, "farmctl", "--json", "cluster", "check", "--home", dir)
	if code != 1 || !strings.Contains(out, `"errors": [`) {
		t.Fatalf("--json: %d %q", code, out)
	}
}
