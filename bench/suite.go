package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"time"
)

// Scenario names, as they appear in the table and the JSON.
const (
	ScenarioFloorPlain    = "floor-plain"
	ScenarioFloorEager    = "floor-eager-local"
	ScenarioExecNoop      = "exec-core.noop"
	ScenarioExecLocal     = "exec-core.local"
	ScenarioWebhookRule   = "webhook-rule"
	ScenarioWebhookAccept = "webhook-accept"
)

// Suite is the whole benchmark of one stack.
type Suite struct {
	API *API
	// TemporalAddress and Namespace are the stack's Temporal, for the floor.
	TemporalAddress string
	Namespace       string
	// MaxConcurrentActivities mirrors Squall's max_concurrent_actions.
	MaxConcurrentActivities int
	// PID is the Squall process (RSS); 0 to skip.
	PID int
	// N operations per scenario and concurrency; NWebhook for webhook-rule
	// (each event runs Pack.Match actions); NAccept for webhook-accept.
	N, NWebhook, NAccept int
	Concurrencies        []int
	AcceptConcurrencies  []int
	Warmup               int
	Pack                 RulePack
	// PackDir is where the generated pack is written; it must be readable
	// by the API server (same host).
	PackDir string
	// Only, when not empty, limits the run to these scenarios.
	Only map[string]bool
	// Progress receives one line per finished run.
	Progress io.Writer
}

// Report is one run of the suite: what the table shows and the JSON holds.
type Report struct {
	Time      time.Time `json:"time"`
	GitSHA    string    `json:"git_sha,omitempty"`
	Backend   string    `json:"backend,omitempty"`
	Machine   Machine   `json:"machine"`
	RSSIdleMB float64   `json:"rss_idle_mb,omitempty"`
	RSSPeakMB float64   `json:"rss_peak_mb,omitempty"`
	Rules     int       `json:"rules_loaded,omitempty"`
	Match     int       `json:"rules_matching,omitempty"`
	Results   []Result  `json:"results"`
}

// Machine says where the figures come from.
type Machine struct {
	Hostname string `json:"hostname"`
	CPUs     int    `json:"cpus"`
	CPUModel string `json:"cpu_model,omitempty"`
	Kernel   string `json:"kernel,omitempty"`
	Go       string `json:"go"`
}

// ThisMachine describes the machine the bench runs on.
func ThisMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version()}
	m.Hostname, _ = os.Hostname()
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

func (s *Suite) want(scenario string) bool { return len(s.Only) == 0 || s.Only[scenario] }

func (s *Suite) progress(format string, args ...any) {
	if s.Progress != nil {
		fmt.Fprintf(s.Progress, format+"\n", args...)
	}
}

