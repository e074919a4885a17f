package param

import (
	"errors"
	"fmt"
	"reflect"
	"sort"

	"github.com/squall-automation/squall/template"
)

// overridable are the runner parameter attributes an action may change
// (st2's RUNNER_PARAM_OVERRIDABLE_ATTRS); any other attribute an action
// repeats must keep the runner's value.
var overridable = map[string]bool{
	"default": true, "description": true, "enum": true, "immutable": true, "required": true,
}

var jsonTypes = map[string]bool{
	"string": true, "integer": true, "number": true, "boolean": true,
	"array": true, "object": true, "null": true,
}

// CheckSpecs validates an action's parameter specs against its runner's when
// a pack is registered, with st2's rules (validators/api/action.py): only
// overridable runner attributes may change, an immutable parameter needs a
// default, a runner's immutable parameter stays immutable, positions are
// unique and contiguous, every spec is a valid JSON schema and every Jinja
// default parses. It returns all problems joined; each is a *Error.
func CheckSpecs(runnerSpecs, actionSpecs map[string]map[string]any) error {
	var errs []error
	positions := map[int]string{}
	for _, name := range sortedKeys(actionSpecs) {
		spec := actionSpecs[name]
		runnerSpec, isRunnerParam := runnerSpecs[name]
		if isRunnerParam {
			for _, attr := range sortedKeys(spec) {
				if overridable[attr] {
					continue
				}
				if rv, ok := runnerSpec[attr]; !ok || !reflect.DeepEqual(rv, spec[attr]) {
					errs = append(errs, errorf(name, "the runner's %q attribute cannot be overridden by the action", attr))
				}
			}
			if truthy(runnerSpec["immutable"]) {
				if imm, ok := spec["immutable"].(bool); ok && !imm {
					errs = append(errs, errorf(name, "is immutable in the runner and cannot be made mutable by the action"))
				}
			}
		}
		if truthy(spec["immutable"]) {
			_, actionDefault := spec["default"]
			_, runnerDefault := runnerSpec["default"]
			if !actionDefault && !runnerDefault {
				errs = append(errs, errorf(name, "is immutable and therefore needs a default value"))
			}
		}
		if p, ok := spec["position"]; ok {
			f, isNum := number(p)
			if !isNum || f != float64(int(f)) || f < 0 {
				errs = append(errs, errorf(name, "position %v is not a non-negative integer", p))
			} else if other, dup := positions[int(f)]; dup {
				errs = append(errs, errorf(name, "has the same position %d as parameter %q; positions must be unique", int(f), other))
			} else {
				positions[int(f)] = name
			}
		}
	}
	if len(positions) > 0 {
		keys := make([]int, 0, len(positions))
		for p := range positions {
			keys = append(keys, p)
		}
		sort.Ints(keys)
		for i := 1; i < len(keys); i++ {
			if keys[i] != keys[i-1]+1 {
				errs = append(errs, &Error{Msg: fmt.Sprintf("parameter positions %v are not contiguous", keys)})
				break
			}
		}
	}

	merged := Merge(runnerSpecs, actionSpecs)
	for _, name := range sortedKeys(merged) {
		spec := merged[name]
		if t, ok := spec["type"]; ok {
			if s, isStr := t.(string); isStr && !jsonTypes[s] {
				errs = append(errs, errorf(name, "type %q is not a JSON schema type (string, integer, number, boolean, array, object, null)", s))
				continue
			}
		}
		if _, err := compileSchema(spec); err != nil {
			errs = append(errs, &Error{Param: name, Msg: err.Error()})
		}
		if err := checkTemplates(spec["default"]); err != nil {
			errs = append(errs, errorf(name, "default: %v", err))
		}
	}
	return errors.Join(errs...)
}

func checkTemplates(v any) error {
	switch x := v.(type) {
	case string:
		return template.Check(x)
	case []any:
		for _, e := range x {
			if err := checkTemplates(e); err != nil {
				return err
			}
		}
	case map[string]any:
		for _, k := range sortedKeys(x) {
			if err := checkTemplates(x[k]); err != nil {
				return err
			}
		}
	}
	return nil
}
