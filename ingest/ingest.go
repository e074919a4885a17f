// Package ingest is the one door through which events enter Squall:
// webhooks, sensors, internal triggers. An event is accepted only once it is
// durable — a TriggerInstance workflow started in Temporal, or a
// TriggerInstanceBatch holding it and the other events of the same few
// milliseconds — or, when no enabled rule can use it, recorded in Postgres.
// A dedupe key makes a retried delivery the same trigger instance.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/squall-automation/squall/catalog"
	"github.com/squall-automation/squall/workflows"
)

// Event is one occurrence of a trigger.
type Event struct {
	TriggerType   string         // trigger type ref, e.g. core.st2.webhook
	TriggerParams map[string]any // parameters of a parameterised trigger (webhook url)
	Payload       map[string]any
	TraceTag      string
	// DedupeKey (an Idempotency-Key header, a sensor's dedupe key) makes
	// deliveries with the same trigger type and key one trigger instance.
	DedupeKey  string
	OccurredAt time.Time
	// HasRules, when the caller already knows it (a webhook looks its
	// trigger up with it), tells whether an enabled rule listens to the
	// trigger; nil: Dispatch asks the store.
	HasRules *bool
}

// Accepted tells what became of an event.
type Accepted struct {
	TriggerInstanceID string
	// Duplicate: an earlier delivery with the same dedupe key was accepted.
	Duplicate bool
	// Processing: a TriggerInstance workflow runs the rules; false when no
	// enabled rule listens to the trigger and the event was only recorded.
	Processing bool
}

// Store is what ingest needs from the catalog.
type Store interface {
	// HasEnabledRules reports whether any enabled rule listens to the trigger.
	HasEnabledRules(ctx context.Context, triggerType string, triggerParams map[string]any) (bool, error)
	// RecordTriggerInstance stores a trigger instance; inserted is false when
	// one with that ID exists already.
	RecordTriggerInstance(ctx context.Context, ti catalog.TriggerInstance) (inserted bool, err error)
	// GetTriggerInstance returns a recorded trigger instance, or an error
	// wrapping catalog.ErrNotFound.
	GetTriggerInstance(ctx context.Context, id string) (*catalog.TriggerInstance, error)
}

// Config configures a Dispatcher.
type Config struct {
	TaskQueue string
	// EagerStart hands the workflow's first task to a worker in this process.
	EagerStart bool
	// BatchWindow is how long events that need rule processing are gathered
	// before one TriggerInstanceBatch workflow start makes them all durable
	// (group commit): a workflow start costs the same for one event as for
	// two hundred. Zero starts one TriggerInstance workflow per event.
	BatchWindow time.Duration
	// MaxBatch caps the events of one batch (zero: DefaultMaxBatch).
	MaxBatch int
	// MaxBatchBytes caps a batch's encoded events, below Temporal's payload
	// limit (2 MiB by default) so that a batch start is never refused for
	// its size (zero: DefaultMaxBatchBytes).
	MaxBatchBytes int
	// MaxBatchStarts bounds the batch starts in flight; while all are, the
	// next batch keeps gathering (zero: DefaultMaxBatchStarts).
	MaxBatchStarts int
}

// Batching defaults.
const (
	DefaultMaxBatch      = 200
	DefaultMaxBatchBytes = 1 << 20
	// DefaultMaxBatchStarts: a start in flight while the next batch
	// gathers, and one spare for a full batch.
	DefaultMaxBatchStarts = 1
)

// Dispatcher accepts events.
type Dispatcher struct {
	cfg      Config
	temporal client.Client
	store    Store
	batch    *batcher // nil: one workflow per event
}

