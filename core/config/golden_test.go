package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The golden test walks testdata/config:
//
//   - good/<case>/{cluster.xml,userconfig.xml}: both parse, the module
//     re-validates, and the parsed model matches model.golden.json;
//   - bad/<case>/: cluster.xml (and userconfig.xml, unless the case is about
//     cluster.xml) fail with exactly the error in want.txt.
//
// go test ./core/config -run Golden -update rewrites the golden files; review
// the diff before committing it.
var update = flag.Bool("update", false, "rewrite golden files under testdata/config")

const testdataDir = "../../testdata/config"

// testEnv is the environment the golden cases see.
func testEnv(name string) (string, bool) {
	v, ok := map[string]string{"VF_APP_PORT": "8080", "HOME": "/root"}[name]
	return v, ok
}

// caseModule is the module name every case is parsed as.
const caseModule = "AM"

func parseCase(dir string) (*Cluster, *Module, error) {
	cx, err := os.ReadFile(filepath.Join(dir, "cluster.xml"))
	if err != nil {
		return nil, nil, err
	}
	cl, err := ParseCluster("cluster.xml", cx)
	if err != nil {
		return nil, nil, err
	}
	ux, err := os.ReadFile(filepath.Join(dir, "userconfig.xml"))
	if errors.Is(err, os.ErrNotExist) {
		return cl, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	m, err := ParseModule(caseModule, "userconfig.xml", ux, cl, testEnv)
	return cl, m, err
}

func caseDirs(t *testing.T, kind string) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(testdataDir, kind, "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no %s cases under %s: %v", kind, testdataDir, err)
	}
	return dirs
}

func TestGoldenGood(t *testing.T) {
	for _, dir := range caseDirs(t, "good") {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			cl, m, err := parseCase(dir)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if m == nil {
				t.Fatalf("no userconfig.xml")
			}
			if err := m.Validate(cl); err != nil {
				t.Fatalf("accepted module does not re-validate: %v", err)
			}
			got := dumpModel(t, cl, m)
			golden := filepath.Join(dir, "model.golden.json")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("model differs from %s (run with -update and review the diff):\n%s", golden, got)
			}
		})
	}
}

func TestGoldenBad(t *testing.T) {
	dirs := caseDirs(t, "bad")
	if len(dirs) < 24 {
		t.Errorf("only %d bad cases, want at least 24", len(dirs))
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			_, _, err := parseCase(dir)
			if err == nil {
				t.Fatalf("parsed without error")
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is a %T, want *config.Error", err, err)
			}
			wantFile := filepath.Join(dir, "want.txt")
			if *update {
				if err := os.WriteFile(wantFile, []byte(err.Error()+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, rerr := os.ReadFile(wantFile)
			if rerr != nil {
				t.Fatalf("%v (run with -update to create it)", rerr)
			}
			if got := err.Error(); got != strings.TrimSpace(string(want)) {
				t.Errorf("error\n got  %s\n want %s", got, strings.TrimSpace(string(want)))
			}
		})
	}
}

// dumpModel renders the parsed files for the golden files: the model as is,
// with failover conditions written in the rule language (an Expr marshals
// ambiguously otherwise).
func dumpModel(t *testing.T, cl *Cluster, m *Module) []byte {
	t.Helper()
	type rule struct {
		Label, Rule string
		BuiltIn     bool `json:",omitempty"`
		Line        int  `json:",omitempty"`
	}
	type failover struct {
		Period, HandleTime string
		Rules              []rule
	}
	type module struct {
		*Module
		Failover  failover
		Resources []string
	}
	f := failover{Period: m.Failover.Period.String(), HandleTime: m.Failover.HandleTime.String()}
	for _, r := range m.Failover.Rules {
		f.Rules = append(f.Rules, rule{r.Label, r.String(), r.BuiltIn, r.Line})
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // keep && readable
	enc.SetIndent("", "  ")
	if err := enc.Encode(struct {
		Cluster *Cluster
		Module  module
	}{cl, module{m, f, m.Resources()}}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
