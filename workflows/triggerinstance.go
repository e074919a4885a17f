package workflows

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
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
	// TriggerInstanceBatchWorkflow is the registered name of TriggerInstanceBatch.
	TriggerInstanceBatchWorkflow = "squall.TriggerInstanceBatch"
	// TriggerInstanceBatchIDPrefix starts the workflow ID of a batch
	// ("tib-<random id>"); the trigger instances it holds have their own IDs.
	TriggerInstanceBatchIDPrefix = "tib-"
	// ProcessTriggerInstancesActivity runs ProcessTriggerInstance for each
	// event of a batch.
	ProcessTriggerInstancesActivity = "squall.ProcessTriggerInstances"
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
	var res TriggerInstanceResult
	// First as a local activity, in the workflow task that eager start
	// handed this worker: no task dispatch, one workflow task in all. If
	// the worker dies, the workflow task times out and the next worker runs
	// it again (idempotent). If it fails, the regular activity takes over
	// with its unbounded retries.
	if err := workflow.ExecuteLocalActivity(localProcessOptions(ctx, time.Minute), ProcessTriggerInstanceActivity, in).Get(ctx, &res); err == nil {
		return res, nil
	}
	err := workflow.ExecuteActivity(processOptions(ctx), ProcessTriggerInstanceActivity, in).Get(ctx, &res)
	return res, err
}

// localProcessOptions are those of the first, local, attempt at processing
// trigger instances: one try, then the regular activity's retries.
func localProcessOptions(ctx workflow.Context, timeout time.Duration) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: timeout,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
	})
}

// processOptions are the options of ProcessTriggerInstance, the same for a
// lone trigger instance and for each one of a batch.
func processOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    200 * time.Millisecond,
			BackoffCoefficient: 2,
			MaximumInterval:    30 * time.Second,
			// No MaximumAttempts: an acknowledged event is never dropped;
			// Postgres or a rule's action coming back is waited for.
		},
	})
}

// TriggerInstanceBatchInput is a group of events ingest made durable with
// one workflow start (group commit). Each carries its own trigger instance
// ID, so processing one is exactly what a lone TriggerInstance does.
type TriggerInstanceBatchInput struct {
	Events []TriggerInstanceInput `json:"events"`
}

// TriggerInstanceBatchResult counts what the rules engine did for a batch;
// per-event detail lives in Postgres (trigger instances, enforcements) and
// is left out to keep the workflow's history small.
type TriggerInstanceBatchResult struct {
	Events     int `json:"events"`
	Matched    int `json:"matched_rules"`
	Executions int `json:"executions"`
	Failed     int `json:"failed_rules"`
}

// ProcessTriggerInstancesResult is what one ProcessTriggerInstances
// attempt did: counts for the events it processed, and the IDs of those
// whose processing failed and must be tried again.
type ProcessTriggerInstancesResult struct {
	Processed  int      `json:"processed"`
	Matched    int      `json:"matched_rules"`
	Executions int      `json:"executions"`
	Failed     int      `json:"failed_rules"`
	Retry      []string `json:"retry,omitempty"`
}

// TriggerInstanceBatch processes a batch of events with ProcessTriggerInstances,
// one activity that runs the rules engine's ProcessTriggerInstance for each
// event, exactly as TriggerInstance does for one: a workflow history of a
// few events per batch rather than per event keeps Temporal's cost of an
// event small. Events whose processing failed are tried again, on their
// own, with TriggerInstance's backoff, until every event is processed. An
// event's execution IDs derive from its trigger instance ID and the rule,
// so an event processed again, or also in another batch (a redelivery),
// never fires a rule twice.
func TriggerInstanceBatch(ctx workflow.Context, in TriggerInstanceBatchInput) (TriggerInstanceBatchResult, error) {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		// A batch is bounded in size, not in time: Postgres may be slow. The
		// heartbeat (one per event done) is what notices a lost worker.
		StartToCloseTimeout: 10 * time.Minute,
		HeartbeatTimeout:    15 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    200 * time.Millisecond,
			BackoffCoefficient: 2,
			MaximumInterval:    30 * time.Second,
			// No MaximumAttempts: an acknowledged event is never dropped.
		},
	})
	res := TriggerInstanceBatchResult{Events: len(in.Events)}
	pending := in.Events
	backoff := 200 * time.Millisecond
	for round := 0; len(pending) > 0; round++ {
		var r ProcessTriggerInstancesResult
		var err error
		if round == 0 {
			// The first round runs as a local activity, in the workflow
			// task eager start handed this worker (see TriggerInstance);
			// if the whole round fails the regular activity takes over.
			err = workflow.ExecuteLocalActivity(localProcessOptions(ctx, 10*time.Minute), ProcessTriggerInstancesActivity, pending).Get(ctx, &r)
		}
		if round > 0 || err != nil {
			r = ProcessTriggerInstancesResult{}
			err = workflow.ExecuteActivity(actx, ProcessTriggerInstancesActivity, pending).Get(ctx, &r)
		}
		if err != nil {
			return res, fmt.Errorf("process %d trigger instances: %w", len(pending), err)
		}
		res.Matched += r.Matched
		res.Executions += r.Executions
		res.Failed += r.Failed
		if len(r.Retry) == 0 {
			break
		}
		retry := make(map[string]bool, len(r.Retry))
		for _, id := range r.Retry {
			retry[id] = true
		}
		var next []TriggerInstanceInput
		for _, ev := range pending {
			if retry[ev.ID] {
				next = append(next, ev)
			}
		}
		pending = next
		if err := workflow.Sleep(ctx, backoff); err != nil {
			return res, err
		}
		backoff = min(2*backoff, 30*time.Second)
	}
	return res, nil
}

// processEachConcurrency bounds the events of one batch processed at once;
// each makes a few Postgres round trips and, per match, a workflow start.
const processEachConcurrency = 16

// ProcessEach turns the rules engine's ProcessTriggerInstance into the
// ProcessTriggerInstances activity of a batch: every event is processed,
// concurrently, and one failing is reported for retry rather than failing
// the others. It heartbeats as events finish, so a lost worker is noticed
// within the heartbeat timeout, not the batch's.
func ProcessEach(process func(context.Context, TriggerInstanceInput) (TriggerInstanceResult, error)) func(context.Context, []TriggerInstanceInput) (ProcessTriggerInstancesResult, error) {
	return func(ctx context.Context, evs []TriggerInstanceInput) (ProcessTriggerInstancesResult, error) {
		var (
			mu  sync.Mutex
			out ProcessTriggerInstancesResult
			wg  sync.WaitGroup
		)
		// Outside an activity (the rules engine's own tests) there is no
		// logger or heartbeat to use.
		inActivity := activity.IsActivity(ctx)
		sem := make(chan struct{}, processEachConcurrency)
		for _, ev := range evs {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				wg.Wait()
				return out, ctx.Err()
			}
			wg.Go(func() {
				defer func() { <-sem }()
				r, err := process(ctx, ev)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					out.Retry = append(out.Retry, ev.ID)
					if inActivity {
						activity.GetLogger(ctx).Warn("processing a trigger instance failed; it will be tried again",
							"trigger_instance", ev.ID, "error", err)
					}
				} else {
					out.Processed++
					out.Matched += len(r.Matched)
					out.Executions += len(r.Executions)
					out.Failed += len(r.Failed)
				}
				if inActivity {
					activity.RecordHeartbeat(ctx, out.Processed)
				}
			})
		}
		wg.Wait()
		return out, nil
	}
}
