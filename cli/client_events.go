package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// TriggerType is a trigger type as the API shows it.
type TriggerType struct {
	ID               string          `json:"id"`
	Ref              string          `json:"ref"`
	Pack             string          `json:"pack"`
	Name             string          `json:"name"`
	Description      string          `json:"description"`
	PayloadSchema    map[string]any  `json:"payload_schema"`
	ParametersSchema map[string]any  `json:"parameters_schema"`
	Raw              json.RawMessage `json:"-"`
}

// TriggerInstance is one recorded event.
type TriggerInstance struct {
	ID             string          `json:"id"`
	Trigger        string          `json:"trigger"`
	TriggerType    string          `json:"trigger_type"`
	TriggerParams  map[string]any  `json:"trigger_params"`
	Payload        map[string]any  `json:"payload"`
	OccurrenceTime string          `json:"occurrence_time"`
	Status         string          `json:"status"`
	TraceTag       string          `json:"trace_tag"`
	Raw            json.RawMessage `json:"-"`
}

// Rule is a rule as the API shows it (st2's RuleAPI).
type Rule struct {
	ID          string          `json:"id"`
	UID         string          `json:"uid"`
	Ref         string          `json:"ref"`
	Pack        string          `json:"pack"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Enabled     bool            `json:"enabled"`
	Trigger     map[string]any  `json:"trigger"`
	Criteria    map[string]any  `json:"criteria"`
	Action      map[string]any  `json:"action"`
	When        string          `json:"when"`
	Raw         json.RawMessage `json:"-"`
}

// RuleEnforcement records what a rule did with a trigger instance.
type RuleEnforcement struct {
	ID   string `json:"id"`
	Rule struct {
		ID  string `json:"id"`
		Ref string `json:"ref"`
	} `json:"rule"`
	TriggerInstanceID string          `json:"trigger_instance_id"`
	ExecutionID       string          `json:"execution_id"`
	Status            string          `json:"status"`
	FailureReason     string          `json:"failure_reason"`
	EnforcedAt        string          `json:"enforced_at"`
	Raw               json.RawMessage `json:"-"`
}

// ReEmitted is the answer to a re-emit.
type ReEmitted struct {
	Message           string         `json:"message"`
	Payload           map[string]any `json:"payload"`
	TriggerInstanceID string         `json:"trigger_instance_id"`
}

// TriggerInstanceFilter selects trigger instances; zero values are not sent.
type TriggerInstanceFilter struct {
	Trigger, TriggerType, Status string
	// TimestampGT and TimestampLT bound occurrence_time (ISO 8601).
	TimestampGT, TimestampLT string
	Limit, Offset            int
}

// RuleFilter selects rules.
type RuleFilter struct {
	Pack, Trigger, Action string
	// Enabled is "true", "false" or "" for both.
	Enabled string
	Limit   int
	Offset  int
}

// EnforcementFilter selects rule enforcements.
type EnforcementFilter struct {
	Rule, TriggerInstance, Execution string
	EnforcedAtGT, EnforcedAtLT       string
	Limit, Offset                    int
}

// getRaw GETs one document as JSON.
func (c *Client) getRaw(ctx context.Context, path string) (json.RawMessage, error) {
	var raw json.RawMessage
	if err := c.do(ctx, http.MethodGet, path, nil, nil, &raw, nil); err != nil {
		return nil, err
	}
	return raw, nil
}

// listRaw GETs a list and its X-Total-Count (-1 when absent).
func (c *Client) listRaw(ctx context.Context, path string, q url.Values) ([]json.RawMessage, int, error) {
	var raws []json.RawMessage
	total := -1
	if err := c.do(ctx, http.MethodGet, path, q, nil, &raws, nil, withTotal(&total)); err != nil {
		return nil, 0, err
	}
	return raws, total, nil
}

// decodeAll decodes raw documents into T, keeping each one's JSON via set.
func decodeAll[T any](raws []json.RawMessage, what string, set func(*T, json.RawMessage)) ([]T, error) {
	out := make([]T, 0, len(raws))
	for _, r := range raws {
		var v T
		if err := json.Unmarshal(r, &v); err != nil {
			return nil, fmt.Errorf("decode %s: %w", what, err)
		}
		set(&v, r)
		out = append(out, v)
	}
	return out, nil
}

func decodeOne[T any](raw json.RawMessage, what string, set func(*T, json.RawMessage)) (*T, error) {
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("decode %s: %w", what, err)
	}
	set(&v, raw)
	return &v, nil
}

func pageQuery(q url.Values, limit, offset int) {
	if limit != 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if offset > 0 {
		q.Set("offset", strconv.Itoa(offset))
	}
}

func setTriggerTypeRaw(t *TriggerType, r json.RawMessage)         { t.Raw = r }
func setTriggerInstanceRaw(t *TriggerInstance, r json.RawMessage) { t.Raw = r }
func setRuleRaw(t *Rule, r json.RawMessage)                       { t.Raw = r }
func setEnforcementRaw(t *RuleEnforcement, r json.RawMessage)     { t.Raw = r }

// ListTriggerTypes lists trigger types, of one pack if pack is not empty.
func (c *Client) ListTriggerTypes(ctx context.Context, pack string) ([]TriggerType, error) {
	q := url.Values{}
	setIf(q, "pack", pack)
	q.Set("limit", "-1")
	raws, _, err := c.listRaw(ctx, "/api/v1/triggertypes", q)
	if err != nil {
		return nil, err
	}
	return decodeAll(raws, "trigger type", setTriggerTypeRaw)
}

// GetTriggerType reads one trigger type by ref or ID.
func (c *Client) GetTriggerType(ctx context.Context, ref string) (*TriggerType, error) {
	raw, err := c.getRaw(ctx, "/api/v1/triggertypes/"+url.PathEscape(ref))
	if err != nil {
		return nil, err
	}
	return decodeOne(raw, "trigger type "+ref, setTriggerTypeRaw)
}

// ListTriggerInstances lists trigger instances, newest first.
func (c *Client) ListTriggerInstances(ctx context.Context, f TriggerInstanceFilter) ([]TriggerInstance, int, error) {
	q := url.Values{}
	setIf(q, "trigger", f.Trigger)
	setIf(q, "trigger_type", f.TriggerType)
	setIf(q, "status", f.Status)
	setIf(q, "timestamp_gt", f.TimestampGT)
	setIf(q, "timestamp_lt", f.TimestampLT)
	pageQuery(q, f.Limit, f.Offset)
	raws, total, err := c.listRaw(ctx, "/api/v1/triggerinstances", q)
	if err != nil {
		return nil, 0, err
	}
	tis, err := decodeAll(raws, "trigger instance", setTriggerInstanceRaw)
	return tis, total, err
}

// GetTriggerInstance reads one trigger instance.
func (c *Client) GetTriggerInstance(ctx context.Context, id string) (*TriggerInstance, error) {
	raw, err := c.getRaw(ctx, "/api/v1/triggerinstances/"+url.PathEscape(id))
	if err != nil {
		return nil, err
	}
	return decodeOne(raw, "trigger instance "+id, setTriggerInstanceRaw)
}

// ReEmitTriggerInstance sends a trigger instance's payload again.
func (c *Client) ReEmitTriggerInstance(ctx context.Context, id string) (*ReEmitted, error) {
	var out ReEmitted
	if err := c.do(ctx, http.MethodPost, "/api/v1/triggerinstances/"+url.PathEscape(id)+"/re_emit", nil, map[string]any{}, &out, nil); err != nil {
		return nil, fmt.Errorf("re-emit %s: %w", id, err)
	}
	return &out, nil
}

// ListRules lists rules.
func (c *Client) ListRules(ctx context.Context, f RuleFilter) ([]Rule, int, error) {
	q := url.Values{}
	setIf(q, "pack", f.Pack)
	setIf(q, "trigger", f.Trigger)
	setIf(q, "action", f.Action)
	setIf(q, "enabled", f.Enabled)
	pageQuery(q, f.Limit, f.Offset)
	raws, total, err := c.listRaw(ctx, "/api/v1/rules", q)
	if err != nil {
		return nil, 0, err
	}
	rs, err := decodeAll(raws, "rule", setRuleRaw)
	return rs, total, err
}

// GetRule reads one rule by ref or ID.
func (c *Client) GetRule(ctx context.Context, ref string) (*Rule, error) {
	raw, err := c.getRaw(ctx, "/api/v1/rules/"+url.PathEscape(ref))
	if err != nil {
		return nil, err
	}
	return decodeOne(raw, "rule "+ref, setRuleRaw)
}

// CreateRule creates a rule from its st2 document.
func (c *Client) CreateRule(ctx context.Context, doc map[string]any) (*Rule, error) {
	var raw json.RawMessage
	if err := c.do(ctx, http.MethodPost, "/api/v1/rules", nil, doc, &raw, nil); err != nil {
		return nil, fmt.Errorf("create rule: %w", err)
	}
	return decodeOne(raw, "rule", setRuleRaw)
}

// UpdateRule replaces a rule with doc.
func (c *Client) UpdateRule(ctx context.Context, ref string, doc map[string]any) (*Rule, error) {
	var raw json.RawMessage
	if err := c.do(ctx, http.MethodPut, "/api/v1/rules/"+url.PathEscape(ref), nil, doc, &raw, nil); err != nil {
		return nil, fmt.Errorf("update rule %s: %w", ref, err)
	}
	return decodeOne(raw, "rule "+ref, setRuleRaw)
}

// SetRuleEnabled enables or disables a rule the way st2 does: the rule is
// read and written back with "enabled" changed.
func (c *Client) SetRuleEnabled(ctx context.Context, ref string, enabled bool) (*Rule, error) {
	raw, err := c.getRaw(ctx, "/api/v1/rules/"+url.PathEscape(ref))
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("decode rule %s: %w", ref, err)
	}
	doc["enabled"] = enabled
	id, _ := doc["id"].(string)
	if id == "" {
		id = ref
	}
	return c.UpdateRule(ctx, id, doc)
}

// DeleteRule deletes a rule.
func (c *Client) DeleteRule(ctx context.Context, ref string) error {
	if err := c.do(ctx, http.MethodDelete, "/api/v1/rules/"+url.PathEscape(ref), nil, nil, nil, nil); err != nil {
		return fmt.Errorf("delete rule %s: %w", ref, err)
	}
	return nil
}

// ListRuleEnforcements lists rule enforcements, newest first.
func (c *Client) ListRuleEnforcements(ctx context.Context, f EnforcementFilter) ([]RuleEnforcement, int, error) {
	q := url.Values{}
	setIf(q, "rule_ref", f.Rule)
	setIf(q, "trigger_instance", f.TriggerInstance)
	setIf(q, "execution", f.Execution)
	setIf(q, "enforced_at_gt", f.EnforcedAtGT)
	setIf(q, "enforced_at_lt", f.EnforcedAtLT)
	pageQuery(q, f.Limit, f.Offset)
	raws, total, err := c.listRaw(ctx, "/api/v1/ruleenforcements", q)
	if err != nil {
		return nil, 0, err
	}
	res, err := decodeAll(raws, "rule enforcement", setEnforcementRaw)
	return res, total, err
}

// GetRuleEnforcement reads one rule enforcement.
func (c *Client) GetRuleEnforcement(ctx context.Context, id string) (*RuleEnforcement, error) {
	raw, err := c.getRaw(ctx, "/api/v1/ruleenforcements/"+url.PathEscape(id))
	if err != nil {
		return nil, err
	}
	return decodeOne(raw, "rule enforcement "+id, setEnforcementRaw)
}
