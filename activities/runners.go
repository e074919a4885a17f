package activities

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
)

// Runner type names, StackStorm's.
const (
	RunnerLocalShellCmd    = "local-shell-cmd"
	RunnerLocalShellScript = "local-shell-script"
	RunnerNoop             = "noop"
	RunnerHTTPRequest      = "http-request"
	RunnerPythonScript     = "python-script"
)

// Status values a RunResult carries (StackStorm's names).
const (
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	StatusTimeout   = "timeout"
	StatusCanceled  = "canceled"
	// StatusAbandoned is what st2 reports for an action process that died of
	// SIGTERM it did not get from the runner (e.g. an operator's kill).
	StatusAbandoned = "abandoned"
)

// ErrTypeUnsupportedRunner is the ApplicationError type Run fails with for a
// runner type Squall does not implement; the error is non-retryable.
const ErrTypeUnsupportedRunner = "UnsupportedRunner"

// Defaults, StackStorm's where st2 has one.
const (
	// DefaultHeartbeatInterval is how often a running action heartbeats.
	DefaultHeartbeatInterval = time.Second
	// DefaultMaxOutputBytes caps stdout/stderr (each) and an HTTP body in the
	// result that goes through Temporal; the output sink always gets all of it.
	DefaultMaxOutputBytes = 256 << 10
	// DefaultKillGracePeriod is how long a process group gets between SIGTERM
	// and SIGKILL.
	DefaultKillGracePeriod = 2 * time.Second

	localDefaultTimeout  = 60 * time.Second  // st2 LOCAL_RUNNER_DEFAULT_ACTION_TIMEOUT
	pythonDefaultTimeout = 600 * time.Second // python-script runner.yaml default
	httpDefaultTimeout   = 60 * time.Second  // core.http "timeout" default

	// maxPythonResultBytes bounds the JSON a Python action returns: Temporal
	// rejects payloads over 2 MiB, so a larger result could never be delivered.
	maxPythonResultBytes = 2 << 20
)

// runnerAliases are st2's historical names for the built-in runner types.
var runnerAliases = map[string]string{
	"run-local":        RunnerLocalShellCmd,
	"run-local-script": RunnerLocalShellScript,
	"run-python":       RunnerPythonScript,
	"http-runner":      RunnerHTTPRequest,
}

// Runners executes actions; a worker registers its Run method once. Use it
// through a pointer (it holds a mutex). Shell and Python actions run in
// os.TempDir() unless the "cwd" runner parameter says otherwise, with the
// worker's environment plus "env" and ST2_ACTION_PACK_NAME,
// ST2_ACTION_EXECUTION_ID and (when APIURL is set) ST2_ACTION_API_URL.
//
// Run's error contract, for the workflow author:
//   - An action that ran (succeeded, failed, timeout, abandoned) is a
//     RunResult and a nil error, whatever went wrong inside it. So is one
//     whose process could not be started or whose HTTP request could not be
//     sent: st2 reports those as failed executions with result.error.
//   - A request that cannot run at all (no cmd or url, an entry point that is
//     missing or outside the pack, a malformed parameter, sudo asked for but
//     not installed) is a non-retryable ApplicationError of type
//     ErrTypeInvalidRequest whose message says what is wrong.
//   - An unsupported runner type is a non-retryable ApplicationError of type
//     ErrTypeUnsupportedRunner.
//   - Cancellation kills the action's process group and returns
//     temporal.NewCanceledError(RunResult{Status: "canceled", ...}); the
//     workflow gets a *temporal.CanceledError whose Details decode into the
//     RunResult with the output captured so far.
//   - The activity's own deadline (StartToClose, heartbeat timeout) kills the
//     process group too and returns the context error. The action timeout
//     (runner parameter "timeout") is separate: it yields Status "timeout".
type Runners struct {
	// Output receives live stdout/stderr; nil discards it.
	Output OutputSink
	// HTTPClient is the base client for http-request; nil means a default
	// client. Its Transport must be an *http.Transport (or nil) for the
	// verify_ssl_cert=false and proxy runner parameters to work.
	HTTPClient *http.Client
	// Python is the interpreter for python-script; "" means "python3".
	Python string
	// ShimDir is where InstallShim writes Squall's st2common stand-in and the
	// action wrapper; "" means a directory under os.TempDir().
	ShimDir string
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// HeartbeatInterval; zero means DefaultHeartbeatInterval.
	HeartbeatInterval time.Duration

	// APIURL, when set, is exported to actions as ST2_ACTION_API_URL.
	APIURL string
	// KillGracePeriod between SIGTERM and SIGKILL; zero means the default.
	KillGracePeriod time.Duration
	// MaxOutputBytes caps each output stream kept in the result; zero means
	// DefaultMaxOutputBytes.
	MaxOutputBytes int
	// Durations, when set, records how each run went, for the fast path.
	Durations *RecentDurations

	shimMu        sync.Mutex
	shimInstalled string // the directory InstallShim wrote to
}

