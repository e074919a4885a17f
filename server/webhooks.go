package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/squall-automation/squall/catalog"
	"github.com/squall-automation/squall/ingest"
	"github.com/squall-automation/squall/trigger"
)

// Headers of the webhook API.
const (
	// headerTraceTag names the trace an event belongs to (st2's header).
	headerTraceTag = "St2-Trace-Tag"
	// headerIdempotencyKey makes retried deliveries one trigger instance.
	headerIdempotencyKey = "Idempotency-Key"
	// headerTriggerInstance tells the sender which trigger instance its
	// event became; st2's answer (the body echoed) has no room for it.
	headerTriggerInstance = "X-Squall-Trigger-Instance"
	// headerDuplicate is "true" when the Idempotency-Key had been seen and
	// no new trigger instance was made.
	headerDuplicate = "X-Squall-Duplicate"
)

// webhookPrefix is the path under which webhooks are posted.
const webhookPrefix = "/api/v1/webhooks/"

// genericWebhook is st2's system webhook: its body names any trigger.
const genericWebhook = "st2"

// credentialHeaders never reach a trigger payload: trigger instances are
// stored and shown to every API user (st2 strips its auth headers too).
var credentialHeaders = []string{"X-Auth-Token", "St2-Api-Key"}

// webhookHeaders renders the request headers as st2 passes them in the
// payload: one string per header (repeated headers joined with ", ", as a
// WSGI server does), canonical names, Host and Content-Length included,
// credentials removed.
func webhookHeaders(r *http.Request) map[string]any {
	out := make(map[string]any, len(r.Header)+2)
	for k, vs := range r.Header {
		out[http.CanonicalHeaderKey(k)] = strings.Join(vs, ", ")
	}
	for _, k := range credentialHeaders {
		delete(out, k)
	}
	// The trace tag is the event's, not the payload's (st2 pops it too).
	delete(out, headerTraceTag)
	// A bearer Authorization is one of Squall's credentials; any other
	// scheme belongs to the sender and is kept.
	if bearer(r) != "" {
		delete(out, "Authorization")
	}
	if r.Host != "" {
		out["Host"] = r.Host
	}
	if r.ContentLength >= 0 { // -1: chunked, length unknown
		out["Content-Length"] = strconv.FormatInt(r.ContentLength, 10)
	}
	return out
}

// readWebhookBody parses the body by its Content-Type as st2's router does:
// JSON (also when no Content-Type is sent; an empty body is {}), form data
// as lists of values per field, text/plain as the raw string. Other types
// are refused. Squall also takes structured-syntax JSON types
// (application/vnd.github+json and the like) as JSON.
func readWebhookBody(c echo.Context) (any, error) {
	r := c.Request()
	ct := r.Header.Get("Content-Type")
	mediaType := "application/json"
	if ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil {
			return nil, badRequest("Failed to parse request body: invalid Content-Type %q: %v", ct, err)
		}
		mediaType = mt
	}
	if mediaType == "multipart/form-data" {
		if err := r.ParseMultipartForm(multipartMemory); err != nil {
			return nil, bodyReadError(err)
		}
		// File parts are not part of the payload; st2 had no use for them.
		return formValues(r.MultipartForm.Value), nil
	}
	data, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, bodyReadError(err)
	}
	switch {
	case mediaType == "application/json" || strings.HasSuffix(mediaType, "+json"):
		if len(strings.TrimSpace(string(data))) == 0 {
			return map[string]any{}, nil
		}
		var v any
		if err := json.Unmarshal(data, &v); err != nil {
			return nil, badRequest("Failed to parse request body: %v", err)
		}
		return v, nil
	case mediaType == "application/x-www-form-urlencoded":
		vals, err := url.ParseQuery(string(data))
		if err != nil {
			return nil, badRequest("Failed to parse request body: %v", err)
		}
		return formValues(vals), nil
	case mediaType == "text/plain":
		return string(data), nil
	}
	return nil, badRequest("Failed to parse request body: Unsupported Content-Type: %q", mediaType)
}

// multipartMemory bounds the memory multipart parsing uses before spilling files to
// disk; the body limit middleware caps the total anyway.
const multipartMemory = 32 << 20

func bodyReadError(err error) error {
	var he *echo.HTTPError
	if errors.As(err, &he) {
		return he // 413 from the body limit
	}
	return badRequest("Failed to read request body: %v", err)
}

