package bench

import (
	"testing"
	"time"

	"github.com/squall-automation/squall/pack"
)

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	for _, tc := range []struct {
		name string
		in   []time.Duration
		p    float64
		want float64
	}{
		{"empty", nil, 50, 0},
		{"one", ms(7), 99, 7},
		{"median of unsorted", ms(5, 1, 3, 2, 4), 50, 3},
		{"p99 of 100 is the 99th", ms(seq(100)...), 99, 99},
		{"p100 is the max", ms(9, 1, 5), 100, 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Percentile(tc.in, tc.p); got != tc.want {
				t.Fatalf("Percentile(%v, %v) = %v, want %v", tc.in, tc.p, got, tc.want)
			}
		})
	}
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i + 1
	}
	return out
}

func TestSummarizeAndRatios(t *testing.T) {
	run := func(n, actions int, each time.Duration) Run {
		r := Run{Elapsed: time.Second}
		for i := 0; i < n; i++ {
			r.Samples = append(r.Samples, Sample{Latency: each, Actions: actions})
		}
		return r
	}
	rs := []Result{
		Summarize(ScenarioFloorPlain, 4, run(100, 1, 10*time.Millisecond)),
		Summarize(ScenarioFloorEager, 4, run(400, 1, time.Millisecond)),
		Summarize(ScenarioWebhookRule, 4, run(20, 10, 50*time.Millisecond)),
		Summarize(ScenarioExecNoop, 1, run(50, 1, time.Millisecond)), // no floor at c=1
	}
	fillRatios(rs)
	wh := rs[2]
	if wh.OpsPerSecond != 20 || wh.ActionsPerSecond != 200 || wh.P50ms != 50 {
		t.Fatalf("webhook row: %+v", wh)
	}
	if wh.VsPlain != 2 || wh.VsEager != 0.5 {
		t.Fatalf("ratios = %v, %v; want 2, 0.5 (actions/s over the floor's)", wh.VsPlain, wh.VsEager)
	}
	if rs[0].VsPlain != 0 || rs[3].VsPlain != 0 {
		t.Fatalf("floor rows and rows without a floor at their concurrency get no ratio: %+v %+v", rs[0], rs[3])
	}
}

func TestParseConcurrencies(t *testing.T) {
	got, err := ParseConcurrencies("1, 4,16")
	if err != nil || len(got) != 3 || got[2] != 16 {
		t.Fatalf("got %v, %v", got, err)
	}
	for _, bad := range []string{"", "0", "1,x", "-2"} {
		if _, err := ParseConcurrencies(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// The generated pack must load as a valid pack, with exactly Match rules
// that fire for the benchmark body on the benchmarked url.
func TestRulePackLoads(t *testing.T) {
	rp := DefaultRulePack()
	dir, err := rp.Write(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p, err := pack.Load(dir, pack.LoadOptions{})
	if err != nil {
		t.Fatalf("load generated pack: %v", err)
	}
	if len(p.Rules) != rp.Rules {
		t.Fatalf("%d rules, want %d", len(p.Rules), rp.Rules)
	}
	onHook, matching := 0, 0
	for _, r := range p.Rules {
		if r.Trigger.Type != "core.st2.webhook" || !r.Enabled {
			t.Fatalf("rule %s: %+v", r.Ref, r.Trigger)
		}
		if r.Trigger.Parameters["url"] != rp.Hook {
			continue
		}
		onHook++
		crit, _ := r.Criteria["trigger.body.kind"].(map[string]any)
		if crit["pattern"] == rp.MatchBody(0)["kind"] {
			matching++
		}
	}
	if matching != rp.Match || onHook != rp.Match+rp.RulesPerURL {
		t.Fatalf("on the benchmarked url: %d rules, %d matching; want %d, %d", onHook, matching, rp.Match+rp.RulesPerURL, rp.Match)
	}
}
