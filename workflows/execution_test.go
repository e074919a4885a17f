package workflows

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/squall-automation/squall/activities"
)

func newEnv(t *testing.T, run func(context.Context, activities.RunRequest) (activities.RunResult, error)) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterActivityWithOptions(run, activity.RegisterOptions{Name: RunActivity})
	return env
}

func statusOf(t *testing.T, env *testsuite.TestWorkflowEnvironment) string {
	t.Helper()
	v, err := env.QueryWorkflow(StateQuery)
	if err != nil {
		t.Fatalf("query: %v", err)
	}
	var st ExecutionState
	if err := v.Get(&st); err != nil {
		t.Fatal(err)
	}
	return st.Status
}

func TestExecutionOutcomes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		run        func(context.Context, activities.RunRequest) (activities.RunResult, error)
		wantStatus string
		wantErr    string // ApplicationError type; "" = completed
	}{
		{
			name: "succeeded",
			run: func(context.Context, activities.RunRequest) (activities.RunResult, error) {
				return activities.RunResult{Status: StatusSucceeded, Result: map[string]any{"return_code": 0}}, nil
			},
			wantStatus: StatusSucceeded,
		},
		{
			name: "failed",
			run: func(context.Context, activities.RunRequest) (activities.RunResult, error) {
				return activities.RunResult{Status: StatusFailed, Result: map[string]any{"return_code": 1}}, nil
			},
			wantStatus: StatusFailed, wantErr: ErrTypeFailed,
		},
		{
			name: "timeout",
			run: func(context.Context, activities.RunRequest) (activities.RunResult, error) {
				return activities.RunResult{Status: StatusTimeout, Result: map[string]any{"return_code": -9}}, nil
			},
			wantStatus: StatusTimeout, wantErr: ErrTypeTimeout,
		},
		{
			name: "unsupported runner is not retried",
			run: func() func(context.Context, activities.RunRequest) (activities.RunResult, error) {
				calls := 0
				return func(context.Context, activities.RunRequest) (activities.RunResult, error) {
					calls++
					if calls > 1 {
						panic("retried a non-retryable error")
					}
					return activities.RunResult{}, temporal.NewNonRetryableApplicationError(`runner "orquesta" is not supported by Squall yet`, activities.ErrTypeUnsupportedRunner, nil)
				}
			}(),
			wantStatus: StatusFailed, wantErr: ErrTypeFailed,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := newEnv(t, tc.run)
			env.ExecuteWorkflow(Execution, ExecutionInput{Request: activities.RunRequest{ExecutionID: "x", Runner: "local-shell-cmd"}})
			if !env.IsWorkflowCompleted() {
				t.Fatal("workflow not completed")
			}
			err := env.GetWorkflowError()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				var res activities.RunResult
				if err := env.GetWorkflowResult(&res); err != nil {
					t.Fatal(err)
				}
				if res.Status != tc.wantStatus {
					t.Fatalf("result status %q, want %q", res.Status, tc.wantStatus)
				}
			} else {
				var appErr *temporal.ApplicationError
				if !errors.As(err, &appErr) || appErr.Type() != tc.wantErr {
					t.Fatalf("error %v, want ApplicationError of type %s", err, tc.wantErr)
				}
				var res activities.RunResult
				if err := appErr.Details(&res); err != nil {
					t.Fatalf("details: %v", err)
				}
				if res.Status != tc.wantStatus {
					t.Fatalf("details status %q, want %q", res.Status, tc.wantStatus)
				}
			}
			if got := statusOf(t, env); got != tc.wantStatus {
				t.Fatalf("query status %q, want %q", got, tc.wantStatus)
			}
		})
	}
}

// A runner whose worker dies stops heartbeating; Temporal retries it, and an
// attempt that finishes settles the execution.
func TestExecutionRetriesLostRunner(t *testing.T) {
	t.Parallel()
	attempts := 0
	env := newEnv(t, func(ctx context.Context, req activities.RunRequest) (activities.RunResult, error) {
		attempts++
		if activity.GetInfo(ctx).Attempt == 1 {
			return activities.RunResult{}, temporal.NewHeartbeatTimeoutError()
		}
		return activities.RunResult{Status: StatusSucceeded, Result: map[string]any{}}, nil
	})
	env.ExecuteWorkflow(Execution, ExecutionInput{Request: activities.RunRequest{ExecutionID: "x"}})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow error: %v", err)
	}
	if attempts != 2 {
		t.Fatalf("attempts = %d, want 2", attempts)
	}
}

