package timers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/squall-automation/squall/catalog"
	"github.com/squall-automation/squall/trigger"
	"github.com/squall-automation/squall/workflows"
)

const (
	// DefaultIDPrefix starts the ID of every timer schedule; the rest is
	// the trigger's ref, so every process derives the same ID and Temporal
	// refuses a second schedule for one timer.
	DefaultIDPrefix = "squall-timer-"
	// WorkflowIDPrefix starts the workflow IDs of timer firings; the
	// schedule appends the firing time, so the trigger instance ID the
	// workflow derives from its ID is unique per firing.
	WorkflowIDPrefix = workflows.TriggerInstanceIDPrefix + "timer-"
	// DefaultPollInterval is how often Run checks whether rules changed.
	DefaultPollInterval = 2 * time.Second
	// DefaultResync is how often Run reconciles even though rules did not
	// change, recreating schedules deleted by hand in the Web UI and
	// deleting ones a stale listing kept alive.
	DefaultResync = 5 * time.Minute

	// CatchupWindow is how late a firing may still start after the Temporal
	// server (or its scheduler) was unavailable at the nominal time. st2
	// drops firings missed while st2timersengine is down; one minute rides
	// out a server restart without releasing, after a long outage, a burst
	// of stale firings (Temporal's default window is a year, which for a
	// one-second timer is millions of runs).
	CatchupWindow = time.Minute

	// Memo keys: on the schedule, for the Web UI (set once; the ID fixes
	// both), and on the workflow action, which Update can change, where
	// the spec hash lives.
	MemoTrigger     = "squall_trigger"
	MemoTriggerType = "squall_trigger_type"
	MemoSpecHash    = "squall_timer_spec"

	// specVersion is part of the spec hash: bump it when the translation of
	// timer parameters changes, so that existing schedules are rewritten.
	specVersion = 1

	maxBackoff = time.Minute
)

// Store is what the Reconciler needs from the catalog (*catalog.Store).
type Store interface {
	// ActiveTriggers returns the distinct trigger objects of these types
	// used by at least one enabled rule.
	ActiveTriggers(ctx context.Context, typeRefs ...string) ([]catalog.Trigger, error)
	// RulesVersion changes whenever rules (or their triggers) change.
	RulesVersion(ctx context.Context) (string, error)
}

var _ Store = (*catalog.Store)(nil)

// Reconciler keeps one Temporal Schedule per timer trigger that an enabled
// rule uses: it creates missing schedules, rewrites those whose parameters
// changed and deletes those no enabled rule uses. Every Squall process may
// run one; they converge on the same schedules because IDs and contents
// derive from the triggers alone.
type Reconciler struct {
	Client client.Client
	Store  Store
	// TaskQueue is where the firings' TriggerInstance workflows run.
	TaskQueue string
	// Namespace is the namespace Client is connected to; it names where
	// the schedules live in logs.
	Namespace string
	Logger    *slog.Logger
	// IDPrefix starts the IDs of the schedules this Reconciler owns: it
	// lists and deletes only those. Default DefaultIDPrefix; deployments
	// sharing a namespace (and tests) set their own, which must not start
	// with another deployment's prefix.
	IDPrefix string
	// Resync: see DefaultResync (the default).
	Resync time.Duration

	kickOnce sync.Once
	kick     chan struct{}
}

// ScheduleID returns the ID of a trigger's schedule.
func (r *Reconciler) ScheduleID(triggerRef string) string {
	return r.prefix() + triggerRef
}

func (r *Reconciler) prefix() string {
	if r.IDPrefix != "" {
		return r.IDPrefix
	}
	return DefaultIDPrefix
}

func (r *Reconciler) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}

func (r *Reconciler) kickChan() chan struct{} {
	r.kickOnce.Do(func() { r.kick = make(chan struct{}, 1) })
	return r.kick
}

// Trigger asks Run to reconcile now, e.g. right after the API changed a
// rule, instead of at its next poll. It never blocks.
func (r *Reconciler) Trigger() {
	select {
	case r.kickChan() <- struct{}{}:
	default: // a reconciliation is already pending
	}
}

