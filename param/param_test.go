package param_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/squall-automation/squall/pack"
	"github.com/squall-automation/squall/param"
	"github.com/squall-automation/squall/runner"
)

// corePack is the core pack bundled with Squall (StackStorm's own metadata).
const corePack = "../packs/core/actions"

// coreAction reads an action's parameters from the st2 core pack, the
// compatibility corpus, together with its runner's parameters.
func coreAction(tb testing.TB, file string) (runnerSpecs, actionSpecs pack.ParamSpecs) {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join(corePack, file))
	if err != nil {
		tb.Skipf("core pack not available: %v", err)
	}
	var meta struct {
		RunnerType string          `yaml:"runner_type"`
		Parameters pack.ParamSpecs `yaml:"parameters"`
	}
	if err := yaml.Unmarshal(data, &meta); err != nil {
		tb.Fatalf("%s: %v", file, err)
	}
	rt, ok := runner.Get(meta.RunnerType)
	if !ok {
		tb.Fatalf("%s: unknown runner %q", file, meta.RunnerType)
	}
	for name, spec := range meta.Parameters {
		if spec == nil {
			meta.Parameters[name] = map[string]any{}
		}
	}
	return rt.RunnerParameters, meta.Parameters
}

func TestResolveCoreActions(t *testing.T) {
	tests := []struct {
		name       string
		file       string
		live       map[string]any
		ctx        map[string]any
		wantRunner map[string]any
		wantAction map[string]any
	}{
		{
			name: "echo renders cmd default from message",
			file: "echo.yaml",
			live: map[string]any{"message": "hi"},
			wantRunner: map[string]any{
				"cmd": `echo "hi"`, "kwarg_op": "--", "sudo": false, "timeout": 60,
				"cwd": nil, "env": nil, "sudo_password": nil,
			},
			wantAction: map[string]any{"message": "hi"},
		},
		{
			name:       "local takes cmd and casts timeout from CLI string",
			file:       "local.yaml",
			live:       map[string]any{"cmd": "uname -a", "timeout": "30", "env": "A=1,B=x"},
			wantRunner: map[string]any{"cmd": "uname -a", "timeout": 30, "env": map[string]any{"A": "1", "B": "x"}, "sudo": false, "kwarg_op": "--"},
		},
		{
			name:       "live values are rendered with the other parameters and the context",
			file:       "local.yaml",
			live:       map[string]any{"cmd": "echo {{ action_context.user }} {{ cwd }}", "cwd": "/tmp"},
			ctx:        map[string]any{"action_context": map[string]any{"user": "stanley"}},
			wantRunner: map[string]any{"cmd": "echo stanley /tmp", "cwd": "/tmp"},
		},
		{
			name:       "a template referring only to unknown names is kept as written (st2)",
			file:       "local.yaml",
			live:       map[string]any{"cmd": "echo {{ nothing_known }}"},
			wantRunner: map[string]any{"cmd": "echo {{ nothing_known }}"},
		},
		{
			name:       "http casts number and boolean and object strings",
			file:       "http.yaml",
			live:       map[string]any{"url": "https://example.com", "timeout": "2.5", "verify_ssl_cert": "False", "headers": `{"X-A": "1"}`, "method": "POST"},
			wantRunner: map[string]any{"url": "https://example.com", "verify_ssl_cert": false, "headers": map[string]any{"X-A": "1"}, "allow_redirects": false},
			wantAction: map[string]any{"timeout": 2.5, "method": "POST", "body": nil},
		},
		{
			name:       "http default timeout is a number",
			file:       "http.yaml",
			live:       map[string]any{"url": "https://example.com"},
			wantAction: map[string]any{"timeout": 60.0},
		},
		{
			name:       "nil live value means the default",
			file:       "http.yaml",
			live:       map[string]any{"url": "https://example.com", "timeout": nil},
			wantAction: map[string]any{"timeout": 60.0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, as := coreAction(t, tt.file)
			got, err := param.Resolve(rs, as, tt.live, tt.ctx)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			for k, want := range tt.wantRunner {
				if v, ok := got.Runner[k]; !ok || !reflect.DeepEqual(v, want) {
					t.Errorf("Runner[%q] = %#v (present %v), want %#v", k, v, ok, want)
				}
			}
			for k, want := range tt.wantAction {
				if v, ok := got.Action[k]; !ok || !reflect.DeepEqual(v, want) {
					t.Errorf("Action[%q] = %#v (present %v), want %#v", k, v, ok, want)
				}
			}
			for k := range got.Action {
				if _, isRunner := rs[k]; isRunner {
					t.Errorf("runner parameter %q is in Action", k)
				}
			}
		})
	}
}

