package config

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// The fuzz targets hold the parsers to three promises: no input panics, every
// rejection is a located *Error, and whatever is accepted is coherent (the
// module re-validates; formatted rules parse back to the same rules). Seeds
// are the testdata files, so plain `go test` runs them as table cases.

func seedFiles(f *testing.F, name string) [][]byte {
	var out [][]byte
	for _, kind := range []string{"good", "bad"} {
		paths, _ := filepath.Glob(filepath.Join(testdataDir, kind, "*", name))
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			out = append(out, b)
		}
	}
	if len(out) == 0 {
		f.Fatalf("no seed %s under %s", name, testdataDir)
	}
	return out
}

func mustLocated(t *testing.T, file string, err error) {
	t.Helper()
	e, ok := err.(*Error)
	if !ok {
		t.Fatalf("error %v is %T, want *Error", err, err)
	}
	if e.File != file || e.Line < 0 || e.Msg == "" {
		t.Fatalf("error %q is not located in %s", e.Error(), file)
	}
}

func FuzzParseCluster(f *testing.F) {
	for _, b := range seedFiles(f, "cluster.xml") {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cl, err := ParseCluster("cluster.xml", data)
		if err != nil {
			mustLocated(t, "cluster.xml", err)
			return
		}
		if err := cl.Validate(); err != nil {
			t.Fatalf("accepted cluster does not validate: %v", err)
		}
	})
}

func FuzzParseModule(f *testing.F) {
	for _, b := range seedFiles(f, "userconfig.xml") {
		f.Add(b)
	}
	cl, err := ParseCluster("cluster.xml", []byte(`<cluster><lans>
<lan name="default"><node name="node1" addr="198.18.0.11"/><node name="node2" addr="198.18.0.12"/></lan>
<lan name="private"><node name="node1" addr="198.18.1.11"/><node name="node2" addr="198.18.1.12"/></lan>
</lans></cluster>`))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseModule("AM", "userconfig.xml", data, cl, testEnv)
		if err != nil {
			mustLocated(t, "userconfig.xml", err)
			return
		}
		if err := m.Validate(cl); err != nil {
			t.Fatalf("accepted module does not re-validate: %v", err)
		}
		// Parsing is deterministic: the same bytes give the same model.
		again, err := ParseModule("AM", "userconfig.xml", data, cl, testEnv)
		if err != nil || !reflect.DeepEqual(m, again) {
			t.Fatalf("second parse differs: %v", err)
		}
	})
}

func FuzzParseRules(f *testing.F) {
	for _, b := range seedFiles(f, "userconfig.xml") {
		root, err := parseXML("u", b)
		if err != nil {
			continue
		}
		var walk func(e *element)
		walk = func(e *element) {
			if e.name == "failover" {
				text, _ := e.joinedText()
				f.Add(text)
			}
			for _, k := range e.kids {
				walk(k)
			}
		}
		walk(root)
	}
	f.Add("a: if (!(intf.? == down) && (ip.* != up || custom.x == init)) then stopstart();")
	f.Fuzz(func(t *testing.T, text string) {
		rules, err := ParseRules("r", 7, text)
		if err != nil {
			mustLocated(t, "r", err)
			if err.(*Error).Line < 7 {
				t.Fatalf("error line %d before the text's first line", err.(*Error).Line)
			}
			return
		}
		var b []byte
		for _, r := range rules {
			b = append(b, r.String()+"\n"...)
		}
		again, err := ParseRules("r", 7, string(b))
		if err != nil {
			t.Fatalf("formatted rules do not parse: %v\n%s", err, b)
		}
		if len(again) != len(rules) {
			t.Fatalf("round trip: %d rules, want %d", len(again), len(rules))
		}
		for i := range rules {
			if again[i].Label != rules[i].Label || again[i].Action != rules[i].Action ||
				!reflect.DeepEqual(again[i].Cond, rules[i].Cond) {
				t.Fatalf("round trip changed rule %d:\n%v\n%v", i, rules[i], again[i])
			}
		}
	})
}
