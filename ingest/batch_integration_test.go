package ingest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/squall-automation/squall/catalog"
	"github.com/squall-automation/squall/execution"
	"github.com/squall-automation/squall/internal/testenv"
	"github.com/squall-automation/squall/pack"
	"github.com/squall-automation/squall/rules/engine"
	"github.com/squall-automation/squall/workflows"
)

const sampleRule = "examples.sample_rule_with_webhook"

// stack is a Dispatcher with batching on a real Temporal and Postgres, and a
// worker running the real rules engine. Executions go to a task queue no
// worker polls: starting them is what exactly-once is about.
type stack struct {
	t     *testing.T
	tc    client.Client
	store *catalog.Store
	d     *Dispatcher
}

func newStack(t *testing.T, window time.Duration) *stack {
	t.Helper()
	addr := testenv.TemporalAddress(t)
	store := catalog.New(testenv.Pool(t))
	ctx := t.Context()
	if err := store.EnsureBuiltins(ctx); err != nil {
		t.Fatal(err)
	}
	corpus := testenv.ST2Packs(t)
	for _, name := range []string{"core", "examples"} {
		p, err := pack.Load(corpus+"/"+name, pack.LoadOptions{SkipEntryPointCheck: true})
		if err != nil {
			t.Fatalf("load %s: %v", name, err)
		}
		if _, err := store.RegisterPack(ctx, p); err != nil {
			t.Fatalf("register %s: %v", name, err)
		}
	}
	ns := testenv.TemporalNamespace()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	tc, err := client.Dial(client.Options{HostPort: addr, Namespace: ns, Logger: sdklog.NewStructuredLogger(quiet)})
	if err != nil {
		t.Fatalf("dial Temporal at %s: %v", addr, err)
	}
	t.Cleanup(tc.Close)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	queue := "ingest-test-" + hex.EncodeToString(b)
	execs := execution.New(execution.Config{Namespace: ns, TaskQueue: queue + "-actions"}, tc, store)
	eng := &engine.Engine{Store: store, Executions: execs, Logger: quiet}
	w := worker.New(tc, queue, worker.Options{})
	w.RegisterWorkflowWithOptions(workflows.TriggerInstance, workflow.RegisterOptions{Name: workflows.TriggerInstanceWorkflow})
	w.RegisterWorkflowWithOptions(workflows.TriggerInstanceBatch, workflow.RegisterOptions{Name: workflows.TriggerInstanceBatchWorkflow})
	w.RegisterActivityWithOptions(eng.ProcessTriggerInstance, activity.RegisterOptions{Name: workflows.ProcessTriggerInstanceActivity})
	w.RegisterActivityWithOptions(workflows.ProcessEach(eng.ProcessTriggerInstance), activity.RegisterOptions{Name: workflows.ProcessTriggerInstancesActivity})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return &stack{t: t, tc: tc, store: store, d: New(Config{TaskQueue: queue, BatchWindow: window}, tc, store)}
}

func sampleHook(key string) Event {
	return Event{
		TriggerType: "core.st2.webhook", TriggerParams: map[string]any{"url": "sample"},
		Payload:   map[string]any{"headers": map[string]any{}, "body": map[string]any{"name": "st2", "key": key}},
		DedupeKey: key, OccurredAt: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC),
	}
}

// execution returns the run of the rule's execution for a trigger instance,
// once it was started, and terminates it when the test ends.
func (s *stack) execution(tiID string) string {
	s.t.Helper()
	id := workflows.ExecutionIDFor(tiID, sampleRule)
	deadline := time.Now().Add(30 * time.Second)
	for {
		list, _, err := s.store.ListRuleEnforcements(s.t.Context(), catalog.EnforcementFilter{TriggerInstance: tiID})
		if err != nil {
			s.t.Fatal(err)
		}
		if len(list) > 1 {
			s.t.Fatalf("trigger instance %s: %d enforcements", tiID, len(list))
		}
		if len(list) == 1 {
			if list[0].ExecutionID != id {
				s.t.Fatalf("enforcement %+v: execution ID not derived from the trigger instance", list[0])
			}
			break
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("trigger instance %s was not enforced", tiID)
		}
		time.Sleep(50 * time.Millisecond)
	}
	desc, err := s.tc.DescribeWorkflowExecution(s.t.Context(), id, "")
	if err != nil {
		s.t.Fatalf("describe execution %s: %v", id, err)
	}
	s.t.Cleanup(func() {
		_ = s.tc.TerminateWorkflow(context.Background(), id, "", "test ends")
	})
	return desc.GetWorkflowExecutionInfo().GetExecution().GetRunId()
}

