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
	SetTriggerInstanceStatus(ctx context.Context, id, status string) error
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

// rulesFor returns the enabled rules of a trigger key: from the cache when
// no rule changed since it was filled (one read of the rules version),
// else from the catalog.
func (e *Engine) rulesFor(ctx context.Context, key string) (*triggerRules, error) {
	v, err := e.Store.RulesVersion(ctx)
	if err != nil {
		return nil, err
	}
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
	res := workflows.TriggerInstanceResult{TriggerInstanceID: in.ID}
	in.Payload, _ = intNumbers(in.Payload).(map[string]any)
	in.TriggerParams, _ = intNumbers(in.TriggerParams).(map[string]any)
	log := e.logger().With("trigger_instance", in.ID, "trigger_type", in.TriggerType)
	if !in.Recorded {
		if _, err := e.Store.RecordTriggerInstance(ctx, catalog.TriggerInstance{
			ID: in.ID, TriggerType: in.TriggerType, TriggerParams: in.TriggerParams,
			Payload: in.Payload, OccurrenceTime: in.OccurredAt, TraceTag: in.TraceTag,
			Status: catalog.TriggerInstanceProcessing,
		}); err != nil {
			return res, fmt.Errorf("record trigger instance: %w", err)
		}
	}
	key, err := rules.TriggerKey(in.TriggerType, in.TriggerParams)
	if err != nil {
		// Parameters that are not JSON cannot match any rule: a permanent
		// failure of this instance, recorded rather than retried.
		log.Error("trigger instance has unusable trigger parameters", "error", err)
		return res, e.finish(ctx, in.ID, catalog.TriggerInstanceProcessingFailed)
	}
	tr, err := e.rulesFor(ctx, key)
	if err != nil {
		return res, err
	}
	for _, b := range tr.broken {
		// Registration compiles rules, so this means a rule stored by an
		// older Squall no longer compiles: record it, fire nothing for it.
		if _, _, rerr := e.Store.RecordEnforcement(ctx, e.enforcement(b.rec, in.ID, "", fmt.Sprintf("rule does not compile: %v", b.err))); rerr != nil {
			return res, rerr
		}
		res.Failed = append(res.Failed, b.rec.Ref)
	}
	byRef := tr.byRef
	extra := map[string]any{"trigger_instance": map[string]any{"id": in.ID}}
	matches := tr.index.Match(in.TriggerType, in.TriggerParams, in.Payload, extra)
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
		rec := byRef[m.Rule.Ref]
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
	return res, e.finish(ctx, in.ID, catalog.TriggerInstanceProcessed)
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
