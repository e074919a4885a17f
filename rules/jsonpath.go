package rules

import (
	"fmt"
	"strconv"
	"strings"
)

// A criteria key is a JSONPath expression evaluated with jsonpath_rw against
// {"trigger": payload} (or {"item": element} inside search). This is the
// part of jsonpath_rw's language rule keys use:
//
//	trigger.body.name             dotted fields
//	trigger.headers['X-Token']    bracketed, quoted field names (any characters)
//	trigger.'a.b'                 quoted field after a dot
//	trigger.X-GitHub-Event        "-" and "@" are allowed inside names
//	trigger.items[0], [-1]        list index (Python negative indexing)
//	trigger.items[*], [1:3]       every element / a slice (each is a match)
//	trigger.*                     every value of a mapping
//	trigger..name                 the field at any depth
//	trigger['a','b']              several fields
//
// st2 takes the first match as the payload value and None when nothing
// matches, so a missing key and a null value look the same to operators.

type stepKind uint8

const (
	stepFields   stepKind = iota // one or more named fields
	stepWildcard                 // "*": all values of a mapping
	stepIndex                    // [n]
	stepSlice                    // [*] or [a:b]
)

type pathStep struct {
	kind     stepKind
	names    []string
	index    int
	start    *int
	end      *int
	descend  bool // reached with "..": this step applies at any depth
	isSingle bool // kind == stepFields with exactly one name (fast path)
}

type jsonPath struct {
	src   string
	steps []pathStep
	// simple paths are single fields all along (trigger.body.name,
	// trigger.headers['X-Token']): looked up without building a context.
	simple bool
}

// parsePath parses a criteria key (its "#tag" already removed).
func parsePath(src string) (*jsonPath, error) {
	p := &pathParser{s: src}
	steps, err := p.parse()
	if err != nil {
		return nil, fmt.Errorf("criteria key %q is not a path jsonpath_rw accepts: %w", src, err)
	}
	jp := &jsonPath{src: src, steps: steps, simple: true}
	for _, st := range steps {
		if !st.isSingle || st.descend {
			jp.simple = false
		}
	}
	return jp, nil
}

type pathParser struct {
	s   string
	pos int
}

func (p *pathParser) skipSpace() {
	for p.pos < len(p.s) && (p.s[p.pos] == ' ' || p.s[p.pos] == '\t') {
		p.pos++
	}
}

func (p *pathParser) parse() ([]pathStep, error) {
	var steps []pathStep
	p.skipSpace()
	if p.pos >= len(p.s) {
		return nil, fmt.Errorf("empty path")
	}
	st, err := p.segment()
	if err != nil {
		return nil, err
	}
	steps = append(steps, st)
	for {
		p.skipSpace()
		if p.pos >= len(p.s) {
			return steps, nil
		}
		switch {
		case strings.HasPrefix(p.s[p.pos:], ".."):
			p.pos += 2
			p.skipSpace()
			st, err := p.segment()
			if err != nil {
				return nil, err
			}
			st.descend = true
			steps = append(steps, st)
		case p.s[p.pos] == '.':
			p.pos++
			p.skipSpace()
			st, err := p.segment()
			if err != nil {
				return nil, err
			}
			steps = append(steps, st)
		case p.s[p.pos] == '[':
			st, err := p.bracket()
			if err != nil {
				return nil, err
			}
			steps = append(steps, st)
		default:
			return nil, fmt.Errorf("unexpected %q at offset %d", p.s[p.pos], p.pos)
		}
	}
}

// segment is what may follow a dot: a name, a quoted name, "*" or a
// bracket expression.
func (p *pathParser) segment() (pathStep, error) {
	if p.pos >= len(p.s) {
		return pathStep{}, fmt.Errorf("path ends after a dot")
	}
	switch c := p.s[p.pos]; {
	case c == '[':
		return p.bracket()
	case c == '*':
		p.pos++
		return pathStep{kind: stepWildcard}, nil
	}
	names, err := p.names()
	if err != nil {
		return pathStep{}, err
	}
	return fieldsStep(names), nil
}

func fieldsStep(names []string) pathStep {
	return pathStep{kind: stepFields, names: names, isSingle: len(names) == 1}
}