func TestExecutionAbandonedAfterAttempts(t *testing.T) {
	t.Parallel()
	env := newEnv(t, func(ctx context.Context, req activities.RunRequest) (activities.RunResult, error) {
		return activities.RunResult{}, temporal.NewHeartbeatTimeoutError()
	})
	env.ExecuteWorkflow(Execution, ExecutionInput{Request: activities.RunRequest{ExecutionID: "x"}, MaxAttempts: 2})
	var appErr *temporal.ApplicationError
	if err := env.GetWorkflowError(); !errors.As(err, &appErr) || appErr.Type() != ErrTypeAbandoned {
		t.Fatalf("error %v, want %s", err, ErrTypeAbandoned)
	}
	if got := statusOf(t, env); got != StatusAbandoned {
		t.Fatalf("status %q, want %q", got, StatusAbandoned)
	}
}

func TestExecutionDelayThenCancel(t *testing.T) {
	t.Parallel()
	env := newEnv(t, func(ctx context.Context, req activities.RunRequest) (activities.RunResult, error) {
		panic("must not run: canceled during the delay")
	})
	env.RegisterDelayedCallback(func() {
		if got := statusOf(t, env); got != StatusDelayed {
			t.Errorf("status during delay %q, want %q", got, StatusDelayed)
		}
		env.CancelWorkflow()
	}, time.Minute)
	env.ExecuteWorkflow(Execution, ExecutionInput{Request: activities.RunRequest{ExecutionID: "x"}, Delay: time.Hour})
	if err := env.GetWorkflowError(); !temporal.IsCanceledError(err) {
		t.Fatalf("error %v, want canceled", err)
	}
	if got := statusOf(t, env); got != StatusCanceled {
		t.Fatalf("status %q, want %q", got, StatusCanceled)
	}
}

func TestExecutionCancelWhileRunning(t *testing.T) {
	t.Parallel()
	env := newEnv(t, func(ctx context.Context, req activities.RunRequest) (activities.RunResult, error) {
		for {
			activity.RecordHeartbeat(ctx)
			select {
			case <-ctx.Done():
				return activities.RunResult{Status: StatusCanceled, Result: map[string]any{"return_code": -15}}, ctx.Err()
			case <-time.After(10 * time.Millisecond):
			}
		}
	})
	env.RegisterDelayedCallback(func() { env.CancelWorkflow() }, time.Second)
	env.ExecuteWorkflow(Execution, ExecutionInput{Request: activities.RunRequest{ExecutionID: "x"}})
	if err := env.GetWorkflowError(); !temporal.IsCanceledError(err) {
		t.Fatalf("error %v, want canceled", err)
	}
	if got := statusOf(t, env); got != StatusCanceled {
		t.Fatalf("status %q, want %q", got, StatusCanceled)
	}
}

func TestExecutionEmitsEvents(t *testing.T) {
	t.Parallel()
	env := newEnv(t, func(context.Context, activities.RunRequest) (activities.RunResult, error) {
		return activities.RunResult{Status: StatusFailed, Result: map[string]any{"return_code": 3}}, nil
	})
	var got []ExecutionEvents
	env.RegisterActivityWithOptions(func(_ context.Context, ev ExecutionEvents) error {
		got = append(got, ev)
		return nil
	}, activity.RegisterOptions{Name: EmitExecutionEventsActivity})
	env.ExecuteWorkflow(Execution, ExecutionInput{
		EmitEvents: true,
		Request: activities.RunRequest{
			ExecutionID: "x", ActionRef: "core.local", Pack: "core", Runner: "local-shell-cmd",
			RunnerParams: map[string]any{"cmd": "exit 3", "password": "hunter2"}, Secrets: []string{"password"},
		},
	})
	if len(got) != 1 {
		t.Fatalf("emitted %d times, want once", len(got))
	}
	ev := got[0]
	if ev.Status != StatusFailed || ev.ActionName != "local" || ev.Parameters["password"] != "********" || ev.Parameters["cmd"] != "exit 3" {
		t.Fatalf("event: %+v", ev)
	}
}

