package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/squall-automation/squall/bench"
)

// Options sizes the scenarios.
type Options struct {
	// LongActions is the burst size of the worker-kill scenario and
	// ActionSeconds how long each of its actions sleeps.
	LongActions   int
	ActionSeconds int
	// Webhooks is the burst size of the API-kill scenario.
	Webhooks int
	// LoadSeconds is how long the restart scenario's load runs before the
	// first restart; the whole scenario lasts a few times that.
	LoadSeconds int
	Concurrency int
	// Settle bounds how long a scenario waits for everything acknowledged
	// to finish after the faults.
	Settle time.Duration
	// SensorInterval is how often the sensor scenarios' sensor dispatches;
	// in sensor-crash it crashes SensorCrashes times, after every
	// SensorCrashEvery-th event.
	SensorInterval   time.Duration
	SensorCrashes    int
	SensorCrashEvery int
	// PackDir is where the scenarios' packs are written (readable by the
	// API server, whose host also runs the workers and so the sensors).
	PackDir string
	Out     io.Writer
}

// Outcome is one scenario's verdict with its counts.
type Outcome struct {
	Scenario string         `json:"scenario"`
	Pass     bool           `json:"pass"`
	Counts   map[string]int `json:"counts"`
	Problems []string       `json:"problems,omitempty"`
	// Warnings are departures from the API's promises that lose nothing.
	Warnings []string `json:"warnings,omitempty"`
	Seconds  float64  `json:"seconds"`
}

func (o *Outcome) problem(format string, args ...any) {
	if len(o.Problems) < 20 {
		o.Problems = append(o.Problems, fmt.Sprintf(format, args...))
	} else if len(o.Problems) == 20 {
		o.Problems = append(o.Problems, "... (more)")
	}
}

func (o *Outcome) warn(format string, args ...any) {
	o.Warnings = append(o.Warnings, fmt.Sprintf(format, args...))
}

// Print writes the outcome as a few lines.
func (o *Outcome) Print(w io.Writer) {
	verdict := "PASS"
	if !o.Pass {
		verdict = "FAIL"
	}
	keys := make([]string, 0, len(o.Counts))
	for k := range o.Counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, o.Counts[k]))
	}
	fmt.Fprintf(w, "%s  %-22s %5.1fs  %s\n", verdict, o.Scenario, o.Seconds, strings.Join(parts, " "))
	for _, p := range o.Problems {
		fmt.Fprintf(w, "      %s\n", p)
	}
	for _, p := range o.Warnings {
		fmt.Fprintf(w, "      warning: %s\n", p)
	}
}

// chaosPack is the scenarios' rules: Match rules run core.noop for each
// event on the hook, among some that do not match.
func chaosPack() bench.RulePack {
	return bench.RulePack{
		Name: "squall_chaos", Hook: "squall-chaos/hook", Rules: 30, Match: 3, RulesPerURL: 10,
		Action: "core.noop", Params: map[string]string{},
	}
}

// Scenarios lists the scenarios by name, in the order `chaos` runs them.
var Scenarios = []string{"worker-kill", "api-kill", "restart-deps", "sensor-crash", "sensor-host-kill"}

// Run runs one scenario against the stack.
func Run(ctx context.Context, s *Stack, name string, o Options) Outcome {
	t0 := time.Now()
	out := Outcome{Scenario: name, Counts: map[string]int{}}
	var err error
	switch name {
	case "worker-kill":
		err = workerKill(ctx, s, o, &out)
	case "api-kill":
		err = apiKill(ctx, s, o, &out)
	case "restart-deps":
		err = restartDeps(ctx, s, o, &out)
	case "sensor-crash":
		err = sensorCrashScenario(ctx, s, o, &out)
	case "sensor-host-kill":
		err = sensorHostKill(ctx, s, o, &out)
	default:
		err = fmt.Errorf("unknown scenario %q (have %s)", name, strings.Join(Scenarios, ", "))
	}
	if err != nil {
		out.problem("%v", err)
	}
	for proc, e := range s.Exited() {
		out.problem("%s exited on its own: %v", proc, e)
	}
	out.Pass = len(out.Problems) == 0
	out.Seconds = time.Since(t0).Seconds()
	return out
}

func (o Options) say(format string, args ...any) {
	if o.Out != nil {
		fmt.Fprintf(o.Out, "  "+format+"\n", args...)
	}
}

