package config

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// element is one XML element with the line of every part, read by streaming
// encoding/xml tokens. The validators below walk this small tree instead of
// unmarshalling into structs, because struct unmarshalling silently drops
// unknown elements and attributes and loses line numbers, and both are
// exactly what an administrator needs to hear about.
type element struct {
	name  string
	line  int // line of the '<' of the start tag
	attrs []*attribute
	kids  []*element
	text  []textChunk // character data directly inside, CDATA included
}

type attribute struct {
	name, value string
	line        int
}

type textChunk struct {
	text string
	line int // line of the chunk's first character
}

// hasText reports whether the element holds non-blank character data, and
// where the first such chunk starts.
func (e *element) hasText() (bool, int) {
	for _, c := range e.text {
		if strings.TrimSpace(c.text) != "" {
			return true, c.line + leadingNewlines(c.text)
		}
	}
	return false, 0
}

// joinedText concatenates the element's character data, padding with
// newlines so that line k of the result is line (first chunk's line + k) of
// the file even when comments sit between chunks.
func (e *element) joinedText() (string, int) {
	if len(e.text) == 0 {
		return "", e.line
	}
	var b strings.Builder
	start := e.text[0].line
	cur := start
	for _, c := range e.text {
		for cur < c.line {
			b.WriteByte('\n')
			cur++
		}
		b.WriteString(c.text)
		cur += strings.Count(c.text, "\n")
	}
	return b.String(), start
}

// parseXML reads data into a tree. It returns the first syntax error as an
// *Error: a document that is not well-formed XML has no structure to check.
func parseXML(file string, data []byte) (*element, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	d.CharsetReader = func(charset string, _ io.Reader) (io.Reader, error) {
		return nil, fmt.Errorf("encoding %q is not supported, write the file in UTF-8", charset)
	}
	var root *element
	var stack []*element
	for {
		line, _ := d.InputPos() // end of the previous token = start of the next one
		off := d.InputOffset()
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				msg := "XML: " + se.Msg
				if strings.Contains(se.Msg, "entity") {
					// The usual cause: "&&" in failover rules written as plain text.
					msg += " (in text write & as &amp;, or put failover rules in <![CDATA[ ... ]]>)"
				}
				return nil, &Error{File: file, Line: se.Line, Msg: msg}
			}
			l, _ := d.InputPos()
			return nil, &Error{File: file, Line: l, Msg: "XML: " + err.Error()}
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if root != nil && len(stack) == 0 {
				return nil, &Error{File: file, Line: line, Msg: fmt.Sprintf("element <%s> after the root element <%s>", qname(t.Name), root.name)}
			}
			raw := data[off:min(int(d.InputOffset()), len(data))]
			e := &element{name: qname(t.Name), line: line}
			cursor := 0
			for _, a := range t.Attr {
				at := &attribute{name: qname(a.Name), value: a.Value, line: line}
				if i := findAttr(raw[cursor:], at.name); i >= 0 {
					at.line = line + bytes.Count(raw[:cursor+i], []byte("\n"))
					cursor += i + len(at.name)
				}
				e.attrs = append(e.attrs, at)
			}
			if len(stack) == 0 {
				root = e
			} else {
				p := stack[len(stack)-1]
				p.kids = append(p.kids, e)
			}
			stack = append(stack, e)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 0 {
				if s := strings.TrimSpace(string(t)); s != "" {
					return nil, &Error{File: file, Line: line + leadingNewlines(string(t)), Msg: fmt.Sprintf("text %q outside the root element", clip(s))}
				}
				continue
			}
			p := stack[len(stack)-1]
			p.text = append(p.text, textChunk{text: string(t), line: line})
		case xml.Comment, xml.ProcInst, xml.Directive:
			// <?xml ...?>, <!DOCTYPE safe> and comments carry nothing for us.
		}
	}
	if root == nil {
		return nil, &Error{File: file, Line: 1, Msg: "no root element"}
	}
	return root, nil
}

// qname renders a name as written ("a:b" keeps its prefix, which no element
// of the schema has, so it fails as unknown rather than being silently
// stripped).
func qname(n xml.Name) string {
	if n.Space != "" {
		return n.Space + ":" + n.Local
	}
	return n.Local
}

// findAttr finds `name` followed by optional blanks and '=' and preceded by a
// blank, in the raw bytes of a start tag.
func findAttr(raw []byte, name string) int {
	from := 0
	for {
		i := bytes.Index(raw[from:], []byte(name))
		if i < 0 {
			return -1
		}
		i += from
		j := i + len(name)
		for j < len(raw) && isXMLSpace(raw[j]) {
			j++
		}
		if i > 0 && isXMLSpace(raw[i-1]) && j < len(raw) && raw[j] == '=' {
			return i
		}
		from = i + 1
	}
}

func isXMLSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func leadingNewlines(s string) int {
	n := 0
	for _, c := range s {
		switch c {
		case '\n':
			n++
		case ' ', '\t', '\r':
		default:
			return n
		}
	}
	return n
}

// clip shortens a value quoted in an error so one bad line cannot flood a log.
func clip(s string) string {
	const max = 60
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
