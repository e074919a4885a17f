// Package param resolves an execution's parameters the way StackStorm does
// (st2common.util.param and the API's validation): the runner's and the
// action's parameter specs are merged, the caller's live values are checked
// (no unknown or immutable parameters), defaults are applied, Jinja in live
// values and defaults is rendered in dependency order with the other
// parameters in context, values are cast to their declared types and
// validated against the merged JSON schema, and the result is split into
// runner and action parameters.
//
// Specs are taken as map[string]map[string]any so that pack.ParamSpecs can be
// passed directly without this package importing pack (pack uses param to
// check the specs it loads, see CheckSpecs).
package param

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/squall-automation/squall/template"
)

// Error is a problem with one parameter, worded for the operator who ran the
// action. The API answers 400 with it.
type Error struct {
	Param string // parameter name; empty when the problem is not about one parameter
	Msg   string
}

func (e *Error) Error() string {
	if e.Param == "" {
		return e.Msg
	}
	return fmt.Sprintf("parameter %q: %s", e.Param, e.Msg)
}

func errorf(param, format string, args ...any) *Error {
	return &Error{Param: param, Msg: fmt.Sprintf(format, args...)}
}

// Resolved is the outcome of Resolve.
type Resolved struct {
	// Runner holds every parameter the runner declares; Action the ones only
	// the action declares. Declared parameters without a value are present
	// with a nil value, as st2 passes None for them.
	Runner map[string]any
	Action map[string]any
	// Positional lists the action parameters that have a "position", in
	// position order (shell-script runners pass them as arguments).
	Positional []string
	// Secrets lists every parameter marked secret, sorted.
	Secrets []string
}

// Resolve computes the final parameters of one execution from the runner's
// and the action's parameter specs, the live parameters given by the caller
// and ctx, extra variables for templates (action_context, st2kv, config_context
// ...; parameters shadow context variables of the same name). Every error is a
// *Error.
func Resolve(runnerSpecs, actionSpecs map[string]map[string]any, live map[string]any, ctx map[string]any) (Resolved, error) {
	merged := Merge(runnerSpecs, actionSpecs)

	if err := checkLive(merged, live); err != nil {
		return Resolved{}, err
	}

	values, err := resolveValues(merged, live, ctx)
	if err != nil {
		return Resolved{}, err
	}

	for _, name := range sortedKeys(merged) {
		if values[name] == nil {
			continue // required-but-missing was reported before rendering
		}
		if err := validate(name, merged[name], values[name]); err != nil {
			return Resolved{}, err
		}
	}

	res := Resolved{
		Runner: make(map[string]any, len(runnerSpecs)),
		Action: make(map[string]any, len(actionSpecs)),
	}
	type positional struct {
		name string
		pos  float64
	}
	var positions []positional
	for name, spec := range merged {
		if _, ok := runnerSpecs[name]; ok {
			res.Runner[name] = values[name]
		} else {
			res.Action[name] = values[name]
			if pos, ok := number(spec["position"]); ok {
				positions = append(positions, positional{name, pos})
			}
		}
		if truthy(spec["secret"]) {
			res.Secrets = append(res.Secrets, name)
		}
	}
	sort.Slice(positions, func(i, j int) bool {
		if positions[i].pos != positions[j].pos {
			return positions[i].pos < positions[j].pos
		}
		return positions[i].name < positions[j].name
	})
	for _, p := range positions {
		res.Positional = append(res.Positional, p.name)
	}
	sort.Strings(res.Secrets)
	return res, nil
}

// Merge combines runner and action parameter specs as st2 does (a deep
// update of the runner's specs with the action's): an action that redeclares
// a runner parameter overrides only the attributes it names. The inputs are
// not modified and the result shares no maps with them.
func Merge(runnerSpecs, actionSpecs map[string]map[string]any) map[string]map[string]any {
	out := make(map[string]map[string]any, len(runnerSpecs)+len(actionSpecs))
	for name, spec := range runnerSpecs {
		out[name] = deepCopyMap(spec)
	}
	for name, spec := range actionSpecs {
		base, ok := out[name]
		if !ok {
			out[name] = deepCopyMap(spec)
			continue
		}
		deepUpdate(base, spec)
	}
	for name, spec := range out {
		if spec == nil {
			out[name] = map[string]any{}
		}
	}
	return out
}

func deepUpdate(dst, src map[string]any) {
	for k, v := range src {
		if sv, ok := v.(map[string]any); ok {
			if dv, ok := dst[k].(map[string]any); ok {
				deepUpdate(dv, sv)
				continue
			}
		}
		dst[k] = deepCopy(v)
	}
}

// checkLive rejects live parameters the action does not declare (st2's
// merged schema has additionalProperties: false) and live values for
// immutable parameters (st2: "Override of immutable parameter(s) ... is
// unsupported").
func checkLive(merged map[string]map[string]any, live map[string]any) error {
	var unknown, immutable []string
	for name := range live {
		spec, ok := merged[name]
		if !ok {
			unknown = append(unknown, name)
			continue
		}
		if truthy(spec["immutable"]) {
			immutable = append(immutable, name)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		msg := "is not defined by the action or its runner"
		switch len(unknown) {
		case 1:
		case 2:
			msg += fmt.Sprintf(" (nor is %s)", quoteList(unknown[1:]))
		default:
			msg += fmt.Sprintf(" (nor are %s)", quoteList(unknown[1:]))
		}
		return &Error{Param: unknown[0], Msg: msg}
	}
	if len(immutable) > 0 {
		sort.Strings(immutable)
		msg := "is immutable: the action fixes its value, so it cannot be given when running the action"
		if len(immutable) > 1 {
			msg += fmt.Sprintf(" (neither can %s)", quoteList(immutable[1:]))
		}
		return &Error{Param: immutable[0], Msg: msg}
	}
	return nil
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

// ---------------------------------------------------------------------------
// helpers shared by the files of this package

func truthy(v any) bool {
	b, ok := v.(bool)
	return ok && b
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case float64:
		return x, true
	case uint64:
		return float64(x), true
	}
	return 0, false
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

func deepCopyMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = deepCopy(v)
	}
	return out
}

// deepCopy copies maps and slices and turns Go values that are not plain JSON
// data ([]string, map[string]string, json.Number ...) into plain data, so that
// resolved parameters never alias the caller's input and the JSON schema
// validator sees only types it knows.
func deepCopy(v any) any {
	switch x := v.(type) {
	case nil, bool, string, int, int64, float64:
		return v
	case map[string]any:
		return deepCopyMap(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = deepCopy(e)
		}
		return out
	}
	if n, ok := v.(json.Number); ok {
		return template.JSONNumbers(n)
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = deepCopy(rv.Index(i).Interface())
		}
		return out
	case reflect.Map:
		out := make(map[string]any, rv.Len())
		iter := rv.MapRange()
		for iter.Next() {
			out[fmt.Sprint(iter.Key().Interface())] = deepCopy(iter.Value().Interface())
		}
		return out
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32:
		return int(rv.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return int64(rv.Uint())
	case reflect.Float32:
		return rv.Float()
	}
	return v
}
