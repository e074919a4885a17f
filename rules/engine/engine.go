// Package engine is Squall's rules engine at run time (st2rulesengine): the
// activity that takes one trigger instance, records it, matches it against
// the enabled rules of its trigger and enforces each match by starting the
// rule's action. Matching itself is the rules package's; this package adds
// the catalog, the executions and exactly-once bookkeeping.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/squall-automation/squall/catalog"
	"github.com/squall-automation/squall/execution"
	"github.com/squall-automation/squall/rules"
	"github.com/squall-automation/squall/workflows"
)

// Store is what the engine needs from the catalog.
type Store interface {
	RecordTriggerInstance(ctx context.Context, ti catalog.TriggerInstance) (bool, error)
	RecordTriggerInstances(ctx context.Context, tis []catalog.TriggerInstance) ([]bool, error)
	SetTriggerInstanceStatus(ctx context.Context, id, status string) error
	SetTriggerInstancesStatus(ctx context.Context, ids []string, status string) error
	EnabledRulesFor(ctx context.Context, triggerKey string) ([]catalog.RuleRecord, error)
	// RulesVersion changes whenever any rule does.
	RulesVersion(ctx context.Context) (string, error)
	RecordEnforcement(ctx context.Context, e catalog.RuleEnforcement) (catalog.RuleEnforcement, bool, error)
	ClaimDedup(ctx context.Context, ruleRef, key, triggerInstanceID string, window time.Duration) (bool, error)
}

// Executions starts actions.
type Executions interface {
	Run(ctx context.Context, req execution.RunRequest) (*execution.Execution, error)
}

// maxConcurrentEnforcements bounds the workflow starts one trigger
// instance makes at once.
const maxConcurrentEnforcements = 8

// Engine enforces rules. Safe for concurrent use.
type Engine struct {
	Store      Store
	Executions Executions
	Logger     *slog.Logger
	// User runs the actions rules start (st2's system user, "stanley").
	User string

	mu       sync.Mutex
	compiled map[string]compiledRule
	// triggers caches each trigger key's enabled rules, compiled and
	// indexed, for the rules version they were read at.
	triggers map[string]*triggerRules
}

// triggerRules are the enabled rules of one trigger key at one version.
type triggerRules struct {
	version string
	index   *rules.Index
	byRef   map[string]catalog.RuleRecord
	broken  []brokenRule // rules that no longer compile
}

type brokenRule struct {
	rec catalog.RuleRecord
	err error
}

// maxCachedTriggers bounds the cache; past it, it is emptied (a
// deployment with more distinct triggers than this reads them again).
const maxCachedTriggers = 10000

// rulesAt returns the enabled rules of a trigger key as of rules version
// v: from the cache when no rule changed since it was filled, else from
// the catalog. (A batch reads the version once for all its events.)
func (e *Engine) rulesAt(ctx context.Context, key, v string) (*triggerRules, error) {
	e.mu.Lock()
	tr := e.triggers[key]
	e.mu.Unlock()
	if tr != nil && tr.version == v {
		return tr, nil
	}
	// Read after the version: a change committed in between makes the
	// rules newer than v, and the next event reads them again.
	recs, err := e.Store.EnabledRulesFor(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("load rules of %s: %w", key, err)
	}
	tr = &triggerRules{version: v, byRef: make(map[string]catalog.RuleRecord, len(recs))}
	compiled := make([]*rules.Rule, 0, len(recs))
	for _, rec := range recs {
		r, err := e.compile(rec)
		if err != nil {
			tr.broken = append(tr.broken, brokenRule{rec: rec, err: err})
			continue
		}
		compiled = append(compiled, r)
		tr.byRef[rec.Ref] = rec
	}
	tr.index = rules.NewIndex(compiled)
	e.mu.Lock()
	if e.triggers == nil || len(e.triggers) >= maxCachedTriggers {
		e.triggers = map[string]*triggerRules{}
	}
	e.triggers[key] = tr
	e.mu.Unlock()
	return tr, nil
}

type compiledRule struct {
	updatedAt time.Time
	rule      *rules.Rule
	err       error
}

// compile returns the compiled rule, cached until the rule changes.
func (e *Engine) compile(rec catalog.RuleRecord) (*rules.Rule, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.compiled == nil {
		e.compiled = map[string]compiledRule{}
	}
	if c, ok := e.compiled[rec.Ref]; ok && c.updatedAt.Equal(rec.UpdatedAt) {
		return c.rule, c.err
	}
	r, err := rules.Compile(rec.Rule)
	e.compiled[rec.Ref] = compiledRule{updatedAt: rec.UpdatedAt, rule: r, err: err}
	return r, err
}

