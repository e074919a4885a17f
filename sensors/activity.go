package sensors

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/squall-automation/squall/catalog"
	"github.com/squall-automation/squall/ingest"
	"github.com/squall-automation/squall/trigger"
)

// ErrTypeSensorExited is the ApplicationError type of a RunSensor attempt
// whose sensor stopped on its own soon after it started; Temporal retries it
// with backoff.
const ErrTypeSensorExited = "SensorExited"

var (
	// errLeaseLost ends a run whose attempt Temporal no longer considers
	// current.
	errLeaseLost = errors.New("this worker no longer holds the sensor")
	// errCancelRequested ends a run whose cancellation Temporal recorded
	// before the activity context learned of it.
	errCancelRequested = errors.New("the sensor's cancellation was requested")
	// errWorkerStopping ends a run because its worker is shutting down
	// gracefully (worker.Stop: SIGTERM to squall worker, Ctrl-C of squall
	// up): the sensor is stopped as on a disable and handed over.
	errWorkerStopping = errors.New("the worker is stopping; handing the sensor over")
)

// Deps is what running sensors needs. Zero durations mean the defaults.
type Deps struct {
	Store      SensorStore
	Dispatcher Dispatcher
	// Temporal, when set, lets a running sensor check that its attempt is
	// still the current one and kill the sensor when it is not, or when
	// Temporal has been unreachable for half the heartbeat timeout: a
	// worker cut off from Temporal then stops its copy instead of running
	// alongside the one started elsewhere. Best effort: heartbeats are
	// batched by the SDK, so a short overlap remains possible. NewWorker
	// sets it to its client.
	Temporal client.Client
	// Python is the interpreter for StackStorm Python sensors (python3).
	Python string
	// ShimDir is where the Python wrapper and st2reactor stand-in are
	// written; empty means <user cache dir>/squall/sensor-shim.
	ShimDir string
	Logger  *slog.Logger
	// TaskQueue NewWorker polls; empty means TaskQueue. (Tests isolate
	// themselves with their own queue.)
	TaskQueue string

	HeartbeatInterval   time.Duration
	HealthyRun          time.Duration
	TriggerPollInterval time.Duration
	KillGracePeriod     time.Duration
	LeaseCheckInterval  time.Duration
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Activities runs sensors; register it once per worker (Register does).
type Activities struct {
	deps Deps

	shimMu        sync.Mutex
	shimInstalled string
}

// NewActivities returns the sensor activities over deps.
func NewActivities(deps Deps) *Activities {
	return &Activities{deps: deps}
}

func (a *Activities) logger() *slog.Logger {
	if a.deps.Logger != nil {
		return a.deps.Logger
	}
	return slog.Default()
}

// RunSensorInput names the sensor to run; its definition is read from the
// catalog when the attempt starts, so a restart picks up a re-registration.
type RunSensorInput struct {
	Ref string `json:"ref"`
}

// RunSensorResult ends a run that needs no retry.
type RunSensorResult struct {
	// Stopped: the sensor is disabled or no longer registered; the
	// workflow ends.
	Stopped bool   `json:"stopped,omitempty"`
	Reason  string `json:"reason,omitempty"`
	// Exited: the sensor stopped on its own after running long enough to
	// count as healthy; the workflow starts it again at once.
	Exited   bool `json:"exited,omitempty"`
	ExitCode int  `json:"exit_code,omitempty"`
	// Handover: the worker running the sensor is stopping gracefully; the
	// sensor was stopped as on a disable (SIGTERM, grace period, SIGKILL;
	// process_exit dispatched) and the workflow starts it again at once,
	// on another worker, as a fresh run: a handover is not a crash and
	// neither waits for nor adds to the crash backoff. (A workflow of an
	// older Squall, which does not know the field, does the same: any
	// result that is neither Stopped nor an error starts the sensor again.)
	Handover bool `json:"handover,omitempty"`
}

// RunSensor runs one sensor until it exits, the activity is cancelled or
// its worker stops, heartbeating all along. The sensor never outlives the
// call.
//
// A graceful worker stop (worker.Stop, which NewWorker gives
// WorkerStopTimeout for this) closes the SDK's worker stop channel before
// it cancels anything: the sensor is then stopped gracefully and the call
// returns a Handover result, which Temporal records while the worker is
// still up, so the sensor starts again on another worker at once instead
// of after the heartbeat timeout. A worker that dies (kill -9, crash, OOM)
// reports nothing: its sensor gets SIGKILL from the kernel (Pdeathsig) and
// Temporal starts it elsewhere after HeartbeatTimeout.
func (a *Activities) RunSensor(ctx context.Context, in RunSensorInput) (RunSensorResult, error) {
	info := activity.GetInfo(ctx)
	log := a.logger().With("sensor", in.Ref, "attempt", info.Attempt)
	rec, err := a.deps.Store.GetSensor(ctx, in.Ref)
	if errors.Is(err, catalog.ErrNotFound) {
		return RunSensorResult{Stopped: true, Reason: "the sensor is not registered"}, nil
	}
	if err != nil {
		return RunSensorResult{}, fmt.Errorf("look up sensor %s: %w", in.Ref, err)
	}
	if !rec.Enabled {
		return RunSensorResult{Stopped: true, Reason: "the sensor is disabled"}, nil
	}
	workerStop := activity.GetWorkerStopChannel(ctx)
	select {
	case <-workerStop:
		// Picked up while the worker drains: leave it to another one.
		log.Info("the worker is stopping; not starting the sensor here")
		return RunSensorResult{Handover: true, Reason: errWorkerStopping.Error()}, nil
	default:
	}

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go a.keepAlive(runCtx, cancel, workerStop, log)

	r := &run{a: a, rec: rec, log: log}
	started := time.Now()
	exitCode, err := r.execute(runCtx)
	if ctx.Err() != nil {
		// Cancelled (the sensor was disabled, restarted or its workflow
		// ended) or timed out: Temporal ignores what we return.
		return RunSensorResult{}, ctx.Err()
	}
	switch cause := context.Cause(runCtx); {
	case errors.Is(cause, errCancelRequested):
		// Acknowledges the cancellation (the SDK reports a CanceledError
		// as such).
		return RunSensorResult{}, temporal.NewCanceledError(cause.Error())
	case errors.Is(cause, errLeaseLost):
		return RunSensorResult{}, fmt.Errorf("sensor %s stopped: %w", rec.Ref, cause)
	case errors.Is(cause, errWorkerStopping):
		// Stopped (or failed to start) because of the stop, not on its
		// own: whatever execute says, this is a handover.
		if err != nil {
			log.Info("the sensor could not start before the worker's shutdown; handing it over", "error", err)
		} else {
			log.Info("sensor stopped for the worker's shutdown; handing it over", "exit_code", exitCode)
		}
		return RunSensorResult{Handover: true, Reason: cause.Error(), ExitCode: exitCode}, nil
	}
	if err != nil {
		return RunSensorResult{}, fmt.Errorf("sensor %s: %w", rec.Ref, err)
	}
	ran := time.Since(started)
	if ran >= orDefault(a.deps.HealthyRun, DefaultHealthyRun) {
		log.Warn("sensor exited; starting it again", "exit_code", exitCode, "ran_for", ran.Round(time.Second))
		return RunSensorResult{Exited: true, ExitCode: exitCode}, nil
	}
	return RunSensorResult{}, temporal.NewApplicationError(
		fmt.Sprintf("sensor %s exited with code %d after %s", rec.Ref, exitCode, ran.Round(time.Millisecond)),
		ErrTypeSensorExited, exitCode)
}

// keepAlive heartbeats until ctx ends and, with a Temporal client, checks
// the lease (see Deps.Temporal); losing it cancels ctx with errLeaseLost.
// The worker's stop (workerStop closing) cancels ctx with
// errWorkerStopping.
func (a *Activities) keepAlive(ctx context.Context, cancel context.CancelCauseFunc, workerStop <-chan struct{}, log *slog.Logger) {
	hb := time.NewTicker(orDefault(a.deps.HeartbeatInterval, DefaultHeartbeatInterval))
	defer hb.Stop()
	var lease <-chan time.Time
	if a.deps.Temporal != nil {
		t := time.NewTicker(orDefault(a.deps.LeaseCheckInterval, DefaultLeaseCheckInterval))
		defer t.Stop()
		lease = t.C
	}
	info := activity.GetInfo(ctx)
	lastOK := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-workerStop:
			log.Info("the worker is stopping; stopping the sensor so that another worker takes it over")
			cancel(errWorkerStopping)
			return
		case <-hb.C:
			activity.RecordHeartbeat(ctx)
		case <-lease:
			st, err := a.leaseState(ctx, info)
			switch {
			case err == nil && st == leaseHeld:
				lastOK = time.Now()
			case err == nil && st == leaseCancelRequested:
				// Cancellation reaches the activity through a heartbeat
				// response, which the SDK may hold back for up to 80% of
				// the heartbeat timeout; a disabled sensor stops sooner
				// this way.
				log.Info("the sensor's cancellation was requested")
				cancel(errCancelRequested)
				return
			case err == nil:
				log.Warn("Temporal no longer runs this attempt of the sensor; stopping it")
				cancel(errLeaseLost)
				return
			case ctx.Err() != nil:
				return
			case time.Since(lastOK) > HeartbeatTimeout/2:
				log.Warn("Temporal unreachable; stopping the sensor so that only one copy runs", "error", err)
				cancel(fmt.Errorf("%w: %v", errLeaseLost, err))
				return
			default:
				log.Debug("checking the sensor's lease failed", "error", err)
			}
		}
	}
}