// workerKill: a burst of long actions; the worker is killed -9 (with its
// actions) while they run and a new one started. Every execution must end
// in a final status (succeeded after the runner's retry, or failed /
// abandoned per the worker-loss policy); none may stay running.
func workerKill(ctx context.Context, s *Stack, o Options, out *Outcome) error {
	api, err := s.Login(ctx)
	if err != nil {
		return err
	}
	api.Poll = 200 * time.Millisecond
	params := map[string]any{"cmd": fmt.Sprintf("sleep %d", o.ActionSeconds)}
	ids := make([]string, 0, o.LongActions)
	var mu sync.Mutex
	run := bench.Execute(ctx, o.LongActions, o.Concurrency, func(ctx context.Context) (bench.Sample, error) {
		ex, err := api.RunExecution(ctx, "core.local", params)
		if err != nil {
			return bench.Sample{}, err
		}
		mu.Lock()
		ids = append(ids, ex.ID)
		mu.Unlock()
		return bench.Sample{}, nil
	})
	out.Counts["requested"] = o.LongActions
	out.Counts["acknowledged"] = len(ids)
	if run.Errors > 0 {
		out.problem("%d executions refused before any fault: %v", run.Errors, run.FirstErrors)
	}
	// Kill once the actions are under way.
	if err := waitRunning(ctx, api, ids, len(ids)/2, 30*time.Second); err != nil {
		out.problem("%v", err)
	}
	if err := s.Kill("worker"); err != nil {
		return err
	}
	o.say("killed the worker with %d long actions in flight", len(ids))
	if err := sleep(ctx, time.Second); err != nil {
		return err
	}
	if err := s.Start(ctx, "worker"); err != nil {
		return err
	}
	statuses := settleExecutions(ctx, api, ids, o.Settle)
	for id, st := range statuses {
		out.Counts[st]++
		if !bench.Final(st) {
			out.problem("execution %s still %s after %s", id, st, o.Settle)
		}
	}
	return nil
}

// apiKill: a burst of webhooks, each retried with its Idempotency-Key until
// acknowledged, while the API server is killed -9 and restarted twice.
// Every acknowledged event must fire each matching rule exactly once.
func apiKill(ctx context.Context, s *Stack, o Options, out *Outcome) error {
	api, err := s.Login(ctx)
	if err != nil {
		return err
	}
	pack := chaosPack()
	if err := registerPack(ctx, api, pack, o.PackDir); err != nil {
		return err
	}
	var acked atomic.Int64
	done := make(chan struct{})
	var tis []string
	var sendErr error
	go func() {
		defer close(done)
		tis, sendErr = sendWebhooks(ctx, api, pack, "api-kill", o.Webhooks, o.Concurrency, &acked, out)
	}()
	finished := func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	}
	for k := 1; k <= 2; k++ {
		// Kill at about a third and two thirds of the burst.
		target := int64(o.Webhooks * k / 3)
		for acked.Load() < target && !finished() {
			if err := sleep(ctx, 5*time.Millisecond); err != nil {
				return err
			}
		}
		if err := s.Kill("server"); err != nil {
			return err
		}
		o.say("killed the API server after %d of %d webhooks acknowledged", acked.Load(), o.Webhooks)
		if err := sleep(ctx, 500*time.Millisecond); err != nil {
			return err
		}
		if err := s.Start(ctx, "server"); err != nil {
			return err
		}
		o.say("API server back")
	}
	<-done
	if sendErr != nil {
		out.problem("%v", sendErr)
	}
	out.Counts["sent"] = o.Webhooks
	var ackedTIs []string
	for _, ti := range tis {
		if ti != "" {
			ackedTIs = append(ackedTIs, ti)
		}
	}
	out.Counts["acknowledged"] = len(ackedTIs)
	// A late redelivery of some acknowledged events: the same trigger
	// instance, marked duplicate, fires nothing more.
	for i := 0; i < min(20, len(tis)); i++ {
		if tis[i] == "" {
			continue
		}
		wh, err := api.PostWebhook(ctx, pack.Hook, pack.MatchBody(i), fmt.Sprintf("api-kill-%d", i))
		switch {
		case err != nil:
			out.problem("redelivery %d: %v", i, err)
		case wh.TriggerInstance != tis[i]:
			out.problem("redelivery %d: made trigger instance %s, the first delivery %s", i, wh.TriggerInstance, tis[i])
		default:
			out.Counts["redelivered_same_instance"]++
			if !wh.Duplicate {
				// Not a loss, but the API promised to say so.
				out.Counts["redelivered_without_duplicate_header"]++
			}
		}
	}
	if n := out.Counts["redelivered_without_duplicate_header"]; n > 0 {
		out.warn("%d redeliveries answered without X-Squall-Duplicate: true", n)
	}
	checkEnforcements(ctx, api, pack, ackedTIs, o.Settle, out)
	return nil
}

