package rules

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/squall-automation/squall/pack"
)

func rule(criteria map[string]any) pack.Rule {
	return pack.Rule{
		Name: "r", Pack: "p", Ref: "p.r", Enabled: true,
		Trigger:  pack.RuleTrigger{Type: "p.event"},
		Criteria: criteria,
		Action:   pack.RuleAction{Ref: "core.noop"},
	}
}

func crit(op string, pattern any) map[string]any {
	return map[string]any{"type": op, "pattern": pattern}
}

func mustCompile(t *testing.T, r pack.Rule) *Rule {
	t.Helper()
	cr, err := Compile(r)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return cr
}

var webhookPayload = map[string]any{
	"headers": map[string]any{"X-Custom-Header": "custom", "X-GitHub-Event": "push"},
	"body": map[string]any{
		"name":  "st2",
		"count": 5,
		"items": []any{
			map[string]any{"name": "a", "size": 1},
			map[string]any{"name": "b", "size": 2},
		},
		"nested": map[string]any{"deep": map[string]any{"name": "deepest"}},
		"dotted": map[string]any{"a.b": "dot"},
		"null":   nil,
	},
	"level": 3,
}

func TestCriteriaPaths(t *testing.T) {
	tests := []struct {
		key     string
		op      string
		pattern any
		want    bool
		wantErr bool
	}{
		{"trigger.body.name", "equals", "st2", true, false},
		{"trigger.body.nested.deep.name", "equals", "deepest", true, false},
		{"trigger.body.items[1].name", "equals", "b", true, false},
		{"trigger.body.items[-1].size", "equals", 2, true, false}, // Python negative index
		{"trigger.body.items[5].name", "exists", nil, false, false},
		{"trigger.body.items[*].name", "equals", "a", true, false}, // first match wins
		{"trigger.body..name", "equals", "st2", true, false},       // descendant: first in order
		{"trigger.headers['X-Custom-Header']", "eq", "custom", true, false},
		{`trigger.headers["X-Custom-Header"]`, "eq", "custom", true, false},
		{"trigger.headers.X-GitHub-Event", "eq", "push", true, false}, // "-" is a name character in jsonpath_rw
		{"trigger.body.dotted.'a.b'", "eq", "dot", true, false},
		{"trigger.body.missing", "exists", nil, false, false},
		{"trigger.body.missing", "nexists", nil, true, false},
		{"trigger.body.null", "nexists", nil, true, false}, // null and missing are the same to st2
		{"trigger.body.missing.deeper", "nexists", nil, true, false},
		{"trigger.body.name.deeper", "nexists", nil, true, false}, // field of a string: no match
		{"trigger.body.nested[0]", "exists", nil, false, true},    // indexing a dict raises KeyError
		{"trigger.body.count[0]", "exists", nil, false, true},     // int has no len()
		{"trigger.level#low", "gt", 1, true, false},               // criteria tag is ignored
		{"trigger.body.missing", "equals", "x", false, false},
		{"trigger.body.missing", "iequals", "x", false, true}, // None.lower() raises
	}
	for _, tc := range tests {
		r := mustCompile(t, rule(map[string]any{tc.key: crit(tc.op, tc.pattern)}))
		res := r.Match(webhookPayload, nil)
		if res.Matched != tc.want || (res.Err != nil) != tc.wantErr {
			t.Errorf("%s %s %v: Matched=%v Err=%v (reason %q), want %v wantErr %v", tc.key, tc.op, tc.pattern, res.Matched, res.Err, res.Reason, tc.want, tc.wantErr)
		}
		if !res.Matched && res.FailedCriterion != tc.key {
			t.Errorf("%s: FailedCriterion = %q", tc.key, res.FailedCriterion)
		}
	}
}

