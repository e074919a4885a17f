package rules

import (
	"fmt"
	"testing"

	"github.com/squall-automation/squall/pack"
)

var benchPayload = map[string]any{
	"headers": map[string]any{"X-GitHub-Event": "push"},
	"body": map[string]any{
		"name":    "name-3",
		"ref":     "refs/heads/main",
		"count":   5,
		"commits": []any{map[string]any{"id": "a1"}, map[string]any{"id": "b2"}},
	},
}

// BenchmarkIndexMatch: n rules in all, 10 of them on the event's trigger
// (a webhook url), the rest spread over other webhook urls and trigger
// types. One of the 10 matches.
func BenchmarkIndexMatch(b *testing.B) {
	for _, n := range []int{10, 1_000, 10_000} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			var rs []*Rule
			for i := 0; i < n; i++ {
				pr := pack.Rule{
					Name: fmt.Sprintf("r%d", i), Pack: "bench", Enabled: true,
					Criteria: map[string]any{
						"trigger.body.name":                 crit("equals", fmt.Sprintf("name-%d", i%10)),
						"trigger.headers['X-GitHub-Event']": crit("eq", "push"),
					},
					Action: pack.RuleAction{Ref: "core.noop"},
				}
				pr.Ref = "bench." + pr.Name
				switch {
				case i < 10:
					pr.Trigger = pack.RuleTrigger{Type: "core.st2.webhook", Parameters: map[string]any{"url": "github"}}
				case i%2 == 0:
					pr.Trigger = pack.RuleTrigger{Type: "core.st2.webhook", Parameters: map[string]any{"url": fmt.Sprintf("hook-%d", i)}}
				default:
					pr.Trigger = pack.RuleTrigger{Type: fmt.Sprintf("pack%d.event", i)}
				}
				r, err := Compile(pr)
				if err != nil {
					b.Fatal(err)
				}
				rs = append(rs, r)
			}
			ix := NewIndex(rs)
			params := map[string]any{"url": "github"}
			if got := ix.Match("core.st2.webhook", params, benchPayload, nil); len(got) != 1 || !got[0].Matched {
				b.Fatalf("want exactly one match, got %d", len(got))
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				ix.Match("core.st2.webhook", params, benchPayload, nil)
			}
		})
	}
}

func benchRule(b *testing.B, criteria map[string]any, when string) *Rule {
	b.Helper()
	pr := pack.Rule{Name: "r", Pack: "bench", Ref: "bench.r", Enabled: true,
		Trigger: pack.RuleTrigger{Type: "t"}, Criteria: criteria, When: when,
		Action: pack.RuleAction{Ref: "core.noop"}}
	r, err := Compile(pr)
	if err != nil {
		b.Fatal(err)
	}
	return r
}

func benchMatch(b *testing.B, r *Rule) {
	if res := r.Match(benchPayload, nil); !res.Matched {
		b.Fatalf("no match: %+v", res)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r.Match(benchPayload, nil)
	}
}

func BenchmarkCEL(b *testing.B) {
	benchMatch(b, benchRule(b, nil, `trigger.body.name == "name-3" && trigger.body.count > 3 && trigger.body.ref.startsWith("refs/heads/")`))
}

func BenchmarkCriteriaEquals(b *testing.B) {
	benchMatch(b, benchRule(b, map[string]any{"trigger.body.name": crit("equals", "name-3")}, ""))
}

func BenchmarkCriteriaRegex(b *testing.B) {
	benchMatch(b, benchRule(b, map[string]any{"trigger.body.ref": crit("regex", `^refs/heads/(main|master)$`)}, ""))
}

func BenchmarkCriteriaJinjaPattern(b *testing.B) {
	benchMatch(b, benchRule(b, map[string]any{"trigger.body.count": crit("equals", "{{ trigger.body.count }}")}, ""))
}