// restartDeps: steady load of webhooks (with keys and retries) and
// executions; Postgres is restarted, then Temporal is killed -9 and
// restarted; Squall's own processes are left alone. Everything acknowledged
// must complete, each rule exactly once.
func restartDeps(ctx context.Context, s *Stack, o Options, out *Outcome) error {
	api, err := s.Login(ctx)
	if err != nil {
		return err
	}
	pack := chaosPack()
	if err := registerPack(ctx, api, pack, o.PackDir); err != nil {
		return err
	}
	serverPID, workerPID := s.PID("server"), s.PID("worker")
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()

	var (
		mu      sync.Mutex
		execIDs []string
		tis     []string
		refused atomic.Int64
		wg      sync.WaitGroup
		seq     atomic.Int64
	)
	for w := 0; w < max(2, o.Concurrency/2); w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for loadCtx.Err() == nil {
				if w%2 == 0 {
					// Executions have no idempotency key: a refused POST is
					// simply not acknowledged, and not counted.
					ex, err := api.RunExecution(loadCtx, "core.noop", map[string]any{})
					if err != nil {
						refused.Add(1)
						_ = sleep(loadCtx, 100*time.Millisecond)
						continue
					}
					mu.Lock()
					execIDs = append(execIDs, ex.ID)
					mu.Unlock()
				} else {
					i := int(seq.Add(1))
					ti, err := deliver(loadCtx, api, pack, fmt.Sprintf("restart-%d", i), i, 3*time.Minute)
					if err != nil {
						continue // load stopped before it was acknowledged
					}
					mu.Lock()
					tis = append(tis, ti)
					mu.Unlock()
				}
				_ = sleep(loadCtx, 20*time.Millisecond)
			}
		}(w)
	}
	load := time.Duration(o.LoadSeconds) * time.Second
	step := func(what string, f func() error) error {
		if err := f(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		mu.Lock()
		o.say("%-28s (acknowledged so far: %d executions, %d events; %d POSTs refused)", what, len(execIDs), len(tis), refused.Load())
		mu.Unlock()
		return nil
	}
	steps := []struct {
		what string
		f    func() error
	}{
		{"load running", func() error { return sleep(ctx, load) }},
		{"Postgres stopped", func() error { return s.StopPostgres(ctx) }},
		{"Postgres down for 3s", func() error { return sleep(ctx, 3*time.Second) }},
		{"Postgres started", func() error { return s.StartPostgres(ctx) }},
		{"load running", func() error { return sleep(ctx, load) }},
		{"Temporal killed -9", func() error { return s.Kill("temporal") }},
		{"Temporal down for 3s", func() error { return sleep(ctx, 3*time.Second) }},
		{"Temporal started", func() error { return s.StartTemporal(ctx) }},
		{"load running", func() error { return sleep(ctx, load) }},
	}
	for _, st := range steps {
		if err := step(st.what, st.f); err != nil {
			stopLoad()
			wg.Wait()
			return err
		}
	}
	stopLoad()
	wg.Wait()
	out.Counts["executions_acknowledged"] = len(execIDs)
	out.Counts["events_acknowledged"] = len(tis)
	out.Counts["posts_refused_during_faults"] = int(refused.Load())
	if s.PID("server") != serverPID || s.PID("worker") != workerPID {
		out.problem("Squall's processes did not survive: server pid %d→%d, worker pid %d→%d", serverPID, s.PID("server"), workerPID, s.PID("worker"))
	}
	if !bench.Healthy(ctx, s.APIURL()) {
		out.problem("API not healthy after the restarts")
	}
	statuses := settleExecutions(ctx, api, execIDs, o.Settle)
	for id, st := range statuses {
		out.Counts["execution_"+st]++
		if st != "succeeded" {
			out.problem("execution %s: %s", id, st)
		}
	}
	checkEnforcements(ctx, api, pack, tis, o.Settle, out)
	return nil
}

func registerPack(ctx context.Context, api *bench.API, pack bench.RulePack, dir string) error {
	root, err := pack.Write(dir)
	if err != nil {
		return err
	}
	if err := api.RegisterPack(ctx, root); err != nil {
		return fmt.Errorf("register the chaos rule pack: %w", err)
	}
	return nil
}