// Run runs every scenario at every concurrency and fills the ratios. The
// webhook-accept runs come last: they leave work behind that would slow
// whatever follows.
func (s *Suite) Run(ctx context.Context, rep *Report) error {
	rep.RSSIdleMB = ProcStatusMB(s.PID, "VmRSS")
	rep.RSSPeakMB = ProcStatusMB(s.PID, "VmHWM")
	measure := func(scenario string, n, c int, op Op) {
		ResetPeakRSS(s.PID)
		r := Summarize(scenario, c, Execute(ctx, n, c, op))
		r.RSSPeakMB = ProcStatusMB(s.PID, "VmHWM")
		rep.RSSPeakMB = max(rep.RSSPeakMB, r.RSSPeakMB)
		rep.Results = append(rep.Results, r)
		s.progress("  %-18s c=%-3d %6d ok %4d err %9.1f/s  p50 %7.1f ms  p99 %7.1f ms", scenario, c, r.Count, r.Errors, r.OpsPerSecond, r.P50ms, r.P99ms)
		for _, e := range r.FirstErrors {
			s.progress("    error: %s", e)
		}
	}

	if s.want(ScenarioFloorPlain) || s.want(ScenarioFloorEager) {
		f, err := NewFloor(ctx, FloorOptions{HostPort: s.TemporalAddress, Namespace: s.Namespace, MaxConcurrentActivities: s.MaxConcurrentActivities})
		if err != nil {
			return err
		}
		for _, sc := range []struct {
			name string
			op   Op
		}{{ScenarioFloorPlain, f.Plain}, {ScenarioFloorEager, f.EagerLocal}} {
			if !s.want(sc.name) {
				continue
			}
			Execute(ctx, s.Warmup, 4, sc.op)
			for _, c := range s.Concurrencies {
				measure(sc.name, s.N, c, sc.op)
			}
		}
		f.Close()
	}

	for _, sc := range []struct {
		name, action string
		params       map[string]any
	}{
		{ScenarioExecNoop, "core.noop", map[string]any{}},
		{ScenarioExecLocal, "core.local", map[string]any{"cmd": "true"}},
	} {
		if !s.want(sc.name) {
			continue
		}
		op := s.ExecOp(sc.action, sc.params)
		Execute(ctx, s.Warmup, 4, op)
		for _, c := range s.Concurrencies {
			measure(sc.name, s.N, c, op)
		}
	}

	if s.want(ScenarioWebhookRule) || s.want(ScenarioWebhookAccept) {
		dir, err := s.Pack.Write(s.PackDir)
		if err != nil {
			return err
		}
		if err := s.API.RegisterPack(ctx, dir); err != nil {
			return fmt.Errorf("register the benchmark rule pack: %w", err)
		}
		rep.Rules, rep.Match = s.Pack.Rules, s.Pack.Match
		s.progress("  registered %s: %d rules, %d match", dir, s.Pack.Rules, s.Pack.Match)
		if s.want(ScenarioWebhookRule) {
			op := s.WebhookOp()
			Execute(ctx, max(1, s.Warmup/s.Pack.Match), 2, op)
			for _, c := range s.Concurrencies {
				measure(ScenarioWebhookRule, s.NWebhook, c, op)
			}
		}
		if s.want(ScenarioWebhookAccept) {
			op := s.AcceptOp()
			for _, c := range s.AcceptConcurrencies {
				measure(ScenarioWebhookAccept, s.NAccept, c, op)
			}
		}
	}
	fillRatios(rep.Results)
	return nil
}

// ExecOp POSTs an execution and waits until it is final (API.Await, or
// GET polling).
func (s *Suite) ExecOp(action string, params map[string]any) Op {
	return func(ctx context.Context) (Sample, error) {
		t0 := time.Now()
		ex, err := s.API.RunExecution(ctx, action, params)
		if err != nil {
			return Sample{}, err
		}
		switch {
		case Final(ex.Status):
		case s.API.Await != nil:
			// The status the workflow ended with is the execution's; the
			// floor, too, learns its outcome from the workflow's result.
			if ex.Status, err = s.API.Await(ctx, ex.ID); err != nil {
				return Sample{}, fmt.Errorf("await execution %s: %w", ex.ID, err)
			}
		default:
			if ex, err = s.API.WaitExecution(ctx, ex.ID); err != nil {
				return Sample{}, err
			}
		}
		if ex.Status != "succeeded" {
			return Sample{}, fmt.Errorf("execution %s %s", ex.ID, ex.Status)
		}
		return Sample{Latency: time.Since(t0), Actions: 1}, nil
	}
}

// WebhookOp POSTs a matching event and waits until every matching rule's
// execution is final: enforcements are listed by trigger instance until
// Pack.Match are there, then each execution is polled.
func (s *Suite) WebhookOp() Op {
	var seq atomic.Int64
	return func(ctx context.Context) (Sample, error) {
		t0 := time.Now()
		wh, err := s.API.PostWebhook(ctx, s.Pack.Hook, s.Pack.MatchBody(int(seq.Add(1))), "")
		if err != nil {
			return Sample{}, err
		}
		var enf []Enforcement
		deadline := time.Now().Add(2 * time.Minute)
		for {
			if enf, err = s.API.Enforcements(ctx, wh.TriggerInstance); err != nil {
				return Sample{}, err
			}
			if len(enf) >= s.Pack.Match {
				break
			}
			if time.Now().After(deadline) {
				return Sample{}, fmt.Errorf("trigger instance %s: %d enforcements after 2m, want %d", wh.TriggerInstance, len(enf), s.Pack.Match)
			}
			if err := sleep(ctx, s.API.Poll); err != nil {
				return Sample{}, err
			}
		}
		smp := Sample{Actions: len(enf)}
		for _, e := range enf {
			if e.ExecutionID == "" {
				return Sample{}, fmt.Errorf("rule %s on %s: enforcement %s without execution: %s", e.Rule.Ref, wh.TriggerInstance, e.Status, e.FailureReason)
			}
			ex, err := s.API.WaitExecution(ctx, e.ExecutionID)
			if err != nil {
				return Sample{}, err
			}
			if ex.Status != "succeeded" {
				return Sample{}, fmt.Errorf("execution %s of rule %s: %s", ex.ID, e.Rule.Ref, ex.Status)
			}
			if st := ex.StartedAt(); !st.IsZero() {
				smp.Starts = append(smp.Starts, st.Sub(t0))
			}
		}
		smp.Latency = time.Since(t0)
		return smp, nil
	}
}

