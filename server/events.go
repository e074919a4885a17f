package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/squall-automation/squall/catalog"
	"github.com/squall-automation/squall/ingest"
)

// Events is the door events take into Squall (*ingest.Dispatcher): Dispatch
// returns once the event is durable, or an error when it is not.
type Events interface {
	Dispatch(ctx context.Context, ev ingest.Event) (ingest.Accepted, error)
}

var _ Events = (*ingest.Dispatcher)(nil)

// ---- triggers

func (s *Server) listTriggers(c echo.Context) error {
	p, err := parsePage(c, 0)
	if err != nil {
		return err
	}
	trigs, total, err := s.catalog.ListTriggers(c.Request().Context(), catalog.TriggerFilter{
		Type: c.QueryParam("type"), Pack: c.QueryParam("pack"), Limit: p.Limit, Offset: p.Offset,
	})
	if err != nil {
		return err
	}
	return listJSON(c, trigs, p, total)
}

func (s *Server) getTrigger(c echo.Context) error {
	t, err := s.catalog.GetTrigger(c.Request().Context(), c.Param("ref"))
	if err != nil {
		return lookupErr(err, c.Param("ref"))
	}
	return c.JSON(http.StatusOK, t)
}

// ---- trigger instances

// triggerInstanceResponse is st2's TriggerInstanceAPI: occurrence_time in
// st2's timestamp format.
type triggerInstanceResponse struct {
	catalog.TriggerInstance
	OccurrenceTime string `json:"occurrence_time"`
}

func toTriggerInstanceResponse(ti catalog.TriggerInstance) triggerInstanceResponse {
	if ti.Payload == nil {
		ti.Payload = map[string]any{}
	}
	return triggerInstanceResponse{TriggerInstance: ti, OccurrenceTime: isoTime(ti.OccurrenceTime)}
}

// queryTime parses a timestamp filter (st2's isotime: ISO 8601, with or
// without fraction and zone; no zone means UTC).
func queryTime(name, v string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, badRequest("Parameter %q is not an ISO 8601 timestamp: %q", name, v)
}

func (s *Server) listTriggerInstances(c echo.Context) error {
	p, err := parsePage(c, 100)
	if err != nil {
		return err
	}
	f := catalog.TriggerInstanceFilter{
		Trigger: c.QueryParam("trigger"), TriggerType: c.QueryParam("trigger_type"),
		Status: c.QueryParam("status"), Limit: p.Limit, Offset: p.Offset,
	}
	if v := c.QueryParam("timestamp_gt"); v != "" {
		if f.Since, err = queryTime("timestamp_gt", v); err != nil {
			return err
		}
	}
	if v := c.QueryParam("timestamp_lt"); v != "" {
		if f.Until, err = queryTime("timestamp_lt", v); err != nil {
			return err
		}
	}
	tis, total, err := s.catalog.ListTriggerInstances(c.Request().Context(), f)
	if err != nil {
		return err
	}
	out := make([]triggerInstanceResponse, 0, len(tis))
	for _, ti := range tis {
		out = append(out, toTriggerInstanceResponse(ti))
	}
	return listJSON(c, out, p, total)
}

// idNotFound is st2's 404 for a lookup by id.
func idNotFound(err error, id string) error {
	if errors.Is(err, catalog.ErrNotFound) {
		return notFound("Unable to identify resource with id %q.", id)
	}
	return err
}

func (s *Server) getTriggerInstance(c echo.Context) error {
	ti, err := s.catalog.GetTriggerInstance(c.Request().Context(), c.Param("id"))
	if err != nil {
		return idNotFound(err, c.Param("id"))
	}
	return c.JSON(http.StatusOK, toTriggerInstanceResponse(*ti))
}

// reEmitResponse is st2's answer to a re-emit (message and the payload
// sent), plus the new trigger instance.
type reEmitResponse struct {
	Message           string         `json:"message"`
	Payload           map[string]any `json:"payload"`
	TriggerInstanceID string         `json:"trigger_instance_id"`
}

