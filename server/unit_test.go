package server

import (
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/squall-automation/squall/execution"
	"github.com/squall-automation/squall/pack"
)

func gaugeValue(t *testing.T, g prometheus.Gauge) float64 {
	t.Helper()
	var m dto.Metric
	if err := g.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}

func TestParsePage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		query   string
		def     int
		want    page
		wantErr string
	}{
		{"", 100, page{Limit: 100}, ""},
		{"", 0, page{}, ""},
		{"limit=5&offset=10", 100, page{Limit: 5, Offset: 10}, ""},
		{"limit=-1", 100, page{Limit: 0}, ""},
		{"limit=0", 50, page{Limit: 50}, ""},
		{"limit=500", 100, page{Limit: 500}, ""},
		{"limit=-2", 100, page{}, `Limit, "-2" specified, must be a positive number.`},
		{"limit=1.5", 100, page{}, `Parameter "limit" is not of type integer`},
		{"limit=abc", 100, page{}, `Parameter "limit" is not of type integer`},
		{"offset=-3", 100, page{}, `Offset, "-3" specified, must be a positive number.`},
		{"offset=x", 100, page{}, `Parameter "offset" is not of type integer`},
		{"limit=99999999999999999999999", 100, page{}, `Parameter "limit" is out of range`},
	}
	e := echo.New()
	for _, tt := range tests {
		c := e.NewContext(httptest.NewRequest("GET", "/?"+tt.query, nil), httptest.NewRecorder())
		got, err := parsePage(c, tt.def)
		if tt.wantErr != "" {
			f, ok := err.(*fault)
			if !ok || f.Status != 400 || f.Msg != tt.wantErr {
				t.Errorf("%q: err %v, want 400 %q", tt.query, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q: %+v %v, want %+v", tt.query, got, err, tt.want)
		}
	}
}

func TestMaskParams(t *testing.T) {
	t.Parallel()
	specs := pack.ParamSpecs{
		"password": {"type": "string", "secret": true},
		"plain":    {"type": "string"},
		"obj": {"type": "object", "properties": map[string]any{
			"token": map[string]any{"secret": true},
			"inner": map[string]any{"type": "object", "properties": map[string]any{"key": map[string]any{"secret": true}}},
		}},
		"dict":  {"type": "object", "additionalProperties": map[string]any{"secret": true}},
		"list":  {"type": "array", "items": map[string]any{"type": "object", "properties": map[string]any{"pw": map[string]any{"secret": true}}}},
		"flags": {"type": "boolean", "secret": false},
	}
	in := map[string]any{
		"password": "p", "plain": "v", "unknown": "u", "flags": true,
		"obj":  map[string]any{"token": "t", "user": "me", "inner": map[string]any{"key": "k", "x": 1.0}},
		"dict": map[string]any{"a": "1", "b": "2"},
		"list": []any{map[string]any{"pw": "1", "name": "n"}, "scalar"},
	}
	want := map[string]any{
		"password": maskedValue, "plain": "v", "unknown": "u", "flags": true,
		"obj":  map[string]any{"token": maskedValue, "user": "me", "inner": map[string]any{"key": maskedValue, "x": 1.0}},
		"dict": map[string]any{"a": maskedValue, "b": maskedValue},
		"list": []any{map[string]any{"pw": maskedValue, "name": "n"}, "scalar"},
	}
	got := maskParams(in, specs)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("masked:\n got %v\nwant %v", got, want)
	}
	if in["password"] != "p" || in["obj"].(map[string]any)["token"] != "t" {
		t.Error("input modified")
	}
	if maskParams(nil, specs) != nil {
		t.Error("nil params")
	}
	// A secret whose value is null stays null: there is nothing to hide and
	// st2 shows null too.
	if got := maskParams(map[string]any{"password": nil}, specs); got["password"] != nil {
		t.Errorf("null secret: %v", got)
	}
}

func TestMaskExecution(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		ex      execution.Execution
		catalog pack.ParamSpecs
		want    map[string]any
	}{
		{
			"secret_parameters list (the execution service's memo)",
			execution.Execution{Action: map[string]any{"runner_type": "noop", "secret_parameters": []any{"pw"}}, Parameters: map[string]any{"pw": "x", "a": "b"}},
			nil,
			map[string]any{"pw": maskedValue, "a": "b"},
		},
		{
			"action parameter specs",
			execution.Execution{Action: map[string]any{"parameters": map[string]any{"pw": map[string]any{"secret": true}}}, Parameters: map[string]any{"pw": "x"}},
			nil,
			map[string]any{"pw": maskedValue},
		},
		{
			"runner parameter specs via the runner",
			execution.Execution{Runner: map[string]any{"name": "local-shell-cmd"}, Parameters: map[string]any{"sudo_password": "x", "cmd": "ls"}},
			nil,
			map[string]any{"sudo_password": maskedValue, "cmd": "ls"},
		},
		{
			"action may not unmask a runner secret by overriding other attributes",
			execution.Execution{Action: map[string]any{"runner_type": "local-shell-cmd", "parameters": map[string]any{"sudo_password": map[string]any{"default": "x"}}}, Parameters: map[string]any{"sudo_password": "y"}},
			nil,
			map[string]any{"sudo_password": maskedValue},
		},
		{
			"nested secret known only from the catalog's specs",
			execution.Execution{Action: map[string]any{"runner_type": "noop", "secret_parameters": []any{}}, Parameters: map[string]any{"o": map[string]any{"k": "x", "u": "y"}}},
			pack.ParamSpecs{"o": {"type": "object", "properties": map[string]any{"k": map[string]any{"secret": true}}}},
			map[string]any{"o": map[string]any{"k": maskedValue, "u": "y"}},
		},
		{
			"embedded specs cannot unmask a catalog secret",
			execution.Execution{Action: map[string]any{"parameters": map[string]any{"pw": map[string]any{"type": "string"}}}, Parameters: map[string]any{"pw": "x"}},
			pack.ParamSpecs{"pw": {"secret": true}},
			map[string]any{"pw": maskedValue},
		},
		{
			"unknown runner, nothing known",
			execution.Execution{Action: map[string]any{"runner_type": "nope"}, Parameters: map[string]any{"pw": "x"}},
			nil,
			map[string]any{"pw": "x"},
		},
	}
	for _, tt := range tests {
		ex := tt.ex
		maskExecution(&ex, tt.catalog)
		if !reflect.DeepEqual(ex.Parameters, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, ex.Parameters, tt.want)
		}
	}
}

func TestMaskSpecDefaults(t *testing.T) {
	t.Parallel()
	specs := pack.ParamSpecs{
		"pw":    {"type": "string", "secret": true, "default": "hunter2"},
		"plain": {"type": "string", "default": "v"},
		"obj":   {"type": "object", "default": map[string]any{"token": "t", "u": "me"}, "properties": map[string]any{"token": map[string]any{"secret": true}}},
		"nodef": {"type": "string", "secret": true},
	}
	got := maskSpecDefaults(specs)
	if got["pw"]["default"] != maskedValue || got["plain"]["default"] != "v" || got["nodef"]["default"] != nil {
		t.Errorf("defaults: %v", got)
	}
	if o := got["obj"]["default"].(map[string]any); o["token"] != maskedValue || o["u"] != "me" {
		t.Errorf("object default: %v", o)
	}
	if specs["pw"]["default"] != "hunter2" {
		t.Error("input modified")
	}
	if _, has := got["nodef"]["default"]; has {
		t.Error("default added where there was none")
	}
}
