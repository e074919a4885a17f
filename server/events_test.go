package server

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/squall-automation/squall/catalog"
	"github.com/squall-automation/squall/trigger"
)

// evpack has a trigger type with a payload schema and an action with a
// secret parameter.
var evpackFiles = map[string]string{
	"pack.yaml": "ref: evpack\nname: evpack\ndescription: events\nversion: 1.0.0\nauthor: me\n",
	"triggers/evt.yaml": "name: evt\ndescription: an event\n" +
		"payload_schema:\n  type: object\n  properties:\n    n: {type: integer, required: true}\n    s: {type: string}\n",
	"actions/act.yaml": "name: act\nrunner_type: local-shell-cmd\nparameters:\n" +
		"  token: {type: string, secret: true}\n  msg: {type: string}\n",
}

// eventsEnv is an env with the built-in trigger types, the default pack and
// evpack registered.
func eventsEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	if err := e.store.EnsureBuiltins(context.Background()); err != nil {
		t.Fatal(err)
	}
	def, err := os.ReadFile("../packs/default/pack.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e.writePack("default", map[string]string{"pack.yaml": string(def)})
	e.writePack("evpack", evpackFiles)
	if resp := e.do(http.MethodPost, "/api/v1/packs/register", map[string]any{"packs": []string{"default", "evpack"}}); resp.status != http.StatusOK {
		t.Fatalf("register: %d %s", resp.status, resp.body)
	}
	return e
}

// webhookRule is st2's sample_rule_with_webhook with another url.
func webhookRule(name, url string) map[string]any {
	return map[string]any{
		"name": name, "pack": "default", "enabled": true,
		"trigger":  map[string]any{"type": trigger.Webhook, "parameters": map[string]any{"url": url}},
		"criteria": map[string]any{"trigger.body.name": map[string]any{"type": "equals", "pattern": "st2"}},
		"action":   map[string]any{"ref": "core.local", "parameters": map[string]any{"cmd": "echo {{ trigger.body }}"}},
	}
}

func (e *env) createRule(body map[string]any) map[string]any {
	e.t.Helper()
	resp := e.do(http.MethodPost, "/api/v1/rules", body)
	if resp.status != http.StatusCreated {
		e.t.Fatalf("create rule: %d %s", resp.status, resp.body)
	}
	var out map[string]any
	resp.decode(e.t, &out)
	return out
}

// post sends body as is with the given content type.
func (e *env) post(path, contentType, body string, headers map[string]string) response {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.ts.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("X-Auth-Token", e.token)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return e.send(req)
}

