package rules

import (
	"errors"
	"strings"
	"testing"
)

func TestWhen(t *testing.T) {
	payload := map[string]any{"count": 5, "name": "alpha", "tags": []any{"a", "b"}, "body": map[string]any{"ok": true}}
	tests := []struct {
		when    string
		want    bool
		wantErr bool
	}{
		{`trigger.count > 3 && trigger.name.startsWith("al")`, true, false},
		{`trigger.count > 10`, false, false},
		{`"b" in trigger.tags`, true, false},
		{`trigger.body.ok`, true, false},
		{`has(trigger.missing) || trigger.?missing.orValue(1) == 1`, true, false},
		{`trigger.name.upperAscii() == "ALPHA"`, true, false}, // ext.Strings
		{`trigger.missing == 1`, false, true},                 // no such key: an evaluation error
		{`trigger.name`, false, true},                         // dyn that is not a bool at run time
	}
	for _, tc := range tests {
		pr := rule(nil)
		pr.When = tc.when
		r := mustCompile(t, pr)
		res := r.Match(payload, nil)
		if res.Matched != tc.want || (res.Err != nil) != tc.wantErr {
			t.Errorf("when %q: Matched=%v Err=%v, want %v wantErr %v", tc.when, res.Matched, res.Err, tc.want, tc.wantErr)
		}
		if !res.Matched && res.FailedCriterion != "when" {
			t.Errorf("when %q: FailedCriterion = %q, want when", tc.when, res.FailedCriterion)
		}
	}
}

func TestWhenCompileErrorsHavePosition(t *testing.T) {
	tests := []struct {
		when      string
		line, col int
		msg       string
	}{
		{`trigger.count >`, 1, 16, "Syntax error"},
		{"trigger.count > 1 &&\n  1 + \"a\" == 2", 2, 5, "no matching overload"},
		{`undefined_var == 1`, 1, 1, "undeclared reference"},
		{`"not a bool"`, 1, 1, "must be a bool"},
	}
	for _, tc := range tests {
		pr := rule(nil)
		pr.When = tc.when
		_, err := Compile(pr)
		var we *WhenError
		if !errors.As(err, &we) {
			t.Errorf("when %q: err = %v, want *WhenError", tc.when, err)
			continue
		}
		if we.Line != tc.line || we.Column != tc.col || !strings.Contains(we.Msg, tc.msg) {
			t.Errorf("when %q: %d:%d %q, want %d:%d containing %q", tc.when, we.Line, we.Column, we.Msg, tc.line, tc.col, tc.msg)
		}
		if !strings.Contains(err.Error(), "line ") {
			t.Errorf("when %q: %q should give the position", tc.when, err)
		}
	}
}

func TestCriteriaAndWhenBothRequired(t *testing.T) {
	pr := rule(map[string]any{"trigger.name": crit("equals", "alpha")})
	pr.When = "trigger.count > 3"
	r := mustCompile(t, pr)
	for _, tc := range []struct {
		payload map[string]any
		want    bool
		failed  string
	}{
		{map[string]any{"name": "alpha", "count": 5}, true, ""},
		{map[string]any{"name": "beta", "count": 5}, false, "trigger.name"},
		{map[string]any{"name": "alpha", "count": 1}, false, "when"},
	} {
		res := r.Match(tc.payload, nil)
		if res.Matched != tc.want || res.FailedCriterion != tc.failed {
			t.Errorf("%v: %+v, want matched=%v failed=%q", tc.payload, res, tc.want, tc.failed)
		}
	}
}
