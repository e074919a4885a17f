package pyfmt

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"
)

// JSONOptions are the json.dumps arguments callers vary. The zero value is
// json.dumps(v, sort_keys=True): one line, ", " and ": " separators.
type JSONOptions struct {
	// Indent, when set, is json.dumps's indent=: every item on its own line,
	// indented that many spaces per level (0 and below: no spaces). nil
	// writes one line.
	Indent *int
	// ItemSep and KeySep are json.dumps's separators=; empty means Python's
	// default: ", " (or "," when Indent is set) and ": ".
	ItemSep, KeySep string
}

// JSON encodes v as Python's json.dumps(v, sort_keys=True, ensure_ascii=True)
// with opts: non-ASCII escaped as \uXXXX (surrogate pairs above U+FFFF), no
// HTML escaping, floats as repr prints them (1.0, 1e-05) and NaN/Infinity for
// the non-finite ones. Values other than plain decoded data (structs, typed
// slices and maps) are turned into plain data with encoding/json first; one
// that cannot be is an error, as Python raises TypeError.
func JSON(v any, opts JSONOptions) (string, error) {
	e := jsonEncoder{itemSep: opts.ItemSep, keySep: opts.KeySep, indent: -1}
	if opts.Indent != nil {
		e.indent = max(*opts.Indent, 0)
	}
	if e.itemSep == "" {
		e.itemSep = ", "
		if e.indent >= 0 {
			e.itemSep = ","
		}
	}
	if e.keySep == "" {
		e.keySep = ": "
	}
	if err := e.encode(v, 0); err != nil {
		return "", err
	}
	return e.sb.String(), nil
}

type jsonEncoder struct {
	sb              strings.Builder
	indent          int // -1: one line
	itemSep, keySep string
}

func (e *jsonEncoder) newline(depth int) {
	if e.indent >= 0 {
		e.sb.WriteByte('\n')
		e.sb.WriteString(strings.Repeat(" ", e.indent*depth))
	}
}

func (e *jsonEncoder) encode(v any, depth int) error {
	sb := &e.sb
	switch x := v.(type) {
	case nil:
		sb.WriteString("null")
	case bool:
		if x {
			sb.WriteString("true")
		} else {
			sb.WriteString("false")
		}
	case string:
		writeJSONString(sb, x)
	case json.Number:
		sb.WriteString(x.String())
	case int:
		sb.WriteString(strconv.Itoa(x))
	case int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		fmt.Fprintf(sb, "%d", x)
	case float32:
		sb.WriteString(jsonFloat(float64(x)))
	case float64:
		sb.WriteString(jsonFloat(x))
	case []any:
		if len(x) == 0 {
			sb.WriteString("[]")
			return nil
		}
		sb.WriteByte('[')
		for i, item := range x {
			if i > 0 {
				sb.WriteString(e.itemSep)
			}
			e.newline(depth + 1)
			if err := e.encode(item, depth+1); err != nil {
				return err
			}
		}
		e.newline(depth)
		sb.WriteByte(']')
	case map[string]any:
		if len(x) == 0 {
			sb.WriteString("{}")
			return nil
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		// Python sorts str keys by code point, as Go's byte order does.
		sort.Strings(keys)
		sb.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				sb.WriteString(e.itemSep)
			}
			e.newline(depth + 1)
			writeJSONString(sb, k)
			sb.WriteString(e.keySep)
			if err := e.encode(x[k], depth+1); err != nil {
				return err
			}
		}
		e.newline(depth)
		sb.WriteByte('}')
	default:
		rv := reflect.ValueOf(v)
		if rv.Kind() == reflect.Map && rv.Type().Key().Kind() != reflect.String {
			// Python's json.dumps turns int, float and bool keys into strings.
			m := make(map[string]any, rv.Len())
			iter := rv.MapRange()
			for iter.Next() {
				m[fmt.Sprint(iter.Key().Interface())] = iter.Value().Interface()
			}
			return e.encode(m, depth)
		}
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("cannot encode %T as JSON: %w", v, err)
		}
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.UseNumber()
		var generic any
		if err := dec.Decode(&generic); err != nil {
			return fmt.Errorf("cannot encode %T as JSON: %w", v, err)
		}
		return e.encode(floatNumbers(generic), depth)
	}
	return nil
}

// writeJSONString quotes s as json.dumps does with ensure_ascii=True: only
// space..~ stay as they are. Invalid UTF-8 becomes U+FFFD, since a Python
// str cannot hold it.
func writeJSONString(sb *strings.Builder, s string) {
	sb.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			sb.WriteString(`\"`)
		case '\\':
			sb.WriteString(`\\`)
		case '\n':
			sb.WriteString(`\n`)
		case '\r':
			sb.WriteString(`\r`)
		case '\t':
			sb.WriteString(`\t`)
		case '\b':
			sb.WriteString(`\b`)
		case '\f':
			sb.WriteString(`\f`)
		default:
			switch {
			case r < 0x20 || (r >= 0x7f && r < 0x10000):
				fmt.Fprintf(sb, `\u%04x`, r)
			case r >= 0x10000:
				r1, r2 := utf16.EncodeRune(r)
				fmt.Fprintf(sb, `\u%04x\u%04x`, r1, r2)
			default:
				sb.WriteRune(r)
			}
		}
	}
	sb.WriteByte('"')
}

// jsonFloat is Float except for the non-finite values, which json.dumps
// writes as JavaScript names rather than repr's inf and nan.
func jsonFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return Float(f)
}

// floatNumbers turns the non-integer json.Numbers in v (decoded in place)
// into float64, so that a struct's int field prints as 4 and its float field
// as Python's repr, not as Go's literal.
func floatNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if strings.ContainsAny(x.String(), ".eE") {
			if f, err := x.Float64(); err == nil {
				return f
			}
		}
	case []any:
		for i, e := range x {
			x[i] = floatNumbers(e)
		}
	case map[string]any:
		for k, e := range x {
			x[k] = floatNumbers(e)
		}
	}
	return v
}