// Run executes one action with the runner req.Runner names. See Runners for
// the error contract.
func (r *Runners) Run(ctx context.Context, req RunRequest) (RunResult, error) {
	runner := req.Runner
	if canonical, ok := runnerAliases[runner]; ok {
		runner = canonical
	}
	log := r.logger().With("execution_id", req.ExecutionID, "action", req.ActionRef, "runner", runner)
	log.Info("running action")
	var res RunResult
	if r.Durations != nil {
		started := time.Now()
		defer func() { r.Durations.Record(req.ActionRef, time.Since(started), res.Status) }()
	}

	var err error
	switch runner {
	case RunnerNoop:
		res = RunResult{Status: StatusSucceeded, Result: map[string]any{
			"failed": false, "succeeded": true, "return_code": 0, "stdout": "", "stderr": "",
		}}
	case RunnerLocalShellCmd:
		res, err = r.runLocalShellCmd(ctx, req)
	case RunnerLocalShellScript:
		res, err = r.runLocalShellScript(ctx, req)
	case RunnerPythonScript:
		res, err = r.runPythonScript(ctx, req)
	case RunnerHTTPRequest:
		res, err = r.runHTTPRequest(ctx, req)
	default:
		return RunResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("runner %q is not supported by Squall yet", req.Runner),
			ErrTypeUnsupportedRunner, nil)
	}
	if err != nil {
		log.Warn("action did not finish", "error", err)
		res.Status = "" // not a finished run, for Durations
		return res, err
	}
	log.Info("action finished", "status", res.Status)
	return res, nil
}

// ErrTypeFastPathRetry is RunLocal's refusal to run an action again in a
// workflow task that is itself a retry: the workflow then runs it as a
// regular activity, with its worker-loss policy.
const ErrTypeFastPathRetry = "FastPathRetry"

// RunLocal is Run as a local activity (the fast path). workflowTaskAttempt
// is the attempt of the workflow task that scheduled it: above 1, an
// earlier worker died while running this action, and running it again
// here is left to the regular activity, whose attempts are bounded.
func (r *Runners) RunLocal(ctx context.Context, req RunRequest, workflowTaskAttempt int32) (RunResult, error) {
	if workflowTaskAttempt > 1 {
		return RunResult{}, temporal.NewNonRetryableApplicationError(
			"the worker running this action was lost; it runs again as a regular activity", ErrTypeFastPathRetry, nil)
	}
	if r.Durations != nil {
		r.Durations.begin()
		defer r.Durations.end()
	}
	res, err := r.Run(ctx, req)
	if err != nil && ctx.Err() != nil {
		select {
		case <-activity.GetWorkerStopChannel(ctx):
			// The worker is stopping, not the execution being canceled:
			// the action is run again elsewhere, as a regular activity
			// cut short by a worker stop would be.
			return RunResult{}, temporal.NewNonRetryableApplicationError(
				"the worker stopped while running this action; it runs again as a regular activity", ErrTypeFastPathRetry, nil)
		default:
		}
	}
	return res, err
}

// invalidRequest is Run's answer to a request that cannot run at all.
func invalidRequest(format string, args ...any) (RunResult, error) {
	return RunResult{}, temporal.NewNonRetryableApplicationError(
		fmt.Sprintf(format, args...), ErrTypeInvalidRequest, nil)
}

// failedResult is an action whose process or request could not be started:
// st2 reports that as a failed execution whose result carries the error.
func failedResult(format string, args ...any) RunResult {
	return RunResult{Status: StatusFailed, Result: map[string]any{"error": fmt.Sprintf(format, args...)}}
}