func TestCriteriaTags(t *testing.T) {
	// Two criteria on the same field through "#" tags: both must hold.
	r := mustCompile(t, rule(map[string]any{
		"trigger.level#lower": crit("gt", 1),
		"trigger.level#upper": crit("lt", 3),
	}))
	res := r.Match(webhookPayload, nil)
	if res.Matched || res.FailedCriterion != "trigger.level#upper" {
		t.Fatalf("Match = %+v, want failure on trigger.level#upper", res)
	}
	if !strings.Contains(res.Reason, "pattern 3") || !strings.Contains(res.Reason, "payload 3") {
		t.Errorf("Reason %q should show pattern and payload", res.Reason)
	}
}

func TestCriteriaEmptyPayload(t *testing.T) {
	// st2: `if criteria and not payload: return False`, without an error.
	r := mustCompile(t, rule(map[string]any{"trigger.x": crit("nexists", nil)}))
	if res := r.Match(map[string]any{}, nil); res.Matched || res.Err != nil {
		t.Errorf("criteria + empty payload: %+v, want plain non-match", res)
	}
	r = mustCompile(t, rule(nil))
	if res := r.Match(nil, nil); !res.Matched {
		t.Errorf("no criteria + nil payload: %+v, want match", res)
	}
}

func TestDisabledRuleNeverMatches(t *testing.T) {
	pr := rule(nil)
	pr.Enabled = false
	if res := mustCompile(t, pr).Match(webhookPayload, nil); res.Matched {
		t.Fatal("disabled rule matched")
	}
}

func TestJinjaPatterns(t *testing.T) {
	payload := map[string]any{"count": 5, "expected": 5, "version": "1.2", "want": "st2", "list": []any{"a", "b"}, "name": "st2"}
	extra := map[string]any{"st2kv": map[string]any{"system": map[string]any{"build": 5, "name": "st2"}}}
	tests := []struct {
		name    string
		key     string
		op      string
		pattern string
		want    bool
		wantErr bool
	}{
		// A lone {{ }} is rendered with | to_complex and JSON-decoded, so
		// the number compares as a number (st2's MATCH_CRITERIA rewrite).
		{"typed int", "trigger.count", "equals", "{{ trigger.expected }}", true, false},
		{"typed from st2kv", "trigger.count", "equals", "{{ st2kv.system.build }}", true, false},
		{"typed list for inside", "trigger.version", "inside", "{{ trigger.list }}", false, false},
		{"typed list contains", "trigger.list", "equals", "{{ trigger.list }}", true, false},
		{"string stays string", "trigger.name", "equals", "{{ trigger.want }}", true, false},
		// Text around the expression is not JSON: st2 falls back to a plain
		// render, a string.
		{"string that looks numeric stays a string", "trigger.version", "equals", "{{ trigger.version }}", true, false},
		{"prefix text", "trigger.name", "equals", "s{{ 't2' }}", true, false},
		{"string vs int", "trigger.count", "equals", "n{{ trigger.expected }}", false, false},
		{"regex from template", "trigger.name", "regex", "^{{ st2kv.system.name }}$", true, false},
		// Strict undefined: a missing variable is a render error, a failed
		// enforcement in st2.
		{"undefined variable", "trigger.count", "equals", "{{ trigger.nope }}", false, true},
	}
	for _, tc := range tests {
		r := mustCompile(t, rule(map[string]any{tc.key: crit(tc.op, tc.pattern)}))
		res := r.Match(payload, extra)
		if res.Matched != tc.want || (res.Err != nil) != tc.wantErr {
			t.Errorf("%s: Matched=%v Err=%v (reason %q), want %v wantErr %v", tc.name, res.Matched, res.Err, res.Reason, tc.want, tc.wantErr)
		}
	}
}

