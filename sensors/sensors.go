// Package sensors is StackStorm's sensor container on Temporal: every
// enabled sensor of every registered pack runs exactly once across all Squall
// processes, restarts with backoff when it crashes and moves to another
// worker when its worker stops (at once) or its host dies (after the
// heartbeat timeout).
//
// Each sensor is a workflow (SensorWorkflowName, ID "sensor-<ref>", task
// queue TaskQueue) that runs one long-lived activity (RunSensorActivityName).
// The activity starts the sensor — a StackStorm Python sensor through the
// embedded wrapper, any executable speaking the JSON-lines protocol of
// PROTOCOL.md, or a built-in Go sensor such as filewatch — heartbeats while
// it runs, and kills it when the activity ends for any reason, so that a
// failover never leaves two copies dispatching. Events the sensor dispatches
// enter Squall through the Dispatcher (ingest), the one door for events.
//
// A Reconciler, run by any number of Squall processes, keeps the set of
// sensor workflows equal to the set of enabled sensors in the catalog.
package sensors

import (
	"context"
	"time"

	"github.com/squall-automation/squall/catalog"
	"github.com/squall-automation/squall/ingest"
)

// Names shared by the workflow, the worker, the reconciler and tests.
const (
	// TaskQueue is where sensor workflows and their activities run.
	TaskQueue = "squall-sensors"
	// SensorWorkflowName is the registered name of SensorWorkflow.
	SensorWorkflowName = "squall.Sensor"
	// RunSensorActivityName is the registered name of Activities.RunSensor.
	RunSensorActivityName = "squall.RunSensor"
	// ConfigSignal carries a sensor's new configuration hash (a string) to
	// its workflow; a hash that differs from the running one restarts the
	// sensor. The reconciler sends it when a pack is re-registered.
	ConfigSignal = "squall.sensor.config"
	// WorkflowIDPrefix + sensor ref is a sensor's workflow ID.
	WorkflowIDPrefix = "sensor-"
)

// Timing defaults.
const (
	// HeartbeatTimeout is how long Temporal waits for a heartbeat before it
	// declares the sensor's worker dead and starts the sensor elsewhere.
	HeartbeatTimeout = 15 * time.Second
	// DefaultHeartbeatInterval is how often a running sensor heartbeats.
	DefaultHeartbeatInterval = 3 * time.Second
	// DefaultInitialBackoff and DefaultMaxBackoff bound the delay before a
	// crashed sensor is started again (doubling in between).
	DefaultInitialBackoff = time.Second
	DefaultMaxBackoff     = 5 * time.Minute
	// DefaultHealthyRun is how long a sensor must have run for its exit to
	// count as a fresh start rather than one more crash in a row: its next
	// start is immediate and the backoff starts over.
	DefaultHealthyRun = time.Minute
	// DefaultTriggerPollInterval is how often a running sensor's triggers
	// are looked up, so rule changes reach it (add/update/remove_trigger).
	DefaultTriggerPollInterval = 2 * time.Second
	// DefaultKillGracePeriod is how long a sensor gets between SIGTERM (its
	// cleanup) and SIGKILL.
	DefaultKillGracePeriod = 5 * time.Second // st2's PROCESS_EXIT_TIMEOUT
	// DefaultLeaseCheckInterval is how often a running sensor asks Temporal
	// whether it is still the current attempt (see Deps.Temporal).
	DefaultLeaseCheckInterval = 3 * time.Second
)

// WorkflowID is the ID of the workflow that runs the sensor with this ref.
func WorkflowID(sensorRef string) string { return WorkflowIDPrefix + sensorRef }

// Dispatcher accepts events; *ingest.Dispatcher is one. An error means the
// event was not accepted and must be sent again (with the same dedupe key).
type Dispatcher interface {
	Dispatch(ctx context.Context, ev ingest.Event) (ingest.Accepted, error)
}

// KV is the datastore sensors read and write through sensor_service;
// *catalog.Store is one.
type KV interface {
	GetKV(ctx context.Context, scope, user, name string) (*catalog.KeyValuePair, error)
	SetKV(ctx context.Context, kv catalog.KeyValuePair, ttl time.Duration) (*catalog.KeyValuePair, error)
	DeleteKV(ctx context.Context, scope, user, name string) error
	ListKV(ctx context.Context, scope, user, prefix string) ([]catalog.KeyValuePair, error)
}

// SensorStore is what a running sensor needs from the catalog;
// *catalog.Store is one.
type SensorStore interface {
	// GetSensor returns the sensor with a ref (error wrapping
	// catalog.ErrNotFound when it is not registered).
	GetSensor(ctx context.Context, refOrID string) (*catalog.SensorRecord, error)
	// ActiveTriggers returns the triggers (trigger type + parameters) that
	// enabled rules use, of the given types.
	ActiveTriggers(ctx context.Context, typeRefs ...string) ([]catalog.Trigger, error)
	// GetTriggerType gives dispatched payloads their schema.
	TriggerTypes
	KV
}

// CatalogStore is what the reconciler needs from the catalog;
// *catalog.Store is one.
type CatalogStore interface {
	// EnabledSensors returns every enabled sensor of every pack.
	EnabledSensors(ctx context.Context) ([]catalog.SensorRecord, error)
	// SensorsVersion changes whenever a sensor is registered, changed,
	// enabled, disabled or removed.
	SensorsVersion(ctx context.Context) (string, error)
}
