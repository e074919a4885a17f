package server

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/squall-automation/squall/execution"
)

// secretPack has an action with a secret parameter (with a default), a
// secret nested in an object parameter, and a rule passing a secret.
var secretPack = map[string]string{
	"pack.yaml": "ref: sec\nname: sec\ndescription: d\nversion: 1.0.0\nauthor: me\n",
	"actions/deploy.yaml": `name: deploy
runner_type: local-shell-cmd
parameters:
  cmd:
    type: string
    default: echo deploy
  password:
    type: string
    secret: true
    default: hunter2
  target:
    type: string
  creds:
    type: object
    properties:
      user:
        type: string
      token:
        type: string
        secret: true
`,
	"rules/on_push.yaml": `name: on_push
pack: sec
trigger:
  type: core.st2.webhook
action:
  ref: sec.deploy
  parameters:
    password: "{{ st2kv.system.pw }}"
    target: prod
`,
}

func (e *env) registerSecretPack() {
	e.t.Helper()
	e.writePack("sec", secretPack)
	if resp := e.do(http.MethodPost, "/api/v1/packs/register", map[string]any{"packs": []string{"sec"}}); resp.status != http.StatusOK {
		e.t.Fatalf("register sec: %d %s", resp.status, resp.body)
	}
}

func TestSecretMasking(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.registerSecretPack()

	run := e.do(http.MethodPost, "/api/v1/executions", map[string]any{
		"action": "sec.deploy",
		"parameters": map[string]any{
			"password": "s3cret-pw", "target": "prod", "sudo_password": "s3cret-sudo",
			"creds": map[string]any{"user": "deployer", "token": "s3cret-token"},
		},
	})
	if run.status != http.StatusCreated {
		t.Fatalf("run: %d %s", run.status, run.body)
	}
	var ex execution.Execution
	run.decode(t, &ex)
	// The service received the real values.
	if got := e.execs.lastRun().Parameters["password"]; got != "s3cret-pw" {
		t.Fatalf("service got password %v", got)
	}

	for name, resp := range map[string]response{
		"POST answer":    run,
		"GET":            e.do(http.MethodGet, "/api/v1/executions/"+ex.ID, nil),
		"GET last":       e.do(http.MethodGet, "/api/v1/executions/last", nil),
		"list":           e.do(http.MethodGet, "/api/v1/executions", nil),
		"cancel":         e.do(http.MethodDelete, "/api/v1/executions/"+ex.ID, nil),
		"action":         e.do(http.MethodGet, "/api/v1/actions/sec.deploy", nil),
		"rule":           e.do(http.MethodGet, "/api/v1/rules/sec.on_push", nil),
		"rule list":      e.do(http.MethodGet, "/api/v1/rules?pack=sec", nil),
		"re_run":         e.do(http.MethodPost, "/api/v1/executions/"+ex.ID+"/re_run", map[string]any{}),
		"filtered list":  e.do(http.MethodGet, "/api/v1/executions?action=sec.deploy", nil),
		"actions list":   e.do(http.MethodGet, "/api/v1/actions?pack=sec", nil),
		"user filter":    e.do(http.MethodGet, "/api/v1/executions?user="+testUser, nil),
		"last (limit 1)": e.do(http.MethodGet, "/api/v1/executions?limit=1", nil),
	} {
		if resp.status >= 300 {
			t.Errorf("%s: %d %s", name, resp.status, resp.body)
			continue
		}
		body := string(resp.body)
		for _, secret := range []string{"s3cret-pw", "s3cret-sudo", "s3cret-token", "hunter2", "st2kv.system.pw"} {
			if strings.Contains(body, secret) {
				t.Errorf("%s shows %s: %s", name, secret, body)
			}
		}
		if !strings.Contains(body, `"********"`) {
			t.Errorf("%s has no masked value: %s", name, body)
		}
	}
	// Non-secret values stay visible.
	var got execution.Execution
	e.do(http.MethodGet, "/api/v1/executions/"+ex.ID, nil).decode(t, &got)
	creds, _ := got.Parameters["creds"].(map[string]any)
	if got.Parameters["target"] != "prod" || creds["user"] != "deployer" || creds["token"] != maskedValue ||
		got.Parameters["password"] != maskedValue || got.Parameters["sudo_password"] != maskedValue {
		t.Errorf("parameters: %v", got.Parameters)
	}
	var act actionResponse
	e.do(http.MethodGet, "/api/v1/actions/sec.deploy", nil).decode(t, &act)
	if act.Parameters["cmd"]["default"] != "echo deploy" || act.Parameters["password"]["default"] != maskedValue {
		t.Errorf("action parameter defaults: %v", act.Parameters)
	}
	// The catalog's copy is untouched by masking.
	rec, err := e.store.GetAction(t.Context(), "sec.deploy")
	if err != nil || rec.Parameters["password"]["default"] != "hunter2" {
		t.Errorf("catalog record changed: %v %v", rec.Parameters["password"], err)
	}
}

