package activities

import (
	"os/exec"
	"reflect"
	"strings"
	"testing"
)

func TestPythonScript(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not installed")
	}
	pack := writePack(t, map[string]string{
		"actions/lib/helpers.py": "def shout(s):\n    return s.upper() + '!'\n",
		"lib/common.py":          "PREFIX = 'common'\n",
		"actions/hello.py": `import sys
from st2common.runners.base_action import Action
from helpers import shout
from common import PREFIX


class Hello(Action):
    def run(self, name, count=1):
        print("printing to stdout")
        self.logger.info("logging %s", name)
        return {"greeting": shout(self.config["greeting"] + " " + name), "count": count,
                "prefix": PREFIX, "big": 12345678901234567890}
`,
		"actions/tuple.py": `from st2common.runners.base_action import Action

class Tuple(Action):
    def run(self, ok):
        return (ok, "x")
`,
		"actions/raise.py": `from st2common.runners.base_action import Action

class Boom(Action):
    def run(self):
        print("before")
        raise RuntimeError("kaboom")
`,
		"actions/badstatus.py": `from st2common.runners.base_action import Action

class Bad(Action):
    def run(self):
        return ("yes", 1)
`,
		"actions/legacy.py": `from st2actions.runners.pythonrunner import Action

class Legacy(Action):
    def __init__(self, config):
        super(Legacy, self).__init__(config)

    def run(self):
        return self.config.get("greeting")
`,
		"actions/missingkey.py": `from st2common.runners.base_action import Action

class Missing(Action):
    def run(self):
        return self.config["nope"]
`,
		"actions/datastore.py": `from st2common.runners.base_action import Action

class DS(Action):
    def run(self):
        return self.action_service.get_value("k")
`,
		"actions/noclass.py": "x = 1\n",
		"actions/stdin.py": `import sys
from st2common.runners.base_action import Action

class Stdin(Action):
    def run(self):
        return sys.stdin.read()
`,
		"actions/sleep.py": `import time
from st2common.runners.base_action import Action

class Sleep(Action):
    def run(self):
        print("sleeping", flush=True)
        time.sleep(100)
`,
	})
	req := func(entry string, params map[string]any) RunRequest {
		return RunRequest{
			ExecutionID: "exec-3", Runner: RunnerPythonScript, ActionRef: "mypack.act", Pack: "mypack",
			PackPath: pack, EntryPoint: entry, ActionParams: params,
			Config: map[string]any{"greeting": "hello"},
		}
	}
	tests := []struct {
		name       string
		req        RunRequest
		wantStatus string
		wantResult any
		wantExit   float64
		stdoutHas  string
		stderrHas  string
		errorHas   string
	}{
		{name: "returns a value", req: req("hello.py", map[string]any{"name": "world", "count": float64(2)}),
			wantStatus: "succeeded",
			wantResult: map[string]any{"greeting": "HELLO WORLD!", "count": float64(2), "prefix": "common", "big": 1.2345678901234567e+19},
			stdoutHas:  "printing to stdout", stderrHas: "actions.python.Hello: INFO     logging world"},
		{name: "tuple False", req: req("tuple.py", map[string]any{"ok": false}), wantStatus: "failed", wantResult: "x"},
		{name: "tuple True", req: req("tuple.py", map[string]any{"ok": true}), wantStatus: "succeeded", wantResult: "x"},
		{name: "raises", req: req("raise.py", nil), wantStatus: "failed", wantResult: "None", wantExit: 1,
			stdoutHas: "before", stderrHas: "RuntimeError: kaboom"},
		{name: "non-boolean status", req: req("badstatus.py", nil), wantStatus: "failed", wantResult: "None",
			wantExit: invalidStatusExit, errorHas: "must either be True or False"},
		{name: "legacy import and constructor", req: req("legacy.py", nil), wantStatus: "succeeded", wantResult: "hello"},
		{name: "missing config key", req: req("missingkey.py", nil), wantStatus: "failed", wantResult: "None",
			wantExit: 1, stderrHas: `Config for pack "mypack" is missing key "nope"`},
		{name: "datastore not supported", req: req("datastore.py", nil), wantStatus: "failed", wantResult: "None",
			wantExit: 1, stderrHas: "not supported by Squall yet"},
		{name: "no action class", req: req("noclass.py", nil), wantStatus: "failed", wantResult: "None",
			wantExit: 1, stderrHas: "has no action class"},
		{name: "stdin is empty for the action", req: req("stdin.py", nil), wantStatus: "succeeded", wantResult: ""},
		{name: "timeout", req: func() RunRequest {
			r := req("sleep.py", nil)
			r.RunnerParams = map[string]any{"timeout": 1}
			return r
		}(), wantStatus: "timeout", wantResult: "None", wantExit: -9, stdoutHas: "sleeping",
			errorHas: "Action failed to complete in 1 seconds"},
		{name: "entry point outside the pack", req: req("../../x.py", nil), wantStatus: statusInvalid, errorHas: "not located inside the pack"},
	}
	r, _ := newRunners(t)
	if err := r.InstallShim(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := run(t, r, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tt.wantStatus {
				t.Errorf("status = %q, want %q (%v)", res.Status, tt.wantStatus, res.Result)
			}
			if e, _ := res.Result["error"].(string); !strings.Contains(e, tt.errorHas) {
				t.Errorf("error = %q, want it to contain %q", e, tt.errorHas)
			}
			if tt.wantResult == nil {
				return
			}
			if !reflect.DeepEqual(res.Result["result"], tt.wantResult) {
				t.Errorf("result = %#v, want %#v", res.Result["result"], tt.wantResult)
			}
			if res.Result["exit_code"] != tt.wantExit {
				t.Errorf("exit_code = %v, want %v", res.Result["exit_code"], tt.wantExit)
			}
			stdout, _ := res.Result["stdout"].(string)
			stderr, _ := res.Result["stderr"].(string)
			if !strings.Contains(stdout, tt.stdoutHas) {
				t.Errorf("stdout = %q, want it to contain %q", stdout, tt.stdoutHas)
			}
			if !strings.Contains(stderr, tt.stderrHas) {
				t.Errorf("stderr = %q, want it to contain %q", stderr, tt.stderrHas)
			}
			if strings.Contains(stdout, "greeting") {
				t.Errorf("the result leaked into stdout: %q", stdout)
			}
		})
	}
}