// stopError turns the end of the activity's context into Run's error: a
// cancellation becomes a CanceledError carrying the partial result, anything
// else (deadline) is returned as is.
func stopError(ctx context.Context, partial RunResult) (RunResult, error) {
	partial.Status = StatusCanceled
	if errors.Is(ctx.Err(), context.Canceled) {
		return partial, temporal.NewCanceledError(partial)
	}
	return partial, ctx.Err()
}

func (r *Runners) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}

func (r *Runners) heartbeatInterval() time.Duration {
	if r.HeartbeatInterval > 0 {
		return r.HeartbeatInterval
	}
	return DefaultHeartbeatInterval
}

func (r *Runners) killGrace() time.Duration {
	if r.KillGracePeriod > 0 {
		return r.KillGracePeriod
	}
	return DefaultKillGracePeriod
}

func (r *Runners) maxOutput() int {
	if r.MaxOutputBytes > 0 {
		return r.MaxOutputBytes
	}
	return DefaultMaxOutputBytes
}

// heartbeat records a heartbeat every interval until stop is closed; Temporal
// delivers cancellation through the heartbeat responses, so anything that
// can run for longer than the heartbeat timeout must run alongside it.
func (r *Runners) heartbeat(ctx context.Context, stop <-chan struct{}) {
	t := time.NewTicker(r.heartbeatInterval())
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
			activity.RecordHeartbeat(ctx)
		}
	}
}

// actionTimeout resolves the action timeout: the runner parameter "timeout"
// (seconds) when set, else req.Timeout, else the runner's default.
func actionTimeout(req RunRequest, def time.Duration) (time.Duration, error) {
	if v, ok := req.RunnerParams["timeout"]; ok && v != nil {
		secs, err := toSeconds(v)
		if err != nil {
			return 0, fmt.Errorf("runner parameter \"timeout\": %w", err)
		}
		if secs > 0 {
			return secs, nil
		}
	}
	if req.Timeout > 0 {
		return req.Timeout, nil
	}
	return def, nil
}

func toSeconds(v any) (time.Duration, error) {
	var f float64
	switch n := v.(type) {
	case float64:
		f = n
	case float32:
		f = float64(n)
	case int:
		f = float64(n)
	case int32:
		f = float64(n)
	case int64:
		f = float64(n)
	case interface{ Float64() (float64, error) }: // json.Number
		x, err := n.Float64()
		if err != nil {
			return 0, err
		}
		f = x
	case string:
		x, err := strconv.ParseFloat(strings.TrimSpace(n), 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a number of seconds", n)
		}
		f = x
	default:
		return 0, fmt.Errorf("%v (%T) is not a number of seconds", v, v)
	}
	return time.Duration(f * float64(time.Second)), nil
}

// formatSeconds prints a timeout the way st2's message does ("60", "1.5").
func formatSeconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}

func stringParam(m map[string]any, key string) string {
	if s, ok := m[key].(string); ok {
		return s
	}
	return ""
}

func boolParam(m map[string]any, key string, def bool) bool {
	switch v := m[key].(type) {
	case bool:
		return v
	case string:
		if b, err := strconv.ParseBool(v); err == nil {
			return b
		}
	}
	return def
}

// actionEnv builds a child environment the way st2 does: the worker's own
// environment, then the "env" runner parameter, then st2's ST2_ACTION_*
// variables (which the user cannot override). drop names variables the user
// may not set (case-insensitively).
func (r *Runners) actionEnv(req RunRequest, drop ...string) []string {
	vars := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := vars[k]; !ok {
			order = append(order, k)
		}
		vars[k] = v
	}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			set(k, v)
		}
	}
	if env, ok := req.RunnerParams["env"].(map[string]any); ok {
	user:
		for k, v := range env {
			for _, d := range drop {
				if strings.EqualFold(k, d) {
					continue user
				}
			}
			if v == nil {
				continue
			}
			set(k, pythonStr(v))
		}
	}
	set("ST2_ACTION_PACK_NAME", req.Pack)
	set("ST2_ACTION_EXECUTION_ID", req.ExecutionID)
	if r.APIURL != "" {
		set("ST2_ACTION_API_URL", r.APIURL)
	}
	out := make([]string, 0, len(order))
	for _, k := range order {
		out = append(out, k+"="+vars[k])
	}
	return out
}