func TestRenderCriteriaPatternQuirks(t *testing.T) {
	ctx := map[string]any{"trigger": map[string]any{"a": 1, "b": 2, "s": "x"}}
	tests := []struct {
		pattern string
		want    any
	}{
		{"{{ trigger.a }}", int64(1)},
		{"{{trigger.s}}", "x"},
		// The greedy rewrite covers the first {{ to the last }} of a line,
		// so only the last expression gets | to_complex: "1" + "2" is the
		// JSON number 12 (as in st2).
		{"{{ trigger.a }}{{ trigger.b }}", int64(12)},
		{"{{ trigger.s }}-{{ trigger.s }}", "x-x"},
		{"plain", "plain"},
	}
	for _, tc := range tests {
		c, err := compileCriterion("trigger.a", crit("equals", tc.pattern), "criteria")
		if err != nil {
			t.Fatalf("%q: %v", tc.pattern, err)
		}
		got, err := c.renderPattern(&scope{name: TriggerPrefix, value: ctx[TriggerPrefix]})
		if err != nil {
			t.Fatalf("%q: %v", tc.pattern, err)
		}
		if !pyEqual(got, tc.want) || pyType(got) != pyType(tc.want) {
			t.Errorf("renderPattern(%q) = %#v, want %#v", tc.pattern, got, tc.want)
		}
	}
}

func TestSearch(t *testing.T) {
	fields := []any{
		map[string]any{"field_name": "Status", "to_value": "Approved", "type": "Custom"},
		map[string]any{"field_name": "Signed off by", "to_value": "Stanley", "type": "Custom"},
	}
	mixed := []any{
		map[string]any{"field_name": "Summary", "to_value": "Lorem", "type": "Built-in"},
		map[string]any{"field_name": "Status", "to_value": "Approved", "type": "Custom"},
	}
	statusApproved := map[string]any{
		"item.field_name": crit("equals", "Status"),
		"item.to_value":   crit("equals", "Approved"),
	}
	custom := map[string]any{"item.type": crit("equals", "Custom")}
	summaryOrStanley := map[string]any{
		"item.field_name": crit("equals", "Summary"),
		"item.to_value":   crit("equals", "Stanley"),
	}
	search := func(cond string, pattern map[string]any) map[string]any {
		return map[string]any{"trigger.fields": map[string]any{"type": "search", "condition": cond, "pattern": pattern}}
	}
	tests := []struct {
		name    string
		fields  any
		cond    string
		pattern map[string]any
		want    bool
		wantErr bool
	}{
		{"any: one item matches all", fields, "any", statusApproved, true, false},
		{"all: every item custom", fields, "all", custom, true, false},
		{"all: a built-in item fails", mixed, "all", custom, false, false},
		{"any: no item matches all", fields, "any", summaryOrStanley, false, false},
		{"any2any: some item matches some criterion", fields, "any2any", summaryOrStanley, true, false},
		{"all2any: every item matches some criterion", mixed, "all2any", summaryOrStanley, false, false},
		{"all2any: every item matches some criterion (true)", []any{mixed[0], fields[1]}, "all2any", summaryOrStanley, true, false},
		// Python's all([]) is True and any([]) False.
		{"all over an empty list", []any{}, "all", custom, true, false},
		{"any over an empty list", []any{}, "any", custom, false, false},
		// Single payload mode: a mapping is searched as a one-element list.
		{"dict searched as one item", fields[0], "any", statusApproved, true, false},
		{"missing list", nil, "any", custom, false, true},
		{"number is not iterable", 5, "any", custom, false, true},
	}
	for _, tc := range tests {
		r := mustCompile(t, rule(search(tc.cond, tc.pattern)))
		res := r.Match(map[string]any{"fields": tc.fields}, nil)
		if res.Matched != tc.want || (res.Err != nil) != tc.wantErr {
			t.Errorf("%s: Matched=%v Err=%v, want %v wantErr %v", tc.name, res.Matched, res.Err, tc.want, tc.wantErr)
		}
	}

	// Nested patterns render with the element as "item", and tags work.
	r := mustCompile(t, rule(search("any", map[string]any{
		"item.size#lo": crit("gt", "{{ item.min }}"),
		"item.size#hi": crit("lt", 10),
	})))
	res := r.Match(map[string]any{"fields": []any{map[string]any{"size": 3, "min": 5}, map[string]any{"size": 7, "min": 5}}}, nil)
	if !res.Matched {
		t.Errorf("search with item templates: %+v", res)
	}

	// Nested search.
	r = mustCompile(t, rule(search("any", map[string]any{
		"item.tags": map[string]any{"type": "search", "condition": "any", "pattern": map[string]any{"item.name": crit("eq", "x")}},
	})))
	if res := r.Match(map[string]any{"fields": []any{map[string]any{"tags": []any{map[string]any{"name": "x"}}}}}, nil); !res.Matched {
		t.Errorf("nested search: %+v", res)
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name string
		r    pack.Rule
		want string
	}{
		{"unknown operator", rule(map[string]any{"trigger.a": crit("like", "x")}), `operator "like" is not one of st2's`},
		{"missing type", rule(map[string]any{"trigger.a": map[string]any{"pattern": "x"}}), "operator not specified"},
		{"criterion not a mapping", rule(map[string]any{"trigger.a": "x"}), "must be a mapping"},
		{"missing pattern", rule(map[string]any{"trigger.a": map[string]any{"type": "equals"}}), "no pattern specified"},
		{"search bad condition", rule(map[string]any{"trigger.a": map[string]any{"type": "search", "condition": "count", "pattern": map[string]any{}}}), "search condition"},
		{"search missing condition", rule(map[string]any{"trigger.a": map[string]any{"type": "search", "pattern": map[string]any{}}}), "search condition"},
		{"search pattern not a mapping", rule(map[string]any{"trigger.a": map[string]any{"type": "search", "condition": "any", "pattern": "x"}}), "nested criteria"},
		{"search child bad operator", rule(map[string]any{"trigger.a": map[string]any{"type": "search", "condition": "any", "pattern": map[string]any{"item.x": crit("bogus", 1)}}}), `"bogus"`},
		{"key starts with digit", rule(map[string]any{"trigger.1abc": crit("eq", 1)}), "jsonpath_rw"},
		{"unterminated bracket", rule(map[string]any{"trigger.a[": crit("eq", 1)}), "jsonpath_rw"},
		{"RE2 cannot run lookahead", rule(map[string]any{"trigger.a": crit("regex", "foo(?!bar)")}), "RE2"},
		{"bad template", rule(map[string]any{"trigger.a": crit("eq", "{{ trigger.a ")}), "template"},
		{"bad rule type", func() pack.Rule { r := rule(nil); r.Type = map[string]any{"ref": "sometimes"}; return r }(), "not a rule type"},
		{"no trigger", func() pack.Rule { r := rule(nil); r.Trigger.Type = ""; return r }(), "trigger.type"},
		{"bad action template", func() pack.Rule {
			r := rule(nil)
			r.Action.Parameters = map[string]any{"cmd": "{% if %}"}
			return r
		}(), "action.parameters.cmd"},
	}
	for _, tc := range tests {
		_, err := Compile(tc.r)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to contain %q", tc.name, err, tc.want)
		}
	}
	// exists and nexists need no pattern.
	mustCompile(t, rule(map[string]any{"trigger.a": map[string]any{"type": "exists"}}))
}

