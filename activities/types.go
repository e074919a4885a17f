// Package activities holds the runners: each StackStorm runner type
// (local-shell-cmd, local-shell-script, noop, http-request, python-script) is
// executed by the Run activity, which heartbeats while the action runs,
// streams its output to an OutputSink (Postgres) and returns st2's result
// shape. Bulk output stays out of Temporal payloads.
package activities

import (
	"context"
	"time"
)

// RunRequest is everything a runner needs; the workflow passes it unchanged.
type RunRequest struct {
	ExecutionID string `json:"execution_id"`
	Runner      string `json:"runner"`     // runner type name, e.g. "local-shell-cmd"
	ActionRef   string `json:"action_ref"` // pack.name
	Pack        string `json:"pack"`
	PackPath    string `json:"pack_path"`   // absolute pack directory
	EntryPoint  string `json:"entry_point"` // relative to <pack>/actions
	// RunnerParams are the resolved runner parameters (cmd, cwd, env, kwarg_op,
	// timeout, url, method, ...); ActionParams the resolved action-only ones.
	RunnerParams map[string]any `json:"runner_params"`
	ActionParams map[string]any `json:"action_params"`
	// PositionalOrder lists action parameter names that have a "position", in
	// position order (local-shell-script passes them as positional arguments).
	PositionalOrder []string `json:"positional_order,omitempty"`
	// Secrets lists parameter names whose values must never be logged.
	Secrets []string       `json:"secrets,omitempty"`
	Config  map[string]any `json:"config,omitempty"` // pack config (python-script)
	// Timeout is the action timeout; zero means the runner's default.
	Timeout time.Duration `json:"timeout"`
	User    string        `json:"user,omitempty"`
}

// RunResult is a finished run: st2's status and result.
type RunResult struct {
	Status string         `json:"status"` // succeeded | failed | timeout | canceled
	Result map[string]any `json:"result"`
}

// OutputSink receives an execution's stdout/stderr while it runs.
// Implementations must be safe for concurrent use.
type OutputSink interface {
	AppendOutput(ctx context.Context, executionID string, attempt int32, stream string, data []byte) error
}

// ApplicationError types returned by Run that must not be retried.
const (
	// ErrTypeInvalidRequest: the request cannot run (bad entry point, ...).
	ErrTypeInvalidRequest = "InvalidRequest"
)
