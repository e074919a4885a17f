package rules

import "testing"

func TestJSONPathFind(t *testing.T) {
	doc := map[string]any{"trigger": map[string]any{
		"list": []any{"a", "b", "c"},
		"obj":  map[string]any{"y": 2, "x": 1},
		"str":  "hey",
		"n":    7,
	}}
	tests := []struct {
		path    string
		want    []any
		wantErr bool
	}{
		{"trigger.list[0]", []any{"a"}, false},
		{"trigger.list[-1]", []any{"c"}, false},
		{"trigger.list[-4]", nil, true}, // IndexError, as jsonpath_rw's len() > index check lets it through
		{"trigger.list[3]", nil, false},
		{"trigger.list[*]", []any{"a", "b", "c"}, false},
		{"trigger.list[1:]", []any{"b", "c"}, false},
		{"trigger.list[:-1]", []any{"a", "b"}, false},
		{"trigger.obj[*]", []any{map[string]any{"y": 2, "x": 1}}, false}, // Slice wraps a dict in a list
		{"trigger.obj.*", []any{1, 2}, false},                            // all values, keys sorted
		{"trigger['obj']['x','y']", []any{1, 2}, false},
		{"trigger.str[1]", []any{"e"}, false},
		{"trigger.n[0]", nil, true},
		{"trigger.obj[0]", nil, true}, // KeyError: 0
		{"trigger.obj[5]", nil, false},
		{"trigger..x", []any{1}, false},
		{" trigger . obj . x ", []any{1}, false}, // the lexer skips blanks
	}
	for _, tc := range tests {
		jp, err := parsePath(tc.path)
		if err != nil {
			t.Errorf("parsePath(%q): %v", tc.path, err)
			continue
		}
		got, err := jp.find(doc)
		if (err != nil) != tc.wantErr {
			t.Errorf("%s: err = %v, wantErr %v", tc.path, err, tc.wantErr)
			continue
		}
		if !pyEqual(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
			t.Errorf("%s = %#v, want %#v", tc.path, got, tc.want)
		}
	}
	for _, bad := range []string{"", "trigger.", "trigger.0", "trigger[", "trigger['x'", "trigger.a b", "$.trigger"} {
		if _, err := parsePath(bad); err == nil {
			t.Errorf("parsePath(%q): want an error", bad)
		}
	}
}
