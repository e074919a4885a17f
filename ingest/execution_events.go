package ingest

import (
	"context"
	"fmt"
	"time"

	"github.com/squall-automation/squall/trigger"
	"github.com/squall-automation/squall/workflows"
)

// EmitExecutionEvents is the activity that turns an ended execution into
// st2's internal triggers: core.st2.generic.actiontrigger always, and
// core.st2.generic.notifytrigger once per route of the matching notify
// section. Dedupe keys derived from the execution make a retry harmless.
func (d *Dispatcher) EmitExecutionEvents(ctx context.Context, ev workflows.ExecutionEvents) error {
	start, end := ev.StartedAt.UTC().Format(time.RFC3339Nano), ev.EndedAt.UTC().Format(time.RFC3339Nano)
	if _, err := d.Dispatch(ctx, Event{
		TriggerType: trigger.ActionTrigger,
		DedupeKey:   "actiontrigger/" + ev.ExecutionID,
		OccurredAt:  ev.EndedAt,
		Payload: map[string]any{
			"execution_id": ev.ExecutionID, "status": ev.Status, "start_timestamp": start,
			"action_name": ev.ActionName, "action_ref": ev.ActionRef, "runner_ref": ev.Runner,
			"parameters": ev.Parameters, "result": ev.Result,
		},
	}); err != nil {
		return fmt.Errorf("emit actiontrigger: %w", err)
	}
	for _, n := range notifications(ev) {
		if _, err := d.Dispatch(ctx, Event{
			TriggerType: trigger.NotifyTrigger,
			DedupeKey:   "notify/" + ev.ExecutionID + "/" + n.section + "/" + n.route,
			OccurredAt:  ev.EndedAt,
			Payload: map[string]any{
				"execution_id": ev.ExecutionID, "status": ev.Status,
				"start_timestamp": start, "end_timestamp": end,
				"action_ref": ev.ActionRef, "runner_ref": ev.Runner,
				"channel": n.route, "route": n.route, "message": n.message, "data": n.data,
			},
		}); err != nil {
			return fmt.Errorf("emit notifytrigger for route %q: %w", n.route, err)
		}
	}
	return nil
}

type notification struct {
	section, route, message string
	data                    map[string]any
}

// notifications picks the notify sections that apply to the final status
// (on-complete always, on-success or on-failure by outcome) and lists one
// notification per route, as st2's notifier does. Routes are read from
// "routes" (and st2's older "channels").
func notifications(ev workflows.ExecutionEvents) []notification {
	sections := []string{"on-complete"}
	switch ev.Status {
	case "succeeded":
		sections = append(sections, "on-success")
	case "failed", "timeout", "abandoned":
		sections = append(sections, "on-failure")
	}
	var out []notification
	for _, name := range sections {
		sec, _ := ev.Notify[name].(map[string]any)
		if sec == nil {
			continue
		}
		msg, _ := sec["message"].(string)
		data, _ := sec["data"].(map[string]any)
		var routes []any
		for _, key := range []string{"routes", "channels"} {
			if l, ok := sec[key].([]any); ok {
				routes = append(routes, l...)
			}
		}
		for _, r := range routes {
			if s, ok := r.(string); ok && s != "" {
				out = append(out, notification{section: name, route: s, message: msg, data: data})
			}
		}
	}
	return out
}
