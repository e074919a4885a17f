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