// New returns a Dispatcher.
func New(cfg Config, tc client.Client, store Store) *Dispatcher {
	if cfg.TaskQueue == "" {
		cfg.TaskQueue = workflows.TaskQueue
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	if cfg.MaxBatchBytes <= 0 {
		cfg.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if cfg.MaxBatchStarts <= 0 {
		cfg.MaxBatchStarts = DefaultMaxBatchStarts
	}
	d := &Dispatcher{cfg: cfg, temporal: tc, store: store}
	if cfg.BatchWindow > 0 {
		d.batch = newBatcher(cfg.BatchWindow, cfg.MaxBatch, cfg.MaxBatchBytes, cfg.MaxBatchStarts, d.startBatch)
	}
	return d
}

// Dispatch makes the event durable and returns once it is. An error means
// the event was not accepted and the sender should retry (with its key).
func (d *Dispatcher) Dispatch(ctx context.Context, ev Event) (Accepted, error) {
	if ev.TriggerType == "" {
		return Accepted{}, errors.New("event without a trigger type")
	}
	if ev.OccurredAt.IsZero() {
		ev.OccurredAt = time.Now().UTC()
	}
	if ev.Payload == nil {
		ev.Payload = map[string]any{}
	}
	id := catalog.NewID()
	if ev.DedupeKey != "" {
		id = workflows.TriggerInstanceIDFor("dedupe/" + ev.TriggerType + "/" + ev.DedupeKey)
	}
	var used bool
	if ev.HasRules != nil {
		used = *ev.HasRules
	} else {
		var err error
		if used, err = d.store.HasEnabledRules(ctx, ev.TriggerType, ev.TriggerParams); err != nil {
			return Accepted{}, fmt.Errorf("look up rules of %s: %w", ev.TriggerType, err)
		}
	}
	if !used {
		inserted, err := d.store.RecordTriggerInstance(ctx, catalog.TriggerInstance{
			ID: id, TriggerType: ev.TriggerType, TriggerParams: ev.TriggerParams,
			Payload: ev.Payload, OccurrenceTime: ev.OccurredAt, TraceTag: ev.TraceTag,
			Status: catalog.TriggerInstanceProcessed,
		})
		if err != nil {
			return Accepted{}, fmt.Errorf("record trigger instance: %w", err)
		}
		return Accepted{TriggerInstanceID: id, Duplicate: !inserted}, nil
	}
	in := workflows.TriggerInstanceInput{
		ID: id, TriggerType: ev.TriggerType, TriggerParams: ev.TriggerParams,
		Payload: ev.Payload, TraceTag: ev.TraceTag, OccurredAt: ev.OccurredAt,
	}
	if d.batch == nil {
		dup, err := d.startOne(ctx, in)
		if err != nil {
			return Accepted{}, err
		}
		return Accepted{TriggerInstanceID: id, Duplicate: dup, Processing: true}, nil
	}
	if ev.DedupeKey != "" {
		// A batch workflow's ID says nothing about the events inside, so
		// Temporal cannot refuse a redelivery as it refuses a second
		// "ti-<id>" start. Telling the sender it is a duplicate is therefore
		// best effort: the trigger instance is in Postgres once its
		// processing began. A redelivery racing that is processed again,
		// which fires nothing twice (execution IDs derive from the trigger
		// instance and the rule).
		switch _, err := d.store.GetTriggerInstance(ctx, id); {
		case err == nil:
			return Accepted{TriggerInstanceID: id, Duplicate: true, Processing: true}, nil
		case !errors.Is(err, catalog.ErrNotFound):
			return Accepted{}, fmt.Errorf("look up trigger instance %s: %w", id, err)
		}
	}
	dup, err := d.batch.add(ctx, in)
	if err != nil {
		return Accepted{}, err
	}
	return Accepted{TriggerInstanceID: id, Duplicate: dup, Processing: true}, nil
}

// startOne starts the TriggerInstance workflow of one event; duplicate is
// true when Temporal already has it (a redelivery).
func (d *Dispatcher) startOne(ctx context.Context, in workflows.TriggerInstanceInput) (duplicate bool, err error) {
	_, err = d.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       workflows.TriggerInstanceIDPrefix + in.ID,
		TaskQueue:                d.cfg.TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		EnableEagerStart:         d.cfg.EagerStart,
		// A redelivery must be told apart from a first delivery.
		WorkflowExecutionErrorWhenAlreadyStarted: true,
	}, workflows.TriggerInstanceWorkflow, in)
	if err != nil {
		var already *serviceerror.WorkflowExecutionAlreadyStarted
		if errors.As(err, &already) || temporal.IsWorkflowExecutionAlreadyStartedError(err) {
			return true, nil
		}
		return false, fmt.Errorf("start trigger instance %s: %w", in.ID, err)
	}
	return false, nil
}

// startBatch makes a batch durable. A batch of one (low load) is started as
// a lone TriggerInstance workflow, exactly as without batching, which also
// tells a redelivery apart for sure.
func (d *Dispatcher) startBatch(ctx context.Context, evs []workflows.TriggerInstanceInput) ([]bool, error) {
	if len(evs) == 1 {
		dup, err := d.startOne(ctx, evs[0])
		return []bool{dup}, err
	}
	id := workflows.TriggerInstanceBatchIDPrefix + catalog.NewID()
	_, err := d.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       id,
		TaskQueue:                d.cfg.TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		EnableEagerStart:         d.cfg.EagerStart,
	}, workflows.TriggerInstanceBatchWorkflow, workflows.TriggerInstanceBatchInput{Events: evs})
	if err != nil {
		return nil, fmt.Errorf("start trigger instance batch %s of %d events: %w", id, len(evs), err)
	}
	return make([]bool, len(evs)), nil
}
