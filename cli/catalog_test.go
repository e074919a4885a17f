package cli

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestActionListAndGet(t *testing.T) {
	a := newAPI(t)
	isolate(t, a.srv.URL)
	a.json("GET /api/v1/actions", 200, []any{
		map[string]any{"ref": "core.local", "pack": "core", "description": "Run a command\twith a tab"},
		map[string]any{"ref": "core.http", "pack": "core", "description": "HTTP request"},
	})
	a.json("GET /api/v1/actions/core.local", 200, map[string]any{
		"id": "a1", "ref": "core.local", "pack": "core", "name": "local", "enabled": true,
		"runner_type": "local-shell-cmd", "entry_point": "",
		"parameters": map[string]any{"cmd": map[string]any{"type": "string", "required": true}},
	})

	r := squall(t, "", "action", "list", "-p", "core")
	r.wantCode(t, 0)
	if q := a.only("GET", "/api/v1/actions").Query; q["pack"][0] != "core" {
		t.Errorf("query %v", q)
	}
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ref") || !strings.Contains(lines[1], "Run a command with a tab") {
		t.Errorf("table:\n%s", r.stdout)
	}

	r = squall(t, "", "action", "get", "core.local")
	r.wantCode(t, 0)
	mustContain(t, "stdout", r.stdout, "ref: core.local\n", "enabled: true\n", "runner_type: local-shell-cmd\n",
		"parameters:\n  cmd:\n    required: true\n    type: string\n")

	r = squall(t, "", "action", "get", "core.local", "-j")
	r.wantCode(t, 0)
	mustContain(t, "stdout", r.stdout, `"runner_type": "local-shell-cmd"`)
}

func TestPackCommands(t *testing.T) {
	a := newAPI(t)
	isolate(t, a.srv.URL)
	a.json("GET /api/v1/packs", 200, []any{
		map[string]any{"ref": "core", "name": "core", "description": "Basic core actions.", "version": "3.8.0", "author": "StackStorm"},
	})
	a.json("GET /api/v1/packs/core", 200, map[string]any{
		"ref": "core", "name": "core", "version": "3.8.0", "keywords": []any{"core", "utils"}, "path": "/opt/packs/core",
	})
	a.json("POST /api/v1/packs/register", 200, map[string]any{"actions": 12, "rules": 0, "packs": 2})

	r := squall(t, "", "pack", "list")
	r.wantCode(t, 0)
	mustContain(t, "stdout", r.stdout, "ref", "version", "3.8.0", "StackStorm")

	r = squall(t, "", "pack", "get", "core")
	r.wantCode(t, 0)
	mustContain(t, "stdout", r.stdout, "version: 3.8.0\n", "keywords:\n  - core\n  - utils\n", "path: /opt/packs/core\n")

	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "mypack"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	r = squall(t, "", "pack", "register", "mypack", "/srv/packs/other", "--types", "actions,rules")
	r.wantCode(t, 0)
	body := decodeBody(t, a.only("POST", "/api/v1/packs/register"))
	wantDirs := []any{filepath.Join(dir, "mypack"), "/srv/packs/other"}
	if !reflect.DeepEqual(body["packs"], wantDirs) || !reflect.DeepEqual(body["types"], []any{"actions", "rules"}) {
		t.Errorf("register body %v, want packs %v", body, wantDirs)
	}
	mustContain(t, "stdout", r.stdout, "actions   12", "packs     2")

	squall(t, "", "pack", "register").wantCode(t, 0)
	if body := decodeBody(t, a.requests("POST", "/api/v1/packs/register")[1]); len(body) != 0 {
		t.Errorf("register without dirs sent %v (the server should reload its packs paths)", body)
	}
}

