package rules

import (
	"testing"
	"time"
)

// fixedNow pins the clock the timediff operators read.
func fixedNow(t *testing.T, at time.Time) {
	t.Helper()
	prev := now
	now = func() time.Time { return at }
	t.Cleanup(func() { now = prev })
}

func TestOperatorRegistry(t *testing.T) {
	// st2common/operators.py registers 33 names: 19 operators, 13 aliases
	// and search.
	if got := len(OperatorNames()); got != 33 {
		t.Fatalf("OperatorNames() has %d names, want st2's 33: %v", got, OperatorNames())
	}
	aliases := map[string]string{
		"eq": "equals", "neq": "nequals", "ieq": "iequals", "lt": "lessthan", "gt": "greaterthan",
		"td_lt": "timediff_lt", "td_gt": "timediff_gt", "in": "inside", "nin": "ninside",
	}
	for short, long := range aliases {
		// Same behaviour: compare on a probe where the operator is true.
		fs, ok1 := Operator(short)
		fl, ok2 := Operator(long)
		if !ok1 || !ok2 {
			t.Fatalf("Operator(%q)/Operator(%q) not found", short, long)
		}
		if short == "td_lt" || short == "td_gt" || short == "in" || short == "nin" {
			continue // covered in the table below
		}
		a, _ := fs("b", "a")
		b, _ := fl("b", "a")
		if a != b {
			t.Errorf("%s and %s disagree", short, long)
		}
	}
	// get_operator lower-cases the name.
	if _, ok := Operator("EQUALS"); !ok {
		t.Error(`Operator("EQUALS") not found; st2's get_operator is case-insensitive`)
	}
	if _, ok := Operator("like"); ok {
		t.Error(`Operator("like") found; it is not an st2 operator`)
	}
}

