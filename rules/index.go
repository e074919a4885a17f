package rules

import (
	"fmt"
	"sort"
)

// TriggerKey identifies a trigger: its type ref alone for a trigger without
// parameters, else the ref and the canonical JSON (sorted keys) of the
// parameters. In st2 two rules on core.st2.webhook with different urls
// refer to two different triggers; a trigger instance belongs to one.
func TriggerKey(typeRef string, params map[string]any) (string, error) {
	if len(params) == 0 {
		return typeRef, nil
	}
	b, err := jsonBytes(params)
	if err != nil {
		return "", fmt.Errorf("trigger %s: parameters are not JSON: %w", typeRef, err)
	}
	return typeRef + " " + string(b), nil
}

// Index finds the rules of a trigger without looking at the others.
// It is immutable, so it can be shared; build a new one when rules change.
type Index struct {
	byTrigger map[string]*bucket
	size      int
}

type bucket struct {
	standard []*Rule
	backstop []*Rule
}

// MatchResult is one rule's verdict for a trigger instance.
type MatchResult struct {
	Rule *Rule
	Result
}

// NewIndex indexes the enabled rules by trigger (st2's rules engine only
// loads enabled rules). Within a trigger, rules are evaluated in ref order.
func NewIndex(rules []*Rule) *Index {
	ix := &Index{byTrigger: map[string]*bucket{}}
	for _, r := range rules {
		if r == nil || !r.Enabled {
			continue
		}
		b := ix.byTrigger[r.TriggerKey]
		if b == nil {
			b = &bucket{}
			ix.byTrigger[r.TriggerKey] = b
		}
		if r.Backstop {
			b.backstop = append(b.backstop, r)
		} else {
			b.standard = append(b.standard, r)
		}
		ix.size++
	}
	for _, b := range ix.byTrigger {
		sortRules(b.standard)
		sortRules(b.backstop)
	}
	return ix
}

func sortRules(rs []*Rule) {
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].Ref < rs[j].Ref })
}

// Len is the number of indexed (enabled) rules.
func (ix *Index) Len() int { return ix.size }

// Rules returns the enabled rules of a trigger, standard rules first.
func (ix *Index) Rules(triggerTypeRef string, triggerParams map[string]any) []*Rule {
	b := ix.lookup(triggerTypeRef, triggerParams)
	if b == nil {
		return nil
	}
	out := make([]*Rule, 0, len(b.standard)+len(b.backstop))
	out = append(out, b.standard...)
	return append(out, b.backstop...)
}

func (ix *Index) lookup(typeRef string, params map[string]any) *bucket {
	key, err := TriggerKey(typeRef, params)
	if err != nil {
		return nil
	}
	return ix.byTrigger[key]
}

// Match evaluates a trigger instance against the rules of its trigger, as
// st2's RulesMatcher does in two passes: standard rules first, then
// backstop rules, which only apply when no standard rule matched.
//
// It returns the rules that matched and those whose evaluation failed
// (Err set: st2 records those as failed enforcements); rules whose criteria
// were simply false are left out.
func (ix *Index) Match(triggerTypeRef string, triggerParams, payload, extraCtx map[string]any) []MatchResult {
	b := ix.lookup(triggerTypeRef, triggerParams)
	if b == nil {
		return nil
	}
	// One evaluation scope for all the rules: criteria only read it.
	sc := &scope{name: TriggerPrefix, value: payload, extra: extraCtx}
	var out []MatchResult
	matched := false
	for _, r := range b.standard {
		res := r.match(sc, payload, false)
		if res.Matched {
			matched = true
		}
		if res.Matched || res.Err != nil {
			out = append(out, MatchResult{Rule: r, Result: res})
		}
	}
	if matched {
		return out
	}
	for _, r := range b.backstop {
		res := r.match(sc, payload, false)
		if res.Matched || res.Err != nil {
			out = append(out, MatchResult{Rule: r, Result: res})
		}
	}
	return out
}