func TestEvaluationErrorsAreReported(t *testing.T) {
	r := mustCompile(t, rule(map[string]any{"trigger.count": crit("lt", "10")}))
	res := r.Match(map[string]any{"count": 5}, nil)
	if res.Matched || res.Err == nil || res.FailedCriterion != "trigger.count" {
		t.Fatalf("int < str: %+v, want a reported TypeError", res)
	}
	var te *typeError
	if !errors.As(res.Err, &te) {
		t.Errorf("Err %v should wrap the operator's TypeError", res.Err)
	}
	if !strings.Contains(res.Reason, "p.r") {
		t.Errorf("Reason %q should name the rule", res.Reason)
	}
}

func TestRenderActionParams(t *testing.T) {
	pr := rule(nil)
	pr.Action.Parameters = map[string]any{
		"count":   "{{ trigger.count }}",
		"message": "{{ trigger.user }} pushed {{ trigger.count }} commits",
		"list":    []any{"{{ trigger.user }}", 1},
		"nested":  map[string]any{"kv": "{{ st2kv.system.token }}"},
		"plain":   42,
	}
	r := mustCompile(t, pr)
	got, err := r.RenderActionParams(map[string]any{"count": 3, "user": "stanley"}, map[string]any{"st2kv": map[string]any{"system": map[string]any{"token": "s3cr3t"}}})
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := toNum(got["count"]); !ok || n.i != 3 {
		t.Errorf("count = %#v, want the number 3 (type kept for a single expression)", got["count"])
	}
	if got["message"] != "stanley pushed 3 commits" {
		t.Errorf("message = %#v", got["message"])
	}
	if l, _ := got["list"].([]any); len(l) != 2 || l[0] != "stanley" {
		t.Errorf("list = %#v", got["list"])
	}
	if m, _ := got["nested"].(map[string]any); m["kv"] != "s3cr3t" {
		t.Errorf("nested = %#v", got["nested"])
	}
	if got["plain"] != 42 {
		t.Errorf("plain = %#v", got["plain"])
	}
	if _, err := r.RenderActionParams(map[string]any{"count": 3}, nil); err == nil || !strings.Contains(err.Error(), "user") {
		t.Errorf("missing trigger.user: err = %v, want an error naming the parameter", err)
	}
}