func TestOperators(t *testing.T) {
	fixedNow(t, time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC))
	list := func(v ...any) []any { return v }
	obj := map[string]any{"k": 1}
	tests := []struct {
		op      string
		value   any
		pattern any
		want    bool
		wantErr bool
		why     string
	}{
		// equals / eq: Python ==, no coercion.
		{"equals", "st2", "st2", true, false, ""},
		{"eq", "st2", "st3", false, false, ""},
		{"equals", int64(1), 1.0, true, false, "1 == 1.0 in Python"},
		{"equals", true, 1, true, false, "bool is an int subclass: True == 1"},
		{"equals", "1", 1, false, false, "no type coercion: '1' != 1"},
		{"equals", nil, nil, false, false, "pattern None returns False before comparing"},
		{"equals", list(1, "a"), list(1.0, "a"), true, false, "lists compare element-wise"},
		{"equals", map[string]any{"a": 1}, map[string]any{"a": 1.0}, true, false, "dicts compare by value"},
		// nequals / neq: no None guard.
		{"nequals", "a", "b", true, false, ""},
		{"neq", "a", "a", false, false, ""},
		{"nequals", nil, nil, false, false, "None != None is False"},
		{"nequals", "a", nil, true, false, "no None guard: 'a' != None"},
		// iequals / ieq: both sides .lower().
		{"iequals", "ST2", "st2", true, false, ""},
		{"ieq", "ST2", "st3", false, false, ""},
		{"iequals", 1, "1", false, true, "int has no .lower(): AttributeError"},
		{"iequals", nil, "x", false, true, "missing key: None has no .lower()"},
		{"iequals", "x", nil, false, false, "pattern None guard"},
		// contains: `pattern in value`.
		{"contains", "hello world", "world", true, false, "substring on strings"},
		{"contains", list("a", "b"), "a", true, false, "membership on lists"},
		{"contains", list(1, 2), 1.0, true, false, "list membership uses =="},
		{"contains", list("ab"), "a", false, false, "membership, not substring, on lists"},
		{"contains", obj, "k", true, false, "key test on dicts"},
		{"contains", obj, list(1), false, true, "unhashable type: 'list'"},
		{"contains", "abc", 1, false, true, "'in <string>' requires string as left operand"},
		{"contains", nil, "a", false, true, "argument of type 'NoneType' is not iterable"},
		{"contains", 12, "1", false, true, "argument of type 'int' is not iterable"},
		{"contains", "abc", nil, false, false, "pattern None guard"},
		// icontains: lower() on both, so strings only.
		{"icontains", "Hello", "HELLO", true, false, ""},
		{"icontains", list("a"), "a", false, true, "list has no .lower()"},
		// ncontains: `pattern not in value`, but a None pattern is still False.
		{"ncontains", "abc", "d", true, false, ""},
		{"ncontains", list("a"), "a", false, false, ""},
		{"ncontains", "abc", nil, false, false, "None guard returns False even for a negative operator"},
		{"ncontains", nil, "a", false, true, "None is not iterable"},
		// incontains.
		{"incontains", "abc", "B", false, false, ""},
		{"incontains", "abc", "D", true, false, ""},
		// startswith / istartswith / endswith / iendswith.
		{"startswith", "foobar", "foo", true, false, ""},
		{"startswith", "foobar", "Foo", false, false, "case-sensitive"},
		{"startswith", 5, "5", false, true, "int has no .startswith()"},
		{"startswith", "5", 5, false, true, "startswith arg must be str"},
		{"istartswith", "FooBar", "foo", true, false, ""},
		{"endswith", "foobar", "bar", true, false, ""},
		{"endswith", "foobar", "BAR", false, false, ""},
		{"iendswith", "fooBAR", "bar", true, false, ""},
		{"iendswith", nil, "bar", false, true, ""},
		// lessthan / lt, greaterthan / gt: Python 3 ordering, no coercion.
		{"lessthan", 1, 2, true, false, ""},
		{"lt", 2.5, 3, true, false, "int and float compare"},
		{"lt", "a", "b", true, false, "strings compare by code point"},
		{"lt", "B", "a", true, false, "upper case sorts before lower case"},
		{"lt", 1, "2", false, true, "'<' not supported between 'int' and 'str'"},
		{"lt", nil, 2, false, true, "missing key: None < 2 is a TypeError"},
		{"lt", 1, nil, false, false, "pattern None guard"},
		{"lt", list(1, 2), list(1, 3), true, false, "lists compare lexicographically"},
		{"lt", true, 2, true, false, "True is 1"},
		{"greaterthan", 3, 2, true, false, ""},
		{"gt", 2, 2, false, false, ""},
		{"gt", "10", "9", false, false, "string comparison, not numeric"},
		{"gt", map[string]any{}, map[string]any{}, false, true, "dicts are not ordered"},
		// matchwildcard: fnmatch.fnmatch over the whole value.
		{"matchwildcard", "foo.txt", "*.txt", true, false, ""},
		{"matchwildcard", "a/b/c", "a*c", true, false, "* also matches /"},
		{"matchwildcard", "abc", "a?c", true, false, ""},
		{"matchwildcard", "abcd", "abc", false, false, "the whole value must match"},
		{"matchwildcard", "xbc", "[!a]bc", true, false, "[!seq] negates"},
		{"matchwildcard", "abc", "[ab]bc", true, false, ""},
		{"matchwildcard", "ABC", "abc", false, false, "case-sensitive on POSIX"},
		{"matchwildcard", "a[", "a[", true, false, "unclosed [ is literal"},
		{"matchwildcard", "a.c", "a.c", true, false, ". is literal"},
		{"matchwildcard", "a\nb", "a*b", true, false, "* spans newlines"},
		{"matchwildcard", 5, "5", false, true, "fnmatch needs a str"},
		// matchregex: re.match with DOTALL, anchored at the start only.
		{"matchregex", "foobar", "foo", true, false, "anchored at the start, not the end"},
		{"matchregex", "xfoo", "foo", false, false, "re.match does not search"},
		{"matchregex", "foo\nbar", "foo.bar", true, false, "re.DOTALL: . matches newline"},
		{"matchregex", "ca", "a|b", false, false, "the alternation is anchored as a whole"},
		{"matchregex", 5, "5", false, true, "expected string, got int"},
		// regex: re.search, no flags.
		{"regex", "xfoo", "foo", true, false, "search, not match"},
		{"regex", "foo\nbar", "foo.bar", false, false, "no DOTALL"},
		{"regex", "FOO", "foo", false, false, "case-sensitive"},
		{"regex", "abc", `^a\w+c\Z`, true, false, `Python's \Z is end of string`},
		{"regex", "abc", 5, false, true, "pattern must be a string"},
		{"regex", "abc", "(?=a)", false, true, "RE2 has no lookahead: reported, never silently false"},
		// iregex: re.search with IGNORECASE.
		{"iregex", "FOO", "foo", true, false, ""},
		{"iregex", "bar", "foo", false, false, ""},
		// timediff_lt / td_lt, timediff_gt / td_gt: seconds since the payload's timestamp.
		{"timediff_lt", "2024-05-01T11:59:50Z", 60, true, false, "10s ago < 60s"},
		{"td_lt", "2024-05-01T11:58:00Z", 60, false, false, "120s ago"},
		{"timediff_gt", "2024-05-01T11:58:00Z", 60, true, false, ""},
		{"td_gt", "2024-05-01T11:59:50Z", "60", false, false, "float('60') is accepted"},
		{"timediff_lt", "2024-05-01 11:59:50", 60, true, false, "naive time is taken as UTC"},
		{"timediff_lt", "2024-05-01T13:59:50+02:00", 60, true, false, "offsets are honoured"},
		{"timediff_lt", "2024-05-01T11:59:50.123456", 60, true, false, "fractional seconds"},
		{"timediff_lt", "yesterday-ish", 60, false, true, "unparseable date"},
		{"timediff_lt", "2024-05-01T11:59:50Z", "soon", false, true, "float('soon') fails"},
		{"timediff_lt", nil, 60, false, true, "missing key"},
		{"timediff_lt", "2024-05-01T11:59:50Z", nil, false, false, "pattern None guard"},
		// exists / nexists: the value is not None (a null value does not exist).
		{"exists", "x", nil, true, false, ""},
		{"exists", false, nil, true, false, "False is not None"},
		{"exists", nil, "ignored", false, false, ""},
		{"nexists", nil, nil, true, false, ""},
		{"nexists", 0, nil, false, false, ""},
		// inside / in, ninside / nin: `value in pattern`.
		{"inside", "a", list("a", "b"), true, false, ""},
		{"in", "ell", "hello", true, false, "substring when the pattern is a string"},
		{"in", "k", obj, true, false, "key test when the pattern is a dict"},
		{"in", 1, "123", false, true, "'in <string>' requires string as left operand"},
		{"in", "a", nil, false, false, "pattern None guard"},
		{"ninside", "c", list("a"), true, false, ""},
		{"nin", "a", list("a"), false, false, ""},
		{"nin", "a", nil, false, false, "None guard returns False even for a negative operator"},
		{"nin", 1, "123", false, true, "a TypeError is not a match, even for a negative operator"},
	}
	for _, tc := range tests {
		fn, ok := Operator(tc.op)
		if !ok {
			t.Fatalf("Operator(%q) not found", tc.op)
		}
		got, err := fn(tc.value, tc.pattern)
		if (err != nil) != tc.wantErr {
			t.Errorf("%s(%#v, %#v): err = %v, wantErr %v (%s)", tc.op, tc.value, tc.pattern, err, tc.wantErr, tc.why)
			continue
		}
		if got != tc.want {
			t.Errorf("%s(%#v, %#v) = %v, want %v (%s)", tc.op, tc.value, tc.pattern, got, tc.want, tc.why)
		}
	}
}

func TestSearchOperatorNeedsSearchPattern(t *testing.T) {
	fn, _ := Operator("search")
	if _, err := fn([]any{}, map[string]any{"item.x": map[string]any{"type": "eq", "pattern": 1}}); err == nil {
		t.Fatal("search with a raw mapping pattern: want an error asking for compiled nested criteria")
	}
}

func TestFnmatchTranslate(t *testing.T) {
	// Python: fnmatch.translate('*.py') == '(?s:.*\\.py)\\Z'
	for pat, want := range map[string]string{
		"*.py":  `(?s)\A(?:.*\.py)\z`,
		"[!a]?": `(?s)\A(?:[^a].)\z`,
		"a[":    `(?s)\A(?:a\[)\z`,
		`[\]`:   `(?s)\A(?:[\\])\z`,
	} {
		if got := fnmatchTranslate(pat); got != want {
			t.Errorf("fnmatchTranslate(%q) = %q, want %q", pat, got, want)
		}
	}
}
