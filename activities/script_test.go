package activities

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestScriptArgs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		params     map[string]any
		positional []string
		kwargOp    string
		want       []string
	}{
		{name: "none", params: nil, kwargOp: "--", want: nil},
		{name: "named, sorted, with kwarg_op", kwargOp: "--",
			params: map[string]any{"b": "two words", "a": float64(1)},
			want:   []string{"--a=1", "--b=two words"}},
		{name: "custom kwarg_op", kwargOp: "-", params: map[string]any{"x": "y"}, want: []string{"-x=y"}},
		{name: "empty kwarg_op", kwargOp: "", params: map[string]any{"x": "y"}, want: []string{"x=y"}},
		{name: "None and empty string are skipped", kwargOp: "--",
			params: map[string]any{"n": nil, "e": "", "k": "v"}, want: []string{"--k=v"}},
		{name: "booleans are flags", kwargOp: "--",
			params: map[string]any{"yes": true, "no": false}, want: []string{"--yes"}},
		{name: "named values use Python str()", kwargOp: "--",
			params: map[string]any{
				"f":    1.5,
				"l":    []any{"a", float64(2), true, nil},
				"o":    map[string]any{"k": "v", "n": float64(1)},
				"q":    []any{"it's", `say "hi"`, "a\\b\n"},
				"big":  float64(1e20),
				"tiny": 0.00001,
			},
			want: []string{
				"--big=1e+20",
				"--f=1.5",
				"--l=['a', 2, True, None]",
				"--o={'k': 'v', 'n': 1}",
				`--q=["it's", 'say "hi"', 'a\\b\n']`,
				"--tiny=1e-05",
			}},
		{name: "shell metacharacters stay literal", kwargOp: "--",
			params: map[string]any{"x": "$(rm -rf /); `id` 'q'"}, want: []string{"--x=$(rm -rf /); `id` 'q'"}},
		{name: "positional after named, in position order", kwargOp: "--",
			params:     map[string]any{"p2": "second", "p1": "first", "named": "n"},
			positional: []string{"p1", "p2"},
			want:       []string{"--named=n", "first", "second"}},
		{name: "positional serialization", kwargOp: "--",
			params: map[string]any{
				"s": "a b", "n": float64(3), "f": 2.5, "t": true, "fa": false,
				"arr": []any{"x", "y", float64(1)}, "obj": map[string]any{"k": "<v>"},
				"empty_arr": []any{}, "empty_obj": map[string]any{}, "null": nil,
			},
			positional: []string{"s", "n", "f", "t", "fa", "arr", "obj", "empty_arr", "empty_obj", "null", "missing"},
			want:       []string{"a b", "3", "2.5", "1", "0", "x,y,1", `{"k":"<v>"}`, "", "", "", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := ScriptArgs(tt.params, tt.positional, tt.kwargOp)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ScriptArgs() =\n %q\nwant\n %q", got, tt.want)
			}
		})
	}
}