// The fast path: an action its worker knows to be short runs as a local
// activity (RunLocal), never as the regular one; an action not known to be
// short runs as the regular activity.
func TestExecutionFastPath(t *testing.T) {
	t.Parallel()
	for _, short := range []bool{true, false} {
		var s testsuite.WorkflowTestSuite
		env := s.NewTestWorkflowEnvironment()
		var regular, local int
		env.RegisterActivityWithOptions(func(context.Context, activities.RunRequest) (activities.RunResult, error) {
			regular++
			return activities.RunResult{Status: StatusSucceeded, Result: map[string]any{}}, nil
		}, activity.RegisterOptions{Name: RunActivity})
		env.RegisterActivityWithOptions(func(_ context.Context, _ activities.RunRequest, attempt int32) (activities.RunResult, error) {
			local++
			return activities.RunResult{Status: StatusSucceeded, Result: map[string]any{"attempt": attempt}}, nil
		}, activity.RegisterOptions{Name: RunLocalActivity})
		asked := ""
		env.RegisterWorkflowWithOptions(NewExecution(func(ref string) bool { asked = ref; return short }), workflow.RegisterOptions{Name: ExecutionWorkflow})
		env.ExecuteWorkflow(ExecutionWorkflow, ExecutionInput{Request: activities.RunRequest{ExecutionID: "e", Runner: "local-shell-cmd", ActionRef: "core.local"}})
		if err := env.GetWorkflowError(); err != nil {
			t.Fatal(err)
		}
		if asked != "core.local" {
			t.Fatalf("fast path asked about %q", asked)
		}
		if short && (local != 1 || regular != 0) || !short && (local != 0 || regular != 1) {
			t.Fatalf("short=%v: %d local and %d regular runs", short, local, regular)
		}
		if got := statusOf(t, env); got != StatusSucceeded {
			t.Fatalf("status %s", got)
		}
	}
}

// When RunLocal hands over (the workflow task is a retry: the worker that
// ran the action died), the action runs as the regular activity.
func TestExecutionFastPathHandsOverAfterALostWorker(t *testing.T) {
	t.Parallel()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	regular := 0
	env.RegisterActivityWithOptions(func(context.Context, activities.RunRequest) (activities.RunResult, error) {
		regular++
		return activities.RunResult{Status: StatusSucceeded, Result: map[string]any{}}, nil
	}, activity.RegisterOptions{Name: RunActivity})
	// The real RunLocal, told the workflow task is attempt 2.
	env.RegisterActivityWithOptions(func(ctx context.Context, req activities.RunRequest, _ int32) (activities.RunResult, error) {
		return (&activities.Runners{}).RunLocal(ctx, req, 2)
	}, activity.RegisterOptions{Name: RunLocalActivity})
	env.RegisterWorkflowWithOptions(NewExecution(func(string) bool { return true }), workflow.RegisterOptions{Name: ExecutionWorkflow})
	env.ExecuteWorkflow(ExecutionWorkflow, ExecutionInput{Request: activities.RunRequest{ExecutionID: "e", Runner: "noop", ActionRef: "core.noop"}})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if regular != 1 {
		t.Fatalf("%d regular runs after the hand-over, want 1", regular)
	}
}

// Delayed executions never take the fast path.
func TestExecutionFastPathNotForDelayed(t *testing.T) {
	t.Parallel()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterActivityWithOptions(func(context.Context, activities.RunRequest) (activities.RunResult, error) {
		return activities.RunResult{Status: StatusSucceeded, Result: map[string]any{}}, nil
	}, activity.RegisterOptions{Name: RunActivity})
	asked := false
	env.RegisterWorkflowWithOptions(NewExecution(func(string) bool { asked = true; return true }), workflow.RegisterOptions{Name: ExecutionWorkflow})
	env.ExecuteWorkflow(ExecutionWorkflow, ExecutionInput{Request: activities.RunRequest{ExecutionID: "e", Runner: "noop", ActionRef: "core.noop"}, Delay: time.Second})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if asked {
		t.Fatal("the fast path was asked about a delayed execution")
	}
}

// A cancel reaches a fast-path action: its context ends, and the
// execution is canceled.
func TestExecutionFastPathCancel(t *testing.T) {
	t.Parallel()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	started := make(chan struct{})
	env.RegisterActivityWithOptions(func(ctx context.Context, _ activities.RunRequest, _ int32) (activities.RunResult, error) {
		close(started)
		select {
		case <-ctx.Done():
			return activities.RunResult{Status: StatusCanceled}, temporal.NewCanceledError(activities.RunResult{Status: StatusCanceled})
		case <-time.After(30 * time.Second):
			return activities.RunResult{Status: StatusSucceeded}, nil
		}
	}, activity.RegisterOptions{Name: RunLocalActivity})
	env.RegisterWorkflowWithOptions(NewExecution(func(string) bool { return true }), workflow.RegisterOptions{Name: ExecutionWorkflow})
	env.RegisterDelayedCallback(func() {
		<-started
		env.CancelWorkflow()
	}, time.Millisecond)
	t0 := time.Now()
	env.ExecuteWorkflow(ExecutionWorkflow, ExecutionInput{Request: activities.RunRequest{ExecutionID: "e", Runner: "local-shell-cmd", ActionRef: "core.local"}})
	if time.Since(t0) > 20*time.Second {
		t.Fatal("the canceled action ran to its end")
	}
	if err := env.GetWorkflowError(); !temporal.IsCanceledError(err) {
		t.Fatalf("workflow error %v, want canceled", err)
	}
	if got := statusOf(t, env); got != StatusCanceled {
		t.Fatalf("status %s, want canceled", got)
	}
}
