package dataplane

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
)

// generateArgs reads the bpf2go arguments from the //go:generate line of
// gen.go, so the test regenerates exactly as `make generate` does.
func generateArgs(t *testing.T) []string {
	t.Helper()
	src, err := os.ReadFile("gen.go")
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(src))
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "//go:generate go tool bpf2go ")
		if !ok {
			continue
		}
		var args []string
		var cur strings.Builder
		quoted := false
		for _, r := range line {
			switch {
			case r == '"':
				quoted = !quoted
			case r == ' ' && !quoted:
				if cur.Len() > 0 {
					args = append(args, cur.String())
					cur.Reset()
				}
			default:
				cur.WriteRune(r)
			}
		}
		if cur.Len() > 0 {
			args = append(args, cur.String())
		}
		return args
	}
	t.Fatal("gen.go has no //go:generate go tool bpf2go line")
	return nil
}

// TestGeneratedObjectsUpToDate regenerates the XDP object and its Go binding
// into a temporary directory and compares them with the committed files.
// The Go binding (map and type layouts) must match with any clang; the
// object's bytes only with the clang recorded in bpf/clang-version.txt (other
// versions emit other bytes), and otherwise the fresh object must at least
// load through the verifier (when root).
func TestGeneratedObjectsUpToDate(t *testing.T) {
	clang, err := exec.LookPath("clang")
	if err != nil {
		t.Skip("clang not installed: cannot regenerate the XDP object (apt-get install clang llvm libbpf-dev)")
	}
	if _, err := exec.LookPath("llvm-strip"); err != nil {
		t.Skip("llvm-strip not installed: bpf2go needs it (apt-get install llvm)")
	}
	tmp := t.TempDir()
	args := append([]string{"tool", "bpf2go", "-output-dir", tmp}, generateArgs(t)...)
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), "GOPACKAGE=dataplane")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	gotGo, err := os.ReadFile(filepath.Join(tmp, "vipfarm_bpfel.go"))
	if err != nil {
		t.Fatal(err)
	}
	wantGo, err := os.ReadFile("vipfarm_bpfel.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gotGo, wantGo) {
		t.Error("vipfarm_bpfel.go is stale: run `make generate` and commit the result")
	}

	ver, err := exec.Command(clang, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	recorded, err := os.ReadFile("../bpf/clang-version.txt")
	if err != nil {
		t.Fatal(err)
	}
	fresh := filepath.Join(tmp, "vipfarm_bpfel.o")
	first, _, _ := strings.Cut(string(ver), "\n")
	if strings.TrimSpace(first) == strings.TrimSpace(string(recorded)) {
		gotO, err := os.ReadFile(fresh)
		if err != nil {
			t.Fatal(err)
		}
		wantO, err := os.ReadFile("vipfarm_bpfel.o")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(gotO, wantO) {
			t.Error("vipfarm_bpfel.o is stale: run `make generate` and commit the result")
		}
		return
	}
	t.Logf("clang is %q, objects were built with %q: comparing layouts only, and loading the fresh object",
		strings.TrimSpace(first), strings.TrimSpace(string(recorded)))
	if os.Geteuid() != 0 {
		t.Log("not root: the fresh object's verifier check is skipped")
		return
	}
	spec, err := ebpf.LoadCollectionSpec(fresh)
	if err != nil {
		t.Fatal(err)
	}
	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		t.Fatalf("the freshly compiled object does not load: %v", err)
	}
	coll.Close()
}