type lease int

const (
	leaseHeld lease = iota
	leaseLost
	leaseCancelRequested
)

// leaseState asks Temporal whether this activity attempt is still the one
// running.
func (a *Activities) leaseState(ctx context.Context, info activity.Info) (lease, error) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	desc, err := a.deps.Temporal.DescribeWorkflowExecution(cctx, info.WorkflowExecution.ID, info.WorkflowExecution.RunID)
	if err != nil {
		return leaseLost, err
	}
	if desc.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return leaseLost, nil
	}
	for _, pa := range desc.GetPendingActivities() {
		if pa.GetActivityId() != info.ActivityID || pa.GetAttempt() != info.Attempt {
			continue
		}
		switch pa.GetState() {
		case enumspb.PENDING_ACTIVITY_STATE_STARTED:
			return leaseHeld, nil
		case enumspb.PENDING_ACTIVITY_STATE_CANCEL_REQUESTED:
			return leaseCancelRequested, nil
		}
	}
	return leaseLost, nil
}

// run is one attempt of one sensor.
type run struct {
	a   *Activities
	rec *catalog.SensorRecord
	log *slog.Logger

	mu       sync.Mutex
	triggers []catalog.Trigger // the latest active triggers of its types
}

// execute starts the sensor and waits for it to end; it returns the exit
// code (0 for a built-in that returned without error).
func (r *run) execute(ctx context.Context) (int, error) {
	if name, ok := builtinFor(r.rec); ok {
		return r.runBuiltin(ctx, name)
	}
	return r.runProcess(ctx)
}

