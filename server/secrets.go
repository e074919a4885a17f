package server

import (
	"maps"
	"sort"

	"github.com/squall-automation/squall/execution"
	"github.com/squall-automation/squall/pack"
	"github.com/squall-automation/squall/runner"
)

// maskedValue replaces secret values in every API answer (st2's
// MASKED_ATTRIBUTE_VALUE).
const maskedValue = execution.MaskedValue

// This file is the one place where the API hides secret parameter values.
// StackStorm masks parameters whose spec says `secret: true` in executions
// (parameters, liveaction) and never shows them again; Squall also masks the
// defaults of secret parameters in action documents, since a default is the
// likeliest place for an operator to have put a credential.

// secretSpecs merges runner and action parameter specs the way st2 does
// (action specs override the runner's), keeping only what masking needs.
func secretSpecs(runnerType string, actionParams pack.ParamSpecs) pack.ParamSpecs {
	merged := pack.ParamSpecs{}
	if rt, ok := runner.Get(runnerType); ok {
		maps.Copy(merged, rt.RunnerParameters)
	}
	for name, spec := range actionParams {
		if base, ok := merged[name]; ok {
			// An action may override attributes of a runner parameter; a
			// secret runner parameter stays secret unless the action says
			// otherwise explicitly.
			combined := maps.Clone(base)
			maps.Copy(combined, spec)
			merged[name] = combined
			continue
		}
		merged[name] = spec
	}
	return merged
}

// maskParams returns a copy of params with every secret value replaced,
// following object properties and array items so that a secret nested in an
// object parameter is hidden too.
func maskParams(params map[string]any, specs pack.ParamSpecs) map[string]any {
	if params == nil {
		return nil
	}
	out := make(map[string]any, len(params))
	for name, v := range params {
		out[name] = maskValue(v, specs[name])
	}
	return out
}

func maskValue(v any, spec map[string]any) any {
	if spec == nil || v == nil {
		return v
	}
	if b, _ := spec["secret"].(bool); b {
		return maskedValue
	}
	switch val := v.(type) {
	case map[string]any:
		props, _ := spec["properties"].(map[string]any)
		addl, _ := spec["additionalProperties"].(map[string]any)
		if props == nil && addl == nil {
			return v
		}
		out := make(map[string]any, len(val))
		for k, item := range val {
			sub, _ := props[k].(map[string]any)
			if sub == nil {
				sub = addl
			}
			out[k] = maskValue(item, sub)
		}
		return out
	case []any:
		items, _ := spec["items"].(map[string]any)
		if items == nil {
			return v
		}
		out := make([]any, len(val))
		for i, item := range val {
			out[i] = maskValue(item, items)
		}
		return out
	}
	return v
}

// maskSpecDefaults returns specs with the defaults of secret parameters (and
// of secret properties nested in object or array parameters) masked; specs
// themselves are shared with the catalog and never modified.
func maskSpecDefaults(specs pack.ParamSpecs) pack.ParamSpecs {
	if specs == nil {
		return nil
	}
	out := make(pack.ParamSpecs, len(specs))
	for name, spec := range specs {
		def, has := spec["default"]
		if !has || !(isSecret(spec) || hasNested(spec)) {
			out[name] = spec
			continue
		}
		c := maps.Clone(spec)
		c["default"] = maskValue(def, spec)
		out[name] = c
	}
	return out
}

func isSecret(spec map[string]any) bool {
	b, _ := spec["secret"].(bool)
	return b
}

func hasNested(spec map[string]any) bool {
	_, p := spec["properties"]
	_, i := spec["items"]
	_, a := spec["additionalProperties"]
	return p || i || a
}

// maskExecution masks an execution's parameters in place. What is secret
// comes from every source at hand, since any one may be missing: the
// execution's embedded action ("secret_parameters" names, and parameter
// specs when present), the action's current specs from the catalog
// (actionSpecs, nil if it is gone; they also describe secrets nested in
// object parameters, which a list of names cannot), and the runner type.
func maskExecution(ex *execution.Execution, actionSpecs pack.ParamSpecs) {
	if ex == nil || ex.Parameters == nil {
		return
	}
	embedded := pack.ParamSpecs{}
	if raw, ok := ex.Action["parameters"].(map[string]any); ok {
		for name, s := range raw {
			if m, ok := s.(map[string]any); ok {
				embedded[name] = m
			}
		}
	}
	merged := maps.Clone(actionSpecs)
	if merged == nil {
		merged = pack.ParamSpecs{}
	}
	for name, spec := range embedded {
		if cur, ok := merged[name]; ok && isSecret(cur) && !isSecret(spec) {
			continue // never let one source unmask what another hides
		}
		merged[name] = spec
	}
	specs := secretSpecs(executionRunner(ex), merged)
	for _, name := range secretNames(ex.Action["secret_parameters"]) {
		spec := maps.Clone(specs[name])
		if spec == nil {
			spec = map[string]any{}
		}
		spec["secret"] = true
		specs[name] = spec
	}
	ex.Parameters = maskParams(ex.Parameters, specs)
}

func executionRunner(ex *execution.Execution) string {
	if r, _ := ex.Action["runner_type"].(string); r != "" {
		return r
	}
	r, _ := ex.Runner["name"].(string)
	return r
}

func secretNames(v any) []string {
	var names []string
	switch list := v.(type) {
	case []string:
		names = append(names, list...)
	case []any:
		for _, n := range list {
			if s, ok := n.(string); ok {
				names = append(names, s)
			}
		}
	}
	sort.Strings(names)
	return names
}
