// Package rules is StackStorm's rules engine core, without I/O: it compiles
// pack rules, decides whether a trigger instance matches a rule's criteria
// (st2's 33 operator names with their Python semantics, JSONPath keys,
// Jinja patterns) and Squall's optional CEL `when:` condition, finds the
// rules of a trigger through an index that honours backstop rules, renders
// a matched rule's action parameters, and backs `squall rule test`
// (st2-rule-tester). Recording enforcements and starting executions are
// the callers' business.
package rules

import (
	"errors"
	"fmt"

	"github.com/squall-automation/squall/pack"
	"github.com/squall-automation/squall/template"
)

// Rule types (st2common/constants/rules.py).
const (
	RuleTypeStandard = "standard"
	// RuleTypeBackstop rules fire only when no standard rule matched the
	// same trigger instance.
	RuleTypeBackstop = "backstop"
)

// Rule is a compiled rule, safe for concurrent use.
type Rule struct {
	// Spec is the rule as loaded.
	Spec pack.Rule
	// Ref is pack.name.
	Ref string
	// TriggerType is the trigger type ref, TriggerKey the index key of the
	// trigger (type ref plus its parameters).
	TriggerType string
	TriggerKey  string
	Enabled     bool
	Backstop    bool
	// Dedup, when the rule has a dedup block, says which trigger instances
	// count as the same event; nil otherwise.
	Dedup *Dedup

	criteria []*criterion
	when     *whenProgram
}

// Result is the verdict of matching one trigger instance against a rule.
type Result struct {
	Matched bool
	// FailedCriterion is the criteria key (as written, "#tag" included)
	// that did not match, or "when" for the CEL condition; empty when the
	// rule matched or failed before any criterion (disabled, no payload).
	FailedCriterion string
	// Reason says why the rule did not match, in the terms st2-rule-tester
	// prints: key, type, pattern, payload value.
	Reason string
	// Err is set when evaluation failed rather than the criterion being
	// false (pattern does not render, operator raised on the payload's
	// type, bad regex...). st2 records such a trigger instance as a failed
	// rule enforcement.
	Err error
	// ActionParams are the rendered action parameters; only Test sets it.
	ActionParams map[string]any
}

// Compile validates and compiles r: operator names, pattern shapes (search
// conditions and nested criteria, literal regular expressions), criteria
// keys, Jinja in patterns and action parameters, and the CEL condition.
func Compile(r pack.Rule) (*Rule, error) {
	ref := r.Ref
	if ref == "" && r.Pack != "" && r.Name != "" {
		ref = r.Pack + "." + r.Name
	}
	if ref == "" {
		ref = r.Name
	}
	fail := func(err error) (*Rule, error) { return nil, fmt.Errorf("compile rule %q: %w", ref, err) }

	if r.Trigger.Type == "" {
		return fail(errors.New("trigger.type is required"))
	}
	key, err := TriggerKey(r.Trigger.Type, r.Trigger.Parameters)
	if err != nil {
		return fail(err)
	}
	cr := &Rule{Spec: r, Ref: ref, TriggerType: r.Trigger.Type, TriggerKey: key, Enabled: r.Enabled}

	if r.Type != nil {
		switch t := r.Type["ref"].(type) {
		case nil:
		case string:
			switch t {
			case RuleTypeStandard, "":
			case RuleTypeBackstop:
				cr.Backstop = true
			default:
				return fail(fmt.Errorf("type.ref %q is not a rule type (standard, backstop)", t))
			}
		default:
			return fail(fmt.Errorf("type.ref must be a string, not %s", pyType(t)))
		}
	}

	if cr.criteria, err = compileCriteria(r.Criteria, "criteria"); err != nil {
		return fail(err)
	}
	if r.When != "" {
		if cr.when, err = compileWhen(r.When); err != nil {
			return fail(err)
		}
	}
	if cr.Dedup, err = compileDedup(r.Dedup); err != nil {
		return fail(err)
	}
	if err := checkTemplates(r.Action.Parameters, "action.parameters"); err != nil {
		return fail(err)
	}
	return cr, nil
}

