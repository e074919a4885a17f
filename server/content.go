package server

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/squall-automation/squall/catalog"
	"github.com/squall-automation/squall/pack"
	"github.com/squall-automation/squall/runner"
)

// StackStorm documents carry a "uid" of the form <resource type>:<pack>:<name>.
func uid(kind, packRef, name string) string { return kind + ":" + packRef + ":" + name }

// notFoundRef is st2's message for a ref_or_id that matches nothing.
func notFoundRef(refOrID string) error {
	return notFound("Resource with a reference or id %q not found", refOrID)
}

// lookupErr maps catalog.ErrNotFound to st2's 404.
func lookupErr(err error, refOrID string) error {
	if errors.Is(err, catalog.ErrNotFound) {
		return notFoundRef(refOrID)
	}
	return err
}

// ---- packs

type packResponse struct {
	catalog.PackRecord
	UID string `json:"uid"`
}

func toPackResponse(p catalog.PackRecord) packResponse {
	return packResponse{PackRecord: p, UID: "pack:" + p.Ref}
}

func (s *Server) listPacks(c echo.Context) error {
	p, err := parsePage(c, 100)
	if err != nil {
		return err
	}
	packs, err := s.catalog.ListPacks(c.Request().Context())
	if err != nil {
		return err
	}
	name, ref := c.QueryParam("name"), c.QueryParam("ref")
	out := []packResponse{}
	for _, pk := range packs {
		if (name != "" && pk.Name != name) || (ref != "" && pk.Ref != ref) {
			continue
		}
		out = append(out, toPackResponse(pk))
	}
	return listJSON(c, slicePage(out, p), p, len(out))
}

func (s *Server) getPack(c echo.Context) error {
	pk, err := s.catalog.GetPack(c.Request().Context(), c.Param("ref"))
	if err != nil {
		return lookupErr(err, c.Param("ref"))
	}
	return c.JSON(http.StatusOK, toPackResponse(*pk))
}

// deletePack unregisters a pack and all of its content; files on disk are
// left alone.
func (s *Server) deletePack(c echo.Context) error {
	ctx := c.Request().Context()
	pk, err := s.catalog.GetPack(ctx, c.Param("ref"))
	if err != nil {
		return lookupErr(err, c.Param("ref"))
	}
	if err := s.catalog.DeletePack(ctx, pk.Ref); err != nil {
		if errors.Is(err, catalog.ErrNotFound) {
			return notFoundRef(c.Param("ref"))
		}
		return err
	}
	s.log.Info("pack unregistered", "pack", pk.Ref, "by", requester(c))
	return c.NoContent(http.StatusNoContent)
}

// ---- actions

type actionResponse struct {
	catalog.ActionRecord
	UID string `json:"uid"`
}

func toActionResponse(a catalog.ActionRecord) actionResponse {
	// Secret defaults are masked; the record is a copy, its Parameters map
	// is replaced, never written to.
	a.Parameters = maskSpecDefaults(a.Parameters)
	if a.Parameters == nil {
		a.Parameters = pack.ParamSpecs{}
	}
	return actionResponse{ActionRecord: a, UID: uid("action", a.Pack, a.Name)}
}

func (s *Server) listActions(c echo.Context) error {
	p, err := parsePage(c, 0)
	if err != nil {
		return err
	}
	recs, total, err := s.catalog.ListActions(c.Request().Context(), catalog.ActionFilter{
		Pack: c.QueryParam("pack"), Name: c.QueryParam("name"), Limit: p.Limit, Offset: p.Offset,
	})
	if err != nil {
		return err
	}
	out := make([]actionResponse, 0, len(recs))
	for _, r := range recs {
		out = append(out, toActionResponse(r))
	}
	return listJSON(c, out, p, total)
}

func (s *Server) getAction(c echo.Context) error {
	a, err := s.catalog.GetAction(c.Request().Context(), c.Param("ref"))
	if err != nil {
		return lookupErr(err, c.Param("ref"))
	}
	return c.JSON(http.StatusOK, toActionResponse(*a))
}

// ---- runner types

