package runner

import (
	"encoding/json"
	"testing"
)

func TestListHasSt2RunnerTypes(t *testing.T) {
	want := []string{
		"local-shell-cmd", "local-shell-script", "remote-shell-cmd", "remote-shell-script",
		"python-script", "http-request", "noop", "action-chain", "orquesta", "inquirer",
		"announcement", "winrm-cmd", "winrm-ps-cmd", "winrm-ps-script",
	}
	got := Names()
	if len(got) != len(want) {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Names()[%d] = %q, want %q", i, got[i], want[i])
		}
	}
}

func TestSupported(t *testing.T) {
	want := map[string]bool{
		LocalShellCmd: true, LocalShellScript: true, Noop: true, HTTPRequest: true, PythonScript: true,
	}
	for _, typ := range List() {
		if typ.Supported != want[typ.Name] {
			t.Errorf("%s: Supported = %v, want %v", typ.Name, typ.Supported, want[typ.Name])
		}
		if !typ.Enabled {
			t.Errorf("%s: not enabled", typ.Name)
		}
		if typ.RunnerModule == "" || typ.Description == "" {
			t.Errorf("%s: runner_module or description empty", typ.Name)
		}
	}
}

func TestRunnerParameters(t *testing.T) {
	tests := []struct {
		runner, param, attr string
		want                any
	}{
		{"local-shell-cmd", "kwarg_op", "default", "--"},
		{"local-shell-cmd", "timeout", "default", 60},
		{"local-shell-cmd", "timeout", "type", "integer"},
		{"local-shell-cmd", "sudo", "default", false},
		{"local-shell-cmd", "sudo_password", "secret", true},
		{"local-shell-cmd", "sudo_password", "default", nil},
		{"local-shell-script", "debug", "default", false},
		{"remote-shell-cmd", "hosts", "required", true},
		{"remote-shell-cmd", "dir", "immutable", true},
		{"remote-shell-cmd", "parallel", "immutable", true},
		{"remote-shell-script", "private_key", "secret", true},
		{"python-script", "timeout", "default", 600},
		{"python-script", "log_level", "default", "DEBUG"},
		{"http-request", "url", "required", true},
		{"http-request", "verify_ssl_cert", "default", true},
		{"http-request", "password", "secret", true},
		{"action-chain", "display_published", "default", true},
		{"inquirer", "ttl", "default", 1440},
		{"inquirer", "schema", "required", true},
		{"announcement", "route", "default", "general"},
		{"announcement", "route", "maxLength", 255},
		{"winrm-cmd", "kwarg_op", "default", "-"},
		{"winrm-ps-cmd", "port", "default", 5986},
		{"winrm-ps-script", "transport", "default", "ntlm"},
	}
	for _, tt := range tests {
		typ, ok := Get(tt.runner)
		if !ok {
			t.Fatalf("Get(%q) not found", tt.runner)
		}
		spec, ok := typ.RunnerParameters[tt.param]
		if !ok {
			t.Errorf("%s: no parameter %q", tt.runner, tt.param)
			continue
		}
		got, ok := spec[tt.attr]
		if !ok {
			t.Errorf("%s.%s: no attribute %q", tt.runner, tt.param, tt.attr)
			continue
		}
		if got != tt.want {
			t.Errorf("%s.%s.%s = %#v, want %#v", tt.runner, tt.param, tt.attr, got, tt.want)
		}
	}
	noop, _ := Get("noop")
	if len(noop.RunnerParameters) != 0 {
		t.Errorf("noop has runner parameters: %v", noop.RunnerParameters)
	}
	py, _ := Get("python-script")
	if py.OutputKey != "result" {
		t.Errorf("python-script output_key = %q", py.OutputKey)
	}
}

func TestGetAliasAndUnknown(t *testing.T) {
	typ, ok := Get("http-runner")
	if !ok || typ.Name != "http-request" {
		t.Errorf("Get(http-runner) = %q, %v; want http-request", typ.Name, ok)
	}
	typ, ok = Get("orchestra")
	if !ok || typ.Name != "orquesta" {
		t.Errorf("Get(orchestra) = %q, %v; want orquesta", typ.Name, ok)
	}
	if _, ok := Get("run-anything"); ok {
		t.Error("Get(run-anything) found a runner")
	}
}

func TestGetReturnsPrivateCopies(t *testing.T) {
	a, _ := Get("local-shell-cmd")
	a.RunnerParameters["timeout"]["default"] = 1
	delete(a.RunnerParameters, "cmd")
	b, _ := Get("local-shell-cmd")
	if b.RunnerParameters["timeout"]["default"] != 60 {
		t.Error("changing one copy changed the registry")
	}
	if _, ok := b.RunnerParameters["cmd"]; !ok {
		t.Error("deleting from one copy changed the registry")
	}
}

func TestAPIShape(t *testing.T) {
	typ, _ := Get("local-shell-cmd")
	b, err := json.Marshal(typ.ToAPI("abc"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "uid", "name", "description", "enabled", "runner_module", "runner_parameters", "output_key", "output_schema"} {
		if _, ok := m[k]; !ok {
			t.Errorf("API JSON lacks %q: %s", k, b)
		}
	}
	if m["id"] != "abc" || m["uid"] != "runner_type:local-shell-cmd" {
		t.Errorf("id/uid = %v/%v", m["id"], m["uid"])
	}
	noop, _ := Get("noop")
	b, _ = json.Marshal(noop.ToAPI("x"))
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if rp, ok := m["runner_parameters"].(map[string]any); !ok || len(rp) != 0 {
		t.Errorf("noop runner_parameters = %#v, want {}", m["runner_parameters"])
	}
}