func TestExecutionHandlers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.registerSecretPack()

	// Run, with st2's optional fields.
	resp := e.doWith(http.MethodPost, "/api/v1/executions", map[string]any{
		"action": "sec.deploy", "parameters": map[string]any{"target": "a"}, "delay": 1500,
		"context": map[string]any{"source": "test"}, "notify": map[string]any{"on-complete": map[string]any{"routes": []string{"slack"}}},
	}, map[string]string{"X-Auth-Token": e.token, "St2-Context": `{"source": "header", "trace": "t1"}`})
	if resp.status != http.StatusCreated {
		t.Fatalf("run: %d %s", resp.status, resp.body)
	}
	var first execution.Execution
	resp.decode(t, &first)
	req := e.execs.lastRun()
	if req.User != testUser || req.Delay != 1500*time.Millisecond || req.Context["source"] != "test" ||
		req.Context["trace"] != "t1" || req.Notify == nil || req.Action != "sec.deploy" {
		t.Errorf("run request: %+v", req)
	}

	// Run as another user (st2 admins may; every Squall user is one).
	e.do(http.MethodPost, "/api/v1/executions", map[string]any{"action": "sec.deploy", "user": "bot"})
	if r := e.execs.lastRun(); r.User != "bot" || r.Context["api_user"] != testUser {
		t.Errorf("run as bot: %+v", r)
	}

	errorCases := []struct {
		name   string
		body   any
		status int
		fault  string
	}{
		{"missing action", map[string]any{"parameters": map[string]any{}}, 400, "'action' is a required property"},
		{"unknown action", map[string]any{"action": "nope.nope"}, 400, `Action "nope.nope" cannot be found.`},
		{"invalid input", map[string]any{"action": "sec.deploy", "parameters": map[string]any{"bogus": 1}}, 400, "Additional properties are not allowed"},
		{"negative delay", map[string]any{"action": "sec.deploy", "delay": -1}, 400, "delay must not be negative"},
		{"parameters not an object", map[string]any{"action": "sec.deploy", "parameters": []int{1}}, 400, `Failed to parse request body: field "parameters"`},
	}
	for _, tt := range errorCases {
		resp := e.do(http.MethodPost, "/api/v1/executions", tt.body)
		if resp.status != tt.status || !strings.HasPrefix(resp.fault(t), tt.fault) {
			t.Errorf("%s: %d %s", tt.name, resp.status, resp.body)
		}
	}
	if resp := e.doWith(http.MethodPost, "/api/v1/executions", map[string]any{"action": "sec.deploy"},
		map[string]string{"X-Auth-Token": e.token, "St2-Context": "{"}); resp.status != http.StatusBadRequest {
		t.Errorf("bad St2-Context: %d", resp.status)
	}

	// List: newest first, st2 headers, default limit 100.
	list := e.do(http.MethodGet, "/api/v1/executions", nil)
	var all []execution.Execution
	list.decode(t, &all)
	if len(all) != 2 || all[1].ID != first.ID || list.header.Get("X-Total-Count") != "2" || list.header.Get("X-Limit") != "100" {
		t.Errorf("list: %d items, headers %v", len(all), list.header)
	}
	if r := e.do(http.MethodGet, "/api/v1/executions?user=bot&limit=-1", nil); r.header.Get("X-Total-Count") != "1" {
		t.Errorf("user filter: %s", r.body)
	}

	// Get.
	if r := e.do(http.MethodGet, "/api/v1/executions/"+first.ID, nil); r.status != http.StatusOK {
		t.Errorf("get: %d", r.status)
	}
	r := e.do(http.MethodGet, "/api/v1/executions/0123456789abcdef01234567", nil)
	if r.status != http.StatusNotFound || r.fault(t) != `Unable to identify resource with id "0123456789abcdef01234567".` {
		t.Errorf("get unknown: %d %s", r.status, r.body)
	}

	// Re-run: 201, parameters overlaid, tasks refused.
	r = e.do(http.MethodPost, "/api/v1/executions/"+first.ID+"/re_run", map[string]any{"parameters": map[string]any{"target": "b"}})
	if r.status != http.StatusCreated {
		t.Fatalf("re_run: %d %s", r.status, r.body)
	}
	if got := e.execs.lastRun(); got.Parameters["target"] != "b" || got.User != testUser {
		t.Errorf("re_run request: %+v", got)
	}
	if r := e.do(http.MethodPost, "/api/v1/executions/"+first.ID+"/re_run", map[string]any{"tasks": []string{"t1"}}); r.status != http.StatusBadRequest {
		t.Errorf("re_run tasks: %d", r.status)
	}
	if r := e.do(http.MethodPost, "/api/v1/executions/0123456789abcdef01234567/re_run", map[string]any{}); r.status != http.StatusNotFound {
		t.Errorf("re_run unknown: %d", r.status)
	}

	// Cancel: 200 with the execution; again once canceled: 200; finished: 409.
	r = e.do(http.MethodDelete, "/api/v1/executions/"+first.ID, nil)
	var canceled execution.Execution
	r.decode(t, &canceled)
	if r.status != http.StatusOK || canceled.Status != execution.StatusCanceling {
		t.Errorf("cancel: %d %s", r.status, r.body)
	}
	e.execs.setStatus(first.ID, execution.StatusCanceled)
	if r := e.do(http.MethodDelete, "/api/v1/executions/"+first.ID, nil); r.status != http.StatusOK {
		t.Errorf("cancel canceled: %d %s", r.status, r.body)
	}
	e.execs.setStatus(first.ID, execution.StatusSucceeded)
	r = e.do(http.MethodDelete, "/api/v1/executions/"+first.ID, nil)
	if r.status != http.StatusConflict || r.fault(t) != "Action cannot be canceled. State = succeeded." {
		t.Errorf("cancel succeeded: %d %s", r.status, r.body)
	}
	if r := e.do(http.MethodDelete, "/api/v1/executions/0123456789abcdef01234567", nil); r.status != http.StatusNotFound {
		t.Errorf("cancel unknown: %d", r.status)
	}
}