// Run reconciles at start, then whenever RulesVersion changes (checked every
// interval, DefaultPollInterval when zero), when Trigger is called, and every
// Resync. Failures are logged and retried with backoff. It returns nil when
// ctx is done.
func (r *Reconciler) Run(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		interval = DefaultPollInterval
	}
	resync := r.Resync
	if resync <= 0 {
		resync = DefaultResync
	}
	log := r.logger().With("namespace", r.Namespace)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	var (
		applied  string // RulesVersion the schedules last reflected
		synced   bool
		kicked   bool
		lastSync time.Time
		failures int
		retry    <-chan time.Time // set while backing off after a failure
	)
	for {
		if kicked || retry == nil {
			now := time.Now()
			// The version is read before the rules, so a change made while
			// reconciling shows as a new version at the next poll.
			version, err := r.Store.RulesVersion(ctx)
			if err == nil && (kicked || !synced || version != applied || now.Sub(lastSync) >= resync) {
				err = r.Reconcile(ctx)
				if err == nil {
					applied, synced, lastSync = version, true, now
				}
			}
			kicked = false
			switch {
			case ctx.Err() != nil:
				return nil
			case err != nil:
				failures++
				backoff := min(DefaultPollInterval<<min(failures, 6), maxBackoff)
				retry = time.After(backoff)
				log.Warn("timer schedules not reconciled; retrying", "error", err, "retry_in", backoff)
			default:
				failures, retry = 0, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		case <-retry:
			retry = nil
		case <-r.kickChan():
			kicked = true
		}
	}
}

// desired is the schedule a timer trigger should have.
type desired struct {
	id, ref, typ string
	spec         client.ScheduleSpec
	oneShot      bool
	input        workflows.TriggerInstanceInput
	hash         string
}

func (r *Reconciler) desiredFor(t catalog.Trigger) (desired, error) {
	spec, err := Spec(t)
	if err != nil {
		return desired{}, err
	}
	d := desired{
		id: r.ScheduleID(t.Ref), ref: t.Ref, typ: t.Type, spec: spec,
		oneShot: t.Type == trigger.DateTimer,
		input:   workflows.TriggerInstanceInput{TriggerType: t.Type, TriggerParams: t.Parameters},
	}
	// Everything the schedule is made of, so that a change to the task
	// queue or to this package's translation also rewrites it.
	sum, err := json.Marshal(struct {
		Version   int
		Spec      client.ScheduleSpec
		OneShot   bool
		TaskQueue string
		Workflow  string
		Input     workflows.TriggerInstanceInput
	}{specVersion, spec, d.oneShot, r.TaskQueue, workflows.TriggerInstanceWorkflow, d.input})
	if err != nil {
		return desired{}, fmt.Errorf("trigger %s: hash schedule: %w", t.Ref, err)
	}
	h := sha256.Sum256(sum)
	d.hash = hex.EncodeToString(h[:16])
	return d, nil
}

func (r *Reconciler) action(d desired) *client.ScheduleWorkflowAction {
	idHash := sha256.Sum256([]byte(d.id))
	return &client.ScheduleWorkflowAction{
		ID:        WorkflowIDPrefix + hex.EncodeToString(idHash[:8]),
		Workflow:  workflows.TriggerInstanceWorkflow,
		Args:      []any{d.input},
		TaskQueue: r.TaskQueue,
		Memo:      map[string]any{MemoTrigger: d.ref, MemoSpecHash: d.hash},
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.AttrTrigger.ValueSet(d.ref),
		),
	}
}

func (r *Reconciler) policies() *client.SchedulePolicies {
	// ALLOW_ALL: every firing is an independent event, as in st2; a slow
	// rule must not make the timer skip firings.
	return &client.SchedulePolicies{
		Overlap:       enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL,
		CatchupWindow: CatchupWindow,
	}
}

// Reconcile makes the schedules match the timer triggers of enabled rules,
// once. Triggers with invalid parameters (registered before validation
// existed, say) are logged and their schedules left alone; the returned
// error joins the failures to reach Temporal or the store.
func (r *Reconciler) Reconcile(ctx context.Context) error {
	if r.TaskQueue == "" {
		return errors.New("timers: reconciler has no task queue")
	}
	// Schedules are listed before the rules are read: a schedule in the
	// list was created from rules read before ours, so deleting it because
	// our (newer) rules lack it is right.
	existing, err := r.list(ctx)
	if err != nil {
		return err
	}
	triggers, err := r.Store.ActiveTriggers(ctx, trigger.IntervalTimer, trigger.DateTimer, trigger.CronTimer)
	if err != nil {
		return fmt.Errorf("timers: read active timer triggers: %w", err)
	}
	log := r.logger().With("namespace", r.Namespace)
	keep := map[string]bool{}
	var errs []error
	for _, t := range triggers {
		id := r.ScheduleID(t.Ref)
		keep[id] = true
		d, err := r.desiredFor(t)
		if err != nil {
			log.Error("timer trigger has invalid parameters; its schedule is left as it is", "trigger", t.Ref, "error", err)
			continue
		}
		if err := r.apply(ctx, d, existing[id]); err != nil {
			errs = append(errs, err)
		}
	}
	var stale []string
	for id := range existing {
		if !keep[id] {
			stale = append(stale, id)
		}
	}
	sort.Strings(stale)
	for _, id := range stale {
		err := r.Client.ScheduleClient().GetHandle(ctx, id).Delete(ctx)
		var nf *serviceerror.NotFound
		switch {
		case errors.As(err, &nf):
			// Another process deleted it first.
		case err != nil:
			errs = append(errs, fmt.Errorf("timers: delete schedule %s: %w", id, err))
		default:
			log.Info("timer schedule deleted", "schedule", id)
		}
	}
	return errors.Join(errs...)
}

