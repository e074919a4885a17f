package pyfmt

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"math"
	"testing"
)

// Expected values are what Python 3 prints for the equivalent values.

func TestJSONSortKeys(t *testing.T) {
	t.Parallel()
	// json.dumps(v, sort_keys=True) and its MD5, which st2 hashes into
	// trigger uids.
	tests := []struct {
		in      any
		want    string
		wantMD5 string
	}{
		{map[string]any{}, `{}`, "99914b932bd37a50b983c5e7c90ae93b"},
		{map[string]any{"url": "my/hook"}, `{"url": "my/hook"}`, "d8abcd4400870a77e79bdbcbaf2526cb"},
		{
			map[string]any{"b": []any{int64(1), 2.0, nil, true}, "a": map[string]any{"z": "é\n\"x", "y": 1e-05}},
			`{"a": {"y": 1e-05, "z": "\u00e9\n\"x"}, "b": [1, 2.0, null, true]}`, "3d854d033b550452460b05341b4aba36",
		},
		{map[string]any{"delta": int64(30), "unit": "seconds"}, `{"delta": 30, "unit": "seconds"}`, "c7cf86e43a8afaa09bf8b322bb91eaf9"},
		{
			map[string]any{"x": 1e16, "y": 1e15, "z": 0.1, "e": "😀\x7f"},
			`{"e": "\ud83d\ude00\u007f", "x": 1e+16, "y": 1000000000000000.0, "z": 0.1}`, "66fc89796cf2a7e590775c85e8dc7fdc",
		},
	}
	for _, tt := range tests {
		got, err := JSON(tt.in, JSONOptions{})
		if err != nil || got != tt.want {
			t.Errorf("JSON(%v) = %s, %v, want %s", tt.in, got, err, tt.want)
			continue
		}
		sum := md5.Sum([]byte(got))
		if h := hex.EncodeToString(sum[:]); h != tt.wantMD5 {
			t.Errorf("md5(%s) = %s, want %s", got, h, tt.wantMD5)
		}
	}
}

func TestJSON(t *testing.T) {
	t.Parallel()
	obj := map[string]any{"b": []any{1, "x"}, "a": "é"}
	type point struct {
		X int     `json:"x"`
		Y float64 `json:"y"`
	}
	tests := []struct {
		name string
		in   any
		opts JSONOptions
		want string
	}{
		{"st2 to_json_string", obj, JSONOptions{ItemSep: ",", KeySep: ": "}, `{"a": "\u00e9","b": [1,"x"]}`},
		{"indent 2", obj, JSONOptions{Indent: new(2), ItemSep: ","}, "{\n  \"a\": \"\\u00e9\",\n  \"b\": [\n    1,\n    \"x\"\n  ]\n}"},
		{"indent 0 keeps the newlines", []any{1, map[string]any{"a": []any{}}}, JSONOptions{Indent: new(0)}, "[\n1,\n{\n\"a\": []\n}\n]"},
		{"negative indent is indent 0", []any{1, map[string]any{"a": []any{}}}, JSONOptions{Indent: new(-1)}, "[\n1,\n{\n\"a\": []\n}\n]"},
		{"item separator kept as given with indent", []any{1, 2}, JSONOptions{Indent: new(2), ItemSep: ", "}, "[\n  1, \n  2\n]"},
		{"float", 1.0, JSONOptions{}, "1.0"},
		{"specials", map[string]any{
			"1": 1, "b": math.NaN(), "c": math.Inf(1), "d": math.Inf(-1), "e": math.Copysign(0, -1),
			"f": 9.999999999999999e-05, "g": "\x00\x1f<>&\u2028",
		}, JSONOptions{}, `{"1": 1, "b": NaN, "c": Infinity, "d": -Infinity, "e": -0.0, "f": 9.999999999999999e-05, "g": "\u0000\u001f<>&\u2028"}`},
		{"json.Number and Go integers", []any{json.Number("12345678901234567890"), int8(-3), uint64(7)}, JSONOptions{}, "[12345678901234567890, -3, 7]"},
		{"struct through encoding/json", point{X: 4, Y: 2.5e-7}, JSONOptions{}, `{"x": 4, "y": 2.5e-07}`},
		{"int keys become strings", map[int]string{2: "b", 1: "a"}, JSONOptions{}, `{"1": "a", "2": "b"}`},
	}
	for _, tt := range tests {
		got, err := JSON(tt.in, tt.opts)
		if err != nil || got != tt.want {
			t.Errorf("%s: JSON = %q, %v, want %q", tt.name, got, err, tt.want)
		}
	}
	if _, err := JSON(map[string]any{"f": func() {}}, JSONOptions{}); err == nil {
		t.Error("JSON of a func succeeded")
	}
}