// reEmitTriggerInstance sends a trigger instance's payload again as a new
// event of the same trigger. As in st2 the payload gains
// __context.original_id, so rules and actions can tell a replay.
func (s *Server) reEmitTriggerInstance(c echo.Context) error {
	id := c.Param("id")
	ti, err := s.catalog.GetTriggerInstance(c.Request().Context(), id)
	if err != nil {
		return idNotFound(err, id)
	}
	payload := make(map[string]any, len(ti.Payload)+1)
	for k, v := range ti.Payload {
		payload[k] = v
	}
	payload["__context"] = map[string]any{"original_id": id}
	acc, err := s.dispatch(c, ingest.Event{
		TriggerType: ti.TriggerType, TriggerParams: ti.TriggerParams, Payload: payload,
		TraceTag: "re_emit-" + id, OccurredAt: time.Now().UTC(),
	})
	if err != nil {
		return err
	}
	c.Response().Header().Set(headerTriggerInstance, acc.TriggerInstanceID)
	s.log.Info("trigger instance re-emitted", "original", id, "trigger_instance", acc.TriggerInstanceID, "by", requester(c))
	return c.JSON(http.StatusOK, reEmitResponse{
		Message:           fmt.Sprintf("Trigger instance %s was re-emitted as %s.", id, acc.TriggerInstanceID),
		Payload:           payload,
		TriggerInstanceID: acc.TriggerInstanceID,
	})
}

// ---- rule enforcements

// enforcementResponse is st2's RuleEnforcementAPI: enforced_at in st2's
// timestamp format.
type enforcementResponse struct {
	catalog.RuleEnforcement
	EnforcedAt string `json:"enforced_at"`
}

func (s *Server) listRuleEnforcements(c echo.Context) error {
	p, err := parsePage(c, 100)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	f := catalog.EnforcementFilter{
		Rule: c.QueryParam("rule_ref"), TriggerInstance: c.QueryParam("trigger_instance"),
		Execution: c.QueryParam("execution"), Limit: p.Limit, Offset: p.Offset,
	}
	if f.Rule == "" {
		// The store takes a rule's ref or id alike.
		f.Rule = c.QueryParam("rule_id")
	}
	// The store has no time filters: with enforced_at_gt/lt the whole
	// selection is read and paged here.
	var since, until time.Time
	if v := c.QueryParam("enforced_at_gt"); v != "" {
		if since, err = queryTime("enforced_at_gt", v); err != nil {
			return err
		}
	}
	if v := c.QueryParam("enforced_at_lt"); v != "" {
		if until, err = queryTime("enforced_at_lt", v); err != nil {
			return err
		}
	}
	byTime := !since.IsZero() || !until.IsZero()
	if byTime {
		f.Limit, f.Offset = 0, 0
	}
	recs, total, err := s.catalog.ListRuleEnforcements(ctx, f)
	if err != nil {
		return err
	}
	if byTime {
		kept := recs[:0]
		for _, r := range recs {
			if (since.IsZero() || r.EnforcedAt.After(since)) && (until.IsZero() || r.EnforcedAt.Before(until)) {
				kept = append(kept, r)
			}
		}
		total = len(kept)
		recs = slicePage(kept, p)
	}
	out := make([]enforcementResponse, 0, len(recs))
	for _, r := range recs {
		out = append(out, enforcementResponse{RuleEnforcement: r, EnforcedAt: isoTime(r.EnforcedAt)})
	}
	return listJSON(c, out, p, total)
}

func (s *Server) getRuleEnforcement(c echo.Context) error {
	id := c.Param("id")
	r, err := s.catalog.GetRuleEnforcement(c.Request().Context(), id)
	if err != nil {
		return idNotFound(err, id)
	}
	return c.JSON(http.StatusOK, enforcementResponse{RuleEnforcement: *r, EnforcedAt: isoTime(r.EnforcedAt)})
}