func TestResolveErrors(t *testing.T) {
	tests := []struct {
		name      string
		file      string
		live      map[string]any
		wantParam string
		wantMsg   string
	}{
		{"unknown parameter", "echo.yaml", map[string]any{"message": "x", "foo": 1}, "foo", "not defined by the action or its runner"},
		{"several unknown parameters", "echo.yaml", map[string]any{"message": "x", "foo": 1, "bar": 2}, "bar", `(nor is "foo")`},
		{"immutable from the action", "echo.yaml", map[string]any{"message": "x", "cmd": "rm -rf /"}, "cmd", "is immutable"},
		{"immutable runner attribute made immutable by the action", "echo.yaml", map[string]any{"message": "x", "sudo": true}, "sudo", "is immutable"},
		{"required missing", "echo.yaml", map[string]any{}, "message", "is required"},
		{"required given as null", "local.yaml", map[string]any{"cmd": nil}, "cmd", "is required"},
		{"integer cast", "local.yaml", map[string]any{"cmd": "ls", "timeout": "abc"}, "timeout", `"abc" is not a valid integer`},
		{"integer from a fraction", "local.yaml", map[string]any{"cmd": "ls", "timeout": 1.5}, "timeout", "1.5 is not a valid integer"},
		{"boolean cast", "http.yaml", map[string]any{"url": "u", "verify_ssl_cert": "yes"}, "verify_ssl_cert", `"yes" is not a valid boolean`},
		{"number cast", "http.yaml", map[string]any{"url": "u", "timeout": "soon"}, "timeout", `"soon" is not a valid number`},
		{"object cast", "http.yaml", map[string]any{"url": "u", "headers": "{not json"}, "headers", "is not a valid object"},
		{"enum", "http.yaml", map[string]any{"url": "u", "method": "FETCH"}, "method", `"FETCH" is not one of "HEAD", "GET"`},
		{"string type", "local.yaml", map[string]any{"cmd": 42}, "cmd", "42 is not a string"},
		{"object type", "local.yaml", map[string]any{"cmd": "ls", "env": []any{"a"}}, "env", "must be an object, not an array"},
		{"template syntax", "local.yaml", map[string]any{"cmd": "echo {{ x }"}, "cmd", `template error at line 1: unexpected delimiter "}"`},
		{"template render", "local.yaml", map[string]any{"cmd": "echo {{ cwd.missing }}", "cwd": "/tmp"}, "cmd", "cannot render"},
		{"mixed known and unknown variables", "local.yaml", map[string]any{"cmd": "{{ cwd }} {{ nope }}", "cwd": "/"}, "cmd", `refers to "nope"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, as := coreAction(t, tt.file)
			_, err := param.Resolve(rs, as, tt.live, nil)
			var pe *param.Error
			if !errors.As(err, &pe) {
				t.Fatalf("Resolve error = %v, want *param.Error", err)
			}
			if pe.Param != tt.wantParam || !strings.Contains(pe.Error(), tt.wantMsg) {
				t.Errorf("error = %q (param %q); want param %q and message containing %q", pe.Error(), pe.Param, tt.wantParam, tt.wantMsg)
			}
			if !strings.HasPrefix(pe.Error(), `parameter "`+tt.wantParam+`": `) {
				t.Errorf("error %q does not start with the parameter name", pe.Error())
			}
		})
	}
}

func TestResolveDependencies(t *testing.T) {
	runnerSpecs := pack.ParamSpecs{
		"cmd":     {"type": "string"},
		"timeout": {"type": "integer", "default": 60},
	}
	tests := []struct {
		name      string
		action    pack.ParamSpecs
		live      map[string]any
		want      map[string]any
		wantParam string
		wantMsg   string
	}{
		{
			name: "defaults chain in dependency order",
			action: pack.ParamSpecs{
				"a":   {"type": "string", "default": "{{ b }}-a"},
				"b":   {"type": "string", "default": "{{ c }}-b"},
				"c":   {"type": "string", "default": "c"},
				"cmd": {"default": "echo {{ a }}"},
			},
			live: map[string]any{},
			want: map[string]any{"a": "c-b-a", "b": "c-b", "cmd": "echo c-b-a"},
		},
		{
			name: "a lone expression keeps its type and is cast",
			action: pack.ParamSpecs{
				"hosts":   {"type": "array", "default": []any{"h1", "h2"}},
				"copy":    {"type": "array", "default": "{{ hosts }}"},
				"count":   {"type": "integer", "default": "{{ hosts | length }}"},
				"doubled": {"type": "integer", "default": "{{ timeout * 2 }}"},
				"text":    {"type": "string", "default": "{{ timeout }}"},
				"nested":  {"type": "object", "default": map[string]any{"first": "{{ hosts[0] }}", "all": "{{ hosts }}"}},
			},
			want: map[string]any{
				"copy": []any{"h1", "h2"}, "count": 2, "doubled": 120, "text": "60",
				"nested": map[string]any{"first": "h1", "all": []any{"h1", "h2"}},
			},
		},
		{
			name: "rendered text is cast to the declared type",
			action: pack.ParamSpecs{
				"n":    {"type": "integer", "default": "{{ timeout }}0"},
				"flag": {"type": "boolean", "default": "{{ 'true' if timeout > 10 else 'false' }}"},
			},
			want: map[string]any{"n": 600, "flag": true},
		},
		{
			name: "use_none renders a real null",
			action: pack.ParamSpecs{
				"opt":           {"type": "string", "default": "{{ missing_value | default(None) | use_none }}"},
				"cmd":           {"default": "x{{ opt }}"},
				"missing_value": {"type": "string"},
			},
			want: map[string]any{"opt": nil},
		},
		{
			name:   "live value overrides a templated default",
			action: pack.ParamSpecs{"a": {"type": "string", "default": "{{ cmd }}"}},
			live:   map[string]any{"a": "given", "cmd": "c"},
			want:   map[string]any{"a": "given"},
		},
		{
			name: "cycle is named",
			action: pack.ParamSpecs{
				"a": {"type": "string", "default": "{{ b }}"},
				"b": {"type": "string", "default": "{{ c }}"},
				"c": {"type": "string", "default": "{{ a }}"},
			},
			wantParam: "a",
			wantMsg:   "cyclic dependency between parameters: a -> b -> c -> a",
		},
		{
			name:      "self reference",
			action:    pack.ParamSpecs{"a": {"type": "string", "default": "x{{ a }}"}},
			wantParam: "a",
			wantMsg:   "refers to itself",
		},
		{
			name:      "validation keywords beyond type",
			action:    pack.ParamSpecs{"port": {"type": "integer", "minimum": 1, "maximum": 65535}},
			live:      map[string]any{"port": "70000"},
			wantParam: "port",
			wantMsg:   "70000 is greater than the maximum 65535",
		},
		{
			name: "nested required properties are enforced",
			action: pack.ParamSpecs{"obj": {"type": "object", "properties": map[string]any{
				"key": map[string]any{"type": "string", "required": true},
			}}},
			live:      map[string]any{"obj": map[string]any{"other": 1}},
			wantParam: "obj",
			wantMsg:   "missing property 'key'",
		},
		{
			name:      "array items are validated",
			action:    pack.ParamSpecs{"list": {"type": "array", "items": map[string]any{"type": "integer"}}},
			live:      map[string]any{"list": "[1, \"two\"]"},
			wantParam: "list",
			wantMsg:   "at 1: must be an integer, not a string",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			live := tt.live
			if live == nil {
				live = map[string]any{"cmd": "c"}
			}
			got, err := param.Resolve(runnerSpecs, tt.action, live, nil)
			if tt.wantMsg != "" {
				var pe *param.Error
				if !errors.As(err, &pe) {
					t.Fatalf("Resolve error = %v, want *param.Error", err)
				}
				if pe.Param != tt.wantParam || !strings.Contains(pe.Msg, tt.wantMsg) {
					t.Fatalf("error = %q (param %q); want param %q, message containing %q", pe.Error(), pe.Param, tt.wantParam, tt.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			all := map[string]any{}
			for k, v := range got.Runner {
				all[k] = v
			}
			for k, v := range got.Action {
				all[k] = v
			}
			for k, want := range tt.want {
				if !reflect.DeepEqual(all[k], want) {
					t.Errorf("%s = %#v (%T), want %#v (%T)", k, all[k], all[k], want, want)
				}
			}
		})
	}
}

func TestResolvePositionalSecretsAndSplit(t *testing.T) {
	rt, _ := runner.Get(runner.LocalShellScript)
	action := pack.ParamSpecs{
		"third":   {"type": "string", "position": 2, "default": "c"},
		"first":   {"type": "string", "position": 0, "default": "a"},
		"second":  {"type": "integer", "position": 1, "default": 2},
		"token":   {"type": "string", "secret": true},
		"named":   {"type": "string"},
		"timeout": {"default": 5}, // overrides the runner's default only
	}
	got, err := param.Resolve(rt.RunnerParameters, action, map[string]any{"token": "s3cret"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"first", "second", "third"}; !reflect.DeepEqual(got.Positional, want) {
		t.Errorf("Positional = %v, want %v", got.Positional, want)
	}
	if want := []string{"sudo_password", "token"}; !reflect.DeepEqual(got.Secrets, want) {
		t.Errorf("Secrets = %v, want %v", got.Secrets, want)
	}
	if got.Runner["timeout"] != 5 {
		t.Errorf("Runner[timeout] = %#v, want 5 (action default over runner default)", got.Runner["timeout"])
	}
	if _, ok := got.Action["timeout"]; ok {
		t.Error("timeout, a runner parameter, is in Action")
	}
	if got.Action["token"] != "s3cret" || got.Action["second"] != 2 {
		t.Errorf("Action = %#v", got.Action)
	}
	if v, ok := got.Action["named"]; !ok || v != nil {
		t.Errorf("declared parameter without value: Action[named] = %#v, present %v; want nil, present", v, ok)
	}
}

func TestResolveDoesNotModifyInputs(t *testing.T) {
	rs, as := coreAction(t, "local.yaml")
	headers := map[string]any{"a": "{{ cmd }}"}
	live := map[string]any{"cmd": "ls", "env": headers}
	got, err := param.Resolve(rs, as, live, nil)
	if err != nil {
		t.Fatal(err)
	}
	if headers["a"] != "{{ cmd }}" {
		t.Error("Resolve rendered the caller's map in place")
	}
	if got.Runner["env"].(map[string]any)["a"] != "ls" {
		t.Errorf("env = %#v", got.Runner["env"])
	}
	if _, ok := rs["sudo"]["immutable"]; ok {
		t.Error("Resolve merged action attributes into the runner's specs")
	}
}

func TestMerge(t *testing.T) {
	runnerSpecs := pack.ParamSpecs{"sudo": {"type": "boolean", "default": false, "description": "d"}}
	actionSpecs := pack.ParamSpecs{"sudo": {"immutable": true}, "x": {"type": "string"}}
	m := param.Merge(runnerSpecs, actionSpecs)
	want := map[string]any{"type": "boolean", "default": false, "description": "d", "immutable": true}
	if !reflect.DeepEqual(m["sudo"], want) {
		t.Errorf("merged sudo = %#v, want %#v", m["sudo"], want)
	}
	if len(runnerSpecs["sudo"]) != 3 {
		t.Error("Merge modified the runner specs")
	}
}

func TestCheckSpecs(t *testing.T) {
	rt, _ := runner.Get(runner.LocalShellCmd)
	tests := []struct {
		name    string
		action  pack.ParamSpecs
		wantMsg string // empty: valid
	}{
		{"core echo shape", pack.ParamSpecs{"message": {"type": "string", "required": true}, "cmd": {"type": "string", "default": `echo "{{message}}"`, "immutable": true}, "sudo": {"immutable": true}}, ""},
		{"type override", pack.ParamSpecs{"timeout": {"type": "string"}}, `the runner's "type" attribute cannot be overridden`},
		{"immutable without default", pack.ParamSpecs{"x": {"type": "string", "immutable": true}}, "needs a default value"},
		{"duplicate position", pack.ParamSpecs{"a": {"position": 0}, "b": {"position": 0}}, "positions must be unique"},
		{"gap in positions", pack.ParamSpecs{"a": {"position": 0}, "b": {"position": 2}}, "not contiguous"},
		{"unknown type", pack.ParamSpecs{"a": {"type": "str"}}, `type "str" is not a JSON schema type`},
		{"bad schema", pack.ParamSpecs{"a": {"type": "string", "minLength": "x"}}, "invalid JSON schema"},
		{"bad template default", pack.ParamSpecs{"a": {"type": "string", "default": "{{ x }"}}, "default: template error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := param.CheckSpecs(rt.RunnerParameters, tt.action)
			if tt.wantMsg == "" {
				if err != nil {
					t.Fatalf("CheckSpecs: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("CheckSpecs error = %v, want one containing %q", err, tt.wantMsg)
			}
			var pe *param.Error
			if !errors.As(err, &pe) {
				t.Errorf("error %v holds no *param.Error", err)
			}
		})
	}
}

func TestCheckSpecsCorePack(t *testing.T) {
	entries, err := os.ReadDir(corePack)
	if err != nil {
		t.Skipf("core pack not available: %v", err)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".yaml") {
			continue
		}
		rs, as := coreAction(t, e.Name())
		if err := param.CheckSpecs(rs, as); err != nil {
			t.Errorf("%s: %v", e.Name(), err)
		}
	}
}

func BenchmarkResolveCoreLocal(b *testing.B) {
	rs, as := coreAction(b, "local.yaml")
	live := map[string]any{"cmd": "uname -a", "timeout": "30"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := param.Resolve(rs, as, live, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkResolveCoreEcho(b *testing.B) {
	rs, as := coreAction(b, "echo.yaml")
	live := map[string]any{"message": "hello"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := param.Resolve(rs, as, live, nil); err != nil {
			b.Fatal(err)
		}
	}
}
