package rules

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/squall-automation/squall/template"
)

// Search conditions (operators.py search): how the items of the payload
// list and the nested criteria combine.
const (
	SearchAny     = "any"     // some item matches every nested criterion
	SearchAll     = "all"     // every item matches every nested criterion
	SearchAll2Any = "all2any" // every item matches at least one nested criterion
	SearchAny2Any = "any2any" // some item matches at least one nested criterion
)

// Context prefixes: criteria keys and patterns see the trigger instance
// payload as "trigger", and each list element as "item" inside search.
const (
	TriggerPrefix = "trigger"
	ItemPrefix    = "item"
)

// searchPattern is the pattern the search operator takes: the condition
// and the nested criteria applied to each element of the payload list.
type searchPattern struct {
	Condition string
	Criteria  []*criterion
	// Ctx is the extra rendering context (st2kv, ...) for nested patterns.
	Ctx map[string]any
}

// criterion is one compiled entry of a rule's criteria.
type criterion struct {
	key  string // as written, with any "#tag"
	path *jsonPath
	op   string // canonical (lower-case) operator name
	fn   OpFunc

	pattern any // the literal pattern, when it is not a template
	// tmpl is set when the pattern is a string with Jinja markup; complex
	// is the same template with st2's "| to_complex" rewrite, or "" when
	// the pattern has no {{ }} expression.
	tmpl    string
	complex string

	condition string       // search only
	children  []*criterion // search only
}

// criterionError is an evaluation error: st2 records the enforcement as
// failed with a reason that names the stage that failed.
type criterionError struct {
	stage string
	key   string
	err   error
}

func (e *criterionError) Error() string {
	return fmt.Sprintf("%s for criteria key %q: %v", e.stage, e.key, e.err)
}

func (e *criterionError) Unwrap() error { return e.err }

// compileCriteria compiles a criteria mapping; prefix is "criteria" or the
// parent's path for nested search criteria, for error messages.
func compileCriteria(m map[string]any, where string) ([]*criterion, error) {
	out := make([]*criterion, 0, len(m))
	for _, key := range sortedKeys(m) {
		c, err := compileCriterion(key, m[key], where)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func compileCriterion(key string, spec any, where string) (*criterion, error) {
	at := fmt.Sprintf("%s[%q]", where, key)
	sm, ok := spec.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: must be a mapping with type and pattern, not %s", at, pyType(spec))
	}
	opv, has := sm["type"]
	if !has || opv == nil {
		return nil, fmt.Errorf("%s: operator not specified (type)", at)
	}
	opName, ok := opv.(string)
	if !ok {
		return nil, fmt.Errorf("%s: type must be an operator name, not %s", at, pyType(opv))
	}
	fn, ok := Operator(opName)
	if !ok {
		return nil, fmt.Errorf("%s: operator %q is not one of st2's criteria operators (%s)", at, opName, strings.Join(OperatorNames(), ", "))
	}
	// "trigger.level#upper": st2 drops the "#" and what follows, so that one
	// payload field can be tested by several criteria.
	pathSrc, _, _ := strings.Cut(key, "#")
	path, err := parsePath(pathSrc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", at, err)
	}
	c := &criterion{key: key, path: path, op: strings.ToLower(opName), fn: fn}

	pattern, hasPattern := sm["pattern"]
	if c.op != OpExists && c.op != OpNExists && (!hasPattern || pattern == nil) {
		// st2's API (validate_criteria) refuses a criterion without a
		// pattern; only exists and nexists ignore theirs.
		return nil, fmt.Errorf("%s: no pattern specified for operator %s", at, opName)
	}

	if c.op == OpSearch {
		cond, _ := sm["condition"].(string)
		switch cond {
		case SearchAny, SearchAll, SearchAll2Any, SearchAny2Any:
		default:
			return nil, fmt.Errorf("%s: search condition %s is not recognized: any, all, any2any and all2any are allowed", at, show(sm["condition"]))
		}
		pm, ok := pattern.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: search pattern must be a mapping of nested criteria (item.<field>: {type, pattern}), not %s", at, pyType(pattern))
		}
		children, err := compileCriteria(pm, at+".pattern")
		if err != nil {
			return nil, err
		}
		c.condition = cond
		c.children = children
		return c, nil
	}

	if s, ok := pattern.(string); ok && template.IsTemplate(s) {
		c.tmpl = s
		if err := template.Check(s); err != nil {
			return nil, fmt.Errorf("%s: pattern: %w", at, err)
		}
		if matchCriteria.MatchString(s) {
			c.complex = matchCriteria.ReplaceAllString(s, "${1}${2} | to_complex${3}")
			if err := template.Check(c.complex); err != nil {
				return nil, fmt.Errorf("%s: pattern: %w", at, err)
			}
		}
		return c, nil
	}
	c.pattern = pattern
	// A literal regular expression is compiled now, so that a pattern RE2
	// cannot run is reported when the rule is loaded, not on every event.
	if s, ok := pattern.(string); ok {
		var kind regexKind
		switch c.op {
		case OpRegex:
			kind = searchKey
		case OpIRegex:
			kind = isearchKey
		case OpMatchRegex:
			kind = matchKey
		case OpMatchWildcard:
			kind = fnmatchKey
		default:
			return c, nil
		}
		if _, err := cachedRegexp(kind, s); err != nil {
			return nil, fmt.Errorf("%s: %w", at, err)
		}
	}
	return c, nil
}