// watchTriggers looks up the sensor's triggers now and then every poll
// interval, calling onChange with the full list whenever it changed (and
// once at the start). The first lookup's error is returned; later ones are
// logged and retried.
func (r *run) watchTriggers(ctx context.Context, onChange func([]catalog.Trigger)) (func(), error) {
	fetch := func() ([]catalog.Trigger, []byte, error) {
		var ts []catalog.Trigger
		// No types: nothing to look up (ActiveTriggers would return all).
		if len(r.rec.TriggerTypes) > 0 {
			fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			var err error
			if ts, err = r.a.deps.Store.ActiveTriggers(fctx, r.rec.TriggerTypes...); err != nil {
				return nil, nil, err
			}
		}
		if ts == nil {
			ts = []catalog.Trigger{}
		}
		sort.Slice(ts, func(i, j int) bool { return ts[i].ID < ts[j].ID })
		b, err := json.Marshal(ts)
		return ts, b, err
	}
	ts, last, err := fetch()
	if err != nil {
		return nil, fmt.Errorf("look up the triggers of %v: %w", r.rec.TriggerTypes, err)
	}
	r.setTriggers(ts)
	onChange(ts)
	done := make(chan struct{})
	stop := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(orDefault(r.a.deps.TriggerPollInterval, DefaultTriggerPollInterval))
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-stop:
				return
			case <-t.C:
			}
			ts, b, err := fetch()
			if err != nil {
				if ctx.Err() == nil {
					r.log.Warn("looking up the sensor's triggers failed", "error", err)
				}
				continue
			}
			if bytes.Equal(b, last) {
				continue
			}
			last = b
			r.setTriggers(ts)
			r.log.Info("the sensor's triggers changed", "triggers", len(ts))
			onChange(ts)
		}
	}()
	return func() { close(stop); <-done }, nil
}

