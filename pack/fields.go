package pack

import (
	"fmt"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// fileCheck reads typed fields out of one decoded metadata file and records
// problems against that file with the line of the offending node.
type fileCheck struct {
	doc   *document
	probs *problems
}

// fail records a problem at path; the message is prefixed with the path.
func (f *fileCheck) fail(path []string, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if len(path) > 0 {
		msg = formatPath(path) + ": " + msg
	}
	f.probs.add(f.doc.file, lineAt(f.doc.root, path), "%s", msg)
}

func join(path []string, seg ...string) []string {
	out := make([]string, 0, len(path)+len(seg))
	out = append(out, path...)
	return append(out, seg...)
}

// str reads an optional (or required) string field.
func (f *fileCheck) str(m map[string]any, path []string, key string, required bool) string {
	v, ok := m[key]
	if !ok || v == nil {
		if required {
			f.fail(join(path, key), "required field is missing")
		}
		return ""
	}
	s, ok := v.(string)
	if !ok {
		f.fail(join(path, key), "must be a string, not %s", typeName(v))
		return ""
	}
	if required && strings.TrimSpace(s) == "" {
		f.fail(join(path, key), "must not be empty")
	}
	return s
}

func (f *fileCheck) boolean(m map[string]any, path []string, key string, def bool) bool {
	v, ok := m[key]
	if !ok || v == nil {
		return def
	}
	b, ok := v.(bool)
	if !ok {
		f.fail(join(path, key), "must be a boolean (true or false), not %s", typeName(v))
		return def
	}
	return b
}

// mapping reads an optional mapping field; absent and null give nil.
func (f *fileCheck) mapping(m map[string]any, path []string, key string) map[string]any {
	v, ok := m[key]
	if !ok || v == nil {
		return nil
	}
	mm, ok := v.(map[string]any)
	if !ok {
		f.fail(join(path, key), "must be a mapping, not %s", typeName(v))
		return nil
	}
	return mm
}

func (f *fileCheck) list(m map[string]any, path []string, key string) []any {
	v, ok := m[key]
	if !ok || v == nil {
		return nil
	}
	l, ok := v.([]any)
	if !ok {
		f.fail(join(path, key), "must be a list, not %s", typeName(v))
		return nil
	}
	return l
}

// stringList reads a list of strings; numbers and booleans are accepted and
// kept as written (pack.yaml often has python_versions: [2, 3] unquoted).
func (f *fileCheck) stringList(m map[string]any, path []string, key string) []string {
	l := f.list(m, path, key)
	if l == nil {
		return nil
	}
	out := make([]string, 0, len(l))
	for i, item := range l {
		switch x := item.(type) {
		case string:
			out = append(out, x)
		case int64, float64, bool:
			out = append(out, fmt.Sprint(x))
		default:
			f.fail(join(path, key, fmt.Sprint(i)), "must be a string, not %s", typeName(item))
		}
	}
	return out
}

// tags checks st2's tag list shape: a list of {name, value} mappings.
func (f *fileCheck) tags(m map[string]any, path []string) []any {
	l := f.list(m, path, "tags")
	for i, t := range l {
		if _, ok := t.(map[string]any); !ok {
			f.fail(join(path, "tags", fmt.Sprint(i)), "must be a mapping with name and value, not %s", typeName(t))
		}
	}
	return l
}

// unknownKeys reports keys st2's API schema for the resource does not allow
// (st2 sets additionalProperties: false on them and refuses to register).
func (f *fileCheck) unknownKeys(m map[string]any, path []string, allowed map[string]bool, what string) {
	var bad []string
	for k := range m {
		if !allowed[k] {
			bad = append(bad, k)
		}
	}
	sort.Strings(bad)
	for _, k := range bad {
		f.fail(join(path, k), "unknown field for %s (allowed: %s)", what, keyList(allowed))
	}
}

func keyList(allowed map[string]bool) string {
	keys := make([]string, 0, len(allowed))
	for k := range allowed {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ", ")
}

func keySet(keys ...string) map[string]bool {
	m := make(map[string]bool, len(keys))
	for _, k := range keys {
		m[k] = true
	}
	return m
}

// decodeDoc converts a parsed document to its top-level mapping, recording
// decode problems. It returns nil when the top level is not a mapping.
func decodeDoc(doc *document, probs *problems) map[string]any {
	v, errs := decodeYAML(doc.root)
	for _, e := range errs {
		msg := e.msg
		if len(e.path) > 0 {
			msg = formatPath(e.path) + ": " + msg
		}
		probs.add(doc.file, e.line, "%s", msg)
	}
	m, ok := v.(map[string]any)
	if !ok {
		probs.add(doc.file, doc.root.Line, "top level must be a mapping, not %s", typeNameOfNode(doc.root, v))
		return nil
	}
	return m
}

func typeNameOfNode(n *yaml.Node, v any) string {
	if n.Kind == yaml.SequenceNode {
		return "a list"
	}
	return "a " + typeName(v)
}
