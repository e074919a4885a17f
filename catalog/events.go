package catalog

import "time"

// Trigger instance statuses, st2's names.
const (
	TriggerInstancePending          = "pending"
	TriggerInstanceProcessing       = "processing"
	TriggerInstanceProcessed        = "processed"
	TriggerInstanceProcessingFailed = "processing_failed"
)

// Rule enforcement statuses, st2's names.
const (
	EnforcementSucceeded = "succeeded"
	EnforcementFailed    = "failed"
)

// TriggerInstance is one recorded event (st2's TriggerInstanceAPI shape).
type TriggerInstance struct {
	ID string `json:"id"`
	// Trigger is the ref of the trigger object: the type ref for a trigger
	// type without parameters, else the parameterised trigger's ref.
	Trigger        string         `json:"trigger"`
	TriggerType    string         `json:"trigger_type"`
	TriggerParams  map[string]any `json:"trigger_params,omitempty"`
	Payload        map[string]any `json:"payload"`
	OccurrenceTime time.Time      `json:"occurrence_time"`
	Status         string         `json:"status"`
	TraceTag       string         `json:"trace_tag,omitempty"`
}

// Trigger is a trigger object: a trigger type plus parameters, created for
// the rules that use it (st2's TriggerAPI shape).
type Trigger struct {
	ID          string         `json:"id"`
	Ref         string         `json:"ref"`
	UID         string         `json:"uid"`
	Name        string         `json:"name"`
	Pack        string         `json:"pack"`
	Type        string         `json:"type"`
	Parameters  map[string]any `json:"parameters"`
	Description string         `json:"description,omitempty"`
	// Listened, when known (TriggerFor), tells whether an enabled rule
	// listens to the trigger: ingest then need not ask again.
	Listened *bool `json:"-"`
}

// RuleEnforcement records what one rule did with one trigger instance
// (st2's RuleEnforcementAPI shape).
type RuleEnforcement struct {
	ID                string          `json:"id"`
	Rule              EnforcementRule `json:"rule"`
	TriggerInstanceID string          `json:"trigger_instance_id"`
	ExecutionID       string          `json:"execution_id,omitempty"`
	Status            string          `json:"status"`
	FailureReason     string          `json:"failure_reason,omitempty"`
	EnforcedAt        time.Time       `json:"enforced_at"`
}

// EnforcementRule identifies the rule of an enforcement.
type EnforcementRule struct {
	ID  string `json:"id"`
	Ref string `json:"ref"`
	UID string `json:"uid"`
}

// TriggerInstanceFilter selects trigger instances; zero values mean "any".
// Since is inclusive, Until exclusive (occurrence time). Limit 0 means no
// limit. Results are newest first.
type TriggerInstanceFilter struct {
	Trigger     string
	TriggerType string
	Status      string
	Since       time.Time
	Until       time.Time
	Limit       int
	Offset      int
}

// EnforcementFilter selects rule enforcements; zero values mean "any". Rule
// is a rule ref or ID. Results are newest first.
type EnforcementFilter struct {
	Rule            string
	TriggerInstance string
	Execution       string
	Limit           int
	Offset          int
}