func TestParseParams(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f.txt")
	if err := os.WriteFile(file, []byte("line1\nline2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, ref string
		args      []string
		want      map[string]any
		wantErr   string
	}{
		{name: "none", want: map[string]any{}},
		{name: "strings stay strings", args: []string{"n=1", "b=false", "arr=[1,2]", "o={\"a\":1}", "e="},
			want: map[string]any{"n": "1", "b": "false", "arr": "[1,2]", "o": `{"a":1}`, "e": ""}},
		{name: "first = splits", args: []string{"q=a=b"}, want: map[string]any{"q": "a=b"}},
		{name: "last wins", args: []string{"a=1", "a=2"}, want: map[string]any{"a": "2"}},
		{name: "cmd from the rest", args: []string{"timeout=5", "ls", "-l", "x=y"},
			want: map[string]any{"timeout": "5", "cmd": "ls -l x=y"}},
		{name: "file", args: []string{"@script=" + file}, want: map[string]any{"script": "line1\nline2\n"}},
		{name: "core.http file", ref: "core.http", args: []string{"@f=" + file, "method=PUT"},
			want: map[string]any{"file_content": "line1\nline2\n", "file_name": "f.txt", "method": "PUT"}},
		{name: "file is a directory", args: []string{"@x=" + dir}, wantErr: "is not a file"},
		{name: "no name", args: []string{"=v"}, wantErr: "no name"},
		{name: "no file name", args: []string{"@=v"}, wantErr: "no name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseParams(tc.args, tc.ref)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestInheritedEnv(t *testing.T) {
	got := inheritedEnv([]string{"PATH=/bin", "HOME=/root", "DEPLOY_ENV=prod", "Term=x", "A=b=c", "junk"})
	want := map[string]any{"DEPLOY_ENV": "prod", "A": "b=c"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestReadSSE(t *testing.T) {
	type ev struct{ event, data string }
	for _, tc := range []struct {
		name, in string
		want     []ev
		wantErr  error
	}{
		{name: "events then EOF", in: "event: a\ndata: 1\n\n: comment\n\nevent: b\ndata: x\ndata: y\n\nevent: EOF\ndata: ''\n\nevent: after\n\n",
			want: []ev{{"a", "1"}, {"b", "x\ny"}, {"EOF", "''"}}},
		{name: "CRLF and no space", in: "event:a\r\ndata:{\"k\":1}\r\n\r\nevent: EOF\r\n\r\n",
			want: []ev{{"a", `{"k":1}`}, {"EOF", ""}}},
		{name: "data without event is a message", in: "data: hi\n\nevent: EOF\n\n",
			want: []ev{{"message", "hi"}, {"EOF", ""}}},
		{name: "cut before EOF", in: "event: a\ndata: 1\n\nevent: b\ndata: 2", want: []ev{{"a", "1"}}, wantErr: ErrStreamInterrupted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []ev
			err := readSSE(strings.NewReader(tc.in), func(event, data string) (bool, error) {
				got = append(got, ev{event, data})
				return event == "EOF", nil
			})
			if err != tc.wantErr {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("events %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFormatStatus(t *testing.T) {
	for _, tc := range []struct {
		e    Execution
		want string
	}{
		{Execution{Status: "requested"}, "requested"},
		{Execution{Status: "succeeded", StartTimestamp: "2024-01-02T03:04:05Z", EndTimestamp: "2024-01-02T03:05:05.9Z"}, "succeeded (60s elapsed)"},
		{Execution{Status: "failed", StartTimestamp: "2024-01-02T03:04:05Z", ElapsedSeconds: 7.2}, "failed (7s elapsed)"},
		{Execution{Status: "running", StartTimestamp: "2024-01-02T03:04:05Z"}, "running (10s elapsed)"},
		{Execution{Status: "scheduled", StartTimestamp: "2024-01-02T03:04:05Z"}, "scheduled"},
		{Execution{Status: "timeout", StartTimestamp: "bad"}, "timeout"},
	} {
		now := time.Date(2024, 1, 2, 3, 4, 15, 0, time.UTC)
		if got := formatStatus(&tc.e, now); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.e, got, tc.want)
		}
	}
}
