package rules

import (
	"testing"

	"github.com/squall-automation/squall/pack"
)

func indexRule(t *testing.T, name, trigger string, params map[string]any, criteria map[string]any, backstop, enabled bool) *Rule {
	t.Helper()
	pr := pack.Rule{
		Name: name, Pack: "p", Ref: "p." + name, Enabled: enabled,
		Trigger:  pack.RuleTrigger{Type: trigger, Parameters: params},
		Criteria: criteria,
		Action:   pack.RuleAction{Ref: "core.noop"},
	}
	if backstop {
		pr.Type = map[string]any{"ref": "backstop"}
	}
	return mustCompile(t, pr)
}

func refs(ms []MatchResult) []string {
	out := []string{}
	for _, m := range ms {
		out = append(out, m.Rule.Ref)
	}
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestIndexBackstop(t *testing.T) {
	isError := map[string]any{"trigger.status": crit("equals", "error")}
	ix := NewIndex([]*Rule{
		indexRule(t, "on_error", "p.done", nil, isError, false, true),
		indexRule(t, "fallback", "p.done", nil, nil, true, true),
		indexRule(t, "fallback_disabled", "p.done", nil, nil, true, false),
		indexRule(t, "other_trigger", "p.other", nil, nil, false, true),
	})
	if ix.Len() != 3 {
		t.Errorf("Len = %d, want 3 enabled rules", ix.Len())
	}
	// A standard rule matched: the backstop stays quiet.
	if got := refs(ix.Match("p.done", nil, map[string]any{"status": "error"}, nil)); !equalStrings(got, []string{"p.on_error"}) {
		t.Errorf("error instance matched %v, want [p.on_error]", got)
	}
	// No standard rule matched: the backstop fires (the disabled one does not).
	if got := refs(ix.Match("p.done", nil, map[string]any{"status": "ok"}, nil)); !equalStrings(got, []string{"p.fallback"}) {
		t.Errorf("ok instance matched %v, want [p.fallback]", got)
	}
	if got := ix.Match("p.unknown", nil, map[string]any{"status": "ok"}, nil); len(got) != 0 {
		t.Errorf("unknown trigger matched %v", refs(got))
	}
}

func TestIndexBackstopAfterFailedStandardRule(t *testing.T) {
	// A standard rule whose evaluation failed did not match: the backstop
	// fires, and the failure is reported for its enforcement record.
	ix := NewIndex([]*Rule{
		indexRule(t, "broken", "p.done", nil, map[string]any{"trigger.n": crit("lt", "x")}, false, true),
		indexRule(t, "fallback", "p.done", nil, nil, true, true),
	})
	got := ix.Match("p.done", nil, map[string]any{"n": 1}, nil)
	if len(got) != 2 || got[0].Rule.Ref != "p.broken" || got[0].Err == nil || got[0].Matched ||
		got[1].Rule.Ref != "p.fallback" || !got[1].Matched {
		t.Fatalf("got %+v", got)
	}
}

func TestIndexParameterisedTriggers(t *testing.T) {
	ix := NewIndex([]*Rule{
		indexRule(t, "hook_a", "core.st2.webhook", map[string]any{"url": "a"}, nil, false, true),
		indexRule(t, "hook_b", "core.st2.webhook", map[string]any{"url": "b"}, nil, false, true),
		indexRule(t, "hook_b2", "core.st2.webhook", map[string]any{"url": "b"}, nil, false, true),
		indexRule(t, "timer", "core.st2.IntervalTimer", map[string]any{"unit": "seconds", "delta": 5}, nil, false, true),
	})
	if got := refs(ix.Match("core.st2.webhook", map[string]any{"url": "a"}, map[string]any{}, nil)); !equalStrings(got, []string{"p.hook_a"}) {
		t.Errorf("url a: %v", got)
	}
	if got := refs(ix.Match("core.st2.webhook", map[string]any{"url": "b"}, map[string]any{}, nil)); !equalStrings(got, []string{"p.hook_b", "p.hook_b2"}) {
		t.Errorf("url b: %v", got)
	}
	if got := ix.Match("core.st2.webhook", nil, map[string]any{}, nil); len(got) != 0 {
		t.Errorf("webhook without parameters matched %v", refs(got))
	}
	// Parameters are canonical: key order and int/float spelling do not matter.
	if got := refs(ix.Match("core.st2.IntervalTimer", map[string]any{"delta": 5.0, "unit": "seconds"}, nil, nil)); !equalStrings(got, []string{"p.timer"}) {
		t.Errorf("timer: %v", got)
	}
	if rs := ix.Rules("core.st2.webhook", map[string]any{"url": "b"}); len(rs) != 2 {
		t.Errorf("Rules(url b) = %d rules", len(rs))
	}
	k1, _ := TriggerKey("t", nil)
	k2, _ := TriggerKey("t", map[string]any{})
	if k1 != k2 || k1 != "t" {
		t.Errorf("TriggerKey: nil %q, empty %q, want both %q", k1, k2, "t")
	}
}