func TestFloat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   float64
		want string
	}{
		{2, "2.0"},
		{1.5, "1.5"},
		{float64(0.1) + float64(0.2), "0.30000000000000004"}, // typed: constants would fold to 0.3
		{1e-4, "0.0001"},
		{9.999999999999999e-05, "9.999999999999999e-05"}, // math.Log10 would say -4 here
		{1e-5, "1e-05"},
		{9999999999999998, "9999999999999998.0"},
		{1e15, "1000000000000000.0"},
		{1e16, "1e+16"},
		{1e22, "1e+22"},
		{123456789.123, "123456789.123"},
		{5e-324, "5e-324"},
		{math.MaxFloat64, "1.7976931348623157e+308"},
		{math.Copysign(0, -1), "-0.0"},
		{0, "0.0"},
		{math.Inf(1), "inf"},
		{math.Inf(-1), "-inf"},
		{math.NaN(), "nan"},
	}
	for _, tt := range tests {
		if got := Float(tt.in); got != tt.want {
			t.Errorf("Float(%v) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestReprAndStr(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in        any
		repr, str string
	}{
		{nil, "None", "None"},
		{"plain", "'plain'", "plain"},
		{[]string{"x"}, "['x']", "['x']"},
		{
			[]any{nil, true, false, 3, 1.5, 1e16, 1e-5, 9.999999999999999e-05, math.Inf(1), math.Inf(-1), math.NaN(), math.Copysign(0, -1), 2.0},
			"[None, True, False, 3, 1.5, 1e+16, 1e-05, 9.999999999999999e-05, inf, -inf, nan, -0.0, 2.0]", "",
		},
		{[]any{"a", int64(2), true, nil}, "['a', 2, True, None]", ""},
		{map[string]any{"k": "v", "n": int64(1)}, "{'k': 'v', 'n': 1}", ""},
		{[]any{"it's", `say "hi"`, "a\\b\n"}, `["it's", 'say "hi"', 'a\\b\n']`, ""},
		{
			map[string]any{"k": "it's", "q": `say "hi"`, "both": `a'b"c`, "esc": "a\\b\n\r\t\x00\x7f", "u": "\u00a0é\u3000\u200b😀\U000e0001"},
			`{'both': 'a\'b"c', 'esc': 'a\\b\n\r\t\x00\x7f', 'k': "it's", 'q': 'say "hi"', 'u': '\xa0é\u3000\u200b😀\U000e0001'}`, "",
		},
		{"bad \xff utf-8", `'bad \xff utf-8'`, "bad \xff utf-8"},
		{json.Number("12345678901234567890"), "12345678901234567890", ""},
	}
	for _, tt := range tests {
		if got := Repr(tt.in); got != tt.repr {
			t.Errorf("Repr(%#v) = %s, want %s", tt.in, got, tt.repr)
		}
		want := tt.str
		if want == "" {
			want = tt.repr
		}
		if got := Str(tt.in); got != want {
			t.Errorf("Str(%#v) = %s, want %s", tt.in, got, want)
		}
	}
}