func TestWebhook(t *testing.T) {
	t.Parallel()
	e := eventsEnv(t)

	resp := e.post("/api/v1/webhooks/sample", "application/json", `{"name": "st2"}`, nil)
	if resp.status != http.StatusNotFound || !strings.Contains(resp.fault(t), "Webhook sample is not registered") {
		t.Fatalf("unknown webhook: %d %s", resp.status, resp.body)
	}
	if n := len(e.events.all()); n != 0 {
		t.Fatalf("%d events dispatched for an unknown webhook", n)
	}

	e.createRule(webhookRule("sample", "sample"))
	e.createRule(webhookRule("nested", "github/push"))
	e.createRule(webhookRule("slashy", "/slashy/"))

	resp = e.post("/api/v1/webhooks/sample", "application/json", `{"name": "st2", "n": [1, 2]}`,
		map[string]string{"Idempotency-Key": "delivery-1", "St2-Trace-Tag": "my-trace", "X-Custom": "yes"})
	if resp.status != http.StatusAccepted {
		t.Fatalf("post: %d %s", resp.status, resp.body)
	}
	if string(resp.body) != `{"n":[1,2],"name":"st2"}`+"\n" {
		t.Errorf("answer is not the body echoed: %s", resp.body)
	}
	tiID := resp.header.Get("X-Squall-Trigger-Instance")
	if !catalog.IsID(tiID) || resp.header.Get("X-Squall-Duplicate") != "" {
		t.Errorf("trigger instance header %q, duplicate %q", tiID, resp.header.Get("X-Squall-Duplicate"))
	}
	ev := e.events.last(t)
	if ev.TriggerType != trigger.Webhook || !reflect.DeepEqual(ev.TriggerParams, map[string]any{"url": "sample"}) ||
		ev.TraceTag != "my-trace" || ev.DedupeKey != "delivery-1" || ev.OccurredAt.IsZero() {
		t.Errorf("event %+v", ev)
	}
	wantBody := map[string]any{"name": "st2", "n": []any{1.0, 2.0}}
	if !reflect.DeepEqual(ev.Payload["body"], wantBody) {
		t.Errorf("payload body %#v", ev.Payload["body"])
	}
	headers, _ := ev.Payload["headers"].(map[string]any)
	for k, want := range map[string]string{"Content-Type": "application/json", "X-Custom": "yes", "Idempotency-Key": "delivery-1"} {
		if headers[k] != want {
			t.Errorf("payload header %s = %v, want %q (headers %v)", k, headers[k], want, headers)
		}
	}
	if headers["Host"] == nil || headers["Content-Length"] != "28" {
		t.Errorf("Host/Content-Length missing: %v", headers)
	}
	for _, k := range []string{"X-Auth-Token", "St2-Trace-Tag"} {
		if _, ok := headers[k]; ok {
			t.Errorf("payload headers keep %s: %v", k, headers)
		}
	}

	// The event became a trigger instance; a retried delivery is the same one.
	ti := e.do(http.MethodGet, "/api/v1/triggerinstances/"+tiID, nil)
	if ti.status != http.StatusOK || !strings.Contains(string(ti.body), `"body":{"n":[1,2],"name":"st2"}`) {
		t.Errorf("trigger instance: %d %s", ti.status, ti.body)
	}
	resp = e.post("/api/v1/webhooks/sample", "application/json", `{"name": "st2"}`, map[string]string{"Idempotency-Key": "delivery-1"})
	if resp.status != http.StatusAccepted || resp.header.Get("X-Squall-Trigger-Instance") != tiID || resp.header.Get("X-Squall-Duplicate") != "true" {
		t.Errorf("retried delivery: %d %v", resp.status, resp.header)
	}

	bodies := []struct {
		name, path, contentType, body string
		wantBody                      any
		wantAnswer                    string
	}{
		{"form", "/api/v1/webhooks/sample", "application/x-www-form-urlencoded", "a=1&a=2&b=x+y",
			map[string]any{"a": []any{"1", "2"}, "b": []any{"x y"}}, `{"a":["1","2"],"b":["x y"]}`},
		{"multipart form", "/api/v1/webhooks/sample", "multipart/form-data; boundary=XX",
			"--XX\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--XX--\r\n",
			map[string]any{"a": []any{"1"}}, `{"a":["1"]}`},
		{"raw text", "/api/v1/webhooks/sample", "text/plain; charset=utf-8", "hello world",
			"hello world", `"hello world"`},
		{"no content type is JSON", "/api/v1/webhooks/sample", "", `[1, "a"]`,
			[]any{1.0, "a"}, `[1,"a"]`},
		{"empty JSON body", "/api/v1/webhooks/sample", "application/json", "",
			map[string]any{}, `{}`},
		{"nested url", "/api/v1/webhooks/github/push", "application/vnd.github+json", `{"ref": "main"}`,
			map[string]any{"ref": "main"}, `{"ref":"main"}`},
		{"trailing slash", "/api/v1/webhooks/sample/", "application/json", `{"a": 1}`,
			map[string]any{"a": 1.0}, `{"a":1}`},
		{"rule url with slashes", "/api/v1/webhooks/slashy", "application/json", `{"a": 2}`,
			map[string]any{"a": 2.0}, `{"a":2}`},
	}
	for _, tt := range bodies {
		resp := e.post(tt.path, tt.contentType, tt.body, nil)
		if resp.status != http.StatusAccepted || string(resp.body) != tt.wantAnswer+"\n" {
			t.Errorf("%s: %d %s", tt.name, resp.status, resp.body)
			continue
		}
		if got := e.events.last(t).Payload["body"]; !reflect.DeepEqual(got, tt.wantBody) {
			t.Errorf("%s: payload body %#v, want %#v", tt.name, got, tt.wantBody)
		}
	}
	if ev := e.events.last(t); !reflect.DeepEqual(ev.TriggerParams, map[string]any{"url": "/slashy/"}) ||
		!strings.HasPrefix(ev.TraceTag, "webhook-slashy-") {
		t.Errorf("slashy event %+v: want the rule's own url and a generated trace tag", ev)
	}

	before := len(e.events.all())
	for _, tt := range []struct{ name, contentType, body, want string }{
		{"malformed JSON", "application/json", `{"a": `, "Failed to parse request body"},
		{"unsupported type", "application/xml", `<a/>`, `Unsupported Content-Type: "application/xml"`},
	} {
		resp := e.post("/api/v1/webhooks/sample", tt.contentType, tt.body, nil)
		if resp.status != http.StatusBadRequest || !strings.Contains(resp.fault(t), tt.want) {
			t.Errorf("%s: %d %s", tt.name, resp.status, resp.body)
		}
	}
	if len(e.events.all()) != before {
		t.Error("refused bodies were dispatched")
	}

	// The answer waits for durability: a refused event is a 503 to retry.
	e.events.fail(errors.New("temporal: unavailable"))
	resp = e.post("/api/v1/webhooks/sample", "application/json", `{"name": "st2"}`, nil)
	if resp.status != http.StatusServiceUnavailable || resp.header.Get("Retry-After") == "" ||
		resp.header.Get("X-Squall-Trigger-Instance") != "" || !strings.Contains(resp.fault(t), "retry") {
		t.Errorf("dispatch failure: %d %v %s", resp.status, resp.header, resp.body)
	}
	e.events.fail(nil)

	// Listing and reading webhooks.
	resp = e.do(http.MethodGet, "/api/v1/webhooks", nil)
	if resp.status != http.StatusOK || resp.header.Get("X-Total-Count") != "3" {
		t.Errorf("list webhooks: %d %v %s", resp.status, resp.header, resp.body)
	}
	var hook catalog.Trigger
	resp = e.do(http.MethodGet, "/api/v1/webhooks/github/push", nil)
	resp.decode(t, &hook)
	if resp.status != http.StatusOK || hook.Type != trigger.Webhook || hook.Parameters["url"] != "github/push" {
		t.Errorf("get webhook: %d %s", resp.status, resp.body)
	}
	if resp := e.do(http.MethodGet, "/api/v1/webhooks/nope", nil); resp.status != http.StatusNotFound {
		t.Errorf("get unknown webhook: %d", resp.status)
	}

	// Once no rule uses the url, the webhook is gone.
	if resp := e.do(http.MethodDelete, "/api/v1/rules/default.nested", nil); resp.status != http.StatusNoContent {
		t.Fatalf("delete rule: %d %s", resp.status, resp.body)
	}
	if resp := e.post("/api/v1/webhooks/github/push", "application/json", `{}`, nil); resp.status != http.StatusNotFound {
		t.Errorf("webhook of a deleted rule: %d %s", resp.status, resp.body)
	}
}

