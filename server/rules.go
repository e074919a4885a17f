package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/squall-automation/squall/catalog"
	"github.com/squall-automation/squall/pack"
	"github.com/squall-automation/squall/rules"
	"github.com/squall-automation/squall/timers"
)

// defaultRulePack is where rules created without a pack go (st2's
// DEFAULT_PACK_NAME).
const defaultRulePack = "default"

// ruleBodyKeys are the fields of st2's RuleAPI plus Squall's when and
// dedup. A rule fetched with GET can be sent back as it is: the read-only
// fields (id, uid, ref) are accepted and ignored.
var ruleBodyKeys = map[string]bool{
	"id": true, "uid": true, "ref": true, "name": true, "pack": true, "description": true,
	"enabled": true, "trigger": true, "criteria": true, "action": true, "type": true,
	"context": true, "tags": true, "metadata_file": true, "when": true, "dedup": true,
}

var ruleReadOnlyKeys = []string{"id", "uid", "ref"}

// ruleBody is the body of POST and PUT /api/v1/rules.
type ruleBody struct {
	Name        string         `json:"name"`
	Pack        string         `json:"pack"`
	Description string         `json:"description"`
	Enabled     *bool          `json:"enabled"`
	Trigger     *ruleBodyTrig  `json:"trigger"`
	Criteria    map[string]any `json:"criteria"`
	Action      *ruleBodyAct   `json:"action"`
	Type        map[string]any `json:"type"`
	Context     map[string]any `json:"context"`
	When        string         `json:"when"`
	Dedup       map[string]any `json:"dedup"`
}

type ruleBodyTrig struct {
	Type        string         `json:"type"`
	Parameters  map[string]any `json:"parameters"`
	Description string         `json:"description"`
}

type ruleBodyAct struct {
	Ref         string         `json:"ref"`
	Parameters  map[string]any `json:"parameters"`
	Description string         `json:"description"`
}

// readRule decodes and checks the shape of a rule body. existing, on
// update, supplies the pack and name when the body leaves them out, so that
// a partial document cannot move a rule to another pack by accident.
func readRule(c echo.Context, existing *catalog.RuleRecord) (pack.Rule, error) {
	var raw map[string]any
	if err := decodeBody(c, &raw); err != nil {
		return pack.Rule{}, err
	}
	if raw == nil {
		return pack.Rule{}, badRequest("Input body needs to be an object, got: null")
	}
	var unknown []string
	for k := range raw {
		if !ruleBodyKeys[k] {
			unknown = append(unknown, fmt.Sprintf("%q", k))
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return pack.Rule{}, badRequest("Additional properties are not allowed (%s unexpected)", strings.Join(unknown, ", "))
	}
	data, _ := json.Marshal(raw) // it was JSON a moment ago
	var b ruleBody
	if err := json.Unmarshal(data, &b); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return pack.Rule{}, badRequest("Failed to parse request body: field %q: expected %s, got JSON %s", te.Field, te.Type, te.Value)
		}
		return pack.Rule{}, badRequest("Failed to parse request body: %v", err)
	}
	if existing != nil {
		if b.Name == "" {
			b.Name = existing.Name
		}
		if b.Pack == "" {
			b.Pack = existing.Pack
		}
	}
	switch {
	case blank(b.Name):
		return pack.Rule{}, badRequest("'name' is a required property")
	case b.Trigger == nil || blank(b.Trigger.Type):
		return pack.Rule{}, badRequest("'trigger' is a required property (trigger: {type: <trigger type ref>})")
	case b.Action == nil || blank(b.Action.Ref):
		return pack.Rule{}, badRequest("'action' is a required property (action: {ref: <action ref>})")
	}
	if b.Pack == "" {
		b.Pack = defaultRulePack
	}
	if strings.Contains(b.Pack, ".") {
		return pack.Rule{}, badRequest("Pack %q must not contain a dot: a rule's ref is <pack>.<name>.", b.Pack)
	}
	for _, k := range ruleReadOnlyKeys {
		delete(raw, k)
	}
	r := pack.Rule{
		Name: b.Name, Pack: b.Pack, Ref: b.Pack + "." + b.Name, Description: b.Description,
		Enabled: b.Enabled != nil && *b.Enabled, // st2's RuleAPI: rules start disabled
		Trigger: pack.RuleTrigger{
			Type: b.Trigger.Type, Parameters: b.Trigger.Parameters, Description: b.Trigger.Description,
		},
		Criteria: b.Criteria,
		Action:   pack.RuleAction{Ref: b.Action.Ref, Parameters: b.Action.Parameters, Description: b.Action.Description},
		Type:     b.Type, Context: b.Context, When: b.When, Dedup: b.Dedup,
		Raw: raw,
	}
	if r.Criteria == nil {
		r.Criteria = map[string]any{}
	}
	return r, nil
}

func blank(s string) bool { return strings.TrimSpace(s) == "" }

