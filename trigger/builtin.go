// Package trigger holds StackStorm's built-in trigger types (webhooks,
// timers, action and notify triggers, sensor process events) and helpers to
// name triggers. The catalog registers the built-ins with the core pack.
package trigger

import "github.com/squall-automation/squall/pack"

// Refs of the built-in trigger types, st2's names.
const (
	Webhook        = "core.st2.webhook"
	IntervalTimer  = "core.st2.IntervalTimer"
	DateTimer      = "core.st2.DateTimer"
	CronTimer      = "core.st2.CronTimer"
	ActionTrigger  = "core.st2.generic.actiontrigger"
	NotifyTrigger  = "core.st2.generic.notifytrigger"
	SensorSpawn    = "core.st2.sensor.process_spawn"
	SensorExit     = "core.st2.sensor.process_exit"
	KeyCreate      = "core.st2.key_value_pair.create"
	KeyUpdate      = "core.st2.key_value_pair.update"
	KeyValueChange = "core.st2.key_value_pair.value_change"
	KeyDelete      = "core.st2.key_value_pair.delete"
)

// IsTimer reports whether a trigger type is one of the timers, which fire
// from Temporal Schedules instead of from events.
func IsTimer(ref string) bool {
	return ref == IntervalTimer || ref == DateTimer || ref == CronTimer
}

func obj(props map[string]any, required ...string) map[string]any {
	s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		r := make([]any, len(required))
		for i, v := range required {
			r[i] = v
		}
		s["required"] = r
	}
	return s
}

func typ(t string) map[string]any { return map[string]any{"type": t} }

// Builtins returns the built-in trigger types (with st2's payload and
// parameter schemas), all in the core pack.
func Builtins() []pack.TriggerType {
	tt := func(name, desc string, payload, params map[string]any) pack.TriggerType {
		return pack.TriggerType{
			Name: name, Pack: "core", Ref: "core." + name, Description: desc,
			PayloadSchema: payload, ParametersSchema: params, MetadataFile: "",
		}
	}
	timezone := map[string]any{"type": "string"}
	return []pack.TriggerType{
		tt("st2.webhook", "Trigger type for registering webhooks that can consume arbitrary payload.",
			obj(map[string]any{"headers": typ("object"), "body": map[string]any{"anyOf": []any{typ("array"), typ("object")}}}),
			obj(map[string]any{"url": typ("string")}, "url")),
		tt("st2.IntervalTimer", "Triggers on specified intervals. e.g. every 30s, 1week etc.",
			obj(map[string]any{"executed_at": map[string]any{"type": "string", "format": "date-time"}, "schedule": typ("object")}),
			obj(map[string]any{
				"timezone": timezone,
				"unit":     map[string]any{"enum": []any{"weeks", "days", "hours", "minutes", "seconds"}},
				"delta":    typ("integer"),
			}, "unit", "delta")),
		tt("st2.DateTimer", "Triggers exactly once when the current time matches the specified time. e.g. timezone:UTC date:2014-12-31 23:59:59.",
			obj(map[string]any{"executed_at": map[string]any{"type": "string", "format": "date-time"}, "schedule": typ("object")}),
			obj(map[string]any{"timezone": timezone, "date": map[string]any{"type": "string", "format": "date-time"}}, "date")),
		tt("st2.CronTimer", "Triggers whenever current time matches the specified time constaints like a UNIX cron scheduler.",
			obj(map[string]any{"executed_at": map[string]any{"type": "string", "format": "date-time"}, "schedule": typ("object")}),
			obj(map[string]any{
				"timezone": timezone,
				"year":     anyOf("integer", "string"), "month": anyOf("integer", "string"),
				"day": anyOf("integer", "string"), "week": anyOf("integer", "string"),
				"day_of_week": anyOf("integer", "string"), "hour": anyOf("integer", "string"),
				"minute": anyOf("integer", "string"), "second": anyOf("integer", "string"),
			})),
		tt("st2.generic.actiontrigger", "Trigger encapsulating the completion of an action execution.",
			obj(map[string]any{
				"execution_id": typ("string"), "status": typ("string"), "start_timestamp": typ("string"),
				"action_name": typ("string"), "action_ref": typ("string"), "runner_ref": typ("string"),
				"parameters": typ("object"), "result": anyOf("object", "string", "array", "integer", "number", "boolean", "null"),
			}), nil),
		tt("st2.generic.notifytrigger", "Notification trigger.",
			obj(map[string]any{
				"execution_id": typ("string"), "status": typ("string"), "start_timestamp": typ("string"),
				"end_timestamp": typ("string"), "action_ref": typ("string"), "runner_ref": typ("string"),
				"channel": typ("string"), "route": typ("string"), "message": typ("string"), "data": typ("object"),
			}), nil),
		tt("st2.sensor.process_spawn", "Trigger indicating sensor process is started up.",
			obj(map[string]any{"object": typ("object")}), nil),
		tt("st2.sensor.process_exit", "Trigger indicating sensor process is stopped.",
			obj(map[string]any{"object": typ("object")}), nil),
		tt("st2.key_value_pair.create", "Trigger encapsulating datastore item creation.",
			obj(map[string]any{"object": typ("object")}), nil),
		tt("st2.key_value_pair.update", "Trigger encapsulating datastore set action.",
			obj(map[string]any{"object": typ("object")}), nil),
		tt("st2.key_value_pair.value_change", "Trigger encapsulating a change of datastore item value.",
			obj(map[string]any{"old_object": typ("object"), "new_object": typ("object")}), nil),
		tt("st2.key_value_pair.delete", "Trigger encapsulating datastore item deletion.",
			obj(map[string]any{"object": typ("object")}), nil),
	}
}

func anyOf(types ...string) map[string]any {
	l := make([]any, len(types))
	for i, t := range types {
		l[i] = typ(t)
	}
	return map[string]any{"anyOf": l}
}
