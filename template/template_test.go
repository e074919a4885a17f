package template

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
)

func TestIsTemplate(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"plain", false},
		{"", false},
		{"{ not }", false},
		{`echo "{{message}}"`, true},
		{"{% if x %}y{% endif %}", true},
		{"{# comment #}", false}, // st2's check only knows {{ and {%
	}
	for _, tt := range tests {
		if got := IsTemplate(tt.in); got != tt.want {
			t.Errorf("IsTemplate(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestRender(t *testing.T) {
	ctx := map[string]any{
		"message": "hi",
		"n":       5,
		"f":       1.5,
		"b":       true,
		"list":    []any{"a", "b"},
		"obj":     map[string]any{"k": "v", "n": 2},
		"none":    nil,
	}
	tests := []struct {
		src, want string
	}{
		{`echo "{{message}}"`, `echo "hi"`},
		{"no markup {", "no markup {"},
		{"{{ n + 1 }}", "6"},
		{"{{ b }}", "True"},
		{"{{ list | join(',') }}", "a,b"},
		{"{{ obj.k }}", "v"},
		{"{% for x in list %}{{ x }}-{% endfor %}", "a-b-"},
		{"{% if n > 3 %}\nbig\n{% endif %}\n", "big\n"}, // trim_blocks
		{"  {% if b %}x{% endif %}", "x"},               // lstrip_blocks
		{"{{ missing | default('d') }}", "d"},
		{"{% if missing is defined %}y{% else %}n{% endif %}", "n"},
		{"{{ message | upper }}", "HI"},
		{"{{ obj | to_json_string }}", `{"k": "v","n": 2}`},
	}
	for _, tt := range tests {
		got, err := Render(tt.src, ctx)
		if err != nil {
			t.Errorf("Render(%q): %v", tt.src, err)
			continue
		}
		if got != tt.want {
			t.Errorf("Render(%q) = %q, want %q", tt.src, got, tt.want)
		}
	}
}

func TestRenderValue(t *testing.T) {
	ctx := map[string]any{
		"n":    5,
		"f":    1.5,
		"b":    false,
		"list": []any{"a", 1},
		"obj":  map[string]any{"k": "v"},
		"s":    "text",
		"nil":  nil,
	}
	tests := []struct {
		src  string
		want any
	}{
		{"{{ n }}", 5},
		{"{{ n * 2 }}", 10},
		{"{{ f }}", 1.5},
		{"{{ b }}", false},
		{"{{ list }}", []any{"a", 1}},
		{"{{ obj }}", map[string]any{"k": "v"}},
		{"{{ s }}", "text"},
		{"{{ nil }}", nil},
		{"{{ nil | use_none }}", nil},
		{"{{ n }} items", "5 items"},
		{" {{ n }}", " 5"},
		{"plain", "plain"},
		{"{{ 'yes' if b else 'no' }}", "no"},
		{`{{ '{"a": [1, 2]}' | from_json_string }}`, map[string]any{"a": []any{1, 2}}},
		{"{{ obj.k }}", "v"},
	}
	for _, tt := range tests {
		got, err := RenderValue(tt.src, ctx)
		if err != nil {
			t.Errorf("RenderValue(%q): %v", tt.src, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("RenderValue(%q) = %#v (%T), want %#v (%T)", tt.src, got, got, tt.want, tt.want)
		}
	}
}

func TestRenderValueDoesNotAliasContext(t *testing.T) {
	inner := map[string]any{"k": "v"}
	got, err := RenderValue("{{ obj }}", map[string]any{"obj": inner})
	if err != nil {
		t.Fatal(err)
	}
	got.(map[string]any)["k"] = "changed"
	if inner["k"] != "v" {
		t.Error("RenderValue returned the context's own map")
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		src      string
		wantLine int
		wantMsg  string // substring of Msg
	}{
		{"{{ x }", 1, `unexpected delimiter "}"`},
		{"line one\n{{ x ]] }}", 2, `unexpected delimiter "]"`},
		{"{{ }}", 1, "expected either a number, string, keyword or identifier"},
		{"{% for x in y %}", 1, "expected tag else or endfor"},
		{"{{ undefined_thing }}", 1, `"undefined_thing" is undefined`},
		{"a\n\n{{ obj.nope }}", 3, "attribute 'nope' not found"},
		{"{{ x | no_such_filter }}", 1, "filter 'no_such_filter' not found"},
		{`{% include "/etc/passwd" %}`, 1, "cannot include other templates"},
		{"{{ 'abc' | regex_substring('z') }}", 1, "no match number 0"},
		{"{{ '1.2' | version_bump_major }}", 1, "not a valid semantic version"},
	}
	for _, tt := range tests {
		_, err := Render(tt.src, map[string]any{"x": 1, "obj": map[string]any{}})
		var te *Error
		if !errors.As(err, &te) {
			t.Errorf("Render(%q): error %v is not a *template.Error", tt.src, err)
			continue
		}
		if te.Line != tt.wantLine || !strings.Contains(te.Msg, tt.wantMsg) {
			t.Errorf("Render(%q) = line %d %q; want line %d containing %q", tt.src, te.Line, te.Msg, tt.wantLine, tt.wantMsg)
		}
		if !strings.HasPrefix(err.Error(), "template error") {
			t.Errorf("Render(%q) error %q does not start with 'template error'", tt.src, err)
		}
	}
	// RenderValue reports the same errors for single expressions.
	_, err := RenderValue("{{ nope }}", nil)
	if err == nil || err.Error() != `template error at line 1: "nope" is undefined` {
		t.Errorf("RenderValue undefined: %v", err)
	}
}

func TestVariables(t *testing.T) {
	tests := []struct {
		src  string
		want []string
	}{
		{"plain", nil},
		{`echo "{{message}}"`, []string{"message"}},
		{"{{ a.b.c }} {{ d['e'] }}", []string{"a", "d"}},
		{"{{ x | default(y) | replace('a', z) }}", []string{"x", "y", "z"}},
		{"{{ x is defined }} {{ y is not none }}", []string{"x", "y"}},
		{"{% for i in items %}{{ i }}{{ loop.index }}{% endfor %}", []string{"items"}},
		{"{% for k, v in d.items() %}{{ k }}={{ v }}{% endfor %}", []string{"d"}},
		{"{% set t = a ~ b %}{{ t }}", []string{"a", "b"}},
		{"{% macro m(p, q=r) %}{{ p }}{{ q }}{{ s }}{% endmacro %}{{ m(1) }}", []string{"r", "s"}},
		{"{{ range(n) | list }}", []string{"n"}},
		{"{{ f(key=val) }}", []string{"f", "val"}},
		{"{{ 'yes' if cond else other }}", []string{"cond", "other"}},
		{"{{ st2kv.system.key }} {{ action_context.user }}", []string{"action_context", "st2kv"}},
		{"{{ true }} {{ none }} {{ [1, 2] }}", []string{}},
	}
	for _, tt := range tests {
		got, err := Variables(tt.src)
		if err != nil {
			t.Errorf("Variables(%q): %v", tt.src, err)
			continue
		}
		if len(got) == 0 && len(tt.want) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Variables(%q) = %v, want %v", tt.src, got, tt.want)
		}
	}
}

func TestCacheIsBoundedAndConcurrencySafe(t *testing.T) {
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 1500; i++ {
				src := fmt.Sprintf("{{ v }}-%d", i%700)
				got, err := Render(src, map[string]any{"v": w})
				if err != nil {
					t.Error(err)
					return
				}
				if want := fmt.Sprintf("%d-%d", w, i%700); got != want {
					t.Errorf("Render(%q) = %q, want %q", src, got, want)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	for i := 0; i < 3*cacheSize; i++ {
		if err := Check(fmt.Sprintf("{{ x }}%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	cache.mu.Lock()
	n := len(cache.cur) + len(cache.old)
	cache.mu.Unlock()
	if n > 2*cacheSize {
		t.Errorf("cache holds %d entries, bound is %d", n, 2*cacheSize)
	}
}

func BenchmarkRender(b *testing.B) {
	ctx := map[string]any{"message": "hello world"}
	src := `echo "{{message}}"`
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Render(src, ctx); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRenderValue(b *testing.B) {
	ctx := map[string]any{"hosts": []any{"a", "b", "c"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := RenderValue("{{ hosts }}", ctx); err != nil {
			b.Fatal(err)
		}
	}
}
