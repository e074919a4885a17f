package server

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/squall-automation/squall/catalog"
	"github.com/squall-automation/squall/execution"
	"github.com/squall-automation/squall/pack"
)

// runRequest is st2's ExecutionRequest (a LiveAction plus "user").
type runRequest struct {
	Action     string         `json:"action"`
	Parameters map[string]any `json:"parameters"`
	User       *string        `json:"user"`
	Delay      *int64         `json:"delay"` // milliseconds
	Context    map[string]any `json:"context"`
	Notify     map[string]any `json:"notify"`
}

// reRunRequest is the body of POST /api/v1/executions/{id}/re_run.
type reRunRequest struct {
	Parameters map[string]any `json:"parameters"`
	Tasks      []string       `json:"tasks"`
	Reset      []string       `json:"reset"`
	User       string         `json:"user"`
	Delay      *int64         `json:"delay"`
}

// execError maps the execution service's errors to st2's answers.
func execError(err error, id string) error {
	var inv *execution.InvalidInputError
	switch {
	case errors.Is(err, execution.ErrNotFound):
		return notFound("Unable to identify resource with id %q.", id)
	case errors.As(err, &inv):
		return badRequest("%s", inv.Msg)
	}
	return err
}

// showExecution is the single exit of executions to clients: secrets are
// masked here whatever the service already did. secrets caches the catalog's
// action specs for the request.
func showExecution(ex *execution.Execution, secrets *actionSecrets) (*execution.Execution, error) {
	ref, _ := ex.Action["ref"].(string)
	var specs pack.ParamSpecs
	if ref != "" {
		s, err := secrets.action(ref)
		if err != nil {
			return nil, err
		}
		specs = s
	}
	maskExecution(ex, specs)
	if ex.Context == nil {
		ex.Context = map[string]any{}
	}
	if ex.Parameters == nil {
		ex.Parameters = map[string]any{}
	}
	return ex, nil
}

// executionJSON answers one execution, masked.
func (s *Server) executionJSON(c echo.Context, status int, ex *execution.Execution) error {
	shown, err := showExecution(ex, s.newActionSecrets(c))
	if err != nil {
		return err
	}
	return c.JSON(status, shown)
}

func (s *Server) runExecution(c echo.Context) error {
	var body runRequest
	if err := decodeBody(c, &body); err != nil {
		return err
	}
	if strings.TrimSpace(body.Action) == "" {
		return badRequest("'action' is a required property")
	}
	ctxVals := map[string]any{}
	// st2 lets callers add execution context in an St2-Context header (JSON
	// object), e.g. chatops source channel; the body's context wins.
	if h := c.Request().Header.Get("St2-Context"); h != "" {
		if err := json.Unmarshal([]byte(h), &ctxVals); err != nil {
			return badRequest("Unable to convert st2-context from the headers into JSON: %v", err)
		}
	}
	for k, v := range body.Context {
		ctxVals[k] = v
	}
	user := requester(c)
	// st2 lets administrators run as another user; without RBAC every
	// authenticated user is one. Who asked is kept in the context.
	if body.User != nil && *body.User != "" && *body.User != user {
		ctxVals["api_user"] = user
		user = *body.User
	}
	req := execution.RunRequest{
		Action:     body.Action,
		Parameters: body.Parameters,
		User:       user,
		Context:    ctxVals,
		Notify:     body.Notify,
	}
	if body.Delay != nil {
		if *body.Delay < 0 {
			return badRequest("delay must not be negative, got %d", *body.Delay)
		}
		req.Delay = time.Duration(*body.Delay) * time.Millisecond
	}
	if req.Parameters == nil {
		req.Parameters = map[string]any{}
	}
	ex, err := s.execs.Run(c.Request().Context(), req)
	if errors.Is(err, execution.ErrActionNotFound) {
		return badRequest("Action %q cannot be found.", body.Action)
	}
	if err != nil {
		return execError(err, "")
	}
	s.log.Info("execution requested", "execution", ex.ID, "action", body.Action, "user", user)
	return s.executionJSON(c, http.StatusCreated, ex)
}

