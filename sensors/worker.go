package sensors

import (
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// Register adds the sensor workflow and activity to a worker under their
// stable names. A worker built elsewhere needs a WorkerStopTimeout of at
// least StopTimeout for its stop to hand sensors over (see NewWorker).
func Register(w worker.Registry, deps Deps) {
	w.RegisterWorkflowWithOptions(SensorWorkflow, workflow.RegisterOptions{Name: SensorWorkflowName})
	w.RegisterActivityWithOptions(NewActivities(deps).RunSensor, activity.RegisterOptions{Name: RunSensorActivityName})
}

// stopMargin is what a worker stop allows beyond a sensor's kill grace
// period and the reading of its last output: dispatching its process_exit
// event and reporting the handover to Temporal.
const stopMargin = 3 * time.Second

// StopTimeout is how long a graceful stop of a sensors worker waits for its
// sensors: each gets SIGTERM at once, SIGKILL after the kill grace period,
// then its output is drained, its exit dispatched and its handover
// reported. worker.Stop returns as soon as every sensor is done, usually
// well before this.
func StopTimeout(deps Deps) time.Duration {
	return orDefault(deps.KillGracePeriod, DefaultKillGracePeriod) + drainGrace + stopMargin
}

// NewWorker builds (but does not start) a worker for the sensors task
// queue. Every worker process may run one: Temporal hands each sensor to
// exactly one of them. deps.Temporal defaults to c, which turns on the
// lease check (see Deps.Temporal).
//
// Its Stop hands the running sensors over: they are stopped gracefully and
// start again at once on another worker (see RunSensor). It may take up to
// StopTimeout; call it before closing c.
func NewWorker(c client.Client, deps Deps) worker.Worker {
	if deps.Temporal == nil {
		deps.Temporal = c
	}
	queue := deps.TaskQueue
	if queue == "" {
		queue = TaskQueue
	}
	w := worker.New(c, queue, worker.Options{
		// Sensors run until stopped; each holds one activity slot.
		MaxConcurrentActivityExecutionSize: 1000,
		// Without it (the SDK's default is 0) Stop cancels the running
		// sensors and returns at once: the process exits before they have
		// stopped or told Temporal, so they get SIGKILL (Pdeathsig) and
		// move only after the heartbeat timeout, as on a crash.
		WorkerStopTimeout: StopTimeout(deps),
	})
	Register(w, deps)
	return w
}