// checkTemplates parses (and so caches) every template in v.
func checkTemplates(v any, at string) error {
	switch x := v.(type) {
	case string:
		if err := template.Check(x); err != nil {
			return fmt.Errorf("%s: %w", at, err)
		}
	case map[string]any:
		for _, k := range sortedKeys(x) {
			if err := checkTemplates(x[k], at+"."+k); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range x {
			if err := checkTemplates(e, fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// Match evaluates the rule against a trigger instance payload. extraCtx
// adds variables for Jinja patterns and criteria keys (st2kv, ...);
// "trigger" is always the payload. A disabled rule never matches.
//
// Criteria are evaluated in key order (a rule's YAML order is not kept by
// the loader) and must all match (logical AND), then `when`.
func (r *Rule) Match(payload map[string]any, extraCtx map[string]any) Result {
	if !r.Enabled {
		return Result{Reason: "rule is disabled"}
	}
	return r.match(&scope{name: TriggerPrefix, value: payload, extra: extraCtx}, payload, true)
}

// match evaluates the rule in sc (the payload as "trigger" over the extra
// context), which callers build once per trigger instance. Reasons for
// plain non-matches are only formatted when asked for: the index evaluates
// many rules and discards them.
func (r *Rule) match(sc *scope, payload map[string]any, reasons bool) Result {
	if len(r.criteria) > 0 {
		// st2: `if criteria and not trigger_instance.payload: return False`.
		if len(payload) == 0 {
			return Result{Reason: "the rule has criteria and the trigger instance has no payload"}
		}
		for _, c := range r.criteria {
			o := c.check(sc)
			if o.ok {
				continue
			}
			res := Result{FailedCriterion: c.key, Err: o.err}
			if o.err != nil {
				res.Reason = fmt.Sprintf("failed to match rule %q: %v", r.Ref, o.err)
			} else if reasons {
				res.Reason = fmt.Sprintf("criteria key %q (type %s) does not match: pattern %s, payload %s",
					c.key, c.op, compact(o.pattern), compact(o.value))
			}
			return res
		}
	}
	if r.when != nil {
		ok, err := r.when.eval(payload)
		if err != nil {
			return Result{FailedCriterion: "when", Err: err, Reason: fmt.Sprintf("failed to match rule %q: %v", r.Ref, err)}
		}
		if !ok {
			res := Result{FailedCriterion: "when"}
			if reasons {
				res.Reason = fmt.Sprintf("when %q is false", r.when.src)
			}
			return res
		}
	}
	return Result{Matched: true}
}

// context is extraCtx with name bound to value, in a fresh map.
func context(extra map[string]any, name string, value any) map[string]any {
	ctx := make(map[string]any, len(extra)+1)
	for k, v := range extra {
		ctx[k] = v
	}
	ctx[name] = value
	return ctx
}

// RenderActionParams renders the rule's action parameters with the payload
// as "trigger" (plus extraCtx). Strings that are a single Jinja expression
// keep the value's type ("{{ trigger.count }}" stays a number); nested
// mappings and lists are rendered throughout, keys are not.
func (r *Rule) RenderActionParams(payload map[string]any, extraCtx map[string]any) (map[string]any, error) {
	ctx := context(extraCtx, TriggerPrefix, payload)
	out := make(map[string]any, len(r.Spec.Action.Parameters))
	for _, k := range sortedKeys(r.Spec.Action.Parameters) {
		v, err := renderValue(r.Spec.Action.Parameters[k], ctx)
		if err != nil {
			return nil, fmt.Errorf("rule %q: render action parameter %q: %w", r.Ref, k, err)
		}
		out[k] = v
	}
	return out, nil
}

func renderValue(v any, ctx map[string]any) (any, error) {
	switch x := v.(type) {
	case string:
		return template.RenderValue(x, ctx)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			rv, err := renderValue(e, ctx)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = rv
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			rv, err := renderValue(e, ctx)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out[i] = rv
		}
		return out, nil
	}
	return v, nil
}
