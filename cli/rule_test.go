package cli

import (
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/squall-automation/squall/internal/testenv"
)

// sampleWebhookRule is StackStorm's own example rule on core.st2.webhook
// (url "sample", criteria trigger.body.name equals "st2").
func sampleWebhookRule(t *testing.T) string {
	t.Helper()
	return filepath.Join(testenv.ST2Packs(t), "examples", "rules", "sample_rule_with_webhook.yaml")
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRuleTestOffline(t *testing.T) {
	// No endpoint is registered: any request fails the test, so these
	// prove that rule test with files needs no server.
	a := newAPI(t)
	isolate(t, a.srv.URL)
	rule := sampleWebhookRule(t)
	match := writeFile(t, "match.json", `{"trigger": "core.st2.webhook",
		"payload": {"headers": {"Content-Type": "application/json"}, "body": {"name": "st2"}}}`)
	other := writeFile(t, "other.yaml", "trigger: core.st2.webhook\npayload:\n  headers: {}\n  body:\n    name: chef\n")
	wrongType := writeFile(t, "wrong.yaml", "trigger: core.st2.IntervalTimer\npayload: {executed_at: '2024-01-01T00:00:00Z'}\n")
	celRule := writeFile(t, "cel.yaml", `
name: cel
pack: examples
trigger: {type: core.st2.webhook, parameters: {url: sample}}
when: 'trigger.body.name == "st2" && size(trigger.body.name) > 10'
action: {ref: core.local, parameters: {cmd: "echo hi"}}
`)
	badCEL := writeFile(t, "badcel.yaml", `
name: badcel
trigger: {type: core.st2.webhook}
when: 'trigger.body.name ==='
action: {ref: core.local}
`)

	tests := []struct {
		name     string
		args     []string
		code     int
		contains []string
	}{
		{"match", []string{"--rule", rule, "--trigger-instance", match}, 0,
			[]string{"=== RULE MATCHES ===", "rule: examples.sample_rule_with_webhook", "action.ref: core.local",
				// The payload renders as Python would print it (st2's Jinja).
				`cmd: 'echo "{''name'': ''st2''}" >> ~/st2.webhook_sample.out ; sync'`}},
		{"criterion fails", []string{"--rule", rule, "--trigger-instance", other}, 1,
			[]string{"=== RULE DOES NOT MATCH ===", "failed criterion: trigger.body.name", `"chef"`, "equals"}},
		{"other trigger type", []string{"--rule", rule, "--trigger-instance", wrongType}, 1,
			[]string{"=== RULE DOES NOT MATCH ===", "core.st2.IntervalTimer"}},
		{"when is false", []string{"--rule", celRule, "--trigger-instance", match}, 1,
			[]string{"failed criterion: when", "is false"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := squall(t, "", append([]string{"rule", "test"}, tt.args...)...)
			r.wantCode(t, tt.code)
			mustContain(t, "stdout", r.stdout, tt.contains...)
		})
	}

	r := squall(t, "", "rule", "test", "--rule", badCEL, "--trigger-instance", match)
	r.wantCode(t, ExitError)
	mustContain(t, "stderr", r.stderr, "ERROR: ", "when")

	r = squall(t, "", "rule", "test", "--rule", rule, "--trigger-instance", filepath.Join(t.TempDir(), "missing.json"))
	r.wantCode(t, ExitError)
	mustContain(t, "stderr", r.stderr, "missing.json")

	for _, args := range [][]string{
		{"rule", "test"},
		{"rule", "test", "--rule", rule},
		{"rule", "test", "--rule", rule, "--rule-ref", "a.b", "--trigger-instance", match},
	} {
		if r := squall(t, "", args...); r.code != ExitUsage {
			t.Errorf("%v: exit %d, want %d (%s)", args, r.code, ExitUsage, r.stderr)
		}
	}
}

func TestRuleTestFromAPI(t *testing.T) {
	a := newAPI(t)
	isolate(t, a.srv.URL)
	a.json("GET /api/v1/rules/examples.hook", 200, map[string]any{
		"id": "r1", "ref": "examples.hook", "pack": "examples", "name": "hook", "enabled": false,
		"trigger":  map[string]any{"type": "core.st2.webhook", "parameters": map[string]any{"url": "sample"}, "ref": "core.abc"},
		"criteria": map[string]any{"trigger.body.n": map[string]any{"type": "gt", "pattern": 2}},
		"action":   map[string]any{"ref": "core.local", "parameters": map[string]any{"cmd": "echo {{ trigger.body.n }}"}},
	})
	instance := func(url string, n int) map[string]any {
		return map[string]any{
			"id": "ti1", "trigger": "core.abc", "trigger_type": "core.st2.webhook",
			"trigger_params": map[string]any{"url": url}, "status": "processed",
			"occurrence_time": "2024-05-01T10:00:00.000000Z",
			"payload":         map[string]any{"headers": map[string]any{}, "body": map[string]any{"n": n}},
		}
	}
	a.json("GET /api/v1/triggerinstances/ti1", 200, instance("sample", 3))
	a.json("GET /api/v1/triggerinstances/ti2", 200, instance("sample", 1))
	a.json("GET /api/v1/triggerinstances/ti3", 200, instance("other", 3))

	r := squall(t, "", "rule", "test", "--rule-ref", "examples.hook", "--trigger-instance-id", "ti1")
	r.wantCode(t, 0)
	mustContain(t, "stdout", r.stdout, "=== RULE MATCHES ===", "cmd: echo 3")

	r = squall(t, "", "rule", "test", "--rule-ref", "examples.hook", "--trigger-instance-id", "ti2")
	r.wantCode(t, 1)
	mustContain(t, "stdout", r.stdout, "failed criterion: trigger.body.n")

	r = squall(t, "", "rule", "test", "--rule-ref", "examples.hook", "--trigger-instance-id", "ti3")
	r.wantCode(t, 1)
	mustContain(t, "stdout", r.stdout, `{"url":"sample"}`, `{"url":"other"}`)

	// A rule file against a recorded instance.
	r = squall(t, "", "rule", "test", "--rule", sampleWebhookRule(t), "--trigger-instance-id", "ti1")
	r.wantCode(t, 1)
	mustContain(t, "stdout", r.stdout, "failed criterion: trigger.body.name")

	a.json("GET /api/v1/triggerinstances/nope", 404, map[string]any{"faultstring": `Unable to identify resource with id "nope".`})
	r = squall(t, "", "rule", "test", "--rule-ref", "examples.hook", "--trigger-instance-id", "nope")
	r.wantCode(t, 1)
	mustContain(t, "stderr", r.stderr, "ERROR: 404: Unable to identify resource")
}

func TestRuleCommands(t *testing.T) {
	a := newAPI(t)
	isolate(t, a.srv.URL)
	stored := map[string]any{
		"id": "r1", "uid": "rule:examples:sample_rule_with_webhook", "ref": "examples.sample_rule_with_webhook",
		"pack": "examples", "name": "sample_rule_with_webhook", "description": "Sample rule", "enabled": false,
		"trigger":  map[string]any{"type": "core.st2.webhook", "parameters": map[string]any{"url": "sample"}, "ref": "core.abc"},
		"criteria": map[string]any{},
		"action":   map[string]any{"ref": "core.local", "parameters": map[string]any{"cmd": "echo", "password": "********"}},
	}
	a.json("GET /api/v1/rules", 200, []any{stored})
	a.json("GET /api/v1/rules/examples.sample_rule_with_webhook", 200, stored)
	a.handle("POST /api/v1/rules", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 201, stored) })
	a.handle("PUT /api/v1/rules/r1", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, stored) })
	a.handle("DELETE /api/v1/rules/examples.sample_rule_with_webhook", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })

	r := squall(t, "", "rule", "list", "-p", "examples", "--enabled", "false")
	r.wantCode(t, 0)
	q := a.only("GET", "/api/v1/rules").Query
	if q["pack"][0] != "examples" || q["enabled"][0] != "false" {
		t.Errorf("list query %v", q)
	}
	mustContain(t, "stdout", r.stdout, "examples.sample_rule_with_webhook", "false")

	r = squall(t, "", "rule", "get", "examples.sample_rule_with_webhook")
	r.wantCode(t, 0)
	mustContain(t, "stdout", r.stdout, "ref: examples.sample_rule_with_webhook\n", "enabled: false\n", "trigger:\n", "url: sample")

	r = squall(t, "", "rule", "create", sampleWebhookRule(t))
	r.wantCode(t, 0)
	body := decodeBody(t, a.only("POST", "/api/v1/rules"))
	if body["name"] != "sample_rule_with_webhook" || body["pack"] != "examples" || body["enabled"] != true {
		t.Errorf("create body %v", body)
	}
	wantCriteria := map[string]any{"trigger.body.name": map[string]any{"pattern": "st2", "type": "equals"}}
	if !reflect.DeepEqual(body["criteria"], wantCriteria) {
		t.Errorf("criteria sent %v", body["criteria"])
	}

	r = squall(t, "", "rule", "enable", "examples.sample_rule_with_webhook")
	r.wantCode(t, 0)
	put := decodeBody(t, a.only("PUT", "/api/v1/rules/r1"))
	if put["enabled"] != true || put["name"] != "sample_rule_with_webhook" || put["trigger"] == nil || put["action"] == nil {
		t.Errorf("enable sent %v: want the whole rule with enabled true", put)
	}
	r = squall(t, "", "rule", "disable", "examples.sample_rule_with_webhook")
	r.wantCode(t, 0)
	if put := decodeBody(t, a.requests("PUT", "/api/v1/rules/r1")[1]); put["enabled"] != false {
		t.Errorf("disable sent %v", put)
	}

	r = squall(t, "", "rule", "delete", "examples.sample_rule_with_webhook")
	r.wantCode(t, 0)
	a.only("DELETE", "/api/v1/rules/examples.sample_rule_with_webhook")

	bad := writeFile(t, "bad.yaml", "name: x\ntrigger: {type: core.st2.webhook}\nwhen: 'a ==='\naction: {ref: core.local}\n")
	a2 := newAPI(t)
	isolate(t, a2.srv.URL)
	a2.json("POST /api/v1/rules", 400, map[string]any{"faultstring": `compile rule "default.x": when: ERROR: <input>:1:5: Syntax error`})
	r = squall(t, "", "rule", "create", bad)
	r.wantCode(t, 1)
	mustContain(t, "stderr", r.stderr, "ERROR: 400: compile rule", "1:5")

	notYAML := writeFile(t, "list.yaml", "- a\n- b\n")
	r = squall(t, "", "rule", "create", notYAML)
	r.wantCode(t, 1)
	mustContain(t, "stderr", r.stderr, "must hold a mapping")
}