// ProcessTriggerInstance is the activity behind the TriggerInstance
// workflow. Every step is idempotent: the trigger instance insert ignores a
// duplicate, each rule's execution ID is derived from (trigger instance,
// rule) so Temporal refuses a second start, and enforcements are unique per
// (trigger instance, rule). A retry after any crash therefore completes the
// work without firing a rule twice.
func (e *Engine) ProcessTriggerInstance(ctx context.Context, in workflows.TriggerInstanceInput) (workflows.TriggerInstanceResult, error) {
	in = normalize(in)
	if !in.Recorded {
		if _, err := e.Store.RecordTriggerInstance(ctx, e.record(in, catalog.TriggerInstanceProcessing)); err != nil {
			return workflows.TriggerInstanceResult{TriggerInstanceID: in.ID}, fmt.Errorf("record trigger instance: %w", err)
		}
	}
	p, err := e.plan(ctx, in, "")
	if err != nil {
		return workflows.TriggerInstanceResult{TriggerInstanceID: in.ID}, err
	}
	res, err := e.carryOut(ctx, in, p)
	if err != nil {
		return res, err
	}
	return res, e.finish(ctx, in.ID, p.status)
}

// ProcessTriggerInstances is the activity behind TriggerInstanceBatch:
// ProcessTriggerInstance for every event of a batch, with the bookkeeping
// grouped. The events are matched first; one statement then records them
// all, those no rule fired for already with their final status (under
// load most events), and one more sets the status of the others once
// their rules are enforced, concurrently. Events whose enforcement failed
// are reported for retry, as ProcessEach does.
func (e *Engine) ProcessTriggerInstances(ctx context.Context, evs []workflows.TriggerInstanceInput) (workflows.ProcessTriggerInstancesResult, error) {
	var out workflows.ProcessTriggerInstancesResult
	plans := make(map[string]*plan, len(evs))
	var records []catalog.TriggerInstance
	var busy, recorded []workflows.TriggerInstanceInput
	v, err := e.Store.RulesVersion(ctx)
	if err != nil {
		return out, err
	}
	for _, in := range evs {
		in = normalize(in)
		p, err := e.plan(ctx, in, v)
		if err != nil {
			return out, err
		}
		plans[in.ID] = p
		switch {
		case in.Recorded:
			recorded = append(recorded, in)
		case p.quiet():
			records = append(records, e.record(in, p.status))
			out.Processed++
		default:
			records = append(records, e.record(in, catalog.TriggerInstanceProcessing))
			busy = append(busy, in)
		}
	}
	inserted, err := e.Store.RecordTriggerInstances(ctx, records)
	if err != nil {
		return workflows.ProcessTriggerInstancesResult{}, fmt.Errorf("record %d trigger instances: %w", len(records), err)
	}
	byStatus := map[string][]string{}
	for i, rec := range records {
		if !inserted[i] && rec.Status != catalog.TriggerInstanceProcessing {
			// Recorded by an earlier attempt, which may have ended before
			// its final status: set it.
			byStatus[rec.Status] = append(byStatus[rec.Status], rec.ID)
		}
	}
	busy = append(busy, recorded...)
	r, err := workflows.ProcessEach(func(ctx context.Context, in workflows.TriggerInstanceInput) (workflows.TriggerInstanceResult, error) {
		return e.carryOut(ctx, in, plans[in.ID])
	})(ctx, busy)
	if err != nil {
		return out, err
	}
	retry := make(map[string]bool, len(r.Retry))
	for _, id := range r.Retry {
		retry[id] = true
	}
	for _, in := range busy {
		if !retry[in.ID] {
			byStatus[plans[in.ID].status] = append(byStatus[plans[in.ID].status], in.ID)
		}
	}
	for status, ids := range byStatus {
		if err := e.Store.SetTriggerInstancesStatus(ctx, ids, status); err != nil {
			return out, fmt.Errorf("set the status of %d trigger instances: %w", len(ids), err)
		}
	}
	out.Processed += r.Processed
	out.Matched += r.Matched
	out.Executions += r.Executions
	out.Failed += r.Failed
	out.Retry = r.Retry
	return out, nil
}

