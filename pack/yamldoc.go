package pack

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Values decoded from YAML are JSON-compatible so they can go into jsonb and
// through encoding/json unchanged:
//
//	mapping  -> map[string]any (keys are the scalar text as written)
//	sequence -> []any
//	integer  -> int64 (float64 when it does not fit in an int64)
//	float    -> float64 (.inf and .nan are rejected: JSON cannot hold them)
//	bool     -> bool
//	null     -> nil
//	anything else (strings, timestamps, binary, custom tags) -> string, as written
//
// Timestamps stay strings on purpose: st2 hands them to Jinja and JSON as text.

// maxDecodedNodes bounds alias expansion ("billion laughs"): a 1 MiB file of
// plain YAML has far fewer nodes than this.
const maxDecodedNodes = 1_000_000

// document is one parsed metadata file.
type document struct {
	file string     // relative to the pack dir
	root *yaml.Node // the top-level node (not the DocumentNode)
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parserErrors are the libyaml parser (not scanner) messages.
var parserErrors = []string{
	"did not find expected node content",
	"did not find expected key",
	"did not find expected ',' or",
	"did not find expected '-' indicator",
	"did not find expected <document start>",
	"did not find expected <stream-start>",
	"found undefined tag handle",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found duplicate %TAG directive",
}

// parseYAML parses exactly one YAML document. On a syntax error it returns the
// line yaml.v3 reports (0 when it gives none) and a message without the
// "yaml: line N:" prefix, so the Problem reads file:line: message.
func parseYAML(data []byte) (*yaml.Node, int, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, 0, errors.New("file is empty")
		}
		return yamlErrLine(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, extra.Line, errors.New("file holds more than one YAML document; st2 expects exactly one")
	} else if !errors.Is(err, io.EOF) {
		return yamlErrLine(err)
	}
	root := &doc
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) == 0 {
			return nil, 0, errors.New("file is empty")
		}
		root = doc.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		return nil, 0, errors.New("file is empty")
	}
	return root, 0, nil
}

func yamlErrLine(err error) (*yaml.Node, int, error) {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		// yaml.v3 reports scanner errors 1-based but parser errors with the
		// 0-based line of the construct being parsed ("while parsing a flow
		// mapping"); shift the latter so the line points at that construct.
		for _, prefix := range parserErrors {
			if strings.HasPrefix(m[2], prefix) {
				line++
				break
			}
		}
		return nil, line, fmt.Errorf("invalid YAML: %s", m[2])
	}
	return nil, 0, fmt.Errorf("invalid YAML: %s", strings.TrimPrefix(msg, "yaml: "))
}

// decodeError is a decoding problem at a line.
type decodeError struct {
	line int
	path []string
	msg  string
}

type decoder struct {
	nodes int
	errs  []decodeError
}

// decodeYAML converts a node tree to JSON-compatible values and reports every
// problem it meets (duplicate keys, non-scalar keys, non-finite numbers).
func decodeYAML(n *yaml.Node) (any, []decodeError) {
	d := &decoder{}
	v := d.decode(n, nil)
	return v, d.errs
}

