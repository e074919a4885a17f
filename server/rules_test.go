package server

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

func TestRuleCRUD(t *testing.T) {
	t.Parallel()
	e := eventsEnv(t)
	changes := func() int { return int(e.ruleChanges.Load()) }

	valid := func() map[string]any {
		return map[string]any{
			"name": "on_evt", "pack": "evpack", "description": "d",
			"trigger":  map[string]any{"type": "evpack.evt"},
			"criteria": map[string]any{"trigger.n": map[string]any{"type": "gt", "pattern": 1}},
			"when":     "trigger.n < 10",
			"action":   map[string]any{"ref": "evpack.act", "parameters": map[string]any{"token": "s3cret", "msg": "{{ trigger.n }}"}},
		}
	}
	with := func(edit func(m map[string]any)) map[string]any {
		m := valid()
		edit(m)
		return m
	}
	bad := []struct {
		name string
		body any
		want string
	}{
		{"bad CEL", with(func(m map[string]any) { m["when"] = "trigger.n <" }), "when: "},
		{"CEL not bool", with(func(m map[string]any) { m["when"] = "trigger.n + 1" }), "when"},
		{"no name", with(func(m map[string]any) { delete(m, "name") }), "'name' is a required property"},
		{"no trigger", with(func(m map[string]any) { delete(m, "trigger") }), "'trigger' is a required property"},
		{"no action", with(func(m map[string]any) { m["action"] = map[string]any{} }), "'action' is a required property"},
		{"unknown field", with(func(m map[string]any) { m["colour"] = "red" }), `Additional properties are not allowed ("colour" unexpected)`},
		{"wrong type", with(func(m map[string]any) { m["enabled"] = "yes" }), `field "enabled"`},
		{"unknown trigger type", with(func(m map[string]any) { m["trigger"] = map[string]any{"type": "no.such"} }), `Trigger type "no.such" of the rule is not registered`},
		{"webhook without url", with(func(m map[string]any) { m["trigger"] = map[string]any{"type": "core.st2.webhook"} }),
			"Parameters of trigger core.st2.webhook do not match its parameters_schema: missing property 'url'"},
		{"timer Temporal cannot run", with(func(m map[string]any) {
			m["trigger"] = map[string]any{"type": "core.st2.CronTimer", "parameters": map[string]any{"minute": 99}}
		}), "minute"},
		{"bad operator", with(func(m map[string]any) {
			m["criteria"] = map[string]any{"trigger.n": map[string]any{"type": "roughly", "pattern": 1}}
		}), "roughly"},
		{"bad Jinja", with(func(m map[string]any) {
			m["action"] = map[string]any{"ref": "evpack.act", "parameters": map[string]any{"msg": "{{ trigger.n "}}
		}), "action.parameters.msg"},
		{"unregistered pack", with(func(m map[string]any) { m["pack"] = "nopack" }), `Pack "nopack" of the rule is not registered`},
		{"dotted pack", with(func(m map[string]any) { m["pack"] = "a.b" }), "must not contain a dot"},
		{"not an object", `[1]`, "Failed to parse request body"},
	}
	for _, tt := range bad {
		resp := e.do(http.MethodPost, "/api/v1/rules", tt.body)
		if resp.status != http.StatusBadRequest || !strings.Contains(resp.fault(t), tt.want) {
			t.Errorf("%s: %d %s, want 400 with %q", tt.name, resp.status, resp.body, tt.want)
		}
	}
	// The CEL error says where the problem is.
	resp := e.do(http.MethodPost, "/api/v1/rules", with(func(m map[string]any) { m["when"] = "trigger.n < 10 &&" }))
	if msg := resp.fault(t); !strings.Contains(msg, "line 1, column") {
		t.Errorf("CEL error without position: %q", msg)
	}
	if changes() != 0 {
		t.Fatalf("RuleChanged called %d times for refused rules", changes())
	}

	// Create: disabled by default, the creator recorded, secrets masked.
	rule := e.createRule(valid())
	if rule["ref"] != "evpack.on_evt" || rule["enabled"] != false || rule["uid"] != "rule:evpack:on_evt" ||
		rule["context"].(map[string]any)["user"] != testUser || rule["when"] != "trigger.n < 10" {
		t.Errorf("created rule %v", rule)
	}
	if got := rule["action"].(map[string]any)["parameters"].(map[string]any)["token"]; got != maskedValue {
		t.Errorf("secret parameter shown as %v", got)
	}
	if changes() != 1 {
		t.Errorf("RuleChanged called %d times after create", changes())
	}
	if resp := e.do(http.MethodPost, "/api/v1/rules", valid()); resp.status != http.StatusConflict {
		t.Errorf("duplicate: %d %s", resp.status, resp.body)
	}
	// Without a pack the rule goes to "default".
	def := e.createRule(map[string]any{"name": "hook", "trigger": map[string]any{"type": "core.st2.webhook", "parameters": map[string]any{"url": "x"}},
		"action": map[string]any{"ref": "core.local"}, "enabled": true})
	if def["ref"] != "default.hook" || def["enabled"] != true {
		t.Errorf("default pack rule %v", def)
	}

	// st2 rule enable: GET, flip enabled, PUT the document back. The masked
	// secret must not replace the stored one.
	var doc map[string]any
	e.do(http.MethodGet, "/api/v1/rules/evpack.on_evt", nil).decode(t, &doc)
	doc["enabled"] = true
	before := changes()
	resp = e.do(http.MethodPut, "/api/v1/rules/"+doc["id"].(string), doc)
	if resp.status != http.StatusOK {
		t.Fatalf("enable: %d %s", resp.status, resp.body)
	}
	stored, err := e.store.GetRule(context.Background(), "evpack.on_evt")
	if err != nil {
		t.Fatal(err)
	}
	if !stored.Enabled || stored.Action.Parameters["token"] != "s3cret" || stored.ID != doc["id"] {
		t.Errorf("after enable: enabled %v, token %v, id %s", stored.Enabled, stored.Action.Parameters["token"], stored.ID)
	}
	if changes() != before+1 {
		t.Errorf("RuleChanged not called on enable")
	}
	var enabled []map[string]any
	e.do(http.MethodGet, "/api/v1/rules?enabled=true", nil).decode(t, &enabled)
	if len(enabled) != 2 {
		t.Errorf("enabled rules %v", enabled)
	}

	// A PUT with other content replaces the rule; pack and name default to
	// the rule's own.
	upd := valid()
	delete(upd, "pack")
	delete(upd, "name")
	upd["when"] = "trigger.n < 5"
	resp = e.do(http.MethodPut, "/api/v1/rules/evpack.on_evt", upd)
	if resp.status != http.StatusOK || !strings.Contains(string(resp.body), `"when":"trigger.n \u003c 5"`) ||
		!strings.Contains(string(resp.body), `"enabled":false`) {
		t.Errorf("update: %d %s", resp.status, resp.body)
	}
	if resp := e.do(http.MethodPut, "/api/v1/rules/evpack.on_evt", with(func(m map[string]any) { m["when"] = "(" })); resp.status != http.StatusBadRequest {
		t.Errorf("update with bad CEL: %d", resp.status)
	}
	renamed := with(func(m map[string]any) { m["name"] = "hook"; m["pack"] = "default" })
	if resp := e.do(http.MethodPut, "/api/v1/rules/evpack.on_evt", renamed); resp.status != http.StatusConflict {
		t.Errorf("rename onto another rule: %d %s", resp.status, resp.body)
	}
	if resp := e.do(http.MethodPut, "/api/v1/rules/evpack.nope", valid()); resp.status != http.StatusNotFound {
		t.Errorf("update unknown: %d", resp.status)
	}

	before = changes()
	if resp := e.do(http.MethodDelete, "/api/v1/rules/evpack.on_evt", nil); resp.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", resp.status, resp.body)
	}
	if changes() != before+1 {
		t.Errorf("RuleChanged not called on delete")
	}
	for _, m := range []string{http.MethodGet, http.MethodDelete} {
		if resp := e.do(m, "/api/v1/rules/evpack.on_evt", nil); resp.status != http.StatusNotFound {
			t.Errorf("%s after delete: %d", m, resp.status)
		}
	}
	if changes() != before+1 {
		t.Errorf("RuleChanged called for a failed delete")
	}
}

func TestUnmask(t *testing.T) {
	t.Parallel()
	stored := map[string]any{"token": "s3cret", "nested": map[string]any{"pw": "p", "user": "u"}, "list": []any{"a", "b"}}
	tests := []struct {
		name string
		in   map[string]any
		want map[string]any
	}{
		{"masked values restored", map[string]any{"token": maskedValue, "nested": map[string]any{"pw": maskedValue, "user": "v"}},
			map[string]any{"token": "s3cret", "nested": map[string]any{"pw": "p", "user": "v"}}},
		{"new values kept", map[string]any{"token": "new"}, map[string]any{"token": "new"}},
		{"mask without stored value stays", map[string]any{"other": maskedValue}, map[string]any{"other": maskedValue}},
		{"lists by position", map[string]any{"list": []any{maskedValue, "c", maskedValue}}, map[string]any{"list": []any{"a", "c", maskedValue}}},
		{"nil", nil, nil},
	}
	for _, tt := range tests {
		got, _ := unmask(tt.in, stored).(map[string]any)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}
