package config

import (
	"fmt"
	"strings"
)

// Env looks up an environment variable for %macro% fallback (os.LookupEnv in
// drivers; a map in tests). A nil Env means an empty environment.
type Env func(name string) (string, bool)

// Macro expansion, as vipfarm defines it (the SafeKit guide shows the use,
// not the corner cases):
//
//   - <macro name="N" value="V"/> elements are direct children of <safe>,
//     before or after <service>; each name once.
//   - %N% is replaced in every attribute value and in all text (failover
//     rules included) of the file, macro elements' own names excepted.
//   - A macro wins over an environment variable of the same name; a name that
//     is neither is an error naming it.
//   - A macro's value may use macros defined above it (never below: no
//     cycles) and environment variables.
//   - %% is a literal %. A % that does not open a well-formed %NAME% (NAME is
//     a letter or _, then letters, digits or _) is an error: silently keeping
//     it would hide a typo such as %VIP_ADDR (missing closing %).
//   - Expansion is one pass: a replacement text is not expanded again.

// expandMacros expands s, looking names up in lookup.
func expandMacros(s string, lookup func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c != '%' {
			b.WriteByte(c)
			i++
			continue
		}
		if i+1 < len(s) && s[i+1] == '%' {
			b.WriteByte('%')
			i += 2
			continue
		}
		j := strings.IndexByte(s[i+1:], '%')
		if j < 0 {
			return "", fmt.Errorf("%q: unterminated %%macro%% reference (write %%%% for a literal %%)", clip(s))
		}
		name := s[i+1 : i+1+j]
		if !isMacroName(name) {
			return "", fmt.Errorf("%q: %q is not a macro name (write %%%% for a literal %%)", clip(s), "%"+clip(name)+"%")
		}
		v, ok := lookup(name)
		if !ok {
			return "", fmt.Errorf("undefined macro %%%s%% (neither a <macro> nor an environment variable)", name)
		}
		b.WriteString(v)
		i += j + 2
	}
	return b.String(), nil
}

func isMacroName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
		if !letter && !(i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// applyMacros collects the <macro> children of root, then expands every other
// attribute value and text of the tree in place. It returns the macros.
func applyMacros(p *problems, root *element, env Env) map[string]string {
	macros := map[string]string{}
	defLine := map[string]int{}
	lookup := func(name string) (string, bool) {
		if v, ok := macros[name]; ok {
			return v, true
		}
		if env != nil {
			return env(name)
		}
		return "", false
	}
	for _, k := range root.kids {
		if k.name != "macro" {
			continue
		}
		var name, value *attribute
		for _, a := range k.attrs {
			switch a.name {
			case "name":
				name = a
			case "value":
				value = a
			default:
				p.errorf(a.line, "macro: unknown attribute %q (want name and value)", a.name)
			}
		}
		for _, kk := range k.kids {
			p.errorf(kk.line, "macro: unexpected element <%s>", kk.name)
		}
		if ok, l := k.hasText(); ok {
			p.errorf(l, "macro: unexpected text")
		}
		switch {
		case name == nil:
			p.errorf(k.line, "macro: missing attribute \"name\"")
			continue
		case value == nil:
			p.errorf(k.line, "macro %q: missing attribute \"value\"", name.value)
			continue
		case !isMacroName(name.value):
			p.errorf(name.line, "macro name %q: want a letter or _, then letters, digits or _", name.value)
			continue
		}
		if l, dup := defLine[name.value]; dup {
			p.errorf(name.line, "macro %q: defined twice (first at line %d)", name.value, l)
			continue
		}
		v, err := expandMacros(value.value, lookup)
		if err != nil {
			p.errorf(value.line, "macro %q value: %v", name.value, err)
			v = value.value
		}
		macros[name.value] = v
		defLine[name.value] = name.line
		value.value = v
	}
	var walk func(e *element)
	walk = func(e *element) {
		if e.name == "macro" && e != root {
			return
		}
		for _, a := range e.attrs {
			v, err := expandMacros(a.value, lookup)
			if err != nil {
				p.errorf(a.line, "%s %s: %v", e.name, a.name, err)
				continue
			}
			a.value = v
		}
		for i, c := range e.text {
			v, err := expandMacros(c.text, lookup)
			if err != nil {
				p.errorf(c.line+leadingNewlines(c.text), "%s text: %v", e.name, err)
				continue
			}
			e.text[i].text = v
		}
		for _, k := range e.kids {
			walk(k)
		}
	}
	walk(root)
	return macros
}