func TestExecutionOutputText(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.registerSecretPack()
	var ex execution.Execution
	e.do(http.MethodPost, "/api/v1/executions", map[string]any{"action": "sec.deploy"}).decode(t, &ex)
	ctx := t.Context()
	for _, w := range []struct{ stream, data string }{{"stdout", "line 1\n"}, {"stderr", "oops\n"}, {"stdout", "line 2\n"}} {
		if err := e.store.AppendOutput(ctx, ex.ID, 1, w.stream, []byte(w.data)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		query  string
		status int
		want   string
	}{
		{"", 200, "line 1\noops\nline 2\n"},
		{"?output_type=all", 200, "line 1\noops\nline 2\n"},
		{"?output_type=stdout", 200, "line 1\nline 2\n"},
		{"?output_type=stderr", 200, "oops\n"},
		{"?output_type=both", 400, ""},
	} {
		resp := e.do(http.MethodGet, "/api/v1/executions/"+ex.ID+"/output"+tt.query, nil)
		if resp.status != tt.status {
			t.Errorf("%s: %d %s", tt.query, resp.status, resp.body)
			continue
		}
		if tt.status == 200 && (string(resp.body) != tt.want || !strings.HasPrefix(resp.header.Get("Content-Type"), "text/plain")) {
			t.Errorf("%s: %q (%s)", tt.query, resp.body, resp.header.Get("Content-Type"))
		}
	}
	if r := e.do(http.MethodGet, "/api/v1/executions/0123456789abcdef01234567/output", nil); r.status != http.StatusNotFound {
		t.Errorf("unknown execution: %d", r.status)
	}
}

// sseEvent is one parsed server-sent event.
type sseEvent struct {
	event, data string
	comment     bool
}

// readEvents parses an SSE stream strictly: each event is "event:" then
// "data:" lines closed by a blank line; comments are ": text" lines.
func readEvents(t *testing.T, r io.Reader, events chan<- sseEvent) {
	defer close(events)
	sc := bufio.NewScanner(r)
	var cur sseEvent
	var lines int
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if lines > 0 {
				events <- cur
			}
			cur, lines = sseEvent{}, 0
		case strings.HasPrefix(line, ": "):
			cur.comment = true
			lines++
		case strings.HasPrefix(line, "event: "):
			cur.event = strings.TrimPrefix(line, "event: ")
			lines++
		case strings.HasPrefix(line, "data: "):
			if cur.data != "" {
				t.Errorf("multi-line data in one event: %q", line)
			}
			cur.data = strings.TrimPrefix(line, "data: ")
			lines++
		default:
			t.Errorf("unexpected SSE line %q", line)
		}
	}
}