// names reads one or more comma-separated field names.
func (p *pathParser) names() ([]string, error) {
	var names []string
	for {
		p.skipSpace()
		name, err := p.name()
		if err != nil {
			return nil, err
		}
		names = append(names, name)
		p.skipSpace()
		if p.pos < len(p.s) && p.s[p.pos] == ',' {
			p.pos++
			continue
		}
		return names, nil
	}
}

func isIDStart(c byte) bool {
	return c == '_' || c == '@' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

func isIDChar(c byte) bool {
	return isIDStart(c) || c == '-' || c >= '0' && c <= '9'
}

// name reads an identifier ([a-zA-Z_@][a-zA-Z0-9_@-]*, as jsonpath_rw's
// lexer) or a quoted name.
func (p *pathParser) name() (string, error) {
	if p.pos >= len(p.s) {
		return "", fmt.Errorf("missing field name at end")
	}
	c := p.s[p.pos]
	if c == '\'' || c == '"' {
		return p.quoted(c)
	}
	if !isIDStart(c) {
		return "", fmt.Errorf("unexpected %q at offset %d (quote field names that start with a digit or contain special characters: ['name'])", c, p.pos)
	}
	start := p.pos
	for p.pos < len(p.s) && isIDChar(p.s[p.pos]) {
		p.pos++
	}
	return p.s[start:p.pos], nil
}

func (p *pathParser) quoted(q byte) (string, error) {
	start := p.pos
	p.pos++
	var b strings.Builder
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		switch {
		case c == '\\' && p.pos+1 < len(p.s):
			b.WriteByte(p.s[p.pos+1])
			p.pos += 2
		case c == q:
			p.pos++
			return b.String(), nil
		default:
			b.WriteByte(c)
			p.pos++
		}
	}
	return "", fmt.Errorf("unterminated quoted name at offset %d", start)
}

// bracket parses [n], [*], [a:b] or ['name', ...].
func (p *pathParser) bracket() (pathStep, error) {
	p.pos++ // '['
	p.skipSpace()
	if p.pos >= len(p.s) {
		return pathStep{}, fmt.Errorf("unterminated [")
	}
	var st pathStep
	switch c := p.s[p.pos]; {
	case c == '*':
		p.pos++
		st = pathStep{kind: stepSlice}
	case c == '-' || c == ':' || c >= '0' && c <= '9':
		start, hasStart, err := p.int()
		if err != nil {
			return pathStep{}, err
		}
		p.skipSpace()
		if p.pos < len(p.s) && p.s[p.pos] == ':' {
			p.pos++
			p.skipSpace()
			end, hasEnd, err := p.int()
			if err != nil {
				return pathStep{}, err
			}
			st = pathStep{kind: stepSlice}
			if hasStart {
				st.start = &start
			}
			if hasEnd {
				st.end = &end
			}
		} else {
			if !hasStart {
				return pathStep{}, fmt.Errorf("missing index at offset %d", p.pos)
			}
			st = pathStep{kind: stepIndex, index: start}
		}
	default:
		names, err := p.names()
		if err != nil {
			return pathStep{}, err
		}
		st = fieldsStep(names)
	}
	p.skipSpace()
	if p.pos >= len(p.s) || p.s[p.pos] != ']' {
		return pathStep{}, fmt.Errorf("expected ] at offset %d", p.pos)
	}
	p.pos++
	return st, nil
}

func (p *pathParser) int() (int, bool, error) {
	start := p.pos
	if p.pos < len(p.s) && p.s[p.pos] == '-' {
		p.pos++
	}
	for p.pos < len(p.s) && p.s[p.pos] >= '0' && p.s[p.pos] <= '9' {
		p.pos++
	}
	if p.pos == start {
		return 0, false, nil
	}
	n, err := strconv.Atoi(p.s[start:p.pos])
	if err != nil {
		return 0, false, fmt.Errorf("bad index %q", p.s[start:p.pos])
	}
	return n, true, nil
}