func TestGenericWebhook(t *testing.T) {
	t.Parallel()
	e := eventsEnv(t)
	e.createRule(webhookRule("sample", "sample"))

	tests := []struct {
		name       string
		body       string
		wantStatus int
		wantFault  string
	}{
		{"no trigger", `{"payload": {}}`, 400, "Trigger not specified."},
		{"not an object", `[1]`, 400, "Webhook body needs to be an object, got: array"},
		{"payload not an object", `{"trigger": "evpack.evt", "payload": 3}`, 400, "payload must be an object"},
		{"unknown trigger", `{"trigger": "nope.nope", "payload": {}}`, 400, `"nope.nope" is neither a registered trigger type nor a trigger`},
		{"schema: required", `{"trigger": "evpack.evt", "payload": {"s": "x"}}`, 400, "does not match its payload_schema: missing property 'n'"},
		{"schema: type", `{"trigger": "evpack.evt", "payload": {"n": "seven"}}`, 400, "at n: "},
		{"valid", `{"trigger": "evpack.evt", "payload": {"n": 7}, "trace_tag": "tt"}`, 202, ""},
		{"type without schema", `{"trigger": "core.st2.sensor.process_spawn"}`, 202, ""},
	}
	for _, tt := range tests {
		resp := e.post("/api/v1/webhooks/st2", "application/json", tt.body, nil)
		if resp.status != tt.wantStatus {
			t.Errorf("%s: %d %s", tt.name, resp.status, resp.body)
			continue
		}
		if tt.wantFault != "" && !strings.Contains(resp.fault(t), tt.wantFault) {
			t.Errorf("%s: faultstring %q, want %q", tt.name, resp.fault(t), tt.wantFault)
		}
	}
	evs := e.events.all()
	if len(evs) != 2 {
		t.Fatalf("%d events dispatched, want 2", len(evs))
	}
	if ev := evs[0]; ev.TriggerType != "evpack.evt" || ev.TriggerParams != nil || ev.TraceTag != "tt" ||
		!reflect.DeepEqual(ev.Payload, map[string]any{"n": 7.0}) {
		t.Errorf("event %+v", ev)
	}
	if ev := evs[1]; ev.TriggerType != trigger.SensorSpawn || ev.Payload == nil || len(ev.Payload) != 0 {
		t.Errorf("event without payload %+v", ev)
	}

	// A trigger object's ref stands for its type and parameters.
	var trigs []catalog.Trigger
	e.do(http.MethodGet, "/api/v1/triggers?type=core.st2.webhook", nil).decode(t, &trigs)
	if len(trigs) != 1 {
		t.Fatalf("webhook triggers %+v", trigs)
	}
	resp := e.do(http.MethodPost, "/api/v1/webhooks/st2", map[string]any{
		"trigger": trigs[0].Ref, "payload": map[string]any{"headers": map[string]any{}, "body": map[string]any{"name": "st2"}},
	})
	if resp.status != http.StatusAccepted {
		t.Fatalf("by trigger ref: %d %s", resp.status, resp.body)
	}
	if ev := e.events.last(t); ev.TriggerType != trigger.Webhook || !reflect.DeepEqual(ev.TriggerParams, map[string]any{"url": "sample"}) {
		t.Errorf("event by trigger ref %+v", ev)
	}
	if resp := e.do(http.MethodGet, "/api/v1/triggers/"+trigs[0].Ref, nil); resp.status != http.StatusOK || !strings.Contains(string(resp.body), `"url":"sample"`) {
		t.Errorf("get trigger: %d %s", resp.status, resp.body)
	}
}

