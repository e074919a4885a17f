// Package execution is the client side of action executions: it resolves a
// run request against the catalog, starts the execution workflow on Temporal
// (one execution = one workflow, workflow ID = execution ID), and reads,
// lists, cancels and re-runs executions from Temporal. The API server and the
// rules engine use it; it never runs actions itself.
package execution

import (
	"errors"
	"time"
)

// Status values, StackStorm's names.
const (
	StatusRequested = "requested"
	StatusScheduled = "scheduled"
	StatusDelayed   = "delayed"
	StatusRunning   = "running"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	StatusTimeout   = "timeout"
	StatusAbandoned = "abandoned"
	StatusCanceling = "canceling"
	StatusCanceled  = "canceled"
)

var (
	// ErrNotFound: no execution with that ID.
	ErrNotFound = errors.New("execution not found")
	// ErrActionNotFound: the run request names an action the catalog lacks.
	ErrActionNotFound = errors.New("action not found")
)

// InvalidInputError means the request itself is wrong (unknown parameter,
// wrong type, missing required value, disabled action, bad Jinja ...). The API
// answers 400 with Msg as faultstring. Nothing was started.
type InvalidInputError struct{ Msg string }

func (e *InvalidInputError) Error() string { return e.Msg }

// RunRequest asks for one execution of an action.
type RunRequest struct {
	Action     string         // action ref, pack.name
	Parameters map[string]any // live parameters as given by the caller
	User       string
	Delay      time.Duration  // st2's "delay" (milliseconds in the API)
	Context    map[string]any // extra context (rule, trigger_instance, parent, ...)
	Notify     map[string]any
	// ID, when set, is used as the execution ID (and workflow ID) so that a
	// caller can make the start idempotent. Empty: a new ID is generated.
	ID string
}

// Filter selects executions for List; zero values mean "any".
type Filter struct {
	Action          string
	Pack            string
	Status          string
	User            string
	Runner          string
	Rule            string
	TriggerInstance string
	Parent          string // "null" for top-level executions only
	Limit           int
	Offset          int
}

// Execution is an action execution in StackStorm's API shape.
type Execution struct {
	ID             string         `json:"id"`
	Action         map[string]any `json:"action"`
	Runner         map[string]any `json:"runner"`
	Parameters     map[string]any `json:"parameters"`
	Status         string         `json:"status"`
	StartTimestamp string         `json:"start_timestamp"`
	EndTimestamp   string         `json:"end_timestamp,omitempty"`
	ElapsedSeconds float64        `json:"elapsed_seconds,omitempty"`
	Result         any            `json:"result,omitempty"`
	Context        map[string]any `json:"context"`
	Parent         string         `json:"parent,omitempty"`
	Children       []string       `json:"children,omitempty"`
	Log            []StatusChange `json:"log,omitempty"`
	WebURL         string         `json:"web_url,omitempty"` // the Temporal Web UI page of this execution
}

// StatusChange is one entry of an execution's status log.
type StatusChange struct {
	Status    string `json:"status"`
	Timestamp string `json:"timestamp"`
}
