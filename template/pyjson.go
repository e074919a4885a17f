package template

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

// pyJSON encodes v the way Python's json.dumps does with ensure_ascii=True,
// which is what st2's filters produce: non-ASCII as \uXXXX, no HTML escaping,
// floats as Python prints them (1.0, 1e-05). indent < 0 means one line.
// Object keys are sorted.
func pyJSON(v any, indent int, itemSep, keySep string) (string, error) {
	var sb strings.Builder
	if err := encodePy(&sb, v, indent, 0, itemSep, keySep); err != nil {
		return "", err
	}
	return sb.String(), nil
}

func encodePy(sb *strings.Builder, v any, indent, depth int, itemSep, keySep string) error {
	newline := func(d int) {
		if indent >= 0 {
			sb.WriteByte('\n')
			sb.WriteString(strings.Repeat(" ", indent*d))
		}
	}
	sep := itemSep
	if indent >= 0 {
		sep = strings.TrimRight(itemSep, " ")
	}
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
		writePyString(sb, x)
	case json.Number:
		sb.WriteString(x.String())
	case int:
		sb.WriteString(strconv.Itoa(x))
	case int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		fmt.Fprintf(sb, "%d", x)
	case float32:
		sb.WriteString(formatPyFloat(float64(x)))
	case float64:
		sb.WriteString(formatPyFloat(x))
	case []any:
		if len(x) == 0 {
			sb.WriteString("[]")
			return nil
		}
		sb.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				sb.WriteString(sep)
			}
			newline(depth + 1)
			if err := encodePy(sb, e, indent, depth+1, itemSep, keySep); err != nil {
				return err
			}
		}
		newline(depth)
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
		sort.Strings(keys)
		sb.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				sb.WriteString(sep)
			}
			newline(depth + 1)
			writePyString(sb, k)
			sb.WriteString(keySep)
			if err := encodePy(sb, x[k], indent, depth+1, itemSep, keySep); err != nil {
				return err
			}
		}
		newline(depth)
		sb.WriteByte('}')
	default:
		// Other Go values (typed slices and maps, structs) go through
		// encoding/json to become plain data first.
		rv := reflect.ValueOf(v)
		if rv.Kind() == reflect.Map && rv.Type().Key().Kind() != reflect.String {
			m := make(map[string]any, rv.Len())
			iter := rv.MapRange()
			for iter.Next() {
				m[fmt.Sprint(iter.Key().Interface())] = iter.Value().Interface()
			}
			return encodePy(sb, m, indent, depth, itemSep, keySep)
		}
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("cannot encode %T as JSON: %v", v, err)
		}
		var generic any
		if err := json.Unmarshal(b, &generic); err != nil {
			return fmt.Errorf("cannot encode %T as JSON: %v", v, err)
		}
		return encodePy(sb, generic, indent, depth, itemSep, keySep)
	}
	return nil
}

func writePyString(sb *strings.Builder, s string) {
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

// formatPyFloat prints f like Python's repr(float).
func formatPyFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	abs := math.Abs(f)
	if abs != 0 && (abs < 1e-4 || abs >= 1e16) {
		s := strconv.FormatFloat(f, 'e', -1, 64)
		return s
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsAny(s, ".") {
		s += ".0"
	}
	return s
}

// JSONNumbers converts the json.Number values in v (decoded with
// json.Decoder.UseNumber) into int64 when they are written as integers and
// float64 otherwise, the distinction Python keeps and st2 templates see:
// {{ count }} must print "2", not "2.0". Maps and slices are converted in
// place.
func JSONNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		if f, err := x.Float64(); err == nil {
			return f
		}
		return x.String()
	case map[string]any:
		for k, e := range x {
			x[k] = JSONNumbers(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = JSONNumbers(e)
		}
		return x
	default:
		return v
	}
}
