package cli

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func init() { pollInterval = 10 * time.Millisecond }

func execution(id, status string, result any) map[string]any {
	e := map[string]any{
		"id":              id,
		"action":          map[string]any{"ref": "core.local", "runner_type": "local-shell-cmd"},
		"parameters":      map[string]any{"cmd": "echo hi", "password": "s3cret"},
		"status":          status,
		"start_timestamp": "2024-01-02T03:04:05.000000Z",
		"context":         map[string]any{"user": "stanley"},
		"future_field":    "kept in -j output",
	}
	if result != nil {
		e["end_timestamp"] = "2024-01-02T03:04:07.500000Z"
		e["result"] = result
	}
	return e
}

// serveLifecycle answers GET /api/v1/executions/{id} with running twice,
// then the final status.
func serveLifecycle(a *api, id, final string, result any) {
	var n atomic.Int32
	a.handle("GET /api/v1/executions/"+id, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= 2 {
			writeJSON(w, 200, execution(id, "running", nil))
			return
		}
		writeJSON(w, 200, execution(id, final, result))
	})
}

func TestRunWaitsAndPrintsResult(t *testing.T) {
	a := newAPI(t)
	isolate(t, a.srv.URL)
	t.Setenv("SQUALL_AUTH_TOKEN", "tok-env")
	a.json("POST /api/v1/executions", 201, execution("ex1", "requested", nil))
	serveLifecycle(a, "ex1", "succeeded", map[string]any{"stdout": "hi\n", "return_code": 0, "succeeded": true})

	r := squall(t, "", "run", "core.local", "count=3", "msg=a=b", "flag=true", "--delay", "1500",
		"--trace-tag", "deploy-42", "--", "echo", "hi", "there")
	r.wantCode(t, 0)

	req := a.only("POST", "/api/v1/executions")
	if got := req.Header.Get("X-Auth-Token"); got != "tok-env" {
		t.Errorf("X-Auth-Token = %q", got)
	}
	body := decodeBody(t, req)
	wantParams := map[string]any{"count": "3", "msg": "a=b", "flag": "true", "cmd": "echo hi there"}
	if !reflect.DeepEqual(body["parameters"], wantParams) {
		t.Errorf("parameters = %#v, want %#v (values stay strings; the server casts)", body["parameters"], wantParams)
	}
	if body["action"] != "core.local" || body["delay"] != float64(1500) {
		t.Errorf("body = %v", body)
	}
	if !reflect.DeepEqual(body["context"], map[string]any{"trace_context": map[string]any{"trace_tag": "deploy-42"}}) {
		t.Errorf("context = %v", body["context"])
	}
	if n := len(a.requests("GET", "/api/v1/executions/ex1")); n != 3 {
		t.Errorf("polled %d times, want 3 (until completed)", n)
	}
	mustContain(t, "stdout", r.stdout,
		"id: ex1\n", "action.ref: core.local\n", "context.user: stanley\n",
		"status: succeeded (2s elapsed)\n", "start_timestamp: Tue, 02 Jan 2024 03:04:05 UTC\n",
		"password: '********'", "result:\n  return_code: 0\n  stdout: |\n    hi\n  succeeded: true\n")
	if strings.Contains(r.stdout, "s3cret") {
		t.Errorf("password printed:\n%s", r.stdout)
	}
}

func TestRunExitCodeFollowsSt2(t *testing.T) {
	for _, tc := range []struct {
		status string
		code   int
	}{
		{"succeeded", 0},
		{"failed", 1},   // st2 run exits 1 only for failed
		{"timeout", 0},  // ... and 0 for the other final statuses
		{"canceled", 0}, //
	} {
		t.Run(tc.status, func(t *testing.T) {
			a := newAPI(t)
			isolate(t, a.srv.URL)
			a.json("POST /api/v1/executions", 201, execution("ex1", "scheduled", nil))
			serveLifecycle(a, "ex1", tc.status, map[string]any{"stderr": "boom"})
			r := squall(t, "", "run", "core.local", "cmd=false")
			r.wantCode(t, tc.code)
			mustContain(t, "stdout", r.stdout, "status: "+tc.status)
			if r.stderr != "" {
				t.Errorf("stderr = %q", r.stderr)
			}
		})
	}
}