// list returns the IDs of this Reconciler's schedules. Listing is
// eventually consistent, which apply and Resync allow for.
func (r *Reconciler) list(ctx context.Context) (map[string]bool, error) {
	it, err := r.Client.ScheduleClient().List(ctx, client.ScheduleListOptions{PageSize: 1000})
	if err != nil {
		return nil, fmt.Errorf("timers: list schedules: %w", err)
	}
	ids := map[string]bool{}
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("timers: list schedules: %w", err)
		}
		if strings.HasPrefix(e.ID, r.prefix()) {
			ids[e.ID] = true
		}
	}
	return ids, nil
}

// apply creates or updates one schedule. Whether it exists is only a hint
// (the listing may lag): a create that finds it exists updates instead, an
// update that finds none creates.
func (r *Reconciler) apply(ctx context.Context, d desired, listed bool) error {
	if !listed {
		created, err := r.create(ctx, d)
		if created || err != nil {
			return err
		}
	}
	err := r.update(ctx, d)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		_, err = r.create(ctx, d)
	}
	return err
}

// create reports false, without error, when the schedule already exists:
// another process created it, or the listing lagged.
func (r *Reconciler) create(ctx context.Context, d desired) (bool, error) {
	opts := client.ScheduleOptions{
		ID:            d.id,
		Spec:          d.spec,
		Action:        r.action(d),
		Overlap:       enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL,
		CatchupWindow: CatchupWindow,
		Memo:          map[string]any{MemoTrigger: d.ref, MemoTriggerType: d.typ},
	}
	if d.oneShot {
		opts.RemainingActions = 1
	}
	_, err := r.Client.ScheduleClient().Create(ctx, opts)
	if errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("timers: create schedule %s: %w", d.id, err)
	}
	r.logger().Info("timer schedule created", "namespace", r.Namespace, "schedule", d.id, "trigger", d.ref, "type", d.typ)
	return true, nil
}

func (r *Reconciler) update(ctx context.Context, d desired) error {
	updated := false
	err := r.Client.ScheduleClient().GetHandle(ctx, d.id).Update(ctx, client.ScheduleUpdateOptions{
		DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			if specHash(in.Description.Schedule.Action) == d.hash {
				return nil, temporal.ErrSkipScheduleUpdate
			}
			// An operator's pause (and its note) survives the rewrite.
			state := &client.ScheduleState{}
			if old := in.Description.Schedule.State; old != nil {
				state.Paused, state.Note = old.Paused, old.Note
			}
			if d.oneShot {
				state.LimitedActions, state.RemainingActions = true, 1
			}
			spec := d.spec
			updated = true
			return &client.ScheduleUpdate{Schedule: &client.Schedule{
				Action: r.action(d),
				Spec:   &spec,
				Policy: r.policies(),
				State:  state,
			}}, nil
		},
	})
	if err != nil {
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			return err
		}
		return fmt.Errorf("timers: update schedule %s: %w", d.id, err)
	}
	if updated {
		r.logger().Info("timer schedule updated", "namespace", r.Namespace, "schedule", d.id, "trigger", d.ref, "type", d.typ)
	}
	return nil
}

// specHash reads the spec hash from a described schedule's action; "" when
// it has none (not written by this package), which forces a rewrite.
func specHash(a client.ScheduleAction) string {
	wa, ok := a.(*client.ScheduleWorkflowAction)
	if !ok {
		return ""
	}
	p, ok := wa.Memo[MemoSpecHash].(*commonpb.Payload)
	if !ok {
		return ""
	}
	var h string
	if err := converter.GetDefaultDataConverter().FromPayload(p, &h); err != nil {
		return ""
	}
	return h
}
