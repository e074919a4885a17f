// Package workflows holds Squall's Temporal workflows. The execution
// workflow is one StackStorm action execution: it optionally waits out the
// requested delay, runs the action's runner as an activity, and records the
// execution's status in the SquallStatus search attribute at each step so
// that describe, list and the Web UI see it without a query.
package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/squall-automation/squall/activities"
)

const (
	// TaskQueue is the default task queue of execution workflows and runners.
	TaskQueue = "squall-actions"
	// ExecutionWorkflow is the registered name of Execution.
	ExecutionWorkflow = "squall.Execution"
	// RunActivity is the registered name of the runner activity.
	RunActivity = "squall.Run"
	// RunLocalActivity is the runner as a local activity (the fast path).
	RunLocalActivity = "squall.RunLocal"
	// StateQuery returns the workflow's ExecutionState.
	StateQuery = "state"
)

// Status values, StackStorm's names (mirrored by the execution package).
const (
	StatusScheduled = "scheduled"
	StatusDelayed   = "delayed"
	StatusRunning   = "running"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	StatusTimeout   = "timeout"
	StatusAbandoned = "abandoned"
	StatusCanceling = "canceling"
	StatusCanceled  = "canceled"
)

// Failure types of the workflow's ApplicationError, one per final status
// other than succeeded, so a reader of the close event knows the status.
const (
	ErrTypeFailed    = "ActionFailed"
	ErrTypeTimeout   = "ActionTimeout"
	ErrTypeAbandoned = "ActionAbandoned"
)

// ExecutionInput starts one execution.
type ExecutionInput struct {
	Request activities.RunRequest `json:"request"`
	// Delay postpones the run (st2's "delay"); the wait is a durable timer.
	Delay time.Duration `json:"delay,omitempty"`
	// MaxAttempts bounds how often the runner is started when the worker
	// running it dies (its heartbeat stops). Action failures are results,
	// never retried. Zero means DefaultMaxAttempts.
	MaxAttempts int32 `json:"max_attempts,omitempty"`
	// HeartbeatTimeout is how long a silent runner is trusted before Temporal
	// declares its worker dead. Zero means DefaultHeartbeatTimeout.
	HeartbeatTimeout time.Duration `json:"heartbeat_timeout,omitempty"`
	// Notify is st2's notify block (on-complete, on-success, on-failure with
	// routes) of the action or the run request.
	Notify map[string]any `json:"notify,omitempty"`
	// EmitEvents emits core.st2.generic.actiontrigger (and notifytrigger for
	// Notify's routes) when the execution ends, as st2 does.
	EmitEvents bool `json:"emit_events,omitempty"`
}

// EmitExecutionEventsActivity emits an ended execution's internal triggers.
const EmitExecutionEventsActivity = "squall.EmitExecutionEvents"

// ExecutionEvents describes an ended execution for its internal triggers.
type ExecutionEvents struct {
	ExecutionID string         `json:"execution_id"`
	ActionRef   string         `json:"action_ref"`
	ActionName  string         `json:"action_name"`
	Runner      string         `json:"runner_ref"`
	Status      string         `json:"status"`
	Parameters  map[string]any `json:"parameters"` // secrets masked
	Result      map[string]any `json:"result"`
	StartedAt   time.Time      `json:"start_timestamp"`
	EndedAt     time.Time      `json:"end_timestamp"`
	Notify      map[string]any `json:"notify,omitempty"`
}

// Defaults for ExecutionInput.
const (
	DefaultMaxAttempts      = 3
	DefaultHeartbeatTimeout = 10 * time.Second
	// DefaultActionTimeout applies when neither the request nor the runner
	// parameters give one (st2's local runners default to 60 s).
	DefaultActionTimeout = 10 * time.Minute
)

// StatusChange is one entry of the execution's status log.
type StatusChange struct {
	Status    string    `json:"status"`
	Timestamp time.Time `json:"timestamp"`
}

// ExecutionState is what StateQuery returns.
type ExecutionState struct {
	Status string         `json:"status"`
	Log    []StatusChange `json:"log"`
}

// Execution runs one action execution. It completes with the runner's
// RunResult when the action succeeded; otherwise it fails with an
// ApplicationError whose type tells the status (ErrType*) and whose details
// hold the RunResult, or is canceled with the RunResult as details. It
// always runs the action as a regular activity; NewExecution adds the
// fast path.
func Execution(ctx workflow.Context, in ExecutionInput) (activities.RunResult, error) {
	return NewExecution(nil)(ctx, in)
}