func TestRunAsync(t *testing.T) {
	a := newAPI(t)
	isolate(t, a.srv.URL)
	a.json("POST /api/v1/executions", 201, execution("ex9", "requested", nil))

	r := squall(t, "", "run", "-a", "core.local", "cmd=date")
	r.wantCode(t, 0)
	mustContain(t, "stdout", r.stdout, "squall execution get ex9")

	r = squall(t, "", "run", "core.local", "cmd=date", "-a", "-j")
	r.wantCode(t, 0)
	mustContain(t, "stdout", r.stdout, `"id": "ex9"`, `"future_field": "kept in -j output"`)
	if n := len(a.requests("GET", "/api/v1/executions/ex9")); n != 0 {
		t.Errorf("-a polled %d times", n)
	}
}

func TestRunJSONAndKey(t *testing.T) {
	a := newAPI(t)
	isolate(t, a.srv.URL)
	a.json("POST /api/v1/executions", 201, execution("ex1", "requested", nil))
	serveLifecycle(a, "ex1", "succeeded", map[string]any{"stdout": "hi", "nested": map[string]any{"list": []any{"x", map[string]any{"y": 2}}}})

	r := squall(t, "", "run", "core.local", "-j")
	r.wantCode(t, 0)
	mustContain(t, "stdout", r.stdout, `"status": "succeeded"`, `"password": "s3cret"`)

	r = squall(t, "", "run", "core.local", "-k", "nested.list.1")
	r.wantCode(t, 0)
	if r.stdout != "{\n  \"y\": 2\n}\n" {
		t.Errorf("-k output %q", r.stdout)
	}
	r = squall(t, "", "run", "core.local", "-k", "stdout")
	if r.stdout != "hi\n" {
		t.Errorf("-k string output %q", r.stdout)
	}
}

func TestRunTailStreamsOutput(t *testing.T) {
	a := newAPI(t)
	isolate(t, a.srv.URL)
	a.json("POST /api/v1/executions", 201, execution("ex1", "running", nil))
	a.handle("GET /stream/v1/executions/ex1/output", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, ev := range []string{
			`{"execution_id":"ex1","output_type":"stdout","data":"line 1\n","timestamp":"t"}`,
			`{"execution_id":"ex1","output_type":"stderr","data":"warning\n","timestamp":"t"}`,
			`{"execution_id":"ex1","output_type":"stdout","data":"line 2\n","timestamp":"t"}`,
		} {
			fmt.Fprintf(w, "event: st2.execution.output__create\ndata: %s\n\n", ev)
			w.(http.Flusher).Flush()
		}
		fmt.Fprint(w, ": keep-alive\n\nevent: EOF\ndata: ''\n\n")
	})
	a.json("GET /api/v1/executions/ex1", 200, execution("ex1", "succeeded", map[string]any{"stdout": "line 1\nline 2\n"}))

	r := squall(t, "", "run", "core.local", "--tail")
	r.wantCode(t, 0)
	if !strings.HasPrefix(r.stdout, "line 1\nline 2\nid: ex1\n") {
		t.Errorf("stdout:\n%s", r.stdout)
	}
	mustContain(t, "stderr", r.stderr, "Tailing execution ex1", "warning\n")
	if got := a.only("GET", "/stream/v1/executions/ex1/output").Header.Get("Accept"); got != "text/event-stream" {
		t.Errorf("stream Accept = %q", got)
	}
}

