package param

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/squall-automation/squall/template"
)

// castValue converts v to the parameter's declared type the way st2's casts
// do (st2common.util.casts): strings, as they come from the CLI's k=v pairs
// and from rendered templates, are parsed as integers, numbers, booleans,
// arrays and objects. Values already of the right type are kept. What cannot
// be converted is an error naming the parameter and the value.
func castValue(name string, spec map[string]any, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	s, isString := v.(string)
	if isString && s == template.NoneMagicValue {
		return nil, nil
	}
	switch typeOf(spec) {
	case "string":
		if !isString {
			return nil, errorf(name, "%s is not a string", describe(v))
		}
		return s, nil

	case "integer":
		switch x := v.(type) {
		case string:
			i, err := strconv.ParseInt(strings.ReplaceAll(strings.TrimSpace(x), "_", ""), 10, 64)
			if err != nil {
				return nil, errorf(name, "%q is not a valid integer", x)
			}
			return int(i), nil
		case int:
			return x, nil
		case int64:
			return int(x), nil
		case float64:
			if x != math.Trunc(x) || math.IsInf(x, 0) || math.Abs(x) > 1<<53 {
				return nil, errorf(name, "%s is not a valid integer", describe(x))
			}
			return int(x), nil
		}
		return v, nil // left to schema validation, which names the type

	case "number":
		switch x := v.(type) {
		case string:
			f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return nil, errorf(name, "%q is not a valid number", x)
			}
			return f, nil
		case int:
			return float64(x), nil
		case int64:
			return float64(x), nil
		}
		return v, nil

	case "boolean":
		if !isString {
			return v, nil
		}
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, errorf(name, "%q is not a valid boolean (use true or false)", s)

	case "array":
		if !isString {
			return v, nil
		}
		out, err := parseComplex(s)
		if err == nil {
			if list, ok := out.([]any); ok {
				return list, nil
			}
			return nil, errorf(name, "%q is not a valid array", s)
		}
		if strings.HasPrefix(strings.TrimSpace(s), "[") {
			return nil, errorf(name, "%q is not a valid array: %v", s, err)
		}
		// The st2 CLI turns "a,b,c" into a list before sending it; accept
		// that form here too so that every client behaves the same.
		parts := strings.Split(s, ",")
		list := make([]any, 0, len(parts))
		for _, p := range parts {
			if p = strings.TrimSpace(p); p != "" {
				list = append(list, p)
			}
		}
		return list, nil

	case "object":
		if !isString {
			return v, nil
		}
		out, err := parseComplex(s)
		if err == nil {
			if obj, ok := out.(map[string]any); ok {
				return obj, nil
			}
			return nil, errorf(name, "%q is not a valid object", s)
		}
		if strings.HasPrefix(strings.TrimSpace(s), "{") {
			return nil, errorf(name, "%q is not a valid object: %v", s, err)
		}
		// The st2 CLI's key1=val1,key2=val2 form.
		obj := map[string]any{}
		for _, pair := range strings.Split(s, ",") {
			if strings.TrimSpace(pair) == "" {
				continue
			}
			k, val, ok := strings.Cut(pair, "=")
			if !ok || strings.TrimSpace(k) == "" {
				return nil, errorf(name, "%q is not a valid object (give JSON or key1=val1,key2=val2)", s)
			}
			obj[strings.TrimSpace(k)] = strings.TrimSpace(val)
		}
		return obj, nil
	}
	return v, nil
}

// parseComplex reads a JSON document, or, as st2 falls back to Python's
// ast.literal_eval, a flow-style list or mapping with single-quoted strings
// such as "['a', 'b']" (what Jinja prints for a list).
func parseComplex(s string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var out any
	jsonErr := dec.Decode(&out)
	if jsonErr == nil && !dec.More() {
		return template.JSONNumbers(out), nil
	}
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "[") || strings.HasPrefix(t, "{") {
		var y any
		if err := yaml.Unmarshal([]byte(t), &y); err == nil {
			return pythonLiterals(deepCopy(y)), nil
		}
	}
	if jsonErr == nil {
		jsonErr = fmt.Errorf("unexpected data after the value")
	}
	return nil, jsonErr
}

// pythonLiterals maps the Python spellings YAML does not know ("None") to
// their values, so "['a', None]" means what it means to st2.
func pythonLiterals(v any) any {
	switch x := v.(type) {
	case string:
		if x == "None" {
			return nil
		}
	case []any:
		for i, e := range x {
			x[i] = pythonLiterals(e)
		}
	case map[string]any:
		for k, e := range x {
			x[k] = pythonLiterals(e)
		}
	}
	return v
}

// describe prints a value for an error message, quoting strings and naming
// the kind of lists and objects rather than dumping them.
func describe(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case nil:
		return "null"
	}
	return fmt.Sprint(v)
}