func (r *run) setTriggers(ts []catalog.Trigger) {
	r.mu.Lock()
	r.triggers = ts
	r.mu.Unlock()
}

// eventFor turns what a sensor dispatched into an event. Sensors name either
// a trigger type or (for parameterised types, as st2's FileWatchSensor does)
// a trigger object by its ref, ID or UID; the latter carries parameters.
func (r *run) eventFor(ref string, payload map[string]any) ingest.Event {
	ev := ingest.Event{TriggerType: ref, Payload: payload}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range r.triggers {
		if t.Ref == ref || t.ID == ref || (t.UID != "" && t.UID == ref) {
			ev.TriggerType, ev.TriggerParams = t.Type, t.Parameters
			break
		}
	}
	return ev
}

// dispatch hands an event to the Dispatcher, retrying with backoff until it
// is accepted or ctx ends. Retries reuse one dedupe key, so an event whose
// acceptance was lost in transit is not accepted twice.
func (r *run) dispatch(ctx context.Context, ev ingest.Event) error {
	if ev.OccurredAt.IsZero() {
		ev.OccurredAt = time.Now().UTC()
	}
	if ev.DedupeKey == "" {
		ev.DedupeKey = r.rec.Ref + "/" + randomHex(12)
	}
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		_, err := r.a.deps.Dispatcher.Dispatch(ctx, ev)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("dispatch %s: %w", ev.TriggerType, err)
		}
		if attempt == 1 || attempt%10 == 0 {
			r.log.Warn("dispatch not accepted; retrying", "trigger", ev.TriggerType, "try", attempt, "error", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("dispatch %s: %w", ev.TriggerType, err)
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

// lifecycleEvent dispatches core.st2.sensor.process_spawn or process_exit.
// It outlives a cancelled run (the exit of a stopped sensor is news too)
// but gives up after a while: the sensor's life goes on without it.
func (r *run) lifecycleEvent(ctx context.Context, typ string, obj map[string]any) {
	obj["id"] = r.rec.ClassName // st2's payload identifies the sensor by class
	obj["ref"] = r.rec.Ref
	obj["timestamp"] = time.Now().Unix()
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := r.dispatch(dctx, ingest.Event{TriggerType: typ, Payload: map[string]any{"object": obj}}); err != nil {
		r.log.Warn("could not dispatch the sensor's lifecycle event", "trigger", typ, "error", err)
	}
}

func (r *run) spawned(ctx context.Context, pid int, cmd string) {
	r.lifecycleEvent(ctx, trigger.SensorSpawn, map[string]any{"pid": pid, "cmd": cmd})
}

func (r *run) exited(ctx context.Context, code int) {
	r.lifecycleEvent(ctx, trigger.SensorExit, map[string]any{"exit_code": code})
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("sensors: crypto/rand: %v", err))
	}
	return hex.EncodeToString(b)
}
