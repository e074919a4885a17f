package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestUserJourney is issue #2's "done means": log in, register a pack with a
// shell-cmd, a shell-script, a Python and an HTTP action, run each through
// the API and the CLI, watch output stream, cancel one, let one time out,
// kill -9 the worker during a 5-second action and see the execution finish.
func TestUserJourney(t *testing.T) {
	s := newStack(t)
	s.start("server", "server")
	s.start("worker-1", "worker")
	s.waitHealthy(60 * time.Second)
	a := s.login()

	// Every endpoint but health requires auth.
	for _, path := range []string{"/api/v1/actions", "/api/v1/executions", "/api/v1/packs", "/metrics"} {
		resp, err := http.Get(s.apiURL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Errorf("GET %s without auth: %d, want 401", path, resp.StatusCode)
		}
	}

	// The bundled core pack is registered at start.
	var core map[string]any
	if code := a.do("GET", "/api/v1/actions/core.local", nil, &core); code != 200 {
		t.Fatalf("core.local: %d", code)
	}

	// Register the test pack through the CLI, as `squall pack register <dir>`.
	if out, code := s.cli("login", adminUser, "-p", adminPassword); code != 0 {
		t.Fatalf("squall login: %d %s", code, out)
	}
	if _, err := os.Stat(filepath.Join(s.home, ".squall", "config")); err != nil {
		t.Fatalf("login did not save ~/.squall/config: %v", err)
	}
	if out, code := s.cli("pack", "register", repoPath(t, "e2e/testdata/e2epack")); code != 0 {
		t.Fatalf("squall pack register: %d %s", code, out)
	}

	t.Run("shell cmd via API, Jinja default, secret masked", func(t *testing.T) {
		ex := a.wait(a.run("e2e.greet", map[string]any{"name": "squall"}).ID, 30*time.Second)
		if ex.Status != "succeeded" || ex.Result["stdout"] != "hello squall" {
			t.Fatalf("greet: %+v", ex)
		}
		if ex.Parameters["token"] != "********" {
			t.Fatalf("secret not masked: %v", ex.Parameters)
		}
		if !strings.Contains(ex.WebURL, "/workflows/"+ex.ID) {
			t.Errorf("web_url %q does not point at the workflow", ex.WebURL)
		}
	})

	t.Run("invalid input is a 400 and starts nothing", func(t *testing.T) {
		var fault map[string]any
		code := a.do("POST", "/api/v1/executions", map[string]any{"action": "e2e.script", "parameters": map[string]any{"who": "x", "count": "many"}}, &fault)
		if code != 400 || !strings.Contains(fmt.Sprint(fault["faultstring"]), "count") {
			t.Fatalf("bad integer: %d %v", code, fault)
		}
		code = a.do("POST", "/api/v1/executions", map[string]any{"action": "e2e.greet", "parameters": map[string]any{"name": "x", "bogus": 1}}, &fault)
		if code != 400 || !strings.Contains(fmt.Sprint(fault["faultstring"]), "bogus") {
			t.Fatalf("unknown parameter: %d %v", code, fault)
		}
	})

	t.Run("shell script via CLI", func(t *testing.T) {
		out, code := s.cli("run", "e2e.script", "who=world", "count=3", "-j")
		if code != 0 {
			t.Fatalf("squall run: %d %s", code, out)
		}
		var ex execution
		if err := json.Unmarshal([]byte(out), &ex); err != nil {
			t.Fatalf("squall run -j output %q: %v", out, err)
		}
		stdout := fmt.Sprint(ex.Result["stdout"])
		if ex.Status != "succeeded" || !strings.Contains(stdout, "arg=world") || !strings.Contains(stdout, "arg=--count=3") {
			t.Fatalf("script: %+v", ex)
		}
	})

	t.Run("python action unchanged, via API and CLI", func(t *testing.T) {
		ex := a.wait(a.run("e2e.py", map[string]any{"n": 21}).ID, 60*time.Second)
		res, _ := ex.Result["result"].(map[string]any)
		if ex.Status != "succeeded" || res["double"] != float64(42) || res["greeting"] != "hello" {
			t.Fatalf("py: %+v", ex)
		}
		if !strings.Contains(fmt.Sprint(ex.Result["stdout"]), "stdout from python") {
			t.Errorf("py stdout: %v", ex.Result["stdout"])
		}
		out, code := s.cli("run", "e2e.py", "n=2", "fail=true", "-j")
		var failed execution
		_ = json.Unmarshal([]byte(out), &failed)
		if failed.Status != "failed" {
			t.Fatalf("(False, x) tuple must fail the execution: exit %d %s", code, out)
		}
	})

	t.Run("http request", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"ok": true}`)
		}))
		defer srv.Close()
		ex := a.wait(a.run("e2e.fetch", map[string]any{"url": srv.URL}).ID, 30*time.Second)
		body, _ := ex.Result["body"].(map[string]any)
		if ex.Status != "succeeded" || ex.Result["status_code"] != float64(200) || body["ok"] != true {
			t.Fatalf("fetch: %+v", ex)
		}
	})

	t.Run("unsupported runner fails clearly", func(t *testing.T) {
		ex := a.wait(a.run("e2e.orq", nil).ID, 30*time.Second)
		if ex.Status != "failed" || !strings.Contains(fmt.Sprint(ex.Result), "not supported") {
			t.Fatalf("orquesta: %+v", ex)
		}
	})

	t.Run("output streams while the action runs", func(t *testing.T) {
		ex := a.run("e2e.slow", map[string]any{"seconds": 3})
		lines := a.sseLines(ex.ID)
		select {
		case first := <-lines:
			var now execution
			a.do("GET", "/api/v1/executions/"+ex.ID, nil, &now)
			if !strings.Contains(first, "line 1") {
				t.Fatalf("first streamed output %q", first)
			}
			if isFinal(now.Status) {
				t.Fatalf("first line arrived only after the action ended (%s)", now.Status)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("no output streamed")
		}
		for range lines { // the stream ends when the execution does
		}
		done := a.wait(ex.ID, 30*time.Second)
		if done.Status != "succeeded" {
			t.Fatalf("slow: %+v", done)
		}
		req, _ := http.NewRequest("GET", a.base+"/api/v1/executions/"+ex.ID+"/output", nil)
		req.Header.Set("X-Auth-Token", a.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		_, _ = fmt.Fprint(&b, readAll(resp))
		if !strings.Contains(b.String(), "line 3") {
			t.Fatalf("output: %q", b.String())
		}
	})

	t.Run("20 MB of output", func(t *testing.T) {
		ex := a.wait(a.run("core.local", map[string]any{"cmd": "head -c 20000000 /dev/zero | tr '\\0' x"}).ID, 120*time.Second)
		if ex.Status != "succeeded" || ex.Result["stdout_truncated"] != true {
			t.Fatalf("big output: status %s, truncated %v", ex.Status, ex.Result["stdout_truncated"])
		}
		req, _ := http.NewRequest("GET", a.base+"/api/v1/executions/"+ex.ID+"/output", nil)
		req.Header.Set("X-Auth-Token", a.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if out := readAll(resp); len(out) != 20000000 || strings.Trim(out, "x") != "" {
			t.Fatalf("output: %d bytes", len(out))
		}
	})

	t.Run("cancel", func(t *testing.T) {
		ex := a.run("core.local", map[string]any{"cmd": "sleep 60"})
		waitStatus(t, a, ex.ID, "running", 20*time.Second)
		var canceling execution
		if code := a.do("DELETE", "/api/v1/executions/"+ex.ID, nil, &canceling); code != 200 {
			t.Fatalf("cancel: %d", code)
		}
		done := a.wait(ex.ID, 30*time.Second)
		if done.Status != "canceled" {
			t.Fatalf("after cancel: %+v", done)
		}
	})

	t.Run("timeout", func(t *testing.T) {
		ex := a.wait(a.run("core.local", map[string]any{"cmd": "sleep 30", "timeout": 1}).ID, 30*time.Second)
		if ex.Status != "timeout" {
			t.Fatalf("timeout: %+v", ex)
		}
	})

	t.Run("re-run", func(t *testing.T) {
		orig := a.wait(a.run("e2e.greet", map[string]any{"name": "first"}).ID, 30*time.Second)
		var again execution
		if code := a.do("POST", "/api/v1/executions/"+orig.ID+"/re_run", map[string]any{"parameters": map[string]any{"name": "second"}}, &again); code != 201 {
			t.Fatalf("re_run: %d %+v", code, again)
		}
		done := a.wait(again.ID, 30*time.Second)
		if done.Result["stdout"] != "hello second" {
			t.Fatalf("re-run: %+v", done)
		}
	})

	t.Run("list with filters", func(t *testing.T) {
		var list []execution
		if code := a.do("GET", "/api/v1/executions?action=e2e.greet&limit=50", nil, &list); code != 200 {
			t.Fatalf("list: %d", code)
		}
		for _, ex := range list {
			if ex.Action["ref"] != "e2e.greet" {
				t.Fatalf("filter leaked %v", ex.Action["ref"])
			}
		}
	})

	t.Run("worker killed mid-action: execution still finishes", func(t *testing.T) {
		ex := a.run("e2e.slow", map[string]any{"seconds": 5})
		waitStatus(t, a, ex.ID, "running", 20*time.Second)
		time.Sleep(1500 * time.Millisecond) // the action is now half-way
		s.kill("worker-1")
		s.start("worker-2", "worker")
		done := a.wait(ex.ID, 90*time.Second)
		if done.Status != "succeeded" {
			t.Fatalf("after worker kill: %+v", done)
		}
	})
}

func waitStatus(t *testing.T, a *api, id, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		var ex execution
		a.do("GET", "/api/v1/executions/"+id, nil, &ex)
		if ex.Status == want {
			return
		}
		if isFinal(ex.Status) {
			t.Fatalf("execution %s ended %s before reaching %s: %+v", id, ex.Status, want, ex)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("execution %s never reached %s", id, want)
}

func readAll(resp *http.Response) string {
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}