func TestStreamOutput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.registerSecretPack()
	e.srv.keepalive = 30 * time.Millisecond
	var ex execution.Execution
	e.do(http.MethodPost, "/api/v1/executions", map[string]any{"action": "sec.deploy"}).decode(t, &ex)
	e.execs.setStatus(ex.ID, execution.StatusRunning)
	ctx := t.Context()
	if err := e.store.AppendOutput(ctx, ex.ID, 1, "stdout", []byte("before\n")); err != nil {
		t.Fatal(err)
	}

	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.ts.URL+"/stream/v1/executions/"+ex.ID+"/output", nil)
	req.Header.Set("X-Auth-Token", e.token)
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream; charset=UTF-8" ||
		resp.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("stream: %d %v", resp.StatusCode, resp.Header)
	}
	events := make(chan sseEvent, 100)
	go readEvents(t, resp.Body, events)

	next := func() sseEvent {
		t.Helper()
		for {
			select {
			case ev, ok := <-events:
				if !ok {
					t.Fatal("stream closed early")
				}
				if ev.comment {
					continue
				}
				return ev
			case <-time.After(10 * time.Second):
				t.Fatal("no event within 10s")
			}
		}
	}
	checkOutput := func(ev sseEvent, stream, data string) {
		t.Helper()
		if ev.event != "st2.execution.output__create" {
			t.Fatalf("event %q, want output", ev.event)
		}
		var doc map[string]any
		if err := json.Unmarshal([]byte(ev.data), &doc); err != nil {
			t.Fatalf("data %q: %v", ev.data, err)
		}
		if doc["execution_id"] != ex.ID || doc["output_type"] != stream || doc["data"] != data ||
			doc["action_ref"] != "sec.deploy" || doc["runner_ref"] != "local-shell-cmd" {
			t.Errorf("event data %v", doc)
		}
		if _, err := time.Parse("2006-01-02T15:04:05.000000Z", doc["timestamp"].(string)); err != nil {
			t.Errorf("timestamp: %v", err)
		}
	}

	checkOutput(next(), "stdout", "before\n")
	// Output written while streaming arrives, newlines and all, in order.
	if err := e.store.AppendOutput(ctx, ex.ID, 1, "stderr", []byte("multi\nline\n")); err != nil {
		t.Fatal(err)
	}
	checkOutput(next(), "stderr", "multi\nline\n")
	// Idle: keepalive comments flow.
	deadline := time.After(5 * time.Second)
	for gotComment := false; !gotComment; {
		select {
		case ev := <-events:
			gotComment = ev.comment
			if !ev.comment {
				t.Fatalf("unexpected event while idle: %+v", ev)
			}
		case <-deadline:
			t.Fatal("no keepalive")
		}
	}
	// The last output and the final status: everything, then EOF, then the
	// server closes the stream.
	if err := e.store.AppendOutput(ctx, ex.ID, 1, "stdout", []byte("after\n")); err != nil {
		t.Fatal(err)
	}
	e.execs.setStatus(ex.ID, execution.StatusSucceeded)
	checkOutput(next(), "stdout", "after\n")
	if ev := next(); ev.event != "EOF" || ev.data != "''" {
		t.Errorf("last event %+v, want EOF", ev)
	}
	select {
	case _, ok := <-events:
		for ok {
			_, ok = <-events
		}
	case <-time.After(5 * time.Second):
		t.Fatal("stream not closed after EOF")
	}

	// A finished execution streams its stored output (filtered) and ends.
	body := e.do(http.MethodGet, "/stream/v1/executions/"+ex.ID+"/output?output_type=stderr", nil)
	want := "event: st2.execution.output__create\ndata: "
	if body.status != http.StatusOK || strings.Count(string(body.body), want) != 1 ||
		!strings.HasSuffix(string(body.body), "\n\nevent: EOF\ndata: ''\n\n") || !strings.Contains(string(body.body), `multi\nline\n`) {
		t.Errorf("finished stream: %d %q", body.status, body.body)
	}
	if r := e.do(http.MethodGet, "/stream/v1/executions/0123456789abcdef01234567/output", nil); r.status != http.StatusNotFound {
		t.Errorf("unknown execution: %d", r.status)
	}
}

func TestStreamEndsWhenClientLeaves(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.registerSecretPack()
	var ex execution.Execution
	e.do(http.MethodPost, "/api/v1/executions", map[string]any{"action": "sec.deploy"}).decode(t, &ex)
	e.execs.setStatus(ex.ID, execution.StatusRunning)

	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.ts.URL+"/stream/v1/executions/"+ex.ID+"/output", nil)
	req.Header.Set("X-Auth-Token", e.token)
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	waitInflight := func(want float64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			got := gaugeValue(t, e.srv.metrics.inflight)
			if got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("requests in flight %v, want %v", got, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitInflight(1)
	cancel()
	resp.Body.Close()
	// The handler notices and returns although the execution still runs.
	waitInflight(0)
}