// normalize gives an event's JSON numbers the types st2's rules expect.
func normalize(in workflows.TriggerInstanceInput) workflows.TriggerInstanceInput {
	in.Payload, _ = intNumbers(in.Payload).(map[string]any)
	in.TriggerParams, _ = intNumbers(in.TriggerParams).(map[string]any)
	return in
}

// record is the trigger instance row of an event.
func (e *Engine) record(in workflows.TriggerInstanceInput, status string) catalog.TriggerInstance {
	return catalog.TriggerInstance{
		ID: in.ID, TriggerType: in.TriggerType, TriggerParams: in.TriggerParams,
		Payload: in.Payload, OccurrenceTime: in.OccurredAt, TraceTag: in.TraceTag,
		Status: status,
	}
}

// plan is what an event asks of the rules engine: the rules of its trigger
// that matched (or failed to evaluate), the rules that no longer compile,
// and the status it ends with.
type plan struct {
	matches []rules.MatchResult
	byRef   map[string]catalog.RuleRecord
	broken  []brokenRule
	status  string
}

// quiet: nothing to enforce or to record beyond the trigger instance.
func (p *plan) quiet() bool { return len(p.matches) == 0 && len(p.broken) == 0 }

// plan matches an event against the enabled rules of its trigger, as of
// rules version v ("" reads the current one).
func (e *Engine) plan(ctx context.Context, in workflows.TriggerInstanceInput, v string) (*plan, error) {
	key, err := rules.TriggerKey(in.TriggerType, in.TriggerParams)
	if err != nil {
		// Parameters that are not JSON cannot match any rule: a permanent
		// failure of this instance, recorded rather than retried.
		e.logger().Error("trigger instance has unusable trigger parameters",
			"trigger_instance", in.ID, "trigger_type", in.TriggerType, "error", err)
		return &plan{status: catalog.TriggerInstanceProcessingFailed}, nil
	}
	if v == "" {
		if v, err = e.Store.RulesVersion(ctx); err != nil {
			return nil, err
		}
	}
	tr, err := e.rulesAt(ctx, key, v)
	if err != nil {
		return nil, err
	}
	extra := map[string]any{"trigger_instance": map[string]any{"id": in.ID}}
	return &plan{
		matches: tr.index.Match(in.TriggerType, in.TriggerParams, in.Payload, extra),
		byRef:   tr.byRef, broken: tr.broken, status: catalog.TriggerInstanceProcessed,
	}, nil
}