// writePack creates a pack directory with the given files (path -> content).
func writePack(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mypack")
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLocalShellScript(t *testing.T) {
	t.Parallel()
	pack := writePack(t, map[string]string{
		// Written without the exec bit: st2 chmods scripts before running them.
		"actions/args.sh":   "#!/bin/bash\nfor a in \"$@\"; do echo \"[$a]\"; done\necho \"pack=$ST2_ACTION_PACK_NAME\" >&2\n",
		"actions/nobang.sh": "echo no shebang \"$1\"\n",
		"actions/fail.sh":   "#!/bin/sh\necho bad >&2\nexit 4\n",
		"actions/json.sh":   "#!/bin/sh\necho '[1, 2]'\n",
		"secret.txt":        "not for actions\n",
	})
	outside := filepath.Join(filepath.Dir(pack), "outside.sh")
	if err := os.WriteFile(outside, []byte("#!/bin/sh\necho escaped\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(pack, "actions", "link.sh")); err != nil {
		t.Fatal(err)
	}

	req := func(entry string, params map[string]any, positional ...string) RunRequest {
		return RunRequest{
			ExecutionID: "exec-2", Runner: RunnerLocalShellScript, ActionRef: "mypack.act", Pack: "mypack",
			PackPath: pack, EntryPoint: entry, RunnerParams: map[string]any{"kwarg_op": "--"},
			ActionParams: params, PositionalOrder: positional,
		}
	}
	tests := []struct {
		name       string
		req        RunRequest
		wantStatus string
		wantStdout any
		wantStderr any
		wantError  string
	}{
		{name: "arguments", req: req("args.sh",
			map[string]any{"flag": true, "off": false, "msg": "a 'quoted' $HOME", "pos": "p 1", "list": []any{"x", "y"}}, "pos"),
			wantStatus: "succeeded",
			wantStdout: "[--flag]\n[--list=['x', 'y']]\n[--msg=a 'quoted' $HOME]\n[p 1]",
			wantStderr: "pack=mypack"},
		{name: "no shebang runs with sh", req: req("nobang.sh", map[string]any{"a": "b"}, "a"),
			wantStatus: "succeeded", wantStdout: "no shebang b", wantStderr: ""},
		{name: "failure", req: req("fail.sh", nil), wantStatus: "failed", wantStdout: "", wantStderr: "bad"},
		{name: "JSON output", req: req("json.sh", nil), wantStatus: "succeeded", wantStdout: []any{float64(1), float64(2)}, wantStderr: ""},
		{name: "escape with ..", req: req("../../outside.sh", nil), wantStatus: statusInvalid, wantError: "not located inside the pack"},
		{name: "escape with a symlink", req: req("link.sh", nil), wantStatus: statusInvalid, wantError: "not located inside the pack"},
		{name: "absolute path", req: req(outside, nil), wantStatus: statusInvalid, wantError: "must be relative"},
		{name: "missing", req: req("nope.sh", nil), wantStatus: statusInvalid, wantError: "does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := newRunners(t)
			res, err := run(t, r, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tt.wantStatus {
				t.Errorf("status = %q, want %q (%v)", res.Status, tt.wantStatus, res.Result)
			}
			if tt.wantError != "" {
				if e, _ := res.Result["error"].(string); !strings.Contains(e, tt.wantError) {
					t.Errorf("error = %q, want it to contain %q", e, tt.wantError)
				}
				return
			}
			if !reflect.DeepEqual(res.Result["stdout"], tt.wantStdout) {
				t.Errorf("stdout = %#v, want %#v", res.Result["stdout"], tt.wantStdout)
			}
			if !reflect.DeepEqual(res.Result["stderr"], tt.wantStderr) {
				t.Errorf("stderr = %#v, want %#v", res.Result["stderr"], tt.wantStderr)
			}
		})
	}
}

// The result must survive Temporal's JSON round trip unchanged in shape.
func TestRunResultJSON(t *testing.T) {
	t.Parallel()
	res := localResult(procOutcome{exitCode: 0, stdout: "12345678901234567890\n"}, 0)
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"stdout":12345678901234567890`) {
		t.Errorf("large integer stdout lost precision: %s", b)
	}
}

func TestPythonStr(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   any
		want string
	}{
		{"as is", "as is"},
		{float64(3), "3"},
		{math.Copysign(0, -1), "0"}, // JSON -0 is Python's int 0
		{2.5, "2.5"},
		{9.999999999999999e-05, "9.999999999999999e-05"},
		{float64(1e16), "1e+16"},
		{math.Inf(-1), "-inf"},
		{[]any{float64(1), map[string]any{"n": float64(2), "f": 0.5}}, "[1, {'f': 0.5, 'n': 2}]"},
	}
	for _, tt := range tests {
		if got := pythonStr(tt.in); got != tt.want {
			t.Errorf("pythonStr(%#v) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