func (d *decoder) fail(n *yaml.Node, path []string, format string, args ...any) {
	d.errs = append(d.errs, decodeError{line: n.Line, path: append([]string(nil), path...), msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) decode(n *yaml.Node, path []string) any {
	d.nodes++
	if d.nodes > maxDecodedNodes {
		if d.nodes == maxDecodedNodes+1 {
			d.fail(n, path, "document expands to more than %d nodes (alias bomb?)", maxDecodedNodes)
		}
		return nil
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil
		}
		return d.decode(n.Content[0], path)
	case yaml.AliasNode:
		return d.decode(n.Alias, path)
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for i, c := range n.Content {
			out = append(out, d.decode(c, append(path, strconv.Itoa(i))))
		}
		return out
	case yaml.MappingNode:
		return d.decodeMapping(n, path)
	case yaml.ScalarNode:
		return d.decodeScalar(n, path)
	}
	d.fail(n, path, "unsupported YAML node")
	return nil
}

func (d *decoder) decodeMapping(n *yaml.Node, path []string) map[string]any {
	out := make(map[string]any, len(n.Content)/2)
	explicit := make(map[string]bool, len(n.Content)/2)
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		if k.Kind == yaml.AliasNode && k.Alias != nil && k.Alias.Kind == yaml.ScalarNode {
			k = k.Alias
		}
		if k.Kind != yaml.ScalarNode {
			d.fail(k, path, "mapping keys must be scalars")
			continue
		}
		key := k.Value
		if explicit[key] {
			d.fail(k, path, "duplicate key %q", key)
			continue
		}
		explicit[key] = true
		out[key] = d.decode(v, append(path, key))
	}
	// Merge keys (<<) fill in what the mapping does not set itself; earlier
	// merge sources win over later ones, as the YAML merge spec says.
	for _, m := range merges {
		sources := []*yaml.Node{m}
		if m.Kind == yaml.SequenceNode {
			sources = m.Content
		}
		for _, s := range sources {
			src := s
			if src.Kind == yaml.AliasNode {
				src = src.Alias
			}
			if src == nil || src.Kind != yaml.MappingNode {
				d.fail(s, path, "merge key (<<) needs a mapping or a list of mappings")
				continue
			}
			for k, v := range d.decodeMapping(src, path) {
				if _, set := out[k]; !set {
					out[k] = v
				}
			}
		}
	}
	return out
}

func (d *decoder) decodeScalar(n *yaml.Node, path []string) any {
	switch n.ShortTag() {
	case "!!null":
		return nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			d.fail(n, path, "invalid boolean %q", n.Value)
			return nil
		}
		return b
	case "!!int":
		var i int64
		if err := n.Decode(&i); err == nil {
			return i
		}
		var f float64
		if err := n.Decode(&f); err == nil {
			return f
		}
		d.fail(n, path, "invalid integer %q", n.Value)
		return nil
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil {
			d.fail(n, path, "invalid number %q", n.Value)
			return nil
		}
		if math.IsInf(f, 0) || math.IsNaN(f) {
			d.fail(n, path, "%q cannot be represented in JSON; quote it to make it a string", n.Value)
			return nil
		}
		return f
	default:
		return n.Value
	}
}

// nodeAt walks mappings and sequences along path and returns the deepest node
// it reaches, so a problem about a missing field points at its parent.
func nodeAt(root *yaml.Node, path []string) *yaml.Node {
	n := root
	for _, seg := range path {
		for n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		var next *yaml.Node
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == seg {
					next = n.Content[i+1]
					// A key whose value is absent or null has no useful line of
					// its own beyond the key's.
					if next.Line == 0 {
						next = n.Content[i]
					}
					break
				}
			}
		case yaml.SequenceNode:
			if i, err := strconv.Atoi(seg); err == nil && i >= 0 && i < len(n.Content) {
				next = n.Content[i]
			}
		}
		if next == nil {
			return n
		}
		n = next
	}
	return n
}

// lineAt is the line of the node at path (or of its nearest present parent).
func lineAt(root *yaml.Node, path []string) int {
	if root == nil {
		return 0
	}
	return nodeAt(root, path).Line
}

// formatPath renders a field path the way messages show it:
// parameters.cmd.type, criteria["trigger.body.name"].type, formats[0].
func formatPath(path []string) string {
	var b strings.Builder
	for i, seg := range path {
		if _, err := strconv.Atoi(seg); err == nil && i > 0 {
			b.WriteString("[" + seg + "]")
			continue
		}
		if seg == "" || strings.ContainsAny(seg, ". \t[]\"") {
			b.WriteString("[" + strconv.Quote(seg) + "]")
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(seg)
	}
	return b.String()
}

// typeName names a decoded value's type in YAML/JSON-schema words.
func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case int64:
		return "integer"
	case float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "list"
	case map[string]any:
		return "mapping"
	}
	return fmt.Sprintf("%T", v)
}