// AcceptOp POSTs an event on the benchmarked url that no rule fires for:
// the 202 means it is durable (its trigger instance workflow started), so
// this measures ingest alone, with the rules loaded.
func (s *Suite) AcceptOp() Op {
	var seq atomic.Int64
	return func(ctx context.Context) (Sample, error) {
		t0 := time.Now()
		if _, err := s.API.PostWebhook(ctx, s.Pack.Hook, s.Pack.MissBody(int(seq.Add(1))), ""); err != nil {
			return Sample{}, err
		}
		return Sample{Latency: time.Since(t0)}, nil
	}
}

// fillRatios divides each Squall row's actions/s by the floor's at the
// same concurrency.
func fillRatios(rs []Result) {
	floor := map[string]map[int]float64{ScenarioFloorPlain: {}, ScenarioFloorEager: {}}
	for _, r := range rs {
		if m, ok := floor[r.Scenario]; ok {
			m[r.Concurrency] = r.ActionsPerSecond
		}
	}
	for i := range rs {
		r := &rs[i]
		if _, isFloor := floor[r.Scenario]; isFloor || r.ActionsPerSecond == 0 {
			continue
		}
		if f := floor[ScenarioFloorPlain][r.Concurrency]; f > 0 {
			r.VsPlain = r.ActionsPerSecond / f
		}
		if f := floor[ScenarioFloorEager][r.Concurrency]; f > 0 {
			r.VsEager = r.ActionsPerSecond / f
		}
	}
}

// PrintTable writes the report as a table.
func (rep *Report) PrintTable(w io.Writer) {
	fmt.Fprintf(w, "\nSquall benchmark  %s  backend=%s  git=%s  %d CPUs (%s)\n", rep.Time.Format(time.RFC3339), orDash(rep.Backend), orDash(rep.GitSHA), rep.Machine.CPUs, rep.Machine.CPUModel)
	if rep.Rules > 0 {
		fmt.Fprintf(w, "webhook runs: %d rules loaded, %d match each event\n", rep.Rules, rep.Match)
	}
	fmt.Fprintf(w, "%-18s %4s %6s %4s %9s %9s %8s %8s %9s %9s %7s %7s %7s\n",
		"scenario", "conc", "count", "err", "ops/s", "actions/s", "p50 ms", "p99 ms", "start p50", "start p99", "x plain", "x eager", "RSS MB")
	for _, r := range rep.Results {
		fmt.Fprintf(w, "%-18s %4d %6d %4d %9.1f %9.1f %8.1f %8.1f %9s %9s %7s %7s %7.0f\n",
			r.Scenario, r.Concurrency, r.Count, r.Errors, r.OpsPerSecond, r.ActionsPerSecond, r.P50ms, r.P99ms,
			optMS(r.StartP50ms), optMS(r.StartP99ms), optRatio(r.VsPlain), optRatio(r.VsEager), r.RSSPeakMB)
	}
	if rep.RSSIdleMB > 0 {
		fmt.Fprintf(w, "squall process RSS: idle %.0f MB, peak %.0f MB\n", rep.RSSIdleMB, rep.RSSPeakMB)
	}
}

// Save writes the report as JSON to dir/<timestamp>-<sha>.json and returns
// the path.
func (rep *Report) Save(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", dir, err)
	}
	sha := rep.GitSHA
	if sha == "" {
		sha = "nogit"
	}
	name := rep.Time.UTC().Format("20060102T150405Z") + "-" + sha
	if rep.Backend != "" {
		name += "-" + rep.Backend
	}
	path := filepath.Join(dir, name+".json")
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return "", fmt.Errorf("save results: %w", err)
	}
	return path, nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func optMS(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", v)
}

func optRatio(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", v)
}