// FastPath tells whether an action's next run may take the fast path: its
// recent runs all ended within a second or so (activities.RecentDurations).
type FastPath func(actionRef string) bool

// NewExecution returns the Execution workflow. When fast says an action is
// short, its runner runs as a local activity in the workflow task that
// eager start handed the worker: no activity task and no second workflow
// task to dispatch, the same as Temporal's own fastest pattern (eager start
// plus a local activity). The decision is recorded (SideEffect), so replays
// agree with it. What the fast path changes for such a run:
//   - a lost worker is noticed when the workflow task times out (10 s, as
//     the runner's heartbeat timeout) and the run is then retried as a
//     regular activity;
//   - a cancel reaches the action when its workflow task next completes,
//     which for a run longer than 8 s is every 8 s;
//   - "running" becomes visible to describe and list then too; a short run
//     goes from scheduled to its final status.
//
// fast is never asked for delayed executions.
func NewExecution(fast FastPath) func(workflow.Context, ExecutionInput) (activities.RunResult, error) {
	return func(ctx workflow.Context, in ExecutionInput) (activities.RunResult, error) {
		local := false
		if fast != nil && in.Delay <= 0 {
			ref := in.Request.ActionRef
			if err := workflow.SideEffect(ctx, func(workflow.Context) any { return fast(ref) }).Get(&local); err != nil {
				return activities.RunResult{}, err
			}
		}
		res, err := execute(ctx, in, local)
		if in.EmitEvents {
			emitEvents(ctx, in, res)
		}
		return res, err
	}
}

// emitEvents runs the emitting activity as a local activity: it is short
// (a Postgres insert or a workflow start) and retried by the SDK; its
// dedupe keys make a retry the same trigger instance.
func emitEvents(ctx workflow.Context, in ExecutionInput, res activities.RunResult) {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	dctx = workflow.WithLocalActivityOptions(dctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 200 * time.Millisecond, MaximumAttempts: 20},
	})
	params := map[string]any{}
	for k, v := range in.Request.RunnerParams {
		params[k] = v
	}
	for k, v := range in.Request.ActionParams {
		params[k] = v
	}
	for _, k := range in.Request.Secrets {
		if _, ok := params[k]; ok {
			params[k] = "********"
		}
	}
	name := in.Request.ActionRef
	if i := len(in.Request.Pack); i > 0 && len(name) > i+1 {
		name = name[i+1:]
	}
	ev := ExecutionEvents{
		ExecutionID: in.Request.ExecutionID, ActionRef: in.Request.ActionRef, ActionName: name,
		Runner: in.Request.Runner, Status: res.Status, Parameters: params, Result: res.Result,
		StartedAt: workflow.GetInfo(ctx).WorkflowStartTime, EndedAt: workflow.Now(ctx), Notify: in.Notify,
	}
	if err := workflow.ExecuteLocalActivity(dctx, EmitExecutionEventsActivity, ev).Get(dctx, nil); err != nil {
		workflow.GetLogger(ctx).Error("emit execution events", "error", err)
	}
}

