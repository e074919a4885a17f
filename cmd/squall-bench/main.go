// Command squall-bench measures Squall and checks that it loses nothing.
//
//	squall-bench suite  [flags]  the whole benchmark against a running stack (make bench)
//	squall-bench floor  [flags]  only the bare-Temporal floor (no Squall API needed)
//	squall-bench accept [flags]  only webhooks/s accepted, 1,000 rules loaded
//	squall-bench exec   [flags]  executions of one action (-action, -params)
//	squall-bench chaos  [flags]  fault scenarios on a stack it starts itself (make chaos)
//
// Every benchmark mode prints one table and saves it as JSON under
// -results (bench/results/<time>-<git sha>[-<backend>].json).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"
	sdktemporal "go.temporal.io/sdk/temporal"

	"github.com/squall-automation/squall/bench"
	"github.com/squall-automation/squall/bench/chaos"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	mode, args := "suite", os.Args[1:]
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		mode, args = args[0], args[1:]
	}
	var err error
	switch mode {
	case "suite", "floor", "accept", "exec":
		err = runSuite(ctx, mode, args)
	case "chaos":
		err = runChaos(ctx, args)
	case "help", "-h", "--help":
		usage()
		return
	default:
		usage()
		err = fmt.Errorf("unknown mode %q", mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "squall-bench:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, `usage: squall-bench <suite|floor|accept|exec|chaos> [flags]   (squall-bench <mode> -h for flags)`)
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func runSuite(ctx context.Context, mode string, args []string) error {
	fs := flag.NewFlagSet(mode, flag.ExitOnError)
	api := fs.String("api", env("BENCH_API", "http://127.0.0.1:9101"), "Squall API URL (env BENCH_API)")
	temporal := fs.String("temporal", env("BENCH_TEMPORAL", "127.0.0.1:7233"), "Temporal frontend of the stack under test, for the floor (env BENCH_TEMPORAL)")
	namespace := fs.String("namespace", "squall", "Temporal namespace")
	user := fs.String("user", "st2admin", "API user")
	password := fs.String("password", os.Getenv("SQUALL_ADMIN_PASSWORD"), "API password (env SQUALL_ADMIN_PASSWORD)")
	pid := fs.Int("pid", 0, "PID of the Squall process, for its RSS (0: not measured)")
	n := fs.Int("n", 300, "operations per scenario and concurrency (floor, exec)")
	nWebhook := fs.Int("n-webhook", 60, "events per concurrency in webhook-rule (each runs -match actions)")
	nAccept := fs.Int("n-accept", 4000, "webhooks per concurrency in webhook-accept")
	conc := fs.String("c", "1,4,16", "concurrencies")
	acceptConc := fs.String("accept-c", "16,64,128", "concurrencies of webhook-accept")
	warmup := fs.Int("warmup", 20, "operations before measuring each scenario")
	poll := fs.Duration("poll", 5*time.Millisecond, "poll interval while waiting for executions (-wait api)")
	wait := fs.String("wait", "temporal", "how the end of an execution is awaited: temporal (long poll on its workflow, as the floor awaits its result, then one GET) or api (GET every -poll)")
	only := fs.String("only", "", "comma-separated scenarios to run (default: all of the mode)")
	rules := fs.Int("rules", 1000, "rules loaded for the webhook scenarios")
	match := fs.Int("match", 10, "of which match each benchmark event")
	maxActs := fs.Int("max-concurrent-actions", 200, "the floor worker's activity slots (Squall's max_concurrent_actions)")
	backend := fs.String("backend", env("BENCH_BACKEND", ""), "label of the Temporal backend (sqlite, postgres)")
	sha := fs.String("git-sha", "", "commit measured, for the report")
	results := fs.String("results", "bench/results", "directory for the JSON report (empty: not saved)")
	packDir := fs.String("pack-dir", "", "where to write the generated rule pack (default: a temp dir)")
	action := fs.String("action", "core.local", "exec mode: action ref")
	params := fs.String("params", `{"cmd":"true"}`, "exec mode: parameters as JSON")
	_ = fs.Parse(args)

	cs, err := bench.ParseConcurrencies(*conc)
	if err != nil {
		return err
	}
	acs, err := bench.ParseConcurrencies(*acceptConc)
	if err != nil {
		return err
	}
	s := &bench.Suite{
		TemporalAddress: *temporal, Namespace: *namespace, MaxConcurrentActivities: *maxActs,
		PID: *pid, N: *n, NWebhook: *nWebhook, NAccept: *nAccept,
		Concurrencies: cs, AcceptConcurrencies: acs, Warmup: *warmup,
		Pack: bench.DefaultRulePack(), PackDir: *packDir, Only: map[string]bool{}, Progress: os.Stderr,
	}
	s.Pack.Rules, s.Pack.Match = *rules, *match
	switch mode {
	case "floor":
		s.Only[bench.ScenarioFloorPlain], s.Only[bench.ScenarioFloorEager] = true, true
	case "accept":
		s.Only[bench.ScenarioWebhookAccept] = true
	}
	if *only != "" {
		s.Only = map[string]bool{}
		for _, sc := range strings.Split(*only, ",") {
			s.Only[strings.TrimSpace(sc)] = true
		}
	}
	if s.PackDir == "" {
		dir, err := os.MkdirTemp("", "squall-bench-pack-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		s.PackDir = dir
	}
	rep := &bench.Report{Time: time.Now().UTC(), GitSHA: *sha, Backend: *backend, Machine: bench.ThisMachine()}
	if mode != "floor" {
		if s.API, err = bench.Login(ctx, *api, *user, *password); err != nil {
			return err
		}
		s.API.Poll = *poll
		switch *wait {
		case "api":
		case "temporal":
			tc, err := client.DialContext(ctx, client.Options{HostPort: *temporal, Namespace: *namespace, Logger: bench.QuietLogger()})
			if err != nil {
				return fmt.Errorf("connect to Temporal at %s: %w", *temporal, err)
			}
			defer tc.Close()
			s.API.Await = func(ctx context.Context, id string) (string, error) {
				return awaitStatus(ctx, tc, id)
			}
		default:
			return fmt.Errorf("-wait: %q is neither temporal nor api", *wait)
		}
	}
	if mode == "exec" {
		var p map[string]any
		if err := json.Unmarshal([]byte(*params), &p); err != nil {
			return fmt.Errorf("-params: %w", err)
		}
		op := s.ExecOp(*action, p)
		bench.Execute(ctx, *warmup, 4, op)
		rep.RSSIdleMB = bench.ProcStatusMB(*pid, "VmRSS")
		for _, c := range cs {
			bench.ResetPeakRSS(*pid)
			r := bench.Summarize("exec-"+*action, c, bench.Execute(ctx, *n, c, op))
			r.RSSPeakMB = bench.ProcStatusMB(*pid, "VmHWM")
			rep.RSSPeakMB = max(rep.RSSPeakMB, r.RSSPeakMB)
			rep.Results = append(rep.Results, r)
		}
	} else if err := s.Run(ctx, rep); err != nil {
		return err
	}
	rep.PrintTable(os.Stdout)
	if *results != "" {
		path, err := rep.Save(*results)
		if err != nil {
			return err
		}
		fmt.Println("saved:", path)
	}
	for _, r := range rep.Results {
		if r.Errors > 0 {
			return fmt.Errorf("%s at concurrency %d: %d errors, e.g. %v", r.Scenario, r.Concurrency, r.Errors, r.FirstErrors)
		}
	}
	return nil
}

func runChaos(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("chaos", flag.ExitOnError)
	bin := fs.String("bin", "bin/squall", "squall binary")
	dir := fs.String("dir", "", "state and logs (default: a temp dir, removed on success)")
	scenarios := fs.String("scenarios", strings.Join(chaos.Scenarios, ","), "scenarios to run, in order")
	longActions := fs.Int("long-actions", 40, "worker-kill: long actions in the burst")
	actionSeconds := fs.Int("action-seconds", 5, "worker-kill: how long each action sleeps")
	webhooks := fs.Int("webhooks", 5000, "api-kill: webhooks in the burst")
	loadSeconds := fs.Int("load-seconds", 4, "restart-deps: seconds of load between faults")
	sensorInterval := fs.Duration("sensor-interval", 150*time.Millisecond, "sensor-crash, sensor-host-kill: time between the sensor's events")
	sensorCrashes := fs.Int("sensor-crashes", 3, "sensor-crash: how many times the sensor crashes (restarts back off 1s, 2s, 4s, ...)")
	sensorCrashEvery := fs.Int("sensor-crash-every", 15, "sensor-crash: the sensor crashes after every this many events")
	conc := fs.Int("c", 16, "client concurrency")
	settle := fs.Duration("settle", 3*time.Minute, "how long to wait for acknowledged work to finish after the faults")
	heartbeat := fs.Duration("heartbeat-timeout", 3*time.Second, "runners' heartbeat timeout (SQUALL_RUNNER_HEARTBEAT_TIMEOUT)")
	jsonOut := fs.String("json", "", "also write the outcomes as JSON to this file")
	_ = fs.Parse(args)

	absBin, err := filepath.Abs(*bin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(absBin); err != nil {
		return fmt.Errorf("squall binary: %w (run make build)", err)
	}
	repo, _ := os.Getwd()
	keep := *dir != ""
	if *dir == "" {
		if *dir, err = os.MkdirTemp("", "squall-chaos-"); err != nil {
			return err
		}
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	fmt.Printf("chaos: starting Postgres, Temporal, squall server and squall worker under %s\n", *dir)
	st, err := chaos.StartStack(ctx, chaos.StackOptions{Bin: absBin, Dir: *dir, RepoDir: repo, HeartbeatTimeout: *heartbeat, Log: log})
	if err != nil {
		return fmt.Errorf("start the stack (logs under %s): %w", *dir, err)
	}
	opts := chaos.Options{
		LongActions: *longActions, ActionSeconds: *actionSeconds, Webhooks: *webhooks, LoadSeconds: *loadSeconds,
		SensorInterval: *sensorInterval, SensorCrashes: *sensorCrashes, SensorCrashEvery: *sensorCrashEvery,
		Concurrency: *conc, Settle: *settle, PackDir: *dir, Out: os.Stdout,
	}
	var outcomes []chaos.Outcome
	failed := 0
	for _, name := range strings.Split(*scenarios, ",") {
		name = strings.TrimSpace(name)
		fmt.Printf("scenario %s\n", name)
		o := chaos.Run(ctx, st, name, opts)
		o.Print(os.Stdout)
		outcomes = append(outcomes, o)
		if !o.Pass {
			failed++
		}
		if ctx.Err() != nil {
			break
		}
	}
	st.Close()
	fmt.Println()
	for _, o := range outcomes {
		o.Print(os.Stdout)
	}
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(outcomes, "", "  ")
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d scenarios failed; logs under %s", failed, len(outcomes), *dir)
	}
	if !keep {
		_ = os.RemoveAll(*dir)
	}
	return nil
}

// awaitStatus waits for an execution's workflow to close and returns the
// execution's final status, which Squall's workflow result (or the details
// of its failure or cancellation) carries.
func awaitStatus(ctx context.Context, tc client.Client, id string) (string, error) {
	var res struct {
		Status string `json:"status"`
	}
	err := tc.GetWorkflow(ctx, id, "").Get(ctx, &res)
	var appErr *sdktemporal.ApplicationError
	var canceled *sdktemporal.CanceledError
	switch {
	case err == nil:
	case errors.As(err, &appErr):
		if !appErr.HasDetails() || appErr.Details(&res) != nil || res.Status == "" {
			res.Status = "failed"
		}
	case errors.As(err, &canceled):
		res.Status = "canceled"
	default:
		return "", err
	}
	return res.Status, nil
}
