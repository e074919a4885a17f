package workflows

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

const (
	// TriggerInstanceWorkflow is the registered name of TriggerInstance.
	TriggerInstanceWorkflow = "squall.TriggerInstance"
	// ProcessTriggerInstanceActivity records a trigger instance, matches it
	// against the rules of its trigger and enforces each match.
	ProcessTriggerInstanceActivity = "squall.ProcessTriggerInstance"
	// TriggerInstanceIDPrefix starts the workflow ID of a trigger instance
	// ("ti-<trigger instance id>"), keeping them apart from execution IDs.
	TriggerInstanceIDPrefix = "ti-"
)

// TriggerInstanceInput is one event, as accepted by ingest (webhook, sensor,
// internal trigger) or fired by a timer's Temporal Schedule.
type TriggerInstanceInput struct {
	// ID is the trigger instance ID. Empty for timer firings: it is then
	// derived from the workflow ID, which the Schedule makes unique per firing.
	ID            string         `json:"id,omitempty"`
	TriggerType   string         `json:"trigger_type"`
	TriggerParams map[string]any `json:"trigger_params,omitempty"`
	Payload       map[string]any `json:"payload"`
	TraceTag      string         `json:"trace_tag,omitempty"`
	// OccurredAt is when the event happened; zero for timer firings (the
	// workflow's start time is used).
	OccurredAt time.Time `json:"occurrence_time"`
	// Recorded is true when ingest already stored the trigger instance.
	Recorded bool `json:"recorded,omitempty"`
}

// TriggerInstanceResult summarises what the rules engine did.
type TriggerInstanceResult struct {
	TriggerInstanceID string   `json:"trigger_instance_id"`
	Matched           []string `json:"matched_rules"`
	Executions        []string `json:"executions"`
	Failed            []string `json:"failed_rules,omitempty"`
}

// TriggerInstanceIDFor derives a stable 24-hex trigger instance ID from a
// key (a workflow ID, or a trigger ref plus an idempotency key).
func TriggerInstanceIDFor(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:12])
}

// ExecutionIDFor derives the execution ID of a rule's enforcement for one
// trigger instance. Because Temporal refuses a second workflow with the
// same ID, a rule fires at most once per trigger instance, however often
// processing is retried.
func ExecutionIDFor(triggerInstanceID, ruleRef string) string {
	return TriggerInstanceIDFor("enforce/" + triggerInstanceID + "/" + ruleRef)
}

// TriggerInstance is the durable life of one event: Temporal holds it from
// the moment ingest acknowledges it, and the processing activity is retried
// until the event has been recorded and every matching rule enforced. Each
// step is idempotent, so a retry after a crash never fires a rule twice.
func TriggerInstance(ctx workflow.Context, in TriggerInstanceInput) (TriggerInstanceResult, error) {
	if in.ID == "" {
		in.ID = TriggerInstanceIDFor(workflow.GetInfo(ctx).WorkflowExecution.ID)
	}
	if in.OccurredAt.IsZero() {
		in.OccurredAt = workflow.GetInfo(ctx).WorkflowStartTime
	}
	if in.Payload == nil {
		// Timer firings carry st2's timer payload.
		in.Payload = map[string]any{"executed_at": in.OccurredAt.UTC().Format(time.RFC3339Nano), "schedule": nil}
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    200 * time.Millisecond,
			BackoffCoefficient: 2,
			MaximumInterval:    30 * time.Second,
			// No MaximumAttempts: an acknowledged event is never dropped;
			// Postgres or a rule's action coming back is waited for.
		},
	})
	var res TriggerInstanceResult
	err := workflow.ExecuteActivity(actx, ProcessTriggerInstanceActivity, in).Get(ctx, &res)
	return res, err
}
