package sensors

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// SensorInput starts a sensor's workflow.
type SensorInput struct {
	Ref string `json:"ref"`
	// Hash identifies the sensor's configuration (metadata, pack path and
	// config) the running attempt was started with; a ConfigSignal with
	// another hash restarts the sensor.
	Hash string `json:"hash"`
	// InitialBackoff and MaxBackoff bound the delay between restarts of a
	// crashing sensor; zero means DefaultInitialBackoff/DefaultMaxBackoff.
	InitialBackoff time.Duration `json:"initial_backoff,omitempty"`
	MaxBackoff     time.Duration `json:"max_backoff,omitempty"`
}

// maxRunsPerExecution bounds the restarts one workflow run records before it
// continues as new, keeping histories short.
const maxRunsPerExecution = 200

// activityRunTimeout is effectively "forever": a sensor runs until it is
// stopped; the heartbeat timeout is what detects a dead worker.
const activityRunTimeout = 10 * 365 * 24 * time.Hour

// SensorWorkflow keeps one sensor running: it runs RunSensor, which Temporal
// retries with exponential backoff while the sensor keeps crashing, starts it
// again when it exits after a healthy run or is handed over by a stopping
// worker, restarts it when ConfigSignal
// brings a new configuration hash, and ends when the sensor is disabled or
// removed (or the workflow is cancelled, which stops the sensor).
func SensorWorkflow(ctx workflow.Context, in SensorInput) error {
	log := workflow.GetLogger(ctx)
	config := workflow.GetSignalChannel(ctx, ConfigSignal)
	initial := orDefault(in.InitialBackoff, DefaultInitialBackoff)
	maxBackoff := max(orDefault(in.MaxBackoff, DefaultMaxBackoff), initial)
	opts := workflow.ActivityOptions{
		StartToCloseTimeout: activityRunTimeout,
		HeartbeatTimeout:    HeartbeatTimeout,
		// The run is over only once the sensor is dead: a restart never
		// overlaps the old process with the new one.
		WaitForCancellation: true,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    initial,
			BackoffCoefficient: 2,
			MaximumInterval:    maxBackoff,
			MaximumAttempts:    0, // unlimited: a sensor is never given up on
		},
	}
	// takeHash applies a config signal; it reports whether the sensor must
	// restart.
	takeHash := func(c workflow.ReceiveChannel) bool {
		var h string
		c.Receive(ctx, &h)
		if h == in.Hash {
			return false
		}
		log.Info("sensor configuration changed; restarting it", "sensor", in.Ref)
		in.Hash = h
		return true
	}

	for runs := 0; ; runs++ {
		if runs >= maxRunsPerExecution || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			for config.ReceiveAsync(&in.Hash) {
			}
			return workflow.NewContinueAsNewError(ctx, SensorWorkflowName, in)
		}
		actCtx, cancelAct := workflow.WithCancel(ctx)
		actCtx = workflow.WithActivityOptions(actCtx, opts)
		fut := workflow.ExecuteActivity(actCtx, RunSensorActivityName, RunSensorInput{Ref: in.Ref})

		var res RunSensorResult
		var actErr error
		done, restart := false, false
		for !done && !restart {
			sel := workflow.NewSelector(ctx)
			sel.AddFuture(fut, func(f workflow.Future) {
				actErr = f.Get(ctx, &res)
				done = true
			})
			sel.AddReceive(config, func(c workflow.ReceiveChannel, _ bool) {
				restart = takeHash(c)
			})
			sel.Select(ctx)
		}
		cancelAct()
		if restart {
			_ = fut.Get(ctx, nil) // returns once the old sensor is dead
			if ctx.Err() != nil {
				return ctx.Err()
			}
			continue
		}
		if ctx.Err() != nil {
			// Cancelled: the activity has stopped the sensor.
			return ctx.Err()
		}
		switch {
		case actErr != nil:
			var canceled *temporal.CanceledError
			if errors.As(actErr, &canceled) {
				continue
			}
			// Not retried by Temporal (should not happen with unlimited
			// attempts): wait, or for a new configuration, and try again.
			log.Error("sensor activity failed; trying again later", "sensor", in.Ref, "error", actErr)
			sel := workflow.NewSelector(ctx)
			sel.AddFuture(workflow.NewTimer(ctx, maxBackoff), func(workflow.Future) {})
			sel.AddReceive(config, func(c workflow.ReceiveChannel, _ bool) { takeHash(c) })
			sel.Select(ctx)
			if ctx.Err() != nil {
				return ctx.Err()
			}
		case res.Stopped:
			log.Info("sensor stopped", "sensor", in.Ref, "reason", res.Reason)
			return nil
		case res.Handover:
			// Its worker stopped gracefully: start it again at once (on
			// another worker, the stopping one no longer polls), with a
			// fresh backoff. Logging adds no command: replay-safe.
			log.Info("sensor handed over by a stopping worker; starting it again", "sensor", in.Ref)
		case res.Exited:
			// A healthy run ended: start over at once, with a fresh backoff.
		}
	}
}