// matchCriteria is st2's MATCH_CRITERIA (st2common/constants/rules.py): a
// pattern with a {{ }} expression is rendered with "| to_complex" appended
// to it and the output JSON-decoded, so that "{{ trigger.count }}" compares
// as the number, not its text. Python's re and RE2 agree on this
// expression: "." stops at newlines, ".*" is greedy (from the first "{{" to
// the last "}}" of a line).
var matchCriteria = regexp.MustCompile(`(\{\{)\s*(.*)\s*(\}\})`)

// renderPattern is st2's _render_criteria_pattern.
func (c *criterion) renderPattern(sc *scope) (any, error) {
	if c.tmpl == "" {
		return c.pattern, nil
	}
	ctx := sc.context()
	if c.complex != "" {
		out, err := template.Render(c.complex, ctx)
		if err != nil {
			return nil, err
		}
		if v, ok := decodeJSON(out); ok {
			return v, nil
		}
		// Not JSON (e.g. "v{{ trigger.version }}"): st2 falls back to
		// rendering the pattern as written, to a string.
	}
	return template.Render(c.tmpl, ctx)
}

// decodeJSON is st2's json_decode, keeping integers as int64.
func decodeJSON(s string) (any, bool) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		// Trailing data ("1 2") is invalid JSON for Python too.
		return nil, false
	}
	return fromJSONNumbers(v), true
}

// fromJSONNumbers turns json.Number into int64 (when integral) or float64,
// as Python's json module produces int and float.
func fromJSONNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case []any:
		for i := range x {
			x[i] = fromJSONNumbers(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = fromJSONNumbers(x[k])
		}
	}
	return v
}

// scope is what criteria keys and patterns see: one named value
// ("trigger" or "item") over the extra context. The map form Jinja needs is
// built only when a template or a complex path asks for it.
type scope struct {
	name  string
	value any
	extra map[string]any
	ctx   map[string]any
}

func (s *scope) get(name string) (any, bool) {
	if name == s.name {
		return s.value, true
	}
	v, ok := s.extra[name]
	return v, ok
}

func (s *scope) context() map[string]any {
	if s.ctx == nil {
		s.ctx = context(s.extra, s.name, s.value)
	}
	return s.ctx
}

// outcome is one criterion's verdict.
type outcome struct {
	ok      bool
	value   any // payload value
	pattern any // rendered pattern
	err     error
}

// check is st2's _check_criterion: render the pattern, look the key up,
// apply the operator. Any error makes the criterion fail.
func (c *criterion) check(sc *scope) outcome {
	pattern, err := c.renderPattern(sc)
	if err != nil {
		return outcome{err: &criterionError{stage: "failed to render pattern", key: c.key, err: err}}
	}
	value, err := c.path.first(sc)
	if err != nil {
		return outcome{pattern: pattern, err: &criterionError{stage: "failed transforming criteria key", key: c.key, err: err}}
	}
	var ok bool
	if c.op == OpSearch {
		ok, err = c.search(value, sc.extra)
	} else {
		ok, err = c.fn(value, pattern)
	}
	if err != nil {
		return outcome{value: value, pattern: pattern, err: &criterionError{stage: "there might be a problem with the criteria", key: c.key, err: err}}
	}
	return outcome{ok: ok, value: value, pattern: pattern}
}

func (c *criterion) search(value any, extra map[string]any) (bool, error) {
	return search(value, &searchPattern{Condition: c.condition, Criteria: c.children, Ctx: extra})
}

// search is st2's search operator. A mapping is searched as a one-element
// list ("single payload mode"); a string is iterated character by
// character, as Python does. Python's any() of nothing is false and all()
// of nothing true, so condition all matches an empty list.
func search(value, pattern any) (bool, error) {
	sp, ok := pattern.(*searchPattern)
	if !ok {
		return false, typeErrorf("search takes nested criteria with a condition, not %s", pyType(pattern))
	}
	var items []any
	switch x := value.(type) {
	case []any:
		items = x
	case map[string]any:
		items = []any{x}
	case string:
		for _, r := range x {
			items = append(items, string(r))
		}
	default:
		return false, typeErrorf("'%s' object is not iterable", pyType(value))
	}
	anyItem := sp.Condition == SearchAny || sp.Condition == SearchAny2Any
	anyPattern := sp.Condition == SearchAll2Any || sp.Condition == SearchAny2Any
	switch sp.Condition {
	case SearchAny, SearchAll, SearchAll2Any, SearchAny2Any:
	default:
		return false, typeErrorf("the '%s' condition is not recognized for type search, 'any', 'all', 'any2any' and 'all2any' are allowed", sp.Condition)
	}

	// A nested criterion that errors counts as not matching (st2's
	// check_function returns only the boolean); the first such error is
	// reported when the search as a whole fails.
	var firstErr error
	itemMatches := func(item any) bool {
		sc := &scope{name: ItemPrefix, value: item, extra: sp.Ctx}
		for _, child := range sp.Criteria {
			o := child.check(sc)
			if o.err != nil && firstErr == nil {
				firstErr = o.err
			}
			if anyPattern && o.ok {
				return true
			}
			if !anyPattern && !o.ok {
				return false
			}
		}
		return !anyPattern
	}
	result := !anyItem
	for _, item := range items {
		m := itemMatches(item)
		if anyItem && m {
			result = true
			break
		}
		if !anyItem && !m {
			result = false
			break
		}
	}
	if !result && firstErr != nil {
		return false, firstErr
	}
	return result, nil
}

// compact renders a value for a reason string, shortened.
func compact(v any) string {
	s := show(v)
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// jsonBytes is used by trigger keys: canonical JSON (sorted keys).
func jsonBytes(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}