// runnerID derives a stable ID for a built-in runner type (they are not
// stored), so that st2 clients can address them by ID as well as by name.
func runnerID(name string) string {
	sum := sha256.Sum256([]byte("runner_type:" + name))
	return hex.EncodeToString(sum[:12])
}

func (s *Server) listRunnerTypes(c echo.Context) error {
	p, err := parsePage(c, 100)
	if err != nil {
		return err
	}
	name := c.QueryParam("name")
	out := []runner.API{}
	for _, t := range runner.List() {
		if name != "" && t.Name != name {
			continue
		}
		out = append(out, t.ToAPI(runnerID(t.Name)))
	}
	return listJSON(c, slicePage(out, p), p, len(out))
}

func (s *Server) getRunnerType(c echo.Context) error {
	nameOrID := c.Param("name")
	if t, ok := runner.Get(nameOrID); ok {
		return c.JSON(http.StatusOK, t.ToAPI(runnerID(t.Name)))
	}
	for _, t := range runner.List() {
		if runnerID(t.Name) == nameOrID {
			return c.JSON(http.StatusOK, t.ToAPI(nameOrID))
		}
	}
	return notFound("RunnerType with name or id %q not found", nameOrID)
}

// ---- rules

type ruleResponse struct {
	catalog.RuleRecord
	UID     string      `json:"uid"`
	Trigger ruleTrigger `json:"trigger"`
}

// ruleTrigger is st2's rule trigger: "type" plus "ref", which st2 sets to
// the trigger (type and parameters) the rule listens to.
type ruleTrigger struct {
	pack.RuleTrigger
	Ref string `json:"ref"`
}

// actionSecrets looks up actions' parameter specs for masking, once per
// action within one request.
type actionSecrets struct {
	s       *Server
	c       echo.Context
	actions map[string]*catalog.ActionRecord
}

func (s *Server) newActionSecrets(c echo.Context) *actionSecrets {
	return &actionSecrets{s: s, c: c, actions: map[string]*catalog.ActionRecord{}}
}

