package template

import (
	"reflect"
	"testing"
)

func TestSt2Filters(t *testing.T) {
	ctx := map[string]any{
		"obj":  map[string]any{"b": []any{1, "x"}, "a": "é"},
		"path": "/opt/stackstorm/packs/core/",
		"file": "/opt/stackstorm/packs/core/pack.yaml",
		"secs": 3725,
		"ver":  "1.2.3",
	}
	tests := []struct {
		src, want string
	}{
		{"{{ obj | to_json_string }}", `{"a": "\u00e9","b": [1,"x"]}`},
		{"{{ obj | to_json_string(indent=2) }}", "{\n  \"a\": \"\\u00e9\",\n  \"b\": [\n    1,\n    \"x\"\n  ]\n}"},
		{"{{ 1.0 | to_json_string }}", "1.0"},
		{"{{ obj | to_yaml_string }}", "a: é\nb:\n  - 1\n  - x\n"},
		{`{{ ('{"k": [1, 2]}' | from_json_string).k[1] }}`, "2"},
		{`{{ ("k: v\nl: [a, b]" | from_yaml_string).l[0] }}`, "a"},
		{`{{ 'say "hi"\n' | json_escape }}`, `say \"hi\"\n`},
		{"{{ obj | to_complex }}", `{"a": "\u00e9", "b": [1, "x"]}`},
		{"{{ secs | to_human_time_from_seconds }}", "1h2m5s"},
		{"{{ 0 | to_human_time_from_seconds }}", "0s"},
		{"{{ 59 | to_human_time_from_seconds }}", "59s"},
		{"{{ 86401 | to_human_time_from_seconds }}", "1d0h0m1s"},
		{"{{ 0.5 | to_human_time_from_seconds }}", "0.5μs"},
		{"{{ 'v1.2.3' | regex_match('v\\\\d') }}", "True"},
		{"{{ 'xv1' | regex_match('v\\\\d') }}", "False"},
		{"{{ 'xv1' | regex_search('v\\\\d') }}", "True"},
		{"{{ 'ABC' | regex_match('abc', ignorecase=True) }}", "True"},
		{"{{ 'hello world' | regex_replace('(\\\\w+) (\\\\w+)', '\\\\2 \\\\1') }}", "world hello"},
		{"{{ 'a-b' | regex_replace('-', '$') }}", "a$b"},
		{"{{ 'v1 v22' | regex_substring('v(\\\\d+)', 1) }}", "22"},
		{"{{ 'v1 v22' | regex_substring('v\\\\d+') }}", "v1"},
		{"{{ file | basename }}", "pack.yaml"},
		{"{{ file | dirname }}", "/opt/stackstorm/packs/core"},
		{"{{ path | basename }}", ""},
		{"{{ path | dirname }}", "/opt/stackstorm/packs/core"},
		{"{{ '/' | dirname }}", "/"},
		{"{{ ver | version_compare('1.10.0') }}", "-1"},
		{"{{ ver | version_more_than('1.2.2') }}", "True"},
		{"{{ ver | version_less_than('1.2.3-rc.1') }}", "False"},
		{"{{ '1.0.0-alpha' | version_less_than('1.0.0-alpha.1') }}", "True"},
		{"{{ '1.0.0-alpha.beta' | version_less_than('1.0.0-beta') }}", "True"},
		{"{{ ver | version_equal('1.2.3+build.5') }}", "True"},
		{"{{ ver | version_match('>=1.2.0') }}", "True"},
		{"{{ ver | version_match('<1.2.0') }}", "False"},
		{"{{ ver | version_bump_major }}", "2.0.0"},
		{"{{ ver | version_bump_minor }}", "1.3.0"},
		{"{{ ver | version_bump_patch }}", "1.2.4"},
		{"{{ ver | version_strip_patch }}", "1.2"},
		{"{{ None | use_none }}", NoneMagicValue},
		{"{{ 'x' | use_none }}", "x"},
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

func TestRegexSubstringGroups(t *testing.T) {
	got, err := RenderValue("{{ 'a=1 b=2' | regex_substring('(\\\\w)=(\\\\d)', 1) }}", nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []any{"b", "2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v, want %#v", got, want)
	}
}

func TestFilterErrors(t *testing.T) {
	for _, src := range []string{
		"{{ 'x' | to_human_time_from_seconds }}",
		"{{ 'a' | regex_match('(?=x)') }}",
		"{{ 'not json' | from_json_string }}",
		"{{ '1.2.3' | version_match('1.2.3') }}",
		"{{ 'x' | regex_replace('a') }}",
	} {
		if _, err := Render(src, nil); err == nil {
			t.Errorf("Render(%q) succeeded, want an error", src)
		}
	}
}