// first returns the first match of the path in ctx, or nil when nothing
// matches, as st2's criteria lookup does. An error is what jsonpath_rw
// raises (indexing a mapping or a number).
func (jp *jsonPath) first(sc *scope) (any, error) {
	// Fast path: plain fields, the shape of nearly every rule key.
	if jp.simple {
		cur, has := sc.get(jp.steps[0].names[0])
		if !has {
			return nil, nil
		}
		for i := 1; i < len(jp.steps); i++ {
			m, ok := cur.(map[string]any)
			if !ok {
				return nil, nil
			}
			if cur, has = m[jp.steps[i].names[0]]; !has {
				return nil, nil
			}
		}
		return cur, nil
	}
	matches, err := jp.find(sc.context())
	if err != nil || len(matches) == 0 {
		return nil, err
	}
	return matches[0], nil
}

// find returns every match, in jsonpath_rw's order (mapping keys sorted,
// since Go maps have no order).
func (jp *jsonPath) find(ctx map[string]any) ([]any, error) {
	cur := []any{ctx}
	for i := range jp.steps {
		st := &jp.steps[i]
		var next []any
		for _, v := range cur {
			var err error
			if st.descend {
				next, err = descend(st, v, next)
			} else {
				next, err = apply(st, v, next)
			}
			if err != nil {
				return nil, err
			}
		}
		cur = next
		if len(cur) == 0 {
			return nil, nil
		}
	}
	return cur, nil
}

// descend applies st to v and to everything below it ("..").
func descend(st *pathStep, v any, out []any) ([]any, error) {
	out, err := apply(st, v, out)
	if err != nil {
		return nil, err
	}
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			if out, err = descend(st, e, out); err != nil {
				return nil, err
			}
		}
	case map[string]any:
		for _, k := range sortedKeys(x) {
			if out, err = descend(st, x[k], out); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

func apply(st *pathStep, v any, out []any) ([]any, error) {
	switch st.kind {
	case stepFields:
		// A field of anything but a mapping is no match: jsonpath_rw
		// swallows the TypeError/KeyError.
		m, ok := v.(map[string]any)
		if !ok {
			return out, nil
		}
		for _, name := range st.names {
			if fv, has := m[name]; has {
				out = append(out, fv)
			}
		}
	case stepWildcard:
		if m, ok := v.(map[string]any); ok {
			for _, k := range sortedKeys(m) {
				out = append(out, m[k])
			}
		}
	case stepIndex:
		return applyIndex(st.index, v, out)
	case stepSlice:
		return applySlice(st, v, out)
	}
	return out, nil
}

// applyIndex is jsonpath_rw's Index: `if len(value) > i: value[i]`, so a
// negative index counts from the end and indexing a mapping or a scalar
// raises.
func applyIndex(i int, v any, out []any) ([]any, error) {
	switch x := v.(type) {
	case []any:
		if len(x) <= i {
			return out, nil
		}
		j := i
		if j < 0 {
			j += len(x)
		}
		if j < 0 {
			return nil, typeErrorf("list index out of range")
		}
		return append(out, x[j]), nil
	case string:
		rs := []rune(x)
		if len(rs) <= i {
			return out, nil
		}
		j := i
		if j < 0 {
			j += len(rs)
		}
		if j < 0 {
			return nil, typeErrorf("string index out of range")
		}
		return append(out, string(rs[j])), nil
	case map[string]any:
		if len(x) <= i {
			return out, nil
		}
		return nil, typeErrorf("KeyError: %d (index into a mapping)", i)
	}
	return nil, typeErrorf("object of type '%s' has no len()", pyType(v))
}

// applySlice is jsonpath_rw's Slice, which wraps a mapping, string or int in
// a one-element list first.
func applySlice(st *pathStep, v any, out []any) ([]any, error) {
	var list []any
	switch x := v.(type) {
	case []any:
		list = x
	case map[string]any, string, bool:
		list = []any{x}
	default:
		if n, ok := toNum(v); ok && !n.isFloat {
			list = []any{x}
		} else {
			return nil, typeErrorf("object of type '%s' has no len()", pyType(v))
		}
	}
	lo, hi := 0, len(list)
	if st.start != nil {
		lo = clampIndex(*st.start, len(list))
	}
	if st.end != nil {
		hi = clampIndex(*st.end, len(list))
	}
	for i := lo; i < hi; i++ {
		out = append(out, list[i])
	}
	return out, nil
}

// clampIndex resolves a Python slice bound.
func clampIndex(i, n int) int {
	if i < 0 {
		i += n
		if i < 0 {
			i = 0
		}
	}
	if i > n {
		i = n
	}
	return i
}