// formValues is Python's parse_qs shape: every field maps to the list of
// its values.
func formValues(vals map[string][]string) map[string]any {
	out := make(map[string]any, len(vals))
	for k, vs := range vals {
		l := make([]any, len(vs))
		for i, v := range vs {
			l[i] = v
		}
		out[k] = l
	}
	return out
}

// jsonTypeName is the JSON name of a decoded value's type, for messages.
func jsonTypeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case bool:
		return "boolean"
	case float64, json.Number:
		return "number"
	}
	return fmt.Sprintf("%T", v)
}

// postWebhook accepts an event: POST /api/v1/webhooks/<url> for the
// core.st2.webhook trigger with that url, or POST /api/v1/webhooks/st2 with
// {trigger, payload, trace_tag} for any trigger. The answer, 202 with the
// body echoed, is sent only once the event is durable; when it could not be
// made durable the answer is 503 and the sender should retry (with the same
// Idempotency-Key, so that a retry does not fire the rules twice).
func (s *Server) postWebhook(c echo.Context) error {
	req := c.Request()
	hook := strings.Trim(strings.TrimPrefix(req.URL.Path, webhookPrefix), "/")
	if hook == "" {
		return notFound("The resource could not be found.")
	}
	body, err := readWebhookBody(c)
	if err != nil {
		return err
	}
	traceTag := req.Header.Get(headerTraceTag)
	ev := ingest.Event{
		TraceTag:   traceTag,
		DedupeKey:  req.Header.Get(headerIdempotencyKey),
		OccurredAt: time.Now().UTC(),
	}
	if hook == genericWebhook {
		obj, ok := body.(map[string]any)
		if !ok {
			return badRequest("Webhook body needs to be an object, got: %s", jsonTypeName(body))
		}
		ref, _ := obj["trigger"].(string)
		if ref == "" {
			return badRequest("Trigger not specified.")
		}
		payload, ok := obj["payload"].(map[string]any)
		if !ok && obj["payload"] != nil {
			return badRequest("payload must be an object, not %s", jsonTypeName(obj["payload"]))
		}
		if payload == nil {
			payload = map[string]any{}
		}
		if tag, _ := obj["trace_tag"].(string); ev.TraceTag == "" {
			ev.TraceTag = tag
		}
		typ, params, err := s.resolveTrigger(c, ref)
		if err != nil {
			return err
		}
		if err := validatePayload(typ, payload); err != nil {
			return err
		}
		ev.TriggerType, ev.TriggerParams, ev.Payload = typ.Ref, params, payload
	} else {
		trigs, err := s.webhookTriggers(c, hook)
		if err != nil {
			return err
		}
		if len(trigs) == 0 {
			return notFound("Webhook %s is not registered: no rule uses trigger %s with url %q", hook, trigger.Webhook, hook)
		}
		ev.TriggerType = trigger.Webhook
		ev.Payload = map[string]any{"headers": webhookHeaders(req), "body": body}
		if ev.TraceTag == "" {
			// st2 names the trace of an untagged webhook after the hook.
			ev.TraceTag = "webhook-" + hook + "-" + catalog.NewID()
		}
		// Urls that differ only in leading or trailing slashes are one
		// webhook (st2 strips them); each of their triggers gets the event.
		key := ev.DedupeKey
		var ids []string
		duplicate := true
		for _, t := range trigs {
			ev.TriggerParams, ev.HasRules = t.Parameters, t.Listened
			if key != "" && len(trigs) > 1 {
				ev.DedupeKey = key + "/" + t.Ref
			}
			acc, err := s.dispatch(c, ev)
			if err != nil {
				return err
			}
			ids = append(ids, acc.TriggerInstanceID)
			duplicate = duplicate && acc.Duplicate
		}
		return s.accepted(c, body, ids, duplicate)
	}
	if ev.TraceTag == "" {
		ev.TraceTag = "webhook-" + hook + "-" + catalog.NewID()
	}
	acc, err := s.dispatch(c, ev)
	if err != nil {
		return err
	}
	return s.accepted(c, body, []string{acc.TriggerInstanceID}, acc.Duplicate)
}

// accepted is st2's answer to a webhook, 202 with the body echoed, plus
// the trigger instance(s) in a header.
func (s *Server) accepted(c echo.Context, body any, ids []string, duplicate bool) error {
	h := c.Response().Header()
	h.Set(headerTriggerInstance, strings.Join(ids, ", "))
	if duplicate {
		h.Set(headerDuplicate, "true")
	}
	return c.JSON(http.StatusAccepted, body)
}

