package server

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestRegisterCorpusPack(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := e.installCorpusPack("hello_st2")

	for _, entry := range []string{"hello_st2", dir} { // by name, then by absolute path
		resp := e.do(http.MethodPost, "/api/v1/packs/register", map[string]any{"packs": []string{entry}})
		if resp.status != http.StatusOK {
			t.Fatalf("register %s: %d %s", entry, resp.status, resp.body)
		}
		var got registerResponse
		resp.decode(t, &got)
		want := registerResponse{Runners: got.Runners, Actions: 1, Triggers: 1, Sensors: 1, Rules: 1, Aliases: 1, Policies: 2}
		if got != want || got.Runners < 5 {
			t.Errorf("register %s: %+v, want %+v", entry, got, want)
		}
	}

	tests := []struct {
		path      string
		wantTotal string
		contains  []string
	}{
		{"/api/v1/packs", "1", []string{`"ref":"hello_st2"`, `"uid":"pack:hello_st2"`, `"version":"0.1.0"`}},
		{"/api/v1/actions?pack=hello_st2", "1", []string{`"ref":"hello_st2.greet"`, `"uid":"action:hello_st2:greet"`, `"runner_type":"local-shell-script"`, `"position":1`}},
		{"/api/v1/actions?name=greet", "1", []string{`"ref":"hello_st2.greet"`}},
		{"/api/v1/actions?pack=other", "0", nil},
		{"/api/v1/rules", "1", []string{`"ref":"hello_st2.on_hello_event1"`, `"uid":"rule:hello_st2:on_hello_event1"`, `"trigger":{"type":"hello_st2.event1"`, `"ref":"hello_st2.event1"`}},
		{"/api/v1/rules?action=hello_st2.greet", "1", nil},
		{"/api/v1/rules?action=core.local", "0", nil},
		{"/api/v1/sensortypes", "1", []string{`"class_name":"HelloSensor"`, `"uid":"sensor_type:hello_st2:HelloSensor"`}},
		{"/api/v1/triggertypes?pack=hello_st2", "1", []string{`"ref":"hello_st2.event1"`, `"uid":"trigger_type:hello_st2:event1"`}},
		{"/api/v1/actionalias", "1", []string{`"action_ref":"hello_st2.greet"`, `"formats":["greet {{greeting}}"]`, `"uid":"action_alias:hello_st2:greet"`}},
		{"/api/v1/policies?pack=hello_st2", "2", []string{`"policy_type":"action.concurrency"`, `"resource_ref":"hello_st2.greet"`}},
		{"/api/v1/policies?name=greet.concurrency", "1", nil},
		{"/api/v1/runnertypes?name=local-shell-cmd", "1", []string{`"name":"local-shell-cmd"`, `"uid":"runner_type:local-shell-cmd"`, `"runner_parameters"`}},
	}
	for _, tt := range tests {
		resp := e.do(http.MethodGet, tt.path, nil)
		if resp.status != http.StatusOK {
			t.Errorf("GET %s: %d %s", tt.path, resp.status, resp.body)
			continue
		}
		if got := resp.header.Get("X-Total-Count"); got != tt.wantTotal {
			t.Errorf("GET %s: X-Total-Count %q, want %s", tt.path, got, tt.wantTotal)
		}
		if tt.wantTotal == "0" && string(resp.body) != "[]\n" {
			t.Errorf("GET %s: empty list is %q", tt.path, resp.body)
		}
		for _, want := range tt.contains {
			if !strings.Contains(string(resp.body), want) {
				t.Errorf("GET %s lacks %s: %s", tt.path, want, resp.body)
			}
		}
	}

	// Each kind by ref and by id; unknown refs are 404 in st2's words.
	var actions []actionResponse
	e.do(http.MethodGet, "/api/v1/actions", nil).decode(t, &actions)
	gets := []string{
		"/api/v1/packs/hello_st2", "/api/v1/actions/hello_st2.greet", "/api/v1/actions/" + actions[0].ID,
		"/api/v1/rules/hello_st2.on_hello_event1", "/api/v1/sensortypes/hello_st2.HelloSensor",
		"/api/v1/triggertypes/hello_st2.event1", "/api/v1/actionalias/hello_st2.greet",
		"/api/v1/policies/hello_st2.greet.concurrency", "/api/v1/runnertypes/local-shell-script",
		"/api/v1/runnertypes/" + runnerID("noop"),
	}
	for _, path := range gets {
		if resp := e.do(http.MethodGet, path, nil); resp.status != http.StatusOK || !strings.HasPrefix(string(resp.body), "{") {
			t.Errorf("GET %s: %d %s", path, resp.status, resp.body)
		}
	}
	for _, path := range []string{"/api/v1/packs/nope", "/api/v1/actions/nope.nope", "/api/v1/rules/a.b",
		"/api/v1/sensortypes/a.b", "/api/v1/triggertypes/a.b", "/api/v1/actionalias/a.b", "/api/v1/policies/a.b"} {
		resp := e.do(http.MethodGet, path, nil)
		if resp.status != http.StatusNotFound || !strings.Contains(resp.fault(t), "not found") {
			t.Errorf("GET %s: %d %s", path, resp.status, resp.body)
		}
	}
	if resp := e.do(http.MethodGet, "/api/v1/runnertypes/nope", nil); resp.status != http.StatusNotFound {
		t.Errorf("unknown runner: %d", resp.status)
	}

	// Unregister removes the pack and its content.
	if resp := e.do(http.MethodDelete, "/api/v1/packs/hello_st2", nil); resp.status != http.StatusNoContent {
		t.Fatalf("delete pack: %d %s", resp.status, resp.body)
	}
	for _, path := range []string{"/api/v1/packs", "/api/v1/actions", "/api/v1/rules"} {
		if got := e.do(http.MethodGet, path, nil).header.Get("X-Total-Count"); got != "0" {
			t.Errorf("after delete %s total %s", path, got)
		}
	}
	if resp := e.do(http.MethodDelete, "/api/v1/packs/hello_st2", nil); resp.status != http.StatusNotFound {
		t.Errorf("delete twice: %d", resp.status)
	}
}

func TestRegisterFailuresRegisterNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.installCorpusPack("hello_st2")
	bad := e.writePack("broken", map[string]string{
		"pack.yaml": "ref: broken\nname: broken\ndescription: d\nversion: 1.0.0\nauthor: me\n",
		"actions/bad.yaml": "name: bad\n" +
			"runner_type: local-shell-cmd\n" +
			"parameters:\n" +
			"  x: [unclosed\n",
		"actions/norunner.yaml": "name: norunner\nentry_point: ''\n",
	})

	tests := []struct {
		name  string
		packs []string
		want  []string
	}{
		{"bad pack with good pack", []string{"hello_st2", "broken"}, []string{"nothing was registered", bad + ": actions/bad.yaml:", bad + ": actions/norunner.yaml"}},
		{"unknown name", []string{"hello_st2", "nope"}, []string{`pack "nope": not found in packs paths`}},
		{"relative path", []string{"../etc"}, []string{"by name or by absolute directory"}},
		{"missing directory", []string{"/does/not/exist"}, []string{"/does/not/exist: no such file or directory"}},
	}
	for _, tt := range tests {
		resp := e.do(http.MethodPost, "/api/v1/packs/register", map[string]any{"packs": tt.packs})
		if resp.status != http.StatusBadRequest {
			t.Errorf("%s: %d %s", tt.name, resp.status, resp.body)
			continue
		}
		msg := resp.fault(t)
		for _, want := range tt.want {
			if !strings.Contains(msg, want) {
				t.Errorf("%s: faultstring lacks %q:\n%s", tt.name, want, msg)
			}
		}
	}
	// Every problem is reported with its line: "file:line: msg" per line.
	msg := e.do(http.MethodPost, "/api/v1/packs/register", map[string]any{"packs": []string{"broken"}}).fault(t)
	var withLine int
	for _, line := range strings.Split(msg, "\n")[1:] {
		rest := strings.TrimPrefix(line, bad+": ")
		if file, after, ok := strings.Cut(rest, ":"); ok && strings.HasPrefix(file, "actions/") && len(after) > 0 && after[0] >= '0' && after[0] <= '9' {
			withLine++
		}
	}
	if withLine == 0 {
		t.Errorf("no file:line problems in:\n%s", msg)
	}

	for _, path := range []string{"/api/v1/packs", "/api/v1/actions"} {
		if got := e.do(http.MethodGet, path, nil).header.Get("X-Total-Count"); got != "0" {
			t.Errorf("%s after failed registrations: total %s", path, got)
		}
	}

	// Without "packs", everything under the packs paths is loaded; the broken
	// pack still stops all of it.
	if resp := e.do(http.MethodPost, "/api/v1/packs/register", map[string]any{}); resp.status != http.StatusBadRequest {
		t.Errorf("register all with a broken pack: %d", resp.status)
	}
	if resp := e.do(http.MethodPost, "/api/v1/packs/register", map[string]any{"packs": []string{"hello_st2"}, "types": []string{"actions"}}); resp.status != http.StatusBadRequest {
		t.Errorf("partial types: %d", resp.status)
	}
}

