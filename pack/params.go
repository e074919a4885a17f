package pack

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"
	"unicode"
)

// paramTypes are the JSON-schema type names st2 accepts in a parameter spec.
var paramTypes = []string{"string", "integer", "number", "boolean", "object", "array", "null"}

func validParamType(t string) bool {
	for _, p := range paramTypes {
		if p == t {
			return true
		}
	}
	return false
}

// validParamName mirrors st2's ^\w+$ (Python's \w is Unicode-aware).
func validParamName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if r != '_' && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			return false
		}
	}
	return true
}

// isJinja reports whether s is a Jinja expression st2 renders at run time,
// such as a default of "{{ config_context.region }}"; such values cannot be
// type-checked when the pack is loaded.
func isJinja(v any) bool {
	s, ok := v.(string)
	if !ok {
		return false
	}
	return (strings.Contains(s, "{{") && strings.Contains(s, "}}")) ||
		(strings.Contains(s, "{%") && strings.Contains(s, "%}"))
}

// paramSpecs checks a parameters mapping (action parameters or a config
// schema) and returns it as ParamSpecs. checkPositions enables st2's
// action-only rule that positions are unique and contiguous.
func (f *fileCheck) paramSpecs(params map[string]any, path []string, checkPositions bool) ParamSpecs {
	out := make(ParamSpecs, len(params))
	positions := map[int64]string{}
	names := make([]string, 0, len(params))
	for name := range params {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		p := join(path, name)
		if !validParamName(name) {
			f.fail(p, "parameter name %q is invalid: use letters, digits and _ only", name)
		}
		spec, ok := params[name].(map[string]any)
		if !ok {
			f.fail(p, "must be a mapping (type, description, default, ...), not %s", typeName(params[name]))
			continue
		}
		f.schemaNode(spec, p, true)
		if checkPositions {
			if pv, has := spec["position"]; has && pv != nil {
				pos, ok := asInt(pv)
				switch {
				case !ok || pos < 0:
					f.fail(join(p, "position"), "must be a non-negative integer, not %v", pv)
				case positions[pos] != "":
					f.fail(join(p, "position"), "position %d is already used by parameter %q; positions must be unique", pos, positions[pos])
				default:
					positions[pos] = name
				}
			}
			for _, flag := range []string{"immutable", "secret"} {
				if v, has := spec[flag]; has && v != nil {
					if _, ok := v.(bool); !ok {
						f.fail(join(p, flag), "must be a boolean, not %s", typeName(v))
					}
				}
			}
		}
		out[name] = spec
	}
	if checkPositions && len(positions) > 0 {
		var ps []int64
		for pos := range positions {
			ps = append(ps, pos)
		}
		sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
		if ps[len(ps)-1]-ps[0] != int64(len(ps)-1) {
			f.fail(path, "parameter positions %v are not contiguous", ps)
		}
	}
	return out
}

// schemaNode checks the cheap, certain parts of one JSON-schema-like node:
// type names, required's shape, enum's shape, default against type and enum;
// it recurses into properties, items and additionalProperties.
func (f *fileCheck) schemaNode(spec map[string]any, path []string, topLevel bool) {
	var types []string
	if tv, has := spec["type"]; has && tv != nil {
		switch t := tv.(type) {
		case string:
			if validParamType(t) {
				types = []string{t}
			} else {
				f.fail(join(path, "type"), "%q is not a valid type (%s)", t, strings.Join(paramTypes, ", "))
			}
		case []any:
			for i, item := range t {
				s, ok := item.(string)
				if !ok || !validParamType(s) {
					f.fail(join(path, "type", fmt.Sprint(i)), "%v is not a valid type (%s)", item, strings.Join(paramTypes, ", "))
					continue
				}
				types = append(types, s)
			}
		default:
			f.fail(join(path, "type"), "must be a type name or a list of type names, not %s", typeName(tv))
		}
	}
	if rv, has := spec["required"]; has && rv != nil {
		switch rv.(type) {
		case bool:
		case []any:
			if topLevel {
				f.fail(join(path, "required"), "must be true or false, not a list")
			}
		default:
			f.fail(join(path, "required"), "must be true or false, not %s", typeName(rv))
		}
	}
	var enum []any
	if ev, has := spec["enum"]; has && ev != nil {
		l, ok := ev.([]any)
		if !ok {
			f.fail(join(path, "enum"), "must be a list, not %s", typeName(ev))
		} else {
			enum = l
		}
	}
	if dv, has := spec["default"]; has && dv != nil && !isJinja(dv) {
		if len(types) > 0 && !matchesAnyType(dv, types) {
			f.fail(join(path, "default"), "%s does not match type %s", describe(dv), strings.Join(types, " or "))
		} else if enum != nil && !inEnum(dv, enum) {
			f.fail(join(path, "default"), "%s is not one of the enum values %v", describe(dv), enum)
		}
	}
	if props := spec["properties"]; props != nil {
		pm, ok := props.(map[string]any)
		if !ok {
			f.fail(join(path, "properties"), "must be a mapping, not %s", typeName(props))
		} else {
			for name, sub := range pm {
				if sm, ok := sub.(map[string]any); ok {
					f.schemaNode(sm, join(path, "properties", name), false)
				} else if sub != nil {
					f.fail(join(path, "properties", name), "must be a mapping, not %s", typeName(sub))
				}
			}
		}
	}
	for _, key := range []string{"items", "additionalProperties"} {
		if sm, ok := spec[key].(map[string]any); ok {
			f.schemaNode(sm, join(path, key), false)
		}
	}
}

func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x), true
		}
	}
	return 0, false
}

func matchesAnyType(v any, types []string) bool {
	for _, t := range types {
		if matchesType(v, t) {
			return true
		}
	}
	return false
}

func matchesType(v any, t string) bool {
	switch t {
	case "string":
		_, ok := v.(string)
		return ok
	case "integer":
		_, ok := asInt(v)
		return ok
	case "number":
		switch v.(type) {
		case int64, float64:
			return true
		}
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "null":
		return v == nil
	}
	return false
}

func inEnum(v any, enum []any) bool {
	nv := normalizeNumber(v)
	for _, e := range enum {
		if reflect.DeepEqual(nv, normalizeNumber(e)) {
			return true
		}
	}
	return false
}

// normalizeNumber lets 1 and 1.0 compare equal, as they do in JSON schema.
func normalizeNumber(v any) any {
	if i, ok := v.(int64); ok {
		return float64(i)
	}
	return v
}

func describe(v any) string {
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%v (%s)", v, typeName(v))
}