// webhookTriggers finds the core.st2.webhook triggers of a url (without
// leading and trailing slashes): the one whose url is exactly that, else
// those whose url differs only in slashes. None means not registered.
func (s *Server) webhookTriggers(c echo.Context, hook string) ([]catalog.Trigger, error) {
	ctx := c.Request().Context()
	trig, err := s.catalog.TriggerFor(ctx, trigger.Webhook, map[string]any{"url": hook})
	if err == nil {
		return []catalog.Trigger{*trig}, nil
	}
	if !errors.Is(err, catalog.ErrNotFound) {
		return nil, fmt.Errorf("look up webhook %s: %w", hook, err)
	}
	// Rarely taken: a rule wrote its url with slashes. Webhook triggers are
	// few (one per url in use), so reading them all is cheap.
	all, _, err := s.catalog.ListTriggers(ctx, catalog.TriggerFilter{Type: trigger.Webhook})
	if err != nil {
		return nil, fmt.Errorf("list webhooks: %w", err)
	}
	var out []catalog.Trigger
	for _, t := range all {
		if u, _ := t.Parameters["url"].(string); strings.Trim(u, "/") == hook {
			out = append(out, t)
		}
	}
	return out, nil
}

// dispatch hands an event to the ingest door. Failures are the sender's
// cue to retry, so they answer 503 with a Retry-After, never 500.
func (s *Server) dispatch(c echo.Context, ev ingest.Event) (ingest.Accepted, error) {
	if s.events == nil {
		c.Response().Header().Set("Retry-After", "30")
		return ingest.Accepted{}, faultf(http.StatusServiceUnavailable, "Event ingestion is not available on this server.")
	}
	acc, err := s.events.Dispatch(c.Request().Context(), ev)
	if err != nil {
		s.log.Error("event not accepted", "trigger_type", ev.TriggerType, "trace_tag", ev.TraceTag, "error", err)
		c.Response().Header().Set("Retry-After", "5")
		// The cause is logged, not told: it names internals (hosts, queues).
		return ingest.Accepted{}, faultf(http.StatusServiceUnavailable,
			"The event was not accepted: the event store is unavailable; retry later.")
	}
	s.log.Debug("event accepted", "trigger_type", ev.TriggerType, "trigger_instance", acc.TriggerInstanceID,
		"duplicate", acc.Duplicate, "processing", acc.Processing)
	return acc, nil
}

// resolveTrigger finds what a trigger ref of the generic webhook names: a
// trigger type (its parameters are then none) or a trigger object (a type
// with parameters).
func (s *Server) resolveTrigger(c echo.Context, ref string) (*catalog.TriggerTypeRecord, map[string]any, error) {
	ctx := c.Request().Context()
	tt, err := s.catalog.GetTriggerType(ctx, ref)
	if err == nil {
		return tt, nil, nil
	}
	if !errors.Is(err, catalog.ErrNotFound) {
		return nil, nil, fmt.Errorf("look up trigger type %s: %w", ref, err)
	}
	trig, err := s.catalog.GetTrigger(ctx, ref)
	if errors.Is(err, catalog.ErrNotFound) {
		return nil, nil, badRequest("Trigger %q is neither a registered trigger type nor a trigger.", ref)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("look up trigger %s: %w", ref, err)
	}
	tt, err = s.catalog.GetTriggerType(ctx, trig.Type)
	if errors.Is(err, catalog.ErrNotFound) {
		return nil, nil, badRequest("Trigger %q is of type %q, which is not registered.", ref, trig.Type)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("look up trigger type %s: %w", trig.Type, err)
	}
	return tt, trig.Parameters, nil
}

// listWebhooks lists the webhook triggers (what rules listen to), as st2's
// GET /api/v1/webhooks does.
func (s *Server) listWebhooks(c echo.Context) error {
	p, err := parsePage(c, 0)
	if err != nil {
		return err
	}
	trigs, total, err := s.catalog.ListTriggers(c.Request().Context(), catalog.TriggerFilter{
		Type: trigger.Webhook, Limit: p.Limit, Offset: p.Offset,
	})
	if err != nil {
		return err
	}
	return listJSON(c, trigs, p, total)
}

// getWebhook shows the trigger of one webhook url.
func (s *Server) getWebhook(c echo.Context) error {
	hook := strings.Trim(strings.TrimPrefix(c.Request().URL.Path, webhookPrefix), "/")
	trigs, err := s.webhookTriggers(c, hook)
	if err != nil {
		return err
	}
	if len(trigs) == 0 {
		return notFound("Webhook %s is not registered.", hook)
	}
	return c.JSON(http.StatusOK, trigs[0])
}