// sendWebhooks delivers n events, c at a time, each retried with its key
// until acknowledged. It returns the trigger instance of every
// acknowledged event by event number ("" when never acknowledged).
func sendWebhooks(ctx context.Context, api *bench.API, pack bench.RulePack, prefix string, n, c int, acked *atomic.Int64, out *Outcome) ([]string, error) {
	tis := make([]string, n)
	var retries atomic.Int64
	next := atomic.Int64{}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				ti, err := deliverCounting(ctx, api, pack, fmt.Sprintf("%s-%d", prefix, i), i, 3*time.Minute, &retries)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					continue
				}
				tis[i] = ti
				acked.Add(1)
			}
		}()
	}
	wg.Wait()
	out.Counts["retries"] = int(retries.Load())
	missing := 0
	for _, ti := range tis {
		if ti == "" {
			missing++
		}
	}
	if missing > 0 {
		return tis, fmt.Errorf("%d events never acknowledged (first error: %v)", missing, firstErr)
	}
	return tis, nil
}

func deliver(ctx context.Context, api *bench.API, pack bench.RulePack, key string, seq int, timeout time.Duration) (string, error) {
	var retries atomic.Int64
	return deliverCounting(ctx, api, pack, key, seq, timeout, &retries)
}

// deliverCounting posts one event until a 202, with the same key each time,
// as a well-behaved webhook sender does.
func deliverCounting(ctx context.Context, api *bench.API, pack bench.RulePack, key string, seq int, timeout time.Duration, retries *atomic.Int64) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		wh, err := api.PostWebhook(ctx, pack.Hook, pack.MatchBody(seq), key)
		if err == nil {
			return wh.TriggerInstance, nil
		}
		var se *bench.StatusError
		if errors.As(err, &se) && se.Code < 500 && se.Code != 429 {
			return "", fmt.Errorf("event %s refused: %w", key, err)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return "", fmt.Errorf("event %s not acknowledged: %w", key, err)
		}
		retries.Add(1)
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return "", err
		}
	}
}

// checkEnforcements waits until every trigger instance has one enforcement
// per matching rule and counts the ones that have fewer or more.
func checkEnforcements(ctx context.Context, api *bench.API, pack bench.RulePack, tis []string, settle time.Duration, out *Outcome) {
	deadline := time.Now().Add(settle)
	for _, ti := range tis {
		var list []bench.Enforcement
		var err error
		for {
			list, err = api.Enforcements(ctx, ti)
			if err == nil && len(list) >= pack.Match || time.Now().After(deadline) {
				break
			}
			if sleep(ctx, 200*time.Millisecond) != nil {
				return
			}
		}
		if err != nil {
			out.problem("enforcements of %s: %v", ti, err)
			out.Counts["events_unchecked"]++
			continue
		}
		perRule := map[string]int{}
		for _, e := range list {
			perRule[e.Rule.Ref]++
			if e.ExecutionID == "" {
				out.Counts["enforcements_without_execution"]++
			}
		}
		out.Counts["enforcements"] += len(list)
		switch {
		case len(perRule) < pack.Match:
			out.Counts["events_missing_rules"]++
			out.problem("trigger instance %s: %d of %d rules fired", ti, len(perRule), pack.Match)
		case len(list) > len(perRule):
			out.Counts["events_fired_twice"]++
			out.problem("trigger instance %s: a rule fired more than once: %v", ti, perRule)
		default:
			out.Counts["events_exactly_once"]++
		}
	}
	if n := out.Counts["enforcements_without_execution"]; n > 0 {
		out.problem("%d enforcements without an execution", n)
	}
}

// waitRunning waits until at least n of the executions are running.
func waitRunning(ctx context.Context, api *bench.API, ids []string, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		running := 0
		for _, id := range ids {
			if ex, err := api.GetExecution(ctx, id); err == nil && ex.Status == "running" {
				running++
			}
		}
		if running >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d executions running after %s", running, len(ids), timeout)
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
}

// settleExecutions waits until every execution is final or the time is up,
// and returns each one's last seen status ("unknown" when it could not be
// read).
func settleExecutions(ctx context.Context, api *bench.API, ids []string, settle time.Duration) map[string]string {
	deadline := time.Now().Add(settle)
	out := make(map[string]string, len(ids))
	for _, id := range ids {
		out[id] = "unknown"
	}
	for {
		pending := 0
		for _, id := range ids {
			if bench.Final(out[id]) {
				continue
			}
			if ex, err := api.GetExecution(ctx, id); err == nil {
				out[id] = ex.Status
			}
			if !bench.Final(out[id]) {
				pending++
			}
		}
		if pending == 0 || time.Now().After(deadline) || sleep(ctx, 500*time.Millisecond) != nil {
			return out
		}
	}
}
