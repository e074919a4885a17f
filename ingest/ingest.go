// Package ingest is the one door through which events enter Squall:
// webhooks, sensors, internal triggers. An event is accepted only once it is
// durable — a TriggerInstance workflow started in Temporal — or, when no
// enabled rule can use it, recorded in Postgres. A dedupe key makes a
// retried delivery the same trigger instance.
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
}

// Config configures a Dispatcher.
type Config struct {
	TaskQueue string
	// EagerStart hands the workflow's first task to a worker in this process.
	EagerStart bool
}

// Dispatcher accepts events.
type Dispatcher struct {
	cfg      Config
	temporal client.Client
	store    Store
}

// New returns a Dispatcher.
func New(cfg Config, tc client.Client, store Store) *Dispatcher {
	if cfg.TaskQueue == "" {
		cfg.TaskQueue = workflows.TaskQueue
	}
	return &Dispatcher{cfg: cfg, temporal: tc, store: store}
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
	used, err := d.store.HasEnabledRules(ctx, ev.TriggerType, ev.TriggerParams)
	if err != nil {
		return Accepted{}, fmt.Errorf("look up rules of %s: %w", ev.TriggerType, err)
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
	_, err = d.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       workflows.TriggerInstanceIDPrefix + id,
		TaskQueue:                d.cfg.TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		EnableEagerStart:         d.cfg.EagerStart,
		// A redelivery must be told apart from a first delivery.
		WorkflowExecutionErrorWhenAlreadyStarted: true,
	}, workflows.TriggerInstanceWorkflow, workflows.TriggerInstanceInput{
		ID: id, TriggerType: ev.TriggerType, TriggerParams: ev.TriggerParams,
		Payload: ev.Payload, TraceTag: ev.TraceTag, OccurredAt: ev.OccurredAt,
	})
	if err != nil {
		var already *serviceerror.WorkflowExecutionAlreadyStarted
		if errors.As(err, &already) || temporal.IsWorkflowExecutionAlreadyStartedError(err) {
			return Accepted{TriggerInstanceID: id, Duplicate: true, Processing: true}, nil
		}
		return Accepted{}, fmt.Errorf("start trigger instance %s: %w", id, err)
	}
	return Accepted{TriggerInstanceID: id, Processing: true}, nil
}
