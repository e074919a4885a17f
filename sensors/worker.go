package sensors

import (
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// Register adds the sensor workflow and activity to a worker under their
// stable names.
func Register(w worker.Registry, deps Deps) {
	w.RegisterWorkflowWithOptions(SensorWorkflow, workflow.RegisterOptions{Name: SensorWorkflowName})
	w.RegisterActivityWithOptions(NewActivities(deps).RunSensor, activity.RegisterOptions{Name: RunSensorActivityName})
}

// NewWorker builds (but does not start) a worker for the sensors task
// queue. Every worker process may run one: Temporal hands each sensor to
// exactly one of them. deps.Temporal defaults to c, which turns on the
// lease check (see Deps.Temporal).
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
	})
	Register(w, deps)
	return w
}
