// Package workers runs Squall's Temporal workers: the execution workflow and
// the runner activities on the actions task queue. A worker is stateless; to
// scale out, run more of them against the same Temporal and Postgres.
package workers

import (
	"github.com/squall-automation/squall/activities"
	"github.com/squall-automation/squall/ingest"
	"github.com/squall-automation/squall/rules/engine"
	"github.com/squall-automation/squall/workflows"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// Options configures the actions worker.
type Options struct {
	TaskQueue string
	Runners   *activities.Runners
	// Engine enforces rules for trigger instances; Events emits internal
	// triggers when executions end.
	Engine *engine.Engine
	Events *ingest.Dispatcher
	// MaxConcurrentActions bounds the actions this worker runs at once
	// (st2's action runner concurrency). Zero means 200.
	MaxConcurrentActions int
	// MaxConcurrentWorkflowTasks bounds concurrent workflow tasks. Zero: SDK default.
	MaxConcurrentWorkflowTasks int
	// FastPath, when set, runs actions whose recent runs were short as
	// local activities (workflows.NewExecution); nil runs every action as
	// a regular activity.
	FastPath workflows.FastPath
}

// New builds (but does not start) the actions worker.
func New(c client.Client, opts Options) worker.Worker {
	if opts.TaskQueue == "" {
		opts.TaskQueue = workflows.TaskQueue
	}
	if opts.MaxConcurrentActions <= 0 {
		opts.MaxConcurrentActions = 200
	}
	w := worker.New(c, opts.TaskQueue, worker.Options{
		MaxConcurrentActivityExecutionSize:     opts.MaxConcurrentActions,
		MaxConcurrentWorkflowTaskExecutionSize: opts.MaxConcurrentWorkflowTasks,
		// Fast-path actions, trigger instance processing and internal
		// events run as local activities. The fast path takes at most
		// half the action slots (activities.RecentDurations.MaxInFlight),
		// so the others always have slots left.
		MaxConcurrentLocalActivityExecutionSize: 2 * opts.MaxConcurrentActions,
	})
	Register(w, opts)
	return w
}

// Register adds Squall's workflows and activities to a worker under their
// stable names (tests use it with the SDK's test environment too).
func Register(r worker.Registry, opts Options) {
	r.RegisterWorkflowWithOptions(workflows.NewExecution(opts.FastPath), workflow.RegisterOptions{Name: workflows.ExecutionWorkflow})
	r.RegisterActivityWithOptions(opts.Runners.Run, activity.RegisterOptions{Name: workflows.RunActivity})
	r.RegisterActivityWithOptions(opts.Runners.RunLocal, activity.RegisterOptions{Name: workflows.RunLocalActivity})
	r.RegisterWorkflowWithOptions(workflows.TriggerInstance, workflow.RegisterOptions{Name: workflows.TriggerInstanceWorkflow})
	r.RegisterWorkflowWithOptions(workflows.TriggerInstanceBatch, workflow.RegisterOptions{Name: workflows.TriggerInstanceBatchWorkflow})
	r.RegisterActivityWithOptions(opts.Engine.ProcessTriggerInstance, activity.RegisterOptions{Name: workflows.ProcessTriggerInstanceActivity})
	r.RegisterActivityWithOptions(opts.Engine.ProcessTriggerInstances, activity.RegisterOptions{Name: workflows.ProcessTriggerInstancesActivity})
	r.RegisterActivityWithOptions(opts.Events.EmitExecutionEvents, activity.RegisterOptions{Name: workflows.EmitExecutionEventsActivity})
}
