package workflows

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
)

// A batch runs ProcessTriggerInstance for each event as given (its own
// trigger instance ID), retries a failing one on its own and ends when
// every event is processed.
func TestTriggerInstanceBatchProcessesEveryEvent(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	var mu sync.Mutex
	attempts := map[string]int{}
	env.RegisterActivityWithOptions(ProcessEach(func(_ context.Context, in TriggerInstanceInput) (TriggerInstanceResult, error) {
		mu.Lock()
		attempts[in.ID]++
		n := attempts[in.ID]
		mu.Unlock()
		if in.ID == "flaky" && n == 1 {
			return TriggerInstanceResult{}, errors.New("postgres restarting")
		}
		res := TriggerInstanceResult{TriggerInstanceID: in.ID}
		if in.Payload["match"] == true {
			res.Matched = []string{"pack.rule"}
			res.Executions = []string{ExecutionIDFor(in.ID, "pack.rule")}
		}
		return res, nil
	}), activity.RegisterOptions{Name: ProcessTriggerInstancesActivity})
	env.RegisterWorkflowWithOptions(TriggerInstanceBatch, workflow.RegisterOptions{Name: TriggerInstanceBatchWorkflow})

	in := TriggerInstanceBatchInput{Events: []TriggerInstanceInput{
		{ID: "a", TriggerType: "core.st2.webhook", Payload: map[string]any{"match": true}},
		{ID: "flaky", TriggerType: "core.st2.webhook", Payload: map[string]any{"match": true}},
		{ID: "c", TriggerType: "core.st2.webhook", Payload: map[string]any{"match": false}},
	}}
	env.ExecuteWorkflow(TriggerInstanceBatchWorkflow, in)
	if !env.IsWorkflowCompleted() {
		t.Fatal("batch did not complete")
	}
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var res TriggerInstanceBatchResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res != (TriggerInstanceBatchResult{Events: 3, Matched: 2, Executions: 2}) {
		t.Fatalf("result %+v", res)
	}
	if attempts["a"] != 1 || attempts["c"] != 1 || attempts["flaky"] != 2 {
		t.Fatalf("attempts %v: each event once, the failing one retried", attempts)
	}
}

// ProcessEach processes a batch's events concurrently, so one slow event
// does not hold up the others.
func TestProcessEachIsConcurrent(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	const n = 5
	var mu sync.Mutex
	running := 0
	all := make(chan struct{})
	env.RegisterActivityWithOptions(ProcessEach(func(ctx context.Context, in TriggerInstanceInput) (TriggerInstanceResult, error) {
		mu.Lock()
		running++
		if running == n {
			close(all)
		}
		mu.Unlock()
		// Each waits until all are running: processing one after the
		// other would never get there.
		select {
		case <-all:
		case <-time.After(10 * time.Second):
			return TriggerInstanceResult{}, errors.New("the other events were not processed meanwhile")
		}
		return TriggerInstanceResult{TriggerInstanceID: in.ID, Executions: []string{"x"}}, nil
	}), activity.RegisterOptions{Name: ProcessTriggerInstancesActivity})
	var evs []TriggerInstanceInput
	for _, id := range []string{"1", "2", "3", "4", "5"} {
		evs = append(evs, TriggerInstanceInput{ID: id, TriggerType: "t", Payload: map[string]any{}})
	}
	v, err := env.ExecuteActivity(ProcessTriggerInstancesActivity, evs)
	if err != nil {
		t.Fatal(err)
	}
	var res ProcessTriggerInstancesResult
	if err := v.Get(&res); err != nil {
		t.Fatal(err)
	}
	if res.Processed != n || res.Executions != n || len(res.Retry) != 0 {
		t.Fatalf("result %+v", res)
	}
}

// A trigger instance is processed first as a local activity; when that
// fails, the regular activity retries until it succeeds, and the event is
// processed without being lost.
func TestTriggerInstanceFallsBackToActivity(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	var mu sync.Mutex
	calls := 0
	env.RegisterActivityWithOptions(func(_ context.Context, in TriggerInstanceInput) (TriggerInstanceResult, error) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n <= 2 { // the local attempt and the first regular one
			return TriggerInstanceResult{}, errors.New("postgres restarting")
		}
		return TriggerInstanceResult{TriggerInstanceID: in.ID, Matched: []string{"p.r"}}, nil
	}, activity.RegisterOptions{Name: ProcessTriggerInstanceActivity})
	env.RegisterWorkflowWithOptions(TriggerInstance, workflow.RegisterOptions{Name: TriggerInstanceWorkflow})
	env.ExecuteWorkflow(TriggerInstanceWorkflow, TriggerInstanceInput{ID: "x", TriggerType: "core.st2.webhook", Payload: map[string]any{}})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var res TriggerInstanceResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.TriggerInstanceID != "x" || calls != 3 {
		t.Fatalf("result %+v after %d calls, want x after 3", res, calls)
	}
}

// When the local round of a batch fails as a whole, the regular activity
// processes the batch.
func TestTriggerInstanceBatchFallsBackToActivity(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	calls := 0
	env.RegisterActivityWithOptions(func(_ context.Context, evs []TriggerInstanceInput) (ProcessTriggerInstancesResult, error) {
		calls++
		if calls == 1 {
			return ProcessTriggerInstancesResult{}, errors.New("worker shutting down")
		}
		return ProcessTriggerInstancesResult{Processed: len(evs)}, nil
	}, activity.RegisterOptions{Name: ProcessTriggerInstancesActivity})
	env.RegisterWorkflowWithOptions(TriggerInstanceBatch, workflow.RegisterOptions{Name: TriggerInstanceBatchWorkflow})
	env.ExecuteWorkflow(TriggerInstanceBatchWorkflow, TriggerInstanceBatchInput{Events: []TriggerInstanceInput{
		{ID: "a", TriggerType: "t", Payload: map[string]any{}}, {ID: "b", TriggerType: "t", Payload: map[string]any{}},
	}})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if calls != 2 {
		t.Fatalf("%d calls, want the local one and one regular", calls)
	}
}
