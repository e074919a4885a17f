package rules

import (
	"errors"
	"fmt"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/squall-automation/squall/pack"
)

// The trigger instance file st2-rule-tester reads (YAML or JSON): the keys
// of st2's TriggerInstanceDB.
//
//	trigger: irc.pubmsg          # required: trigger ref
//	payload: {message: "hi"}     # the trigger payload
//	occurrence_time: ...         # optional, ignored by matching
//	status: ...                  # optional, ignored
//	id: ...                      # optional, ignored
var triggerInstanceKeys = map[string]bool{
	"trigger": true, "payload": true, "occurrence_time": true, "status": true, "id": true,
}

// ReadTriggerInstance parses a trigger instance file (YAML or JSON) and
// checks its shape.
func ReadTriggerInstance(data []byte) (map[string]any, error) {
	var doc any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("trigger instance: %w", err)
	}
	m, ok := PlainData(doc).(map[string]any)
	if !ok {
		return nil, fmt.Errorf("trigger instance: must be a mapping with trigger and payload, not %s", pyType(PlainData(doc)))
	}
	if _, _, err := triggerInstanceParts(m); err != nil {
		return nil, err
	}
	return m, nil
}

func triggerInstanceParts(ti map[string]any) (string, map[string]any, error) {
	for _, k := range sortedKeys(ti) {
		if !triggerInstanceKeys[k] {
			return "", nil, fmt.Errorf("trigger instance: unknown key %q (allowed: id, occurrence_time, payload, status, trigger)", k)
		}
	}
	ref, ok := ti["trigger"].(string)
	if !ok || ref == "" {
		return "", nil, errors.New("trigger instance: trigger (the trigger ref, e.g. core.st2.webhook) is required")
	}
	var payload map[string]any
	switch p := ti["payload"].(type) {
	case nil:
	case map[string]any:
		payload = p
	default:
		return "", nil, fmt.Errorf("trigger instance: payload must be a mapping, not %s", pyType(p))
	}
	return ref, payload, nil
}

// Test is st2-rule-tester: does the trigger instance match the rule, and do
// the rule's action parameters render against it? As in st2 the rule is
// tested even when it is disabled, and a trigger instance of another
// trigger type does not match. The error is for a rule that does not
// compile or a malformed trigger instance; a parameter that fails to render
// is a non-match with Err set, as st2-rule-tester reports it.
func Test(rule pack.Rule, triggerInstance map[string]any) (Result, error) {
	ref, payload, err := triggerInstanceParts(triggerInstance)
	if err != nil {
		return Result{}, err
	}
	rule.Enabled = true
	r, err := Compile(rule)
	if err != nil {
		return Result{}, err
	}
	if r.TriggerType != ref {
		return Result{Reason: fmt.Sprintf("the rule's trigger %q is not the trigger instance's %q", r.TriggerType, ref)}, nil
	}
	res := r.Match(payload, nil)
	if !res.Matched {
		return res, nil
	}
	params, err := r.RenderActionParams(payload, nil)
	if err != nil {
		return Result{Err: err, Reason: "failed to resolve action parameters: " + err.Error()}, nil
	}
	res.ActionParams = params
	return res, nil
}

// PlainData turns YAML-decoded data into JSON-shaped data: mappings with
// non-string keys get string keys and timestamps become RFC 3339 strings,
// as the payload would be after a trip through st2's JSON API. It changes
// maps and slices in place.
func PlainData(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = PlainData(e)
		}
		return x
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[fmt.Sprint(k)] = PlainData(e)
		}
		return out
	case []any:
		for i := range x {
			x[i] = PlainData(x[i])
		}
		return x
	case time.Time:
		return x.Format(time.RFC3339Nano)
	}
	return v
}