// get returns the registered action, nil when there is none.
func (a *actionSecrets) get(ref string) (*catalog.ActionRecord, error) {
	if act, ok := a.actions[ref]; ok {
		return act, nil
	}
	act, err := a.s.catalog.GetAction(a.c.Request().Context(), ref)
	if errors.Is(err, catalog.ErrNotFound) {
		act, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	a.actions[ref] = act
	return act, nil
}

// action returns the action's own parameter specs (nil if unregistered).
func (a *actionSecrets) action(ref string) (pack.ParamSpecs, error) {
	act, err := a.get(ref)
	if err != nil || act == nil {
		return nil, err
	}
	return act.Parameters, nil
}

// merged returns the action's specs merged with its runner's (nil if the
// action is unregistered: nothing is known to be secret).
func (a *actionSecrets) merged(ref string) (pack.ParamSpecs, error) {
	act, err := a.get(ref)
	if err != nil || act == nil {
		return nil, err
	}
	return secretSpecs(act.RunnerType, act.Parameters), nil
}

func (s *Server) toRuleResponse(r catalog.RuleRecord, secrets *actionSecrets) (ruleResponse, error) {
	specs, err := secrets.merged(r.Action.Ref)
	if err != nil {
		return ruleResponse{}, err
	}
	// st2 masks the secret parameters a rule passes to its action.
	r.Action.Parameters = maskParams(r.Action.Parameters, specs)
	return ruleResponse{
		RuleRecord: r,
		UID:        uid("rule", r.Pack, r.Name),
		Trigger:    ruleTrigger{RuleTrigger: r.Trigger, Ref: r.Trigger.Type},
	}, nil
}

func (s *Server) listRules(c echo.Context) error {
	p, err := parsePage(c, 0)
	if err != nil {
		return err
	}
	f := catalog.RuleFilter{Pack: c.QueryParam("pack"), TriggerType: c.QueryParam("trigger"), Limit: p.Limit, Offset: p.Offset}
	if f.TriggerType == "" {
		f.TriggerType = c.QueryParam("trigger_type")
	}
	if v := c.QueryParam("enabled"); v != "" {
		b, err := queryBool("enabled", v)
		if err != nil {
			return err
		}
		f.Enabled = &b
	}
	// st2's name and action filters are applied here: the store filters
	// what the rules engine needs. They page over the whole filtered list.
	name, action := c.QueryParam("name"), c.QueryParam("action")
	inMemory := name != "" || action != ""
	if inMemory {
		f.Limit, f.Offset = 0, 0
	}
	recs, total, err := s.catalog.ListRules(c.Request().Context(), f)
	if err != nil {
		return err
	}
	if inMemory {
		kept := recs[:0]
		for _, r := range recs {
			if (name == "" || r.Name == name) && (action == "" || r.Action.Ref == action) {
				kept = append(kept, r)
			}
		}
		total = len(kept)
		recs = slicePage(kept, p)
	}
	secrets := s.newActionSecrets(c)
	out := make([]ruleResponse, 0, len(recs))
	for _, r := range recs {
		rr, err := s.toRuleResponse(r, secrets)
		if err != nil {
			return err
		}
		out = append(out, rr)
	}
	return listJSON(c, out, p, total)
}

func (s *Server) getRule(c echo.Context) error {
	r, err := s.catalog.GetRule(c.Request().Context(), c.Param("ref"))
	if err != nil {
		return lookupErr(err, c.Param("ref"))
	}
	rr, err := s.toRuleResponse(*r, s.newActionSecrets(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, rr)
}

func queryBool(name, v string) (bool, error) {
	switch v {
	case "true", "1", "yes", "y", "True":
		return true, nil
	case "false", "0", "no", "n", "False":
		return false, nil
	}
	return false, badRequest("Parameter %q is not of type boolean", name)
}

// ---- sensors, trigger types, aliases, policies

type sensorResponse struct {
	catalog.SensorRecord
	UID string `json:"uid"`
}

func (s *Server) listSensors(c echo.Context) error {
	p, err := parsePage(c, 0)
	if err != nil {
		return err
	}
	recs, total, err := s.catalog.ListSensors(c.Request().Context(), catalog.ListFilter{Pack: c.QueryParam("pack"), Limit: p.Limit, Offset: p.Offset})
	if err != nil {
		return err
	}
	out := make([]sensorResponse, 0, len(recs))
	for _, r := range recs {
		out = append(out, sensorResponse{SensorRecord: r, UID: uid("sensor_type", r.Pack, r.Name)})
	}
	return listJSON(c, out, p, total)
}

func (s *Server) getSensor(c echo.Context) error {
	r, err := s.catalog.GetSensor(c.Request().Context(), c.Param("ref"))
	if err != nil {
		return lookupErr(err, c.Param("ref"))
	}
	return c.JSON(http.StatusOK, sensorResponse{SensorRecord: *r, UID: uid("sensor_type", r.Pack, r.Name)})
}

// updateSensor is st2's PUT /sensortypes/{ref}: of a sensor type only
// "enabled" may change (its metadata comes from the pack on disk).
func (s *Server) updateSensor(c echo.Context) error {
	var body struct {
		Enabled *bool `json:"enabled"`
	}
	if err := decodeBody(c, &body); err != nil {
		return err
	}
	if body.Enabled == nil {
		return echo.NewHTTPError(http.StatusBadRequest, `"enabled" is required: only enabling or disabling a sensor type can be changed through the API`)
	}
	r, err := s.catalog.SetSensorEnabled(c.Request().Context(), c.Param("ref"), *body.Enabled)
	if err != nil {
		return lookupErr(err, c.Param("ref"))
	}
	s.log.Info("sensor updated", "sensor", r.Ref, "enabled", r.Enabled, "by", requester(c))
	if s.sensorChanged != nil {
		s.sensorChanged()
	}
	return c.JSON(http.StatusOK, sensorResponse{SensorRecord: *r, UID: uid("sensor_type", r.Pack, r.Name)})
}

type triggerTypeResponse struct {
	catalog.TriggerTypeRecord
	UID string `json:"uid"`
}

func (s *Server) listTriggerTypes(c echo.Context) error {
	p, err := parsePage(c, 100)
	if err != nil {
		return err
	}
	recs, total, err := s.catalog.ListTriggerTypes(c.Request().Context(), catalog.ListFilter{Pack: c.QueryParam("pack"), Limit: p.Limit, Offset: p.Offset})
	if err != nil {
		return err
	}
	out := make([]triggerTypeResponse, 0, len(recs))
	for _, r := range recs {
		out = append(out, triggerTypeResponse{TriggerTypeRecord: r, UID: uid("trigger_type", r.Pack, r.Name)})
	}
	return listJSON(c, out, p, total)
}

func (s *Server) getTriggerType(c echo.Context) error {
	r, err := s.catalog.GetTriggerType(c.Request().Context(), c.Param("ref"))
	if err != nil {
		return lookupErr(err, c.Param("ref"))
	}
	return c.JSON(http.StatusOK, triggerTypeResponse{TriggerTypeRecord: *r, UID: uid("trigger_type", r.Pack, r.Name)})
}

// aliasExtras are st2 alias fields the pack model keeps only in the raw
// metadata; they are shown as written.
var aliasExtras = []string{"ack", "result", "extra", "immutable_parameters"}

// aliasResponse renders an alias: the model's fields, the extras from the
// raw metadata, id and uid.
func aliasResponse(r catalog.AliasRecord) (map[string]any, error) {
	data, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode alias %s: %w", r.Ref, err)
	}
	out := map[string]any{}
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("encode alias %s: %w", r.Ref, err)
	}
	for _, k := range aliasExtras {
		if v, ok := r.Raw[k]; ok {
			out[k] = v
		}
	}
	out["uid"] = uid("action_alias", r.Pack, r.Name)
	return out, nil
}