func TestRegisterAllFromPacksPaths(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.installCorpusPack("hello_st2")
	e.writePack("mine", map[string]string{
		"pack.yaml":          "ref: mine\nname: mine\ndescription: d\nversion: 1.0.0\nauthor: me\n",
		"actions/hi.yaml":    "name: hi\nrunner_type: local-shell-script\nentry_point: hi.sh\n",
		"actions/hi.sh":      "#!/bin/sh\necho hi\n",
		"config.schema.yaml": "greeting:\n  type: string\n  default: hello\n",
	})
	resp := e.do(http.MethodPost, "/api/v1/packs/register", nil)
	if resp.status != http.StatusOK {
		t.Fatalf("register all: %d %s", resp.status, resp.body)
	}
	var got registerResponse
	resp.decode(t, &got)
	if got.Actions != 2 || got.Rules != 1 {
		t.Errorf("register all: %+v", got)
	}
	list := e.do(http.MethodGet, "/api/v1/packs?limit=1&offset=1", nil)
	if list.header.Get("X-Total-Count") != "2" || list.header.Get("X-Limit") != "1" || !strings.Contains(string(list.body), `"ref":"mine"`) {
		t.Errorf("paged packs: %v %s", list.header, list.body)
	}
}

func TestListPaging(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	files := map[string]string{"pack.yaml": "ref: many\nname: many\ndescription: d\nversion: 1.0.0\nauthor: me\n"}
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		files["actions/"+n+".yaml"] = "name: " + n + "\nrunner_type: noop\n"
	}
	e.writePack("many", files)
	if resp := e.do(http.MethodPost, "/api/v1/packs/register", map[string]any{"packs": []string{"many"}}); resp.status != http.StatusOK {
		t.Fatalf("register: %d %s", resp.status, resp.body)
	}
	tests := []struct {
		query     string
		status    int
		wantRefs  string
		wantLimit string
	}{
		{"", 200, "abcde", ""},
		{"?limit=2", 200, "ab", "2"},
		{"?limit=2&offset=2", 200, "cd", "2"},
		{"?offset=4", 200, "e", ""},
		{"?offset=9", 200, "", ""},
		{"?limit=-1", 200, "abcde", ""},
		{"?limit=-2", 400, "", ""},
		{"?limit=x", 400, "", ""},
		{"?offset=-1", 400, "", ""},
	}
	for _, tt := range tests {
		resp := e.do(http.MethodGet, "/api/v1/actions"+tt.query, nil)
		if resp.status != tt.status {
			t.Errorf("%s: %d %s", tt.query, resp.status, resp.body)
			continue
		}
		if tt.status != 200 {
			continue
		}
		var got []actionResponse
		resp.decode(t, &got)
		var names string
		for _, a := range got {
			names += a.Name
		}
		if names != tt.wantRefs || resp.header.Get("X-Total-Count") != "5" || resp.header.Get("X-Limit") != tt.wantLimit {
			t.Errorf("%s: names %q total %q limit %q", tt.query, names, resp.header.Get("X-Total-Count"), resp.header.Get("X-Limit"))
		}
	}
}

func TestBodyLimitAndMalformedJSON(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.MaxBodyBytes = 1024 })
	big := `{"packs": ["` + strings.Repeat("a", 2000) + `"]}`
	resp := e.do(http.MethodPost, "/api/v1/packs/register", big)
	if resp.status != http.StatusRequestEntityTooLarge || !strings.Contains(resp.fault(t), "1024 bytes") {
		t.Errorf("large body: %d %s", resp.status, resp.body)
	}
	// Without Content-Length the limit applies while reading.
	req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/api/v1/executions", &chunkedReader{data: []byte(big)})
	req.Header.Set("X-Auth-Token", e.token)
	req.ContentLength = -1
	if r := e.send(req); r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("large chunked body: %d %s", r.status, r.body)
	}

	for _, tt := range []struct{ path, body, want string }{
		{"/api/v1/packs/register", `{"packs": [`, "Failed to parse request body: unexpected end of JSON input"},
		{"/api/v1/executions", `{"action": 5}`, `Failed to parse request body: field "action"`},
		{"/api/v1/apikeys", `not json`, "Failed to parse request body: invalid character"},
	} {
		resp := e.do(http.MethodPost, tt.path, tt.body)
		if resp.status != http.StatusBadRequest || !strings.HasPrefix(resp.fault(t), tt.want) {
			t.Errorf("POST %s %s: %d %s", tt.path, tt.body, resp.status, resp.body)
		}
	}
}

// chunkedReader hides its length so the client sends a chunked body.
type chunkedReader struct {
	data []byte
}

func (r *chunkedReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}