// checkRule validates a rule as the rules engine will run it: the trigger
// type is registered and its parameters fit the type's schema, criteria,
// Jinja and the CEL condition compile. Messages name the problem (and the
// CEL position) so that the author can fix the rule from the answer.
func (s *Server) checkRule(c echo.Context, r pack.Rule) error {
	ctx := c.Request().Context()
	if _, err := s.catalog.GetPack(ctx, r.Pack); errors.Is(err, catalog.ErrNotFound) {
		return badRequest("Pack %q of the rule is not registered.", r.Pack)
	} else if err != nil {
		return fmt.Errorf("look up pack %s: %w", r.Pack, err)
	}
	tt, err := s.catalog.GetTriggerType(ctx, r.Trigger.Type)
	if errors.Is(err, catalog.ErrNotFound) {
		return badRequest("Trigger type %q of the rule is not registered.", r.Trigger.Type)
	}
	if err != nil {
		return fmt.Errorf("look up trigger type %s: %w", r.Trigger.Type, err)
	}
	if err := validateTriggerParams(tt, r.Trigger.Parameters); err != nil {
		return err
	}
	// A timer whose schedule Temporal cannot run is refused here rather than
	// failing later when the timers reconcile.
	if err := timers.Validate(r.Trigger.Type, r.Trigger.Parameters); err != nil {
		return badRequest("%v", err)
	}
	if _, err := rules.Compile(r); err != nil {
		return badRequest("%v", err)
	}
	return nil
}

// ruleChangedNow tells the timers and sensors to reconcile with the rules.
func (s *Server) ruleChangedNow() {
	if s.ruleChanged != nil {
		s.ruleChanged()
	}
}

func (s *Server) createRule(c echo.Context) error {
	r, err := readRule(c, nil)
	if err != nil {
		return err
	}
	if err := s.checkRule(c, r); err != nil {
		return err
	}
	// st2 records who made the rule in its context.
	r.Context = withUser(r.Context, requester(c))
	rec, err := s.catalog.CreateRule(c.Request().Context(), r)
	if errors.Is(err, catalog.ErrConflict) {
		return faultf(http.StatusConflict, "Rule %s already exists.", r.Ref)
	}
	if err != nil {
		return fmt.Errorf("create rule %s: %w", r.Ref, err)
	}
	s.ruleChangedNow()
	s.log.Info("rule created", "rule", rec.Ref, "by", requester(c))
	rr, err := s.toRuleResponse(*rec, s.newActionSecrets(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, rr)
}

func (s *Server) updateRule(c echo.Context) error {
	ctx := c.Request().Context()
	existing, err := s.catalog.GetRule(ctx, c.Param("ref"))
	if err != nil {
		return lookupErr(err, c.Param("ref"))
	}
	r, err := readRule(c, existing)
	if err != nil {
		return err
	}
	// A rule fetched from the API has its secret action parameters masked;
	// sending it back (st2 rule enable does) must not overwrite the secrets
	// with the mask.
	if r.Action.Ref == existing.Action.Ref {
		r.Action.Parameters = unmask(r.Action.Parameters, existing.Action.Parameters).(map[string]any)
	}
	if err := s.checkRule(c, r); err != nil {
		return err
	}
	r.Context = withUser(r.Context, requester(c))
	rec, err := s.catalog.UpdateRule(ctx, existing.ID, r)
	if errors.Is(err, catalog.ErrConflict) {
		return faultf(http.StatusConflict, "Rule %s already exists.", r.Ref)
	}
	if err != nil {
		return lookupErr(err, c.Param("ref"))
	}
	s.ruleChangedNow()
	s.log.Info("rule updated", "rule", rec.Ref, "enabled", rec.Enabled, "by", requester(c))
	rr, err := s.toRuleResponse(*rec, s.newActionSecrets(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, rr)
}

func (s *Server) deleteRule(c echo.Context) error {
	ctx := c.Request().Context()
	existing, err := s.catalog.GetRule(ctx, c.Param("ref"))
	if err != nil {
		return lookupErr(err, c.Param("ref"))
	}
	if err := s.catalog.DeleteRule(ctx, existing.ID); err != nil {
		return lookupErr(err, c.Param("ref"))
	}
	s.ruleChangedNow()
	s.log.Info("rule deleted", "rule", existing.Ref, "by", requester(c))
	return c.NoContent(http.StatusNoContent)
}

// withUser returns ctx (copied) with "user" set.
func withUser(ctx map[string]any, user string) map[string]any {
	out := make(map[string]any, len(ctx)+1)
	for k, v := range ctx {
		out[k] = v
	}
	out["user"] = user
	return out
}

// unmask puts back the stored value wherever v holds the mask, following
// nested objects and lists. A nil map stays nil.
func unmask(v, stored any) any {
	switch x := v.(type) {
	case string:
		if x == maskedValue && stored != nil {
			return stored
		}
	case map[string]any:
		if x == nil {
			return x
		}
		sm, _ := stored.(map[string]any)
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = unmask(e, sm[k])
		}
		return out
	case []any:
		sl, _ := stored.([]any)
		out := make([]any, len(x))
		for i, e := range x {
			var se any
			if i < len(sl) {
				se = sl[i]
			}
			out[i] = unmask(e, se)
		}
		return out
	}
	return v
}