func (s *Server) listExecutions(c echo.Context) error {
	p, err := parsePage(c, 100)
	if err != nil {
		return err
	}
	f := execution.Filter{
		Action:          c.QueryParam("action"),
		Pack:            c.QueryParam("pack"),
		Status:          c.QueryParam("status"),
		User:            c.QueryParam("user"),
		Runner:          c.QueryParam("runner"),
		Rule:            c.QueryParam("rule"),
		TriggerInstance: c.QueryParam("trigger_instance"),
		Parent:          c.QueryParam("parent"),
		Limit:           p.Limit,
		Offset:          p.Offset,
	}
	if f.Limit == 0 {
		// limit=-1: everything. The service reads Temporal visibility page by
		// page up to the limit.
		f.Limit = math.MaxInt32
	}
	list, total, err := s.execs.List(c.Request().Context(), f)
	if err != nil {
		return err
	}
	secrets := s.newActionSecrets(c)
	for _, ex := range list {
		if _, err := showExecution(ex, secrets); err != nil {
			return err
		}
	}
	return listJSON(c, list, p, total)
}

// executionID resolves st2's special id "last" (the newest execution).
func (s *Server) executionID(c echo.Context) (string, error) {
	id := c.Param("id")
	if id != "last" {
		return id, nil
	}
	list, _, err := s.execs.List(c.Request().Context(), execution.Filter{Limit: 1})
	if err != nil {
		return "", err
	}
	if len(list) == 0 {
		return "", notFound("No executions found.")
	}
	return list[0].ID, nil
}

func (s *Server) getExecution(c echo.Context) error {
	id, err := s.executionID(c)
	if err != nil {
		return err
	}
	ex, err := s.execs.Get(c.Request().Context(), id)
	if err != nil {
		return execError(err, id)
	}
	return s.executionJSON(c, http.StatusOK, ex)
}

// cancelExecution is DELETE /api/v1/executions/{id}. Like st2, cancelling an
// execution that is already canceled answers 200 with it; one in another
// final state is a conflict.
func (s *Server) cancelExecution(c echo.Context) error {
	id := c.Param("id")
	ctx := c.Request().Context()
	ex, err := s.execs.Cancel(ctx, id, requester(c))
	var inv *execution.InvalidInputError
	if errors.As(err, &inv) {
		cur, gerr := s.execs.Get(ctx, id)
		if gerr == nil && cur.Status == execution.StatusCanceled {
			return s.executionJSON(c, http.StatusOK, cur)
		}
		return faultf(http.StatusConflict, "%s", inv.Msg)
	}
	if err != nil {
		return execError(err, id)
	}
	s.log.Info("execution cancel requested", "execution", id, "user", requester(c))
	return s.executionJSON(c, http.StatusOK, ex)
}

func (s *Server) reRunExecution(c echo.Context) error {
	id := c.Param("id")
	var body reRunRequest
	if err := decodeBody(c, &body); err != nil {
		return err
	}
	if len(body.Tasks) > 0 || len(body.Reset) > 0 {
		return badRequest("Re-running specific tasks is only supported for workflow executions, which Squall does not run.")
	}
	if body.Delay != nil && *body.Delay != 0 {
		return badRequest("delay is not supported on re-run.")
	}
	user := requester(c)
	if body.User != "" {
		user = body.User
	}
	ex, err := s.execs.ReRun(c.Request().Context(), id, body.Parameters, user)
	if errors.Is(err, execution.ErrActionNotFound) {
		return badRequest("The action of execution %q cannot be found.", id)
	}
	if err != nil {
		return execError(err, id)
	}
	s.log.Info("execution re-run requested", "execution", ex.ID, "of", id, "user", user)
	return s.executionJSON(c, http.StatusCreated, ex)
}

// outputStream reads st2's output_type query parameter ("all", "stdout",
// "stderr") as a catalog stream ("" for all).
func outputStream(c echo.Context) (string, error) {
	switch v := c.QueryParam("output_type"); v {
	case "", "all":
		return "", nil
	case catalog.StreamStdout, catalog.StreamStderr:
		return v, nil
	default:
		return "", badRequest("output_type must be one of all, stdout, stderr; got %q", v)
	}
}

// outputPage bounds each read of stored output.
const outputPage = 1000

// executionOutput is GET /api/v1/executions/{id}/output: the output stored
// so far, concatenated, as plain text.
func (s *Server) executionOutput(c echo.Context) error {
	stream, err := outputStream(c)
	if err != nil {
		return err
	}
	id, err := s.executionID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if _, err := s.execs.Get(ctx, id); err != nil {
		return execError(err, id)
	}
	// Read everything before answering so that a database error is still a
	// proper 500 rather than a truncated 200.
	var b strings.Builder
	var after int64
	for {
		chunks, err := s.catalog.ReadOutput(ctx, id, after, stream, outputPage)
		if err != nil {
			return err
		}
		for _, ch := range chunks {
			b.WriteString(ch.Data)
			after = ch.ID
		}
		if len(chunks) < outputPage {
			break
		}
	}
	return c.Blob(http.StatusOK, "text/plain; charset=utf-8", []byte(b.String()))
}