func execute(ctx workflow.Context, in ExecutionInput, local bool) (activities.RunResult, error) {
	state := &ExecutionState{}
	if err := workflow.SetQueryHandler(ctx, StateQuery, func() (ExecutionState, error) {
		return *state, nil
	}); err != nil {
		return activities.RunResult{}, err
	}
	setStatus := func(ctx workflow.Context, status string) {
		state.Status = status
		state.Log = append(state.Log, StatusChange{Status: status, Timestamp: workflow.Now(ctx)})
		// Upserting a search attribute that the namespace lacks fails the
		// workflow task; that is an operator error worth surfacing, but the
		// status itself is still kept in the query state.
		if err := workflow.UpsertTypedSearchAttributes(ctx, AttrStatus.ValueSet(status)); err != nil {
			workflow.GetLogger(ctx).Error("upsert status", "status", status, "error", err)
		}
	}
	canceled := func(res activities.RunResult) (activities.RunResult, error) {
		dctx, _ := workflow.NewDisconnectedContext(ctx)
		res.Status = StatusCanceled
		setStatus(dctx, StatusCanceled)
		return res, temporal.NewCanceledError(res)
	}

	if in.Delay > 0 {
		setStatus(ctx, StatusDelayed)
		if err := workflow.Sleep(ctx, in.Delay); err != nil {
			if temporal.IsCanceledError(err) {
				return canceled(activities.RunResult{Result: map[string]any{}})
			}
			return activities.RunResult{}, err
		}
	}
	setStatus(ctx, StatusRunning)

	attempts := in.MaxAttempts
	if attempts <= 0 {
		attempts = DefaultMaxAttempts
	}
	heartbeat := in.HeartbeatTimeout
	if heartbeat <= 0 {
		heartbeat = DefaultHeartbeatTimeout
	}
	timeout := in.Request.Timeout
	if timeout <= 0 {
		timeout = DefaultActionTimeout
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		// The runner enforces the action timeout itself and reports status
		// "timeout"; this bound only catches a runner that failed to.
		StartToCloseTimeout: timeout + time.Minute,
		HeartbeatTimeout:    heartbeat,
		WaitForCancellation: true,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        30 * time.Second,
			MaximumAttempts:        attempts,
			NonRetryableErrorTypes: []string{activities.ErrTypeUnsupportedRunner, activities.ErrTypeInvalidRequest},
		},
	})

	var res activities.RunResult
	var fut workflow.Future
	if local {
		lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
			StartToCloseTimeout: timeout + time.Minute,
			// Action failures are results; a lost worker is the workflow
			// task's timeout, after which RunLocal hands over (below).
			RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 1},
		})
		fut = workflow.ExecuteLocalActivity(lctx, RunLocalActivity, in.Request, workflow.GetInfo(ctx).Attempt)
		var handover *temporal.ApplicationError
		if err := fut.Get(ctx, nil); errors.As(err, &handover) && handover.Type() == activities.ErrTypeFastPathRetry {
			fut = workflow.ExecuteActivity(actx, RunActivity, in.Request)
		}
	} else {
		fut = workflow.ExecuteActivity(actx, RunActivity, in.Request)
	}
	sel := workflow.NewSelector(ctx)
	done := false
	sel.AddFuture(fut, func(workflow.Future) { done = true })
	sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) {})
	sel.Select(ctx)
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	if !done {
		// Cancel requested: the runner is being told through its heartbeat;
		// wait until it has killed the action before calling it canceled.
		// (An action that finished in that instant keeps its own outcome.)
		setStatus(dctx, StatusCanceling)
	}
	err := fut.Get(dctx, &res)
	if err != nil {
		var timeoutErr *temporal.TimeoutError
		var appErr *temporal.ApplicationError
		switch {
		case temporal.IsCanceledError(err):
			return canceled(resultFrom(err))
		case errors.As(err, &timeoutErr):
			// Heartbeat or start-to-close timeouts exhausted every attempt:
			// the workers running it died (st2 calls this abandoned).
			res = activities.RunResult{Status: StatusAbandoned, Result: map[string]any{
				"error": fmt.Sprintf("the runner stopped responding (%s) on %d attempt(s); the action's outcome is unknown", timeoutErr.TimeoutType(), attempts),
			}}
			setStatus(dctx, StatusAbandoned)
			return res, temporal.NewNonRetryableApplicationError(res.Result["error"].(string), ErrTypeAbandoned, nil, res)
		case errors.As(err, &appErr):
			res = activities.RunResult{Status: StatusFailed, Result: map[string]any{"error": appErr.Message()}}
		default:
			res = activities.RunResult{Status: StatusFailed, Result: map[string]any{"error": err.Error()}}
		}
		setStatus(dctx, StatusFailed)
		return res, temporal.NewNonRetryableApplicationError(res.Result["error"].(string), ErrTypeFailed, nil, res)
	}
	switch res.Status {
	case StatusSucceeded:
		setStatus(dctx, StatusSucceeded)
		return res, nil
	case StatusCanceled:
		return canceled(res)
	case StatusTimeout:
		setStatus(dctx, StatusTimeout)
		return res, temporal.NewNonRetryableApplicationError("action timed out", ErrTypeTimeout, nil, res)
	default:
		res.Status = StatusFailed
		setStatus(dctx, StatusFailed)
		return res, temporal.NewNonRetryableApplicationError("action failed", ErrTypeFailed, nil, res)
	}
}

// resultFrom recovers the partial RunResult a runner attaches to its
// cancellation (the output it had produced before it was killed).
func resultFrom(err error) activities.RunResult {
	var res activities.RunResult
	var canceledErr *temporal.CanceledError
	if errors.As(err, &canceledErr) && canceledErr.HasDetails() {
		_ = canceledErr.Details(&res)
	}
	if res.Result == nil {
		res.Result = map[string]any{}
	}
	return res
}