func TestTriggerAndEnforcementCommands(t *testing.T) {
	a := newAPI(t)
	isolate(t, a.srv.URL)
	a.json("GET /api/v1/triggertypes", 200, []any{
		map[string]any{"ref": "core.st2.webhook", "pack": "core", "description": "Webhooks"},
	})
	a.json("GET /api/v1/triggertypes/core.st2.webhook", 200, map[string]any{
		"ref": "core.st2.webhook", "pack": "core", "name": "st2.webhook",
		"parameters_schema": map[string]any{"type": "object", "properties": map[string]any{"url": map[string]any{"type": "string"}}},
	})
	ti := map[string]any{"id": "ti1", "trigger": "core.abc", "trigger_type": "core.st2.webhook", "status": "processed",
		"occurrence_time": "2024-05-01T10:00:00.000000Z", "payload": map[string]any{"body": map[string]any{"a": 1}}}
	a.handle("GET /api/v1/triggerinstances", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Total-Count", "7")
		writeJSON(w, 200, []any{ti})
	})
	a.json("GET /api/v1/triggerinstances/ti1", 200, ti)
	a.json("POST /api/v1/triggerinstances/ti1/re_emit", 200, map[string]any{
		"message": "Trigger instance ti1 was re-emitted as ti2.", "trigger_instance_id": "ti2", "payload": map[string]any{},
	})
	enf := map[string]any{"id": "e1", "rule": map[string]any{"id": "r1", "ref": "examples.hook"}, "trigger_instance_id": "ti1",
		"execution_id": "x1", "status": "succeeded", "enforced_at": "2024-05-01T10:00:01.000000Z"}
	a.json("GET /api/v1/ruleenforcements", 200, []any{enf})
	a.json("GET /api/v1/ruleenforcements/e1", 200, enf)

	r := squall(t, "", "trigger", "list")
	r.wantCode(t, 0)
	mustContain(t, "stdout", r.stdout, "core.st2.webhook", "Webhooks")
	r = squall(t, "", "trigger", "get", "core.st2.webhook")
	r.wantCode(t, 0)
	mustContain(t, "stdout", r.stdout, "parameters_schema:\n", "url:\n", "payload_schema: {}\n")

	r = squall(t, "", "trigger-instance", "list", "-t", "core.st2.webhook", "--timestamp-gt", "2024-05-01T00:00:00Z", "-n", "1")
	r.wantCode(t, 0)
	q := a.only("GET", "/api/v1/triggerinstances").Query
	if q["trigger_type"][0] != "core.st2.webhook" || q["timestamp_gt"][0] != "2024-05-01T00:00:00Z" || q["limit"][0] != "1" {
		t.Errorf("query %v", q)
	}
	mustContain(t, "stdout", r.stdout, "ti1", "core.abc", "processed", "Wed, 01 May 2024 10:00:00 UTC")
	mustContain(t, "stderr", r.stderr, "only the 1 most recent of 7")

	r = squall(t, "", "trigger-instance", "get", "ti1")
	r.wantCode(t, 0)
	mustContain(t, "stdout", r.stdout, "trigger_type: core.st2.webhook\n", "payload:\n  body:\n    a: 1\n")

	r = squall(t, "", "trigger-instance", "re-emit", "ti1")
	r.wantCode(t, 0)
	mustContain(t, "stdout", r.stdout, "re-emitted as ti2")

	r = squall(t, "", "rule-enforcement", "list", "-r", "examples.hook")
	r.wantCode(t, 0)
	if q := a.only("GET", "/api/v1/ruleenforcements").Query; q["rule_ref"][0] != "examples.hook" {
		t.Errorf("query %v", q)
	}
	mustContain(t, "stdout", r.stdout, "e1", "examples.hook", "x1", "succeeded")
	r = squall(t, "", "rule-enforcement", "get", "e1")
	r.wantCode(t, 0)
	mustContain(t, "stdout", r.stdout, "rule.ref: examples.hook\n", "execution_id: x1\n")
	if !strings.Contains(r.stdout, "enforced_at: Wed, 01 May 2024 10:00:01 UTC") {
		t.Errorf("enforced_at: %s", r.stdout)
	}
}
