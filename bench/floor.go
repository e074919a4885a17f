package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// Names the floor's workflows and activity are registered under.
const (
	FloorPlainWorkflow = "squall.bench.FloorPlain"
	FloorLocalWorkflow = "squall.bench.FloorLocal"
	FloorNoopActivity  = "squall.bench.Noop"
)

// FloorOptions configures the floor: where Temporal is and the worker
// settings, which should be Squall's (workers.New) so that the comparison is
// fair.
type FloorOptions struct {
	HostPort  string
	Namespace string
	// TaskQueue defaults to a fresh one per Floor, so that Squall's own
	// workers never pick up the floor's tasks (and vice versa).
	TaskQueue string
	// MaxConcurrentActivities is Squall's max_concurrent_actions (default
	// 200); MaxConcurrentWorkflowTasks zero is the SDK default, as Squall.
	MaxConcurrentActivities    int
	MaxConcurrentWorkflowTasks int
}

// Floor is a bare Temporal app: one client, one worker in this process.
type Floor struct {
	client client.Client
	worker worker.Worker
	queue  string
}

// NewFloor dials Temporal and starts the floor's worker. The worker shares
// the client, which is what lets eager start hand it the first task.
func NewFloor(ctx context.Context, o FloorOptions) (*Floor, error) {
	if o.TaskQueue == "" {
		o.TaskQueue = "squall-bench-floor-" + randomHex(4)
	}
	if o.MaxConcurrentActivities <= 0 {
		o.MaxConcurrentActivities = 200
	}
	c, err := client.DialContext(ctx, client.Options{HostPort: o.HostPort, Namespace: o.Namespace, Logger: quietLogger{}})
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal at %s: %w", o.HostPort, err)
	}
	w := worker.New(c, o.TaskQueue, worker.Options{
		MaxConcurrentActivityExecutionSize:     o.MaxConcurrentActivities,
		MaxConcurrentWorkflowTaskExecutionSize: o.MaxConcurrentWorkflowTasks,
	})
	w.RegisterWorkflowWithOptions(floorPlain, workflow.RegisterOptions{Name: FloorPlainWorkflow})
	w.RegisterWorkflowWithOptions(floorLocal, workflow.RegisterOptions{Name: FloorLocalWorkflow})
	w.RegisterActivityWithOptions(noop, activity.RegisterOptions{Name: FloorNoopActivity})
	if err := w.Start(); err != nil {
		c.Close()
		return nil, fmt.Errorf("start floor worker: %w", err)
	}
	return &Floor{client: c, worker: w, queue: o.TaskQueue}, nil
}

// Close stops the worker and the client.
func (f *Floor) Close() {
	f.worker.Stop()
	f.client.Close()
}

// Plain is the naive Temporal app: start a workflow (no eager start) whose
// one activity does nothing, and wait for its result.
func (f *Floor) Plain(ctx context.Context) (Sample, error) {
	return f.run(ctx, FloorPlainWorkflow, false)
}

// EagerLocal is the best the floor can do: eager workflow start and a local
// activity, so that no task goes through matching.
func (f *Floor) EagerLocal(ctx context.Context) (Sample, error) {
	return f.run(ctx, FloorLocalWorkflow, true)
}

func (f *Floor) run(ctx context.Context, wf string, eager bool) (Sample, error) {
	t0 := time.Now()
	run, err := f.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:               "squall-bench-" + randomHex(8),
		TaskQueue:        f.queue,
		EnableEagerStart: eager,
	}, wf)
	if err != nil {
		return Sample{}, fmt.Errorf("start %s: %w", wf, err)
	}
	if err := run.Get(ctx, nil); err != nil {
		return Sample{}, fmt.Errorf("%s %s: %w", wf, run.GetID(), err)
	}
	return Sample{Latency: time.Since(t0), Actions: 1}, nil
}

var floorActivity = workflow.ActivityOptions{StartToCloseTimeout: time.Minute}

func floorPlain(ctx workflow.Context) error {
	ctx = workflow.WithActivityOptions(ctx, floorActivity)
	return workflow.ExecuteActivity(ctx, FloorNoopActivity).Get(ctx, nil)
}

func floorLocal(ctx workflow.Context) error {
	ctx = workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: time.Minute})
	return workflow.ExecuteLocalActivity(ctx, FloorNoopActivity).Get(ctx, nil)
}

// noop is the activity that does nothing: what is measured is Temporal.
func noop(context.Context) error { return nil }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// QuietLogger is the SDK logger of the benchmark's Temporal clients.
func QuietLogger() log.Logger { return quietLogger{} }

// quietLogger drops the SDK's logs: the worker's info lines would drown the
// table, and its errors surface as failed samples anyway.
type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}
