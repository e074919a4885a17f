// Package bench measures Squall end to end and against its floor: a bare
// Temporal workflow running one activity on the same Temporal server with
// the same worker settings. squall-bench drives it (`make bench`); the
// results are one table and one JSON file per run under bench/results, so
// that commits can be compared.
package bench

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Sample is what one measured operation reports.
type Sample struct {
	// Latency is from the operation's start to its end (e.g. POST until the
	// execution is final).
	Latency time.Duration
	// Starts are the delays from the operation's start to each action's
	// start (event → action start), when known.
	Starts []time.Duration
	// Actions is how many actions the operation completed (1 for an
	// execution, the number of matching rules for an event).
	Actions int
}

// Op is one operation; it returns an error when the operation failed.
type Op func(ctx context.Context) (Sample, error)

// Run is the raw outcome of running an Op n times at a concurrency.
type Run struct {
	Samples []Sample
	Errors  int
	// FirstErrors keeps a few error messages for the report.
	FirstErrors []string
	Elapsed     time.Duration
}

// Execute runs op n times with c in flight and collects the samples. It
// stops early when ctx ends.
func Execute(ctx context.Context, n, c int, op Op) Run {
	var (
		mu  sync.Mutex
		run Run
		wg  sync.WaitGroup
	)
	jobs := make(chan struct{}, n)
	for i := 0; i < n; i++ {
		jobs <- struct{}{}
	}
	close(jobs)
	start := time.Now()
	for i := 0; i < c; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				if ctx.Err() != nil {
					return
				}
				s, err := op(ctx)
				mu.Lock()
				if err != nil {
					run.Errors++
					if len(run.FirstErrors) < 3 {
						run.FirstErrors = append(run.FirstErrors, err.Error())
					}
				} else {
					run.Samples = append(run.Samples, s)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	run.Elapsed = time.Since(start)
	return run
}

// Result is one row of the report.
type Result struct {
	// Scenario names what was measured: floor-plain, floor-eager-local,
	// exec-core.noop, exec-core.local, webhook-rule, webhook-accept.
	Scenario    string `json:"scenario"`
	Concurrency int    `json:"concurrency"`
	Count       int    `json:"count"`
	Errors      int    `json:"errors"`
	// Seconds is the wall time of the whole run.
	Seconds float64 `json:"seconds"`
	// OpsPerSecond counts operations: workflows, executions, or events.
	OpsPerSecond float64 `json:"ops_per_second"`
	// ActionsPerSecond counts completed actions; the ratios use it.
	ActionsPerSecond float64 `json:"actions_per_second"`
	P50ms            float64 `json:"p50_ms"`
	P99ms            float64 `json:"p99_ms"`
	// StartP50ms and StartP99ms are event → action start (webhook runs).
	StartP50ms float64 `json:"start_p50_ms,omitempty"`
	StartP99ms float64 `json:"start_p99_ms,omitempty"`
	// VsPlain and VsEager are ActionsPerSecond over the floor's
	// (floor-plain, floor-eager-local) at the same concurrency, same run.
	VsPlain float64 `json:"ratio_vs_floor_plain,omitempty"`
	VsEager float64 `json:"ratio_vs_floor_eager_local,omitempty"`
	// RSSPeakMB is the Squall process's peak RSS during this run (VmHWM,
	// reset before the run when the kernel allows it).
	RSSPeakMB   float64  `json:"rss_peak_mb,omitempty"`
	FirstErrors []string `json:"first_errors,omitempty"`
}

// Summarize turns a Run into a Result.
func Summarize(scenario string, c int, r Run) Result {
	lat := make([]time.Duration, 0, len(r.Samples))
	var starts []time.Duration
	actions := 0
	for _, s := range r.Samples {
		lat = append(lat, s.Latency)
		starts = append(starts, s.Starts...)
		actions += s.Actions
	}
	secs := r.Elapsed.Seconds()
	res := Result{
		Scenario: scenario, Concurrency: c, Count: len(r.Samples), Errors: r.Errors,
		Seconds: secs, P50ms: Percentile(lat, 50), P99ms: Percentile(lat, 99),
		StartP50ms: Percentile(starts, 50), StartP99ms: Percentile(starts, 99),
		FirstErrors: r.FirstErrors,
	}
	if secs > 0 {
		res.OpsPerSecond = float64(len(r.Samples)) / secs
		res.ActionsPerSecond = float64(actions) / secs
	}
	return res
}

// Percentile is the p-th percentile (nearest rank) in milliseconds; 0 for
// no data.
func Percentile(d []time.Duration, p float64) float64 {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(float64(len(s)-1) * p / 100)
	return float64(s[i].Microseconds()) / 1000
}

// ParseConcurrencies reads "1,4,16".
func ParseConcurrencies(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || c <= 0 {
			return nil, fmt.Errorf("bad concurrency %q in %q", f, s)
		}
		out = append(out, c)
	}
	return out, nil
}

// ProcStatusMB reads a field of /proc/<pid>/status (VmRSS, VmHWM) in MB;
// 0 when the process or field is unknown.
func ProcStatusMB(pid int, field string) float64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field+":") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, _ := strconv.ParseFloat(f[1], 64)
				return kb / 1024
			}
		}
	}
	return 0
}

// ResetPeakRSS sets the process's VmHWM back to its current RSS (writing 5
// to /proc/<pid>/clear_refs, Linux ≥ 4.0), so that the next VmHWM read is
// the peak of one run rather than of the process's life. It reports
// whether the kernel allowed it (same user or CAP_SYS_PTRACE needed).
func ResetPeakRSS(pid int) bool {
	if pid <= 0 {
		return false
	}
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) == nil
}