// A redelivered event that lands in a new batch is processed again and
// fires nothing twice: its trigger instance ID comes from its key, the
// execution ID from that and the rule.
func TestBatchRedeliveryFiresOnce(t *testing.T) {
	s := newStack(t, 200*time.Millisecond)
	ctx := t.Context()
	keys := []string{"k0", "k1", "k2", "k3", "k4", "k5"}

	// First delivery, with k0 sent twice at once: one batch.
	type reply struct {
		acc Accepted
		err error
	}
	replies := make([]reply, len(keys)+1)
	var wg sync.WaitGroup
	for i := range replies {
		key := keys[i%len(keys)]
		wg.Go(func() {
			replies[i].acc, replies[i].err = s.d.Dispatch(ctx, sampleHook(key))
		})
	}
	wg.Wait()
	dups := 0
	for i, r := range replies {
		if r.err != nil {
			t.Fatalf("delivery %d: %v", i, r.err)
		}
		if !r.acc.Processing {
			t.Fatalf("delivery %d: %+v: rules listen", i, r.acc)
		}
		if r.acc.Duplicate {
			dups++
		}
	}
	// k0's two deliveries are one trigger instance. Whether the second is
	// told it is a duplicate depends on timing: yes when both share a
	// batch, no when the first was started alone (nothing was in flight)
	// and the second joined a batch; it fires nothing twice either way.
	if dups > 1 || replies[0].acc.TriggerInstanceID != replies[len(keys)].acc.TriggerInstanceID {
		t.Fatalf("k0 twice: %d duplicates, want at most 1, and one trigger instance: %+v", dups, replies)
	}
	runs := map[string]string{}
	inputs := make([]workflows.TriggerInstanceInput, len(keys))
	for i, key := range keys {
		ev := sampleHook(key)
		id := workflows.TriggerInstanceIDFor("dedupe/" + ev.TriggerType + "/" + key)
		runs[id] = s.execution(id)
		inputs[i] = workflows.TriggerInstanceInput{
			ID: id, TriggerType: ev.TriggerType, TriggerParams: ev.TriggerParams,
			Payload: ev.Payload, OccurredAt: ev.OccurredAt,
		}
	}

	// The same events again in a new batch (what a redelivery racing the
	// first one's processing amounts to), run to the end.
	run, err := s.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: workflows.TriggerInstanceBatchIDPrefix + catalog.NewID(), TaskQueue: s.d.cfg.TaskQueue,
	}, workflows.TriggerInstanceBatchWorkflow, workflows.TriggerInstanceBatchInput{Events: inputs})
	if err != nil {
		t.Fatal(err)
	}
	var res workflows.TriggerInstanceBatchResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatalf("second batch: %v", err)
	}
	if res.Events != len(keys) || res.Executions != len(keys) {
		t.Fatalf("second batch %+v: every event matches once", res)
	}
	for id, runID := range runs {
		if again := s.execution(id); again != runID {
			t.Fatalf("trigger instance %s fired again: run %s, then %s", id, runID, again)
		}
	}

	// A later redelivery through the door is told it is a duplicate.
	acc, err := s.d.Dispatch(ctx, sampleHook("k3"))
	if err != nil || !acc.Duplicate || acc.TriggerInstanceID != inputs[3].ID {
		t.Fatalf("redelivery: %+v %v", acc, err)
	}
}

// With no window every event is its own TriggerInstance workflow, as
// without batching, and Temporal itself tells a redelivery.
func TestNoWindowStartsOneWorkflowPerEvent(t *testing.T) {
	s := newStack(t, 0)
	ctx := t.Context()
	acc, err := s.d.Dispatch(ctx, sampleHook("solo"))
	if err != nil || acc.Duplicate || !acc.Processing {
		t.Fatalf("first delivery: %+v %v", acc, err)
	}
	if _, err := s.tc.DescribeWorkflowExecution(ctx, workflows.TriggerInstanceIDPrefix+acc.TriggerInstanceID, ""); err != nil {
		t.Fatalf("no TriggerInstance workflow: %v", err)
	}
	runID := s.execution(acc.TriggerInstanceID)
	again, err := s.d.Dispatch(ctx, sampleHook("solo"))
	if err != nil || !again.Duplicate || again.TriggerInstanceID != acc.TriggerInstanceID {
		t.Fatalf("redelivery: %+v %v", again, err)
	}
	if s.execution(acc.TriggerInstanceID) != runID {
		t.Fatal("the redelivery fired the rule again")
	}
}