func (s *Server) listAliases(c echo.Context) error {
	p, err := parsePage(c, 100)
	if err != nil {
		return err
	}
	f := catalog.ListFilter{Pack: c.QueryParam("pack"), Limit: p.Limit, Offset: p.Offset}
	name := c.QueryParam("name")
	if name != "" {
		f.Limit, f.Offset = 0, 0
	}
	recs, total, err := s.catalog.ListAliases(c.Request().Context(), f)
	if err != nil {
		return err
	}
	if name != "" {
		kept := recs[:0]
		for _, r := range recs {
			if r.Name == name {
				kept = append(kept, r)
			}
		}
		total = len(kept)
		recs = slicePage(kept, p)
	}
	out := make([]map[string]any, 0, len(recs))
	for _, r := range recs {
		m, err := aliasResponse(r)
		if err != nil {
			return err
		}
		out = append(out, m)
	}
	return listJSON(c, out, p, total)
}

func (s *Server) getAlias(c echo.Context) error {
	r, err := s.catalog.GetAlias(c.Request().Context(), c.Param("ref"))
	if err != nil {
		return lookupErr(err, c.Param("ref"))
	}
	m, err := aliasResponse(*r)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, m)
}

type policyResponse struct {
	catalog.PolicyRecord
	UID string `json:"uid"`
}

func (s *Server) listPolicies(c echo.Context) error {
	p, err := parsePage(c, 100)
	if err != nil {
		return err
	}
	f := catalog.PolicyFilter{Pack: c.QueryParam("pack"), ResourceRef: c.QueryParam("resource_ref"), Limit: p.Limit, Offset: p.Offset}
	name := c.QueryParam("name")
	if name != "" {
		f.Limit, f.Offset = 0, 0
	}
	recs, total, err := s.catalog.ListPolicies(c.Request().Context(), f)
	if err != nil {
		return err
	}
	if name != "" {
		kept := recs[:0]
		for _, r := range recs {
			if r.Name == name {
				kept = append(kept, r)
			}
		}
		total = len(kept)
		recs = slicePage(kept, p)
	}
	out := make([]policyResponse, 0, len(recs))
	for _, r := range recs {
		out = append(out, policyResponse{PolicyRecord: r, UID: uid("policy", r.Pack, r.Name)})
	}
	return listJSON(c, out, p, total)
}

func (s *Server) getPolicy(c echo.Context) error {
	r, err := s.catalog.GetPolicy(c.Request().Context(), c.Param("ref"))
	if err != nil {
		return lookupErr(err, c.Param("ref"))
	}
	return c.JSON(http.StatusOK, policyResponse{PolicyRecord: *r, UID: uid("policy", r.Pack, r.Name)})
}
