package sim

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

var typeOfScenario = reflect.TypeOf(Scenario{})

// checkKeys walks a YAML node against the Go type it will decode into and
// rejects any mapping key the type does not know, except keys starting with
// "x-" (free-form annotations). yaml.v3's KnownFields cannot make that
// exception, and this keeps the line numbers for the message.
func checkKeys(n *yaml.Node, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			if t == reflect.TypeOf(Duration(0)) {
				return nil
			}
			return fmt.Errorf("line %d: %s must be a mapping", n.Line, pathName(path))
		}
		fields := map[string]reflect.Type{}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if tag == "" || tag == "-" || !f.IsExported() {
				continue
			}
			fields[tag] = f.Type
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if strings.HasPrefix(k.Value, "x-") {
				continue
			}
			ft, ok := fields[k.Value]
			if !ok {
				return fmt.Errorf("line %d: unknown key %q in %s (known: %s)", k.Line, k.Value, pathName(path), knownKeys(fields))
			}
			if err := checkKeys(v, ft, join(path, k.Value)); err != nil {
				return err
			}
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			if n.Tag == "!!null" {
				return nil
			}
			return fmt.Errorf("line %d: %s must be a mapping", n.Line, pathName(path))
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if strings.HasPrefix(k.Value, "x-") {
				continue
			}
			if err := checkKeys(v, t.Elem(), join(path, k.Value)); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			if n.Tag == "!!null" {
				return nil
			}
			return fmt.Errorf("line %d: %s must be a list", n.Line, pathName(path))
		}
		for i, v := range n.Content {
			if err := checkKeys(v, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// stripX removes "x-" keys from every mapping before decoding: a struct
// would ignore them anyway, but in a map (expect: {node1: ..., x-note: ...})
// an x- key would otherwise become an entry.
func stripX(n *yaml.Node) {
	if n.Kind == yaml.MappingNode {
		out := n.Content[:0]
		for i := 0; i+1 < len(n.Content); i += 2 {
			if strings.HasPrefix(n.Content[i].Value, "x-") {
				continue
			}
			out = append(out, n.Content[i], n.Content[i+1])
		}
		n.Content = out
	}
	for _, c := range n.Content {
		stripX(c)
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func pathName(path string) string {
	if path == "" {
		return "the scenario"
	}
	return path
}

func knownKeys(m map[string]reflect.Type) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ", ")
}