func TestRunFileParameter(t *testing.T) {
	a := newAPI(t)
	isolate(t, a.srv.URL)
	a.json("POST /api/v1/executions", 201, execution("ex1", "requested", nil))
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "payload.json"), []byte(`{"a": 1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)

	squall(t, "", "run", "-a", "mypack.upload", "@body=payload.json", "mode=x").wantCode(t, 0)
	squall(t, "", "run", "-a", "core.http", "url=http://x", "@file=payload.json").wantCode(t, 0)
	r := squall(t, "", "run", "-a", "mypack.upload", "@body=missing.json")
	r.wantCode(t, 1)
	mustContain(t, "stderr", r.stderr, "ERROR: parameter body: file \"missing.json\" doesn't exist")

	reqs := a.requests("POST", "/api/v1/executions")
	if len(reqs) != 2 {
		t.Fatalf("%d runs, want 2 (the missing file must not start one)", len(reqs))
	}
	if got := decodeBody(t, reqs[0])["parameters"]; !reflect.DeepEqual(got, map[string]any{"body": `{"a": 1}`, "mode": "x"}) {
		t.Errorf("file parameter: %v", got)
	}
	want := map[string]any{"url": "http://x", "file_content": `{"a": 1}`, "file_name": "payload.json", "method": "POST"}
	if got := decodeBody(t, reqs[1])["parameters"]; !reflect.DeepEqual(got, want) {
		t.Errorf("core.http file parameter: %v, want %v", got, want)
	}
}

func TestAPIErrorIsPrintedAndExitsNonZero(t *testing.T) {
	a := newAPI(t)
	isolate(t, a.srv.URL)
	a.json("POST /api/v1/executions", 400, map[string]any{"faultstring": `Parameter "count" must be an integer`})
	r := squall(t, "", "run", "core.local", "count=x")
	r.wantCode(t, 1)
	if r.stderr != "ERROR: 400: Parameter \"count\" must be an integer\n" {
		t.Errorf("stderr = %q", r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("stdout = %q", r.stdout)
	}

	// Not JSON (a proxy, say): the body is the message.
	a.handle("GET /api/v1/executions/ex1", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream down", 502)
	})
	r = squall(t, "", "execution", "get", "ex1")
	r.wantCode(t, 1)
	if r.stderr != "ERROR: 502: upstream down\n" {
		t.Errorf("stderr = %q", r.stderr)
	}
}

func TestUsageErrorsExitTwo(t *testing.T) {
	isolate(t, "http://127.0.0.1:1") // nothing is contacted
	for _, args := range [][]string{
		{"run"},
		{"run", "core.local", "--no-such-flag"},
		{"run", "core.local", "=x"},
		{"execution", "get"},
		{"execution", "cancel"},
		{"execution", "tail", "x", "--type", "both"},
		{"apikey", "create", "-m", "not json"},
	} {
		r := squall(t, "", args...)
		if r.code != ExitUsage || !strings.HasPrefix(r.stderr, "ERROR: ") {
			t.Errorf("%v: code %d, stderr %q", args, r.code, r.stderr)
		}
	}
}

func TestExecutionList(t *testing.T) {
	a := newAPI(t)
	isolate(t, a.srv.URL)
	a.handle("GET /api/v1/executions", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Total-Count", "7")
		running := execution("ex2", "running", nil)
		running["start_timestamp"] = time.Now().Add(-5 * time.Second).UTC().Format(time.RFC3339Nano)
		writeJSON(w, 200, []any{running, execution("ex1", "succeeded", map[string]any{})})
	})

	r := squall(t, "", "execution", "list", "-a", "core.local", "-s", "running", "-u", "stanley", "-n", "2")
	r.wantCode(t, 0)
	q := a.requests("GET", "/api/v1/executions")[0].Query
	for k, v := range map[string]string{"action": "core.local", "status": "running", "user": "stanley", "limit": "2", "parent": "null"} {
		if got := q[k]; len(got) != 1 || got[0] != v {
			t.Errorf("query %s = %v, want %s", k, got, v)
		}
	}
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("table:\n%s", r.stdout)
	}
	for i, want := range [][]string{
		{"id", "action.ref", "context.user", "status", "start_timestamp", "end_timestamp"},
		{"ex1", "core.local", "stanley", "succeeded (2s elapsed)", "Tue, 02 Jan 2024 03:04:05 UTC"}, // oldest first
		{"ex2", "core.local", "stanley", "running ("},
	} {
		for _, cell := range want {
			if !strings.Contains(lines[i], cell) {
				t.Errorf("line %d lacks %q: %q", i, cell, lines[i])
			}
		}
	}
	mustContain(t, "stderr", r.stderr, "only the 2 most recent of 7 executions")

	r = squall(t, "", "execution", "list", "--showall", "-j")
	r.wantCode(t, 0)
	if q := a.requests("GET", "/api/v1/executions")[1].Query; q["parent"] != nil || q["limit"][0] != "50" {
		t.Errorf("--showall query: %v", q)
	}
	mustContain(t, "stdout", r.stdout, "[\n  {", `"future_field": "kept in -j output"`)
}

func TestExecutionGet(t *testing.T) {
	a := newAPI(t)
	isolate(t, a.srv.URL)
	a.json("GET /api/v1/executions/ex1", 200, execution("ex1", "failed", map[string]any{"stderr": "boom"}))
	a.json("GET /api/v1/executions/nope", 404, map[string]any{"faultstring": "Execution nope not found"})

	r := squall(t, "", "execution", "get", "ex1")
	r.wantCode(t, 0) // st2: get reports a failed execution, it does not fail
	mustContain(t, "stdout", r.stdout, "status: failed (2s elapsed)", "result:\n  stderr: boom")

	r = squall(t, "", "execution", "get", "nope")
	r.wantCode(t, 1)
	if r.stderr != "ERROR: 404: Execution nope not found\n" {
		t.Errorf("stderr = %q", r.stderr)
	}
}

func TestExecutionCancelContinuesPastErrors(t *testing.T) {
	a := newAPI(t)
	isolate(t, a.srv.URL)
	a.json("DELETE /api/v1/executions/ex1", 200, execution("ex1", "canceling", nil))
	a.json("DELETE /api/v1/executions/ex2", 404, map[string]any{"faultstring": "Execution ex2 not found"})
	a.json("DELETE /api/v1/executions/ex3", 200, execution("ex3", "canceled", nil))

	r := squall(t, "", "execution", "cancel", "ex1", "ex2", "ex3")
	r.wantCode(t, 1)
	mustContain(t, "stdout", r.stdout, "ex1: cancellation requested (status canceling)", "id ex3 canceled.")
	mustContain(t, "stderr", r.stderr, "ERROR: 404: Execution ex2 not found")
	a.only("DELETE", "/api/v1/executions/ex3")
}

func TestExecutionReRun(t *testing.T) {
	a := newAPI(t)
	isolate(t, a.srv.URL)
	a.json("POST /api/v1/executions/ex1/re_run", 201, execution("ex2", "requested", nil))
	serveLifecycle(a, "ex2", "succeeded", map[string]any{"stdout": "again"})

	r := squall(t, "", "execution", "re-run", "ex1", "cmd=echo again", "--tasks", "a,b")
	r.wantCode(t, 0)
	body := decodeBody(t, a.only("POST", "/api/v1/executions/ex1/re_run"))
	if !reflect.DeepEqual(body["parameters"], map[string]any{"cmd": "echo again"}) ||
		!reflect.DeepEqual(body["tasks"], []any{"a", "b"}) {
		t.Errorf("re_run body = %v", body)
	}
	mustContain(t, "stdout", r.stdout, "id: ex2", "stdout: again")

	r = squall(t, "", "execution", "re-run", "ex1", "-a")
	r.wantCode(t, 0)
	if body := decodeBody(t, a.requests("POST", "/api/v1/executions/ex1/re_run")[1]); !reflect.DeepEqual(body["parameters"], map[string]any{}) {
		t.Errorf("re-run without overrides sent parameters %v", body["parameters"])
	}
}

func TestExecutionTail(t *testing.T) {
	a := newAPI(t)
	isolate(t, a.srv.URL)
	a.json("GET /api/v1/executions", 200, []any{execution("ex7", "running", nil)})
	a.handle("GET /stream/v1/executions/ex7/output", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "event: st2.execution.output__create\r\ndata: {\"output_type\":\"stdout\",\"data\":\"partial\"}\r\n\r\n")
		fmt.Fprint(w, "event: st2.execution.output__create\ndata: {\"output_type\":\"stderr\",\"data\":\"oops\\n\"}\n\n")
		fmt.Fprint(w, "event: EOF\ndata: ''\n\n")
	})
	a.json("GET /api/v1/executions/ex7", 200, execution("ex7", "failed", map[string]any{}))

	r := squall(t, "", "execution", "tail", "last", "--type", "all")
	r.wantCode(t, 0)
	if r.stdout != "partial" {
		t.Errorf("stdout = %q: output must be printed as is", r.stdout)
	}
	if r.stderr != "oops\nExecution ex7 has completed (status=failed).\n" {
		t.Errorf("stderr = %q", r.stderr)
	}
	if q := a.only("GET", "/api/v1/executions").Query; q["limit"][0] != "1" {
		t.Errorf("last: query %v", q)
	}
	if q := a.only("GET", "/stream/v1/executions/ex7/output").Query; q["output_type"] != nil {
		t.Errorf("--type all sent output_type %v", q["output_type"])
	}

	r = squall(t, "", "execution", "tail", "ex7", "--type", "stderr")
	r.wantCode(t, 0)
	if q := a.requests("GET", "/stream/v1/executions/ex7/output")[1].Query; q["output_type"][0] != "stderr" {
		t.Errorf("--type stderr: query %v", q)
	}
}

func TestExecutionTailInterrupted(t *testing.T) {
	a := newAPI(t)
	isolate(t, a.srv.URL)
	a.handle("GET /stream/v1/executions/ex1/output", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "event: st2.execution.output__create\ndata: {\"output_type\":\"stdout\",\"data\":\"x\"}\n\n")
	})
	r := squall(t, "", "execution", "tail", "ex1")
	r.wantCode(t, 1)
	mustContain(t, "stderr", r.stderr, "ERROR: output stream ended before the execution completed")
}

func TestRunHelpDescribesAction(t *testing.T) {
	a := newAPI(t)
	isolate(t, a.srv.URL)
	a.json("GET /api/v1/actions/core.local", 200, map[string]any{
		"ref": "core.local", "description": "Action that executes an arbitrary Linux command on the localhost.",
		"runner_type": "local-shell-cmd",
		"parameters": map[string]any{
			"cmd":   map[string]any{"type": "string", "required": true, "description": "Arbitrary Linux command."},
			"sudo":  map[string]any{"immutable": true},
			"extra": map[string]any{"type": "string", "enum": []any{"a", "b"}, "default": "a"},
		},
	})
	a.json("GET /api/v1/runnertypes/local-shell-cmd", 200, map[string]any{
		"name": "local-shell-cmd",
		"runner_parameters": map[string]any{
			"sudo":    map[string]any{"type": "boolean", "default": false},
			"timeout": map[string]any{"type": "integer", "default": 60, "description": "Action timeout in seconds."},
		},
	})
	r := squall(t, "", "run", "core.local", "-h")
	r.wantCode(t, 0)
	want := "\nAction that executes an arbitrary Linux command on the localhost.\n\n" +
		"Required Parameters:\n    cmd\n        Arbitrary Linux command.\n        Type: string\n\n" +
		"Optional Parameters:\n    extra\n        Type: string\n        Enum: a, b\n        Default: a\n\n" +
		"    timeout\n        Action timeout in seconds.\n        Type: integer\n        Default: 60\n\n"
	if r.stdout != want {
		t.Errorf("help:\n%s\nwant:\n%s", r.stdout, want)
	}

	r = squall(t, "", "run", "-h")
	r.wantCode(t, 0)
	mustContain(t, "plain help", r.stdout, "Usage:", "--async")
}