// carryOut enforces an event's plan: it records the failed enforcements of
// rules that no longer compile or failed to evaluate, and starts the
// action of every rule that matched.
func (e *Engine) carryOut(ctx context.Context, in workflows.TriggerInstanceInput, p *plan) (workflows.TriggerInstanceResult, error) {
	res := workflows.TriggerInstanceResult{TriggerInstanceID: in.ID}
	log := e.logger().With("trigger_instance", in.ID, "trigger_type", in.TriggerType)
	for _, b := range p.broken {
		// Registration compiles rules, so this means a rule stored by an
		// older Squall no longer compiles: record it, fire nothing for it.
		if _, _, rerr := e.Store.RecordEnforcement(ctx, e.enforcement(b.rec, in.ID, "", fmt.Sprintf("rule does not compile: %v", b.err))); rerr != nil {
			return res, rerr
		}
		res.Failed = append(res.Failed, b.rec.Ref)
	}
	matches := p.matches
	// Enforce the matches concurrently: each starts a workflow, and an
	// event matching ten rules should not wait for ten starts in a row.
	// Outcomes are collected per match and reported in match order.
	type outcome struct {
		execID, reason string
		evalErr        bool
	}
	outcomes := make([]outcome, len(matches))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(maxConcurrentEnforcements)
	for i, m := range matches {
		rec := p.byRef[m.Rule.Ref]
		g.Go(func() error {
			if m.Err != nil {
				reason := fmt.Sprintf("failed to evaluate criteria: %v", m.Err)
				outcomes[i] = outcome{reason: reason, evalErr: true}
				_, _, err := e.Store.RecordEnforcement(gctx, e.enforcement(rec, in.ID, "", reason))
				return err
			}
			execID, reason, err := e.enforce(gctx, in, m.Rule, rec)
			if err != nil {
				return err
			}
			outcomes[i] = outcome{execID: execID, reason: reason}
			_, _, err = e.Store.RecordEnforcement(gctx, e.enforcement(rec, in.ID, execID, reason))
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return res, err
	}
	for i, m := range matches {
		o := outcomes[i]
		if !o.evalErr {
			res.Matched = append(res.Matched, m.Rule.Ref)
		}
		if o.reason != "" {
			if !o.evalErr {
				log.Warn("rule enforcement failed", "rule", m.Rule.Ref, "reason", o.reason)
			}
			res.Failed = append(res.Failed, m.Rule.Ref)
			continue
		}
		res.Executions = append(res.Executions, o.execID)
	}
	return res, nil
}

// enforce starts the rule's action. A reason (with a nil error) means the
// enforcement failed for good (bad parameters, unknown action); an error
// means try again.
func (e *Engine) enforce(ctx context.Context, in workflows.TriggerInstanceInput, r *rules.Rule, rec catalog.RuleRecord) (string, string, error) {
	if r.Dedup != nil {
		key, err := r.Dedup.Key(in.Payload)
		if err != nil {
			return "", err.Error(), nil
		}
		// The claim lives in Postgres, so the window holds across crashes
		// and however long Temporal retains closed workflows.
		claimed, err := e.Store.ClaimDedup(ctx, rec.Ref, key, in.ID, r.Dedup.Window)
		if err != nil {
			return "", "", fmt.Errorf("claim dedup key of rule %s: %w", rec.Ref, err)
		}
		if !claimed {
			return "", fmt.Sprintf("deduplicated: an event with dedup key %q fired this rule less than %s ago", key, r.Dedup.Window), nil
		}
	}
	params, err := r.RenderActionParams(in.Payload, map[string]any{"trigger_instance": map[string]any{"id": in.ID}})
	if err != nil {
		return "", fmt.Sprintf("failed to render action parameters: %v", err), nil
	}
	user := e.User
	if user == "" {
		user = "stanley"
	}
	ex, err := e.Executions.Run(ctx, execution.RunRequest{
		ID:         workflows.ExecutionIDFor(in.ID, rec.Ref),
		Action:     rec.Rule.Action.Ref,
		Parameters: params,
		User:       user,
		Context: map[string]any{
			"rule":             map[string]any{"id": rec.ID, "ref": rec.Ref, "name": rec.Rule.Name},
			"trigger_instance": map[string]any{"id": in.ID, "name": nil},
			"trigger":          map[string]any{"ref": in.TriggerType},
			"trace_context":    map[string]any{"trace_tag": in.TraceTag},
		},
	})
	var invalid *execution.InvalidInputError
	switch {
	case err == nil:
		return ex.ID, "", nil
	case errors.As(err, &invalid):
		return "", invalid.Msg, nil
	case errors.Is(err, execution.ErrActionNotFound):
		return "", fmt.Sprintf("Action %q not found", rec.Rule.Action.Ref), nil
	default:
		return "", "", fmt.Errorf("start action of rule %s: %w", rec.Ref, err)
	}
}

func (e *Engine) enforcement(rec catalog.RuleRecord, tiID, execID, reason string) catalog.RuleEnforcement {
	status := catalog.EnforcementSucceeded
	if reason != "" {
		status = catalog.EnforcementFailed
	}
	return catalog.RuleEnforcement{
		ID:                workflows.TriggerInstanceIDFor("enforcement/" + tiID + "/" + rec.Ref),
		Rule:              catalog.EnforcementRule{ID: rec.ID, Ref: rec.Ref, UID: "rule:" + rec.Rule.Pack + ":" + rec.Rule.Name},
		TriggerInstanceID: tiID,
		ExecutionID:       execID,
		Status:            status,
		FailureReason:     reason,
		EnforcedAt:        time.Now().UTC(),
	}
}

func (e *Engine) finish(ctx context.Context, id, status string) error {
	if err := e.Store.SetTriggerInstanceStatus(ctx, id, status); err != nil {
		return fmt.Errorf("set trigger instance status: %w", err)
	}
	return nil
}

func (e *Engine) logger() *slog.Logger {
	if e.Logger != nil {
		return e.Logger
	}
	return slog.Default()
}

// intNumbers turns whole float64 values back into int64. Payloads cross
// Temporal as JSON and come back with every number a float64; st2 (Python)
// keeps 7 an int, so templates render "7", not "7.0", and operators compare
// like types. A JSON payload cannot tell 7 from 7.0, and 7 is what senders
// mean far more often.
func intNumbers(v any) any {
	switch x := v.(type) {
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x)
		}
		return x
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = intNumbers(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = intNumbers(e)
		}
		return out
	default:
		return v
	}
}