func TestTriggerInstances(t *testing.T) {
	t.Parallel()
	e := eventsEnv(t)
	for i := 1; i <= 3; i++ {
		resp := e.do(http.MethodPost, "/api/v1/webhooks/st2", map[string]any{"trigger": "evpack.evt", "payload": map[string]any{"n": i}})
		if resp.status != http.StatusAccepted {
			t.Fatalf("post: %d %s", resp.status, resp.body)
		}
	}
	e.do(http.MethodPost, "/api/v1/webhooks/st2", map[string]any{"trigger": trigger.SensorSpawn})

	var list []map[string]any
	resp := e.do(http.MethodGet, "/api/v1/triggerinstances?trigger_type=evpack.evt&limit=2", nil)
	resp.decode(t, &list)
	if resp.status != http.StatusOK || resp.header.Get("X-Total-Count") != "3" || len(list) != 2 {
		t.Fatalf("list: %d %v %s", resp.status, resp.header, resp.body)
	}
	first := list[0]
	if first["trigger"] != "evpack.evt" || first["status"] != "processed" || first["payload"].(map[string]any)["n"] != 3.0 {
		t.Errorf("newest instance %v", first)
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000000Z", first["occurrence_time"].(string)); err != nil {
		t.Errorf("occurrence_time not st2's format: %v", err)
	}
	for path, want := range map[string]string{
		"/api/v1/triggerinstances":                                       "4",
		"/api/v1/triggerinstances?trigger=evpack.evt":                    "3",
		"/api/v1/triggerinstances?status=pending":                        "0",
		"/api/v1/triggerinstances?timestamp_gt=2999-01-01T00:00:00Z":     "0",
		"/api/v1/triggerinstances?timestamp_lt=2999-01-01T00:00:00.000Z": "4",
		"/api/v1/triggerinstances?timestamp_gt=2000-01-01":               "4",
	} {
		if resp := e.do(http.MethodGet, path, nil); resp.status != http.StatusOK || resp.header.Get("X-Total-Count") != want {
			t.Errorf("%s: %d total %s, want %s", path, resp.status, resp.header.Get("X-Total-Count"), want)
		}
	}
	if resp := e.do(http.MethodGet, "/api/v1/triggerinstances?timestamp_gt=yesterday", nil); resp.status != http.StatusBadRequest {
		t.Errorf("bad timestamp: %d", resp.status)
	}
	if resp := e.do(http.MethodGet, "/api/v1/triggerinstances/"+catalog.NewID(), nil); resp.status != http.StatusNotFound {
		t.Errorf("unknown instance: %d", resp.status)
	}

	// Re-emit: a new instance of the same trigger, payload marked.
	id := first["id"].(string)
	resp = e.do(http.MethodPost, "/api/v1/triggerinstances/"+id+"/re_emit", nil)
	var re reEmitResponse
	resp.decode(t, &re)
	if resp.status != http.StatusOK || !catalog.IsID(re.TriggerInstanceID) || re.TriggerInstanceID == id ||
		!strings.Contains(re.Message, id) {
		t.Fatalf("re-emit: %d %s", resp.status, resp.body)
	}
	wantPayload := map[string]any{"n": 3.0, "__context": map[string]any{"original_id": id}}
	if !reflect.DeepEqual(re.Payload, wantPayload) {
		t.Errorf("re-emitted payload %v", re.Payload)
	}
	if ev := e.events.last(t); ev.TriggerType != "evpack.evt" || !reflect.DeepEqual(ev.Payload, wantPayload) {
		t.Errorf("re-emitted event %+v", ev)
	}
	resp = e.do(http.MethodGet, "/api/v1/triggerinstances/"+re.TriggerInstanceID, nil)
	if resp.status != http.StatusOK || !strings.Contains(string(resp.body), `"original_id":"`+id+`"`) {
		t.Errorf("re-emitted instance: %d %s", resp.status, resp.body)
	}
	if resp := e.do(http.MethodPost, "/api/v1/triggerinstances/"+catalog.NewID()+"/re_emit", nil); resp.status != http.StatusNotFound {
		t.Errorf("re-emit unknown: %d", resp.status)
	}
	e.events.fail(errors.New("down"))
	if resp := e.do(http.MethodPost, "/api/v1/triggerinstances/"+id+"/re_emit", nil); resp.status != http.StatusServiceUnavailable {
		t.Errorf("re-emit while ingest is down: %d %s", resp.status, resp.body)
	}
}

