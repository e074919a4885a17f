package rules

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// st2's operators are plain Python expressions (==, <, in, str methods) on
// whatever the trigger payload and the pattern decoded to. The helpers in
// this file give Go data (nil, bool, ints, floats, string, []any,
// map[string]any) the same meaning, including the corners users run into:
// True == 1, 1 == 1.0, "1" != 1, `x in dict` tests keys, and comparisons
// across types raise TypeError (which st2 turns into a failed match).

// typeError mirrors a Python TypeError/AttributeError raised by an operator:
// st2 catches it and records the rule enforcement as failed.
type typeError struct{ msg string }

func (e *typeError) Error() string { return e.msg }

func typeErrorf(format string, args ...any) error {
	return &typeError{msg: fmt.Sprintf(format, args...)}
}

// num is a Python number: bool, int or float.
type num struct {
	isFloat bool
	i       int64
	f       float64
}

// toNum reports whether v is a Python number and returns it. bool counts,
// since Python's bool is a subclass of int.
func toNum(v any) (num, bool) {
	switch x := v.(type) {
	case bool:
		if x {
			return num{i: 1}, true
		}
		return num{}, true
	case int:
		return num{i: int64(x)}, true
	case int8:
		return num{i: int64(x)}, true
	case int16:
		return num{i: int64(x)}, true
	case int32:
		return num{i: int64(x)}, true
	case int64:
		return num{i: x}, true
	case uint:
		return uintNum(uint64(x)), true
	case uint8:
		return num{i: int64(x)}, true
	case uint16:
		return num{i: int64(x)}, true
	case uint32:
		return num{i: int64(x)}, true
	case uint64:
		return uintNum(x), true
	case float32:
		return num{isFloat: true, f: float64(x)}, true
	case float64:
		return num{isFloat: true, f: x}, true
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return num{i: i}, true
		}
		if f, err := x.Float64(); err == nil {
			return num{isFloat: true, f: f}, true
		}
	}
	return num{}, false
}

func uintNum(u uint64) num {
	if u > math.MaxInt64 {
		return num{isFloat: true, f: float64(u)}
	}
	return num{i: int64(u)}
}

// cmp compares two numbers: -1, 0, 1; NaN compares as unordered (ok=false).
func (a num) cmp(b num) (int, bool) {
	if !a.isFloat && !b.isFloat {
		switch {
		case a.i < b.i:
			return -1, true
		case a.i > b.i:
			return 1, true
		}
		return 0, true
	}
	af, bf := a.float(), b.float()
	if math.IsNaN(af) || math.IsNaN(bf) {
		return 0, false
	}
	switch {
	case af < bf:
		return -1, true
	case af > bf:
		return 1, true
	}
	return 0, true
}

func (a num) float() float64 {
	if a.isFloat {
		return a.f
	}
	return float64(a.i)
}

// pyEqual is Python's ==.
func pyEqual(a, b any) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	if an, ok := toNum(a); ok {
		bn, ok := toNum(b)
		if !ok {
			return false
		}
		c, ok := an.cmp(bn)
		return ok && c == 0
	}
	switch x := a.(type) {
	case string:
		y, ok := b.(string)
		return ok && x == y
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !pyEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, has := y[k]
			if !has || !pyEqual(xv, yv) {
				return false
			}
		}
		return true
	}
	return false
}

// pyCompare is Python 3's ordering (<, >): numbers with numbers, strings by
// code point, lists lexicographically; anything else is a TypeError.
func pyCompare(a, b any) (int, error) {
	if an, ok := toNum(a); ok {
		if bn, ok := toNum(b); ok {
			c, ok := an.cmp(bn)
			if !ok {
				return 0, errUnordered
			}
			return c, nil
		}
	}
	switch x := a.(type) {
	case string:
		if y, ok := b.(string); ok {
			return comparePyStrings(x, y), nil
		}
	case []any:
		if y, ok := b.([]any); ok {
			for i := 0; i < len(x) && i < len(y); i++ {
				if pyEqual(x[i], y[i]) {
					continue
				}
				return pyCompare(x[i], y[i])
			}
			switch {
			case len(x) < len(y):
				return -1, nil
			case len(x) > len(y):
				return 1, nil
			}
			return 0, nil
		}
	}
	return 0, typeErrorf("'<' not supported between instances of '%s' and '%s'", pyType(a), pyType(b))
}

// errUnordered is returned for comparisons with NaN, which are always
// false in Python; callers turn it into false rather than an error.
var errUnordered = fmt.Errorf("unordered comparison")

// comparePyStrings compares by code point like Python (Go's string
// comparison is by UTF-8 byte, which orders code points the same way).
func comparePyStrings(a, b string) int { return strings.Compare(a, b) }

// pyContains is Python's `needle in haystack`.
func pyContains(haystack, needle any) (bool, error) {
	switch h := haystack.(type) {
	case string:
		n, ok := needle.(string)
		if !ok {
			return false, typeErrorf("'in <string>' requires string as left operand, not %s", pyType(needle))
		}
		return strings.Contains(h, n), nil
	case []any:
		for _, item := range h {
			if pyEqual(item, needle) {
				return true, nil
			}
		}
		return false, nil
	case map[string]any:
		switch n := needle.(type) {
		case []any, map[string]any:
			return false, typeErrorf("unhashable type: '%s'", pyType(n))
		case string:
			_, has := h[n]
			return has, nil
		}
		// A JSON object's keys are strings: no number or None is among them.
		return false, nil
	}
	return false, typeErrorf("argument of type '%s' is not iterable", pyType(haystack))
}

// pyStr requires a str, as st2's string operators call str methods
// (value.lower(), value.startswith(...)) that other types do not have.
func pyStr(v any, method string) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", typeErrorf("'%s' object has no attribute '%s'", pyType(v), method)
	}
	return s, nil
}

// pyType names v's Python type for error messages.
func pyType(v any) string {
	switch v.(type) {
	case nil:
		return "NoneType"
	case bool:
		return "bool"
	case string:
		return "str"
	case []any:
		return "list"
	case map[string]any:
		return "dict"
	}
	if n, ok := toNum(v); ok {
		if n.isFloat {
			return "float"
		}
		return "int"
	}
	return fmt.Sprintf("%T", v)
}

// pyFloat is Python's float(x) for the timediff operators' period.
func pyFloat(v any) (float64, error) {
	if n, ok := toNum(v); ok {
		return n.float(), nil
	}
	if s, ok := v.(string); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return 0, &typeError{msg: fmt.Sprintf("could not convert string to float: %q", s)}
		}
		return f, nil
	}
	return 0, typeErrorf("float() argument must be a string or a number, not '%s'", pyType(v))
}

// show renders a value for reasons and logs: JSON with sorted keys, which
// reads the same as the YAML or JSON the user wrote.
func show(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	return string(b)
}

// sortedKeys returns m's keys in order: Go maps have none, and evaluation
// must be deterministic.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
