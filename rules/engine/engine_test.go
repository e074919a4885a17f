package engine

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/squall-automation/squall/catalog"
	"github.com/squall-automation/squall/execution"
	"github.com/squall-automation/squall/internal/testenv"
	"github.com/squall-automation/squall/pack"
	"github.com/squall-automation/squall/workflows"
)

// runs records the run requests the engine makes (its Executions).
type runs struct {
	mu   sync.Mutex
	reqs []execution.RunRequest
}

func (r *runs) Run(_ context.Context, req execution.RunRequest) (*execution.Execution, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, req)
	return &execution.Execution{ID: req.ID, Status: execution.StatusScheduled}, nil
}

func (r *runs) all() []execution.RunRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]execution.RunRequest(nil), r.reqs...)
}

func setup(t *testing.T) (*catalog.Store, *runs, *Engine) {
	t.Helper()
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
	r := &runs{}
	return store, r, &Engine{Store: store, Executions: r}
}

// The examples pack's rules behave as st2 documents them.
func TestExamplesPackRules(t *testing.T) {
	t.Parallel()
	store, r, e := setup(t)
	ctx := t.Context()

	hook := func(id string, body map[string]any) workflows.TriggerInstanceInput {
		return workflows.TriggerInstanceInput{
			ID: id, TriggerType: "core.st2.webhook", TriggerParams: map[string]any{"url": "sample"},
			Payload: map[string]any{"headers": map[string]any{}, "body": body}, OccurredAt: time.Now(),
		}
	}
	res, err := e.ProcessTriggerInstance(ctx, hook("aaaaaaaaaaaaaaaaaaaaaaa1", map[string]any{"name": "st2"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Executions) != 1 {
		t.Fatalf("webhook rule: %+v", res)
	}
	got := r.all()[0]
	if got.Action != "core.local" || got.ID != workflows.ExecutionIDFor("aaaaaaaaaaaaaaaaaaaaaaa1", "examples.sample_rule_with_webhook") {
		t.Fatalf("run request %+v", got)
	}
	// st2 renders a dict the way Python prints it.
	if cmd := got.Parameters["cmd"]; cmd != `echo "{'name': 'st2'}" >> ~/st2.webhook_sample.out ; sync` {
		t.Fatalf("cmd %q", cmd)
	}
	if rule, _ := got.Context["rule"].(map[string]any); rule["ref"] != "examples.sample_rule_with_webhook" {
		t.Fatalf("context %+v", got.Context)
	}
	// A payload the criteria reject fires nothing, but is recorded.
	if res, err := e.ProcessTriggerInstance(ctx, hook("aaaaaaaaaaaaaaaaaaaaaaa2", map[string]any{"name": "other"})); err != nil || len(res.Matched) != 0 {
		t.Fatalf("non-matching payload: %+v %v", res, err)
	}
	ti, err := store.GetTriggerInstance(ctx, "aaaaaaaaaaaaaaaaaaaaaaa2")
	if err != nil || ti.Status != catalog.TriggerInstanceProcessed {
		t.Fatalf("trigger instance: %+v %v", ti, err)
	}

	// The actiontrigger rule fires on a failed core.local ("error" in st2's
	// sample means the status of that name).
	res, err = e.ProcessTriggerInstance(ctx, workflows.TriggerInstanceInput{
		ID: "aaaaaaaaaaaaaaaaaaaaaaa3", TriggerType: "core.st2.generic.actiontrigger", OccurredAt: time.Now(),
		Payload: map[string]any{"action_name": "local", "status": "error", "start_timestamp": "2026-11-25T08:00:00.000000Z"},
	})
	if err != nil || len(res.Executions) != 1 {
		t.Fatalf("actiontrigger rule: %+v %v", res, err)
	}
	if cmd := r.all()[1].Parameters["cmd"]; cmd != `echo "2026-11-25T08:00:00.000000Z"` {
		t.Fatalf("actiontrigger cmd %q", cmd)
	}
}

// Processing a trigger instance again (a retry after a crash) fires each
// rule with the same execution ID and records one enforcement.
func TestProcessingIsIdempotent(t *testing.T) {
	t.Parallel()
	store, r, e := setup(t)
	ctx := t.Context()
	in := workflows.TriggerInstanceInput{
		ID: "bbbbbbbbbbbbbbbbbbbbbbb1", TriggerType: "core.st2.webhook", TriggerParams: map[string]any{"url": "sample"},
		Payload: map[string]any{"headers": map[string]any{}, "body": map[string]any{"name": "st2"}}, OccurredAt: time.Now(),
	}
	for i := 0; i < 3; i++ {
		if _, err := e.ProcessTriggerInstance(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	ids := map[string]bool{}
	for _, req := range r.all() {
		ids[req.ID] = true
	}
	if len(ids) != 1 {
		t.Fatalf("execution IDs %v: a retry must reuse the ID", ids)
	}
	list, total, err := store.ListRuleEnforcements(ctx, catalog.EnforcementFilter{TriggerInstance: in.ID})
	if err != nil || total != 1 || len(list) != 1 || list[0].Status != catalog.EnforcementSucceeded {
		t.Fatalf("enforcements %+v %d %v", list, total, err)
	}
}

func TestDedupWindow(t *testing.T) {
	t.Parallel()
	store, r, e := setup(t)
	ctx := t.Context()
	_, err := store.CreateRule(ctx, pack.Rule{
		Name: "dedup", Pack: "examples", Ref: "examples.dedup", Enabled: true,
		Trigger: pack.RuleTrigger{Type: "core.st2.webhook", Parameters: map[string]any{"url": "alerts"}},
		Action:  pack.RuleAction{Ref: "core.noop"},
		Dedup:   map[string]any{"key": "trigger.body.alert_id", "window": "1h"},
	})
	if err != nil {
		t.Fatal(err)
	}
	send := func(id, alert string) workflows.TriggerInstanceResult {
		res, err := e.ProcessTriggerInstance(ctx, workflows.TriggerInstanceInput{
			ID: id, TriggerType: "core.st2.webhook", TriggerParams: map[string]any{"url": "alerts"},
			Payload: map[string]any{"body": map[string]any{"alert_id": alert}}, OccurredAt: time.Now(),
		})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := send("ccccccccccccccccccccccc1", "A"); len(res.Executions) != 1 {
		t.Fatalf("first: %+v", res)
	}
	if res := send("ccccccccccccccccccccccc1", "A"); len(res.Executions) != 1 {
		t.Fatalf("a retry of the same instance keeps its claim: %+v", res)
	}
	if res := send("ccccccccccccccccccccccc2", "A"); len(res.Executions) != 0 {
		t.Fatalf("same key within the window fired: %+v", res)
	}
	if res := send("ccccccccccccccccccccccc3", "B"); len(res.Executions) != 1 {
		t.Fatalf("other key: %+v", res)
	}
	list, _, _ := store.ListRuleEnforcements(ctx, catalog.EnforcementFilter{TriggerInstance: "ccccccccccccccccccccccc2"})
	if len(list) != 1 || !strings.Contains(list[0].FailureReason, "deduplicated") {
		t.Fatalf("dedup enforcement: %+v", list)
	}
	if n := len(r.all()); n != 3 {
		t.Fatalf("%d runs, want 3 (A, A's retry with the same ID, B)", n)
	}
}

// The engine caches each trigger's compiled rules, yet every rule change
// (create, disable, enable, update, delete) reaches the very next event.
func TestRuleChangesReachTheNextEvent(t *testing.T) {
	t.Parallel()
	store, _, e := setup(t)
	ctx := t.Context()
	n := 0
	fire := func() []string {
		n++
		res, err := e.ProcessTriggerInstance(ctx, workflows.TriggerInstanceInput{
			ID: fmt.Sprintf("dddddddddddddddddddddd%02d", n), TriggerType: "core.st2.webhook",
			TriggerParams: map[string]any{"url": "cached"},
			Payload:       map[string]any{"body": map[string]any{"kind": "x"}}, OccurredAt: time.Now(),
		})
		if err != nil {
			t.Fatal(err)
		}
		return res.Matched
	}
	rule := pack.Rule{
		Name: "cached", Pack: "examples", Ref: "examples.cached", Enabled: true,
		Trigger: pack.RuleTrigger{Type: "core.st2.webhook", Parameters: map[string]any{"url": "cached"}},
		Action:  pack.RuleAction{Ref: "core.noop"},
	}
	if got := fire(); len(got) != 0 {
		t.Fatalf("no rule yet, matched %v", got)
	}
	if _, err := store.CreateRule(ctx, rule); err != nil {
		t.Fatal(err)
	}
	if got := fire(); len(got) != 1 {
		t.Fatalf("after create: matched %v", got)
	}
	if _, err := store.SetRuleEnabled(ctx, rule.Ref, false); err != nil {
		t.Fatal(err)
	}
	if got := fire(); len(got) != 0 {
		t.Fatalf("after disable: matched %v", got)
	}
	if _, err := store.SetRuleEnabled(ctx, rule.Ref, true); err != nil {
		t.Fatal(err)
	}
	rule.Criteria = map[string]any{"trigger.body.kind": map[string]any{"type": "equals", "pattern": "y"}}
	if _, err := store.UpdateRule(ctx, rule.Ref, rule); err != nil {
		t.Fatal(err)
	}
	if got := fire(); len(got) != 0 {
		t.Fatalf("after an update to criteria the event fails: matched %v", got)
	}
	if err := store.DeleteRule(ctx, rule.Ref); err != nil {
		t.Fatal(err)
	}
	if got := fire(); len(got) != 0 {
		t.Fatalf("after delete: matched %v", got)
	}
}

// A batch is processed as its events one by one would be: each event is
// recorded with its final status, matching events fire their rules once,
// and processing the batch again fires nothing twice.
func TestProcessTriggerInstancesBatch(t *testing.T) {
	t.Parallel()
	store, r, e := setup(t)
	ctx := t.Context()
	hook := func(id, name string) workflows.TriggerInstanceInput {
		return workflows.TriggerInstanceInput{
			ID: id, TriggerType: "core.st2.webhook", TriggerParams: map[string]any{"url": "sample"},
			Payload: map[string]any{"headers": map[string]any{}, "body": map[string]any{"name": name}}, OccurredAt: time.Now(),
		}
	}
	evs := []workflows.TriggerInstanceInput{
		hook("eeeeeeeeeeeeeeeeeeeeeee1", "st2"), hook("eeeeeeeeeeeeeeeeeeeeeee2", "other"),
		hook("eeeeeeeeeeeeeeeeeeeeeee3", "st2"), hook("eeeeeeeeeeeeeeeeeeeeeee4", "nobody"),
	}
	for round := range 2 {
		res, err := e.ProcessTriggerInstances(ctx, evs)
		if err != nil {
			t.Fatal(err)
		}
		if res.Processed != 4 || len(res.Retry) != 0 || res.Executions != 2 {
			t.Fatalf("round %d: %+v, want 4 processed, 2 executions", round, res)
		}
	}
	if n := len(r.all()); n != 4 {
		// Two rounds each ask for the two executions; their IDs are the same.
		t.Fatalf("%d run requests, want 2 per round", n)
	}
	ids := map[string]bool{}
	for _, req := range r.all() {
		ids[req.ID] = true
	}
	if len(ids) != 2 {
		t.Fatalf("execution IDs %v: the second round must reuse the first's", ids)
	}
	for _, ev := range evs {
		ti, err := store.GetTriggerInstance(ctx, ev.ID)
		if err != nil {
			t.Fatal(err)
		}
		if ti.Status != catalog.TriggerInstanceProcessed {
			t.Fatalf("trigger instance %s: status %s", ev.ID, ti.Status)
		}
	}
}