func TestEventRoutesWithoutIngest(t *testing.T) {
	t.Parallel()
	e := eventsEnv(t)
	e.srv.events = nil
	e.createRule(webhookRule("sample", "sample"))
	resp := e.post("/api/v1/webhooks/sample", "application/json", `{}`, nil)
	if resp.status != http.StatusServiceUnavailable || !strings.Contains(resp.fault(t), "not available") {
		t.Errorf("webhook without ingest: %d %s", resp.status, resp.body)
	}
}

func TestRuleEnforcements(t *testing.T) {
	t.Parallel()
	e := eventsEnv(t)
	ctx := context.Background()
	rule := e.createRule(webhookRule("sample", "sample"))
	t0 := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	var ids []string
	for i, rec := range []catalog.RuleEnforcement{
		{Rule: catalog.EnforcementRule{Ref: "default.sample", ID: rule["id"].(string)}, TriggerInstanceID: "ti1",
			ExecutionID: "ex1", Status: catalog.EnforcementSucceeded, EnforcedAt: t0},
		{Rule: catalog.EnforcementRule{Ref: "default.sample", ID: rule["id"].(string)}, TriggerInstanceID: "ti2",
			Status: catalog.EnforcementFailed, FailureReason: "boom", EnforcedAt: t0.Add(time.Hour)},
		{Rule: catalog.EnforcementRule{Ref: "other.rule"}, TriggerInstanceID: "ti2",
			ExecutionID: "ex3", Status: catalog.EnforcementSucceeded, EnforcedAt: t0.Add(2 * time.Hour)},
	} {
		got, _, err := e.store.RecordEnforcement(ctx, rec)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		ids = append(ids, got.ID)
	}
	for query, want := range map[string][]string{
		"":                                    {ids[2], ids[1], ids[0]},
		"rule_ref=default.sample":             {ids[1], ids[0]},
		"rule_id=" + rule["id"].(string):      {ids[1], ids[0]},
		"execution=ex3":                       {ids[2]},
		"trigger_instance=ti2":                {ids[2], ids[1]},
		"enforced_at_gt=2024-05-01T10:30:00Z": {ids[2], ids[1]},
		"enforced_at_gt=2024-05-01T10:30:00Z&enforced_at_lt=2024-05-01T11:30:00Z": {ids[1]},
		"enforced_at_gt=2024-05-01T09:00:00Z&limit=1&offset=1":                    {ids[1]},
	} {
		var got []map[string]any
		resp := e.do(http.MethodGet, "/api/v1/ruleenforcements?"+query, nil)
		resp.decode(t, &got)
		var gotIDs []string
		for _, g := range got {
			gotIDs = append(gotIDs, g["id"].(string))
		}
		if resp.status != http.StatusOK || !reflect.DeepEqual(gotIDs, want) {
			t.Errorf("?%s: %d %v, want %v", query, resp.status, gotIDs, want)
		}
	}
	resp := e.do(http.MethodGet, "/api/v1/ruleenforcements?enforced_at_gt=2024-05-01T09:00:00Z&limit=1", nil)
	if resp.header.Get("X-Total-Count") != "3" {
		t.Errorf("total with a time filter: %v", resp.header)
	}
	resp = e.do(http.MethodGet, "/api/v1/ruleenforcements/"+ids[1], nil)
	if resp.status != http.StatusOK {
		t.Fatalf("get: %d %s", resp.status, resp.body)
	}
	for _, want := range []string{`"ref":"default.sample"`, `"uid":"rule:default:sample"`, `"failure_reason":"boom"`,
		`"enforced_at":"2024-05-01T11:00:00.000000Z"`, `"trigger_instance_id":"ti2"`} {
		if !strings.Contains(string(resp.body), want) {
			t.Errorf("enforcement lacks %s: %s", want, resp.body)
		}
	}
	if resp := e.do(http.MethodGet, "/api/v1/ruleenforcements/"+catalog.NewID(), nil); resp.status != http.StatusNotFound {
		t.Errorf("unknown enforcement: %d", resp.status)
	}
	if resp := e.do(http.MethodGet, "/api/v1/ruleenforcements?enforced_at_lt="+url.QueryEscape("not a time"), nil); resp.status != http.StatusBadRequest {
		t.Errorf("bad time: %d", resp.status)
	}
}