func TestCheckPackReportsBadCEL(t *testing.T) {
	t.Parallel()
	good := pack.Rule{Name: "ok", Pack: "p", Ref: "p.ok", Enabled: true, MetadataFile: "rules/ok.yaml",
		Trigger: pack.RuleTrigger{Type: "core.st2.webhook", Parameters: map[string]any{"url": "x"}},
		Action:  pack.RuleAction{Ref: "core.noop"}, When: "trigger.body.n > 1"}
	bad := good
	bad.Name, bad.Ref, bad.MetadataFile, bad.When = "bad", "p.bad", "rules/bad.yaml", "trigger.body.n >"
	if err := CheckPack(&pack.Pack{Rules: []pack.Rule{good}}); err != nil {
		t.Fatalf("good rule refused: %v", err)
	}
	err := CheckPack(&pack.Pack{Rules: []pack.Rule{good, bad}})
	if err == nil || len(err.Problems) != 1 || err.Problems[0].File != "rules/bad.yaml" {
		t.Fatalf("problems: %+v", err)
	}
	if !strings.Contains(err.Problems[0].Msg, "column") {
		t.Fatalf("CEL error without position: %s", err.Problems[0].Msg)
	}
}

func TestDedupKey(t *testing.T) {
	t.Parallel()
	base := pack.Rule{Name: "d", Pack: "p", Ref: "p.d", Enabled: true,
		Trigger: pack.RuleTrigger{Type: "core.st2.webhook", Parameters: map[string]any{"url": "x"}},
		Action:  pack.RuleAction{Ref: "core.noop"}}
	r := base
	r.Dedup = map[string]any{"key": "trigger.body.alert_id", "window": "30s"}
	c, err := Compile(r)
	if err != nil {
		t.Fatal(err)
	}
	if c.Dedup == nil || c.Dedup.Window != 30*time.Second {
		t.Fatalf("dedup: %+v", c.Dedup)
	}
	key, err := c.Dedup.Key(map[string]any{"body": map[string]any{"alert_id": "A-1"}})
	if err != nil || key != "A-1" {
		t.Fatalf("key %q, %v", key, err)
	}
	if _, err := c.Dedup.Key(map[string]any{"body": map[string]any{}}); err == nil {
		t.Fatal("a missing key field must be an error")
	}
	for _, bad := range []map[string]any{
		{"key": ""}, {"key": "trigger.body.id", "window": "soon"}, {"key": "trigger.body.id >"},
		{"key": "trigger.body.n > 1"},
	} {
		r := base
		r.Dedup = bad
		if _, err := Compile(r); err == nil {
			t.Errorf("dedup %v compiled", bad)
		}
	}
	r.Dedup = map[string]any{"key": "trigger.body.id"}
	if c, err := Compile(r); err != nil || c.Dedup.Window != DefaultDedupWindow {
		t.Fatalf("default window: %v %v", c, err)
	}
}
