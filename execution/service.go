package execution

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/squall-automation/squall/activities"
	"github.com/squall-automation/squall/catalog"
	"github.com/squall-automation/squall/param"
	"github.com/squall-automation/squall/runner"
	"github.com/squall-automation/squall/workflows"
)

// MaskedValue replaces secret parameter values in everything Squall shows.
const MaskedValue = "********"

// Memo keys stored on each execution workflow. The memo is what describe and
// list return besides search attributes, so it carries the display fields.
const (
	memoAction     = "action"
	memoRunner     = "runner"
	memoParameters = "parameters" // secrets masked
	memoContext    = "context"
)

// Actions is what the service needs from the catalog.
type Actions interface {
	GetAction(ctx context.Context, refOrID string) (*catalog.ActionRecord, error)
}

// Config configures a Service.
type Config struct {
	Namespace string
	TaskQueue string
	// WebUIURL is the Temporal Web UI's base URL, for each execution's web_url.
	WebUIURL string
	// MaxAttempts and HeartbeatTimeout set the runner's worker-loss policy
	// (see workflows.ExecutionInput); zero values take the workflow defaults.
	MaxAttempts      int32
	HeartbeatTimeout time.Duration
	// EagerStart asks Temporal to hand the first workflow task straight to a
	// worker in this process, saving a round trip when one is running here.
	EagerStart bool
	Logger     *slog.Logger
}

// Service starts and reads executions.
type Service struct {
	cfg      Config
	temporal client.Client
	actions  Actions
}

// New returns a Service over a Temporal client and the catalog.
func New(cfg Config, tc client.Client, actions Actions) *Service {
	if cfg.TaskQueue == "" {
		cfg.TaskQueue = workflows.TaskQueue
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Service{cfg: cfg, temporal: tc, actions: actions}
}

// Run resolves the request against the action's parameter schema and starts
// its workflow. Invalid input returns *InvalidInputError and starts nothing.
// A request carrying an ID that already exists returns that execution.
func (s *Service) Run(ctx context.Context, req RunRequest) (*Execution, error) {
	act, err := s.actions.GetAction(ctx, req.Action)
	if errors.Is(err, catalog.ErrNotFound) {
		return nil, fmt.Errorf("%w: %q", ErrActionNotFound, req.Action)
	}
	if err != nil {
		return nil, fmt.Errorf("look up action %q: %w", req.Action, err)
	}
	if !act.Enabled {
		return nil, &InvalidInputError{Msg: fmt.Sprintf("Unable to execute. Action %q is disabled.", act.Ref)}
	}
	rt, known := runner.Get(act.RunnerType)
	if !known {
		return nil, &InvalidInputError{Msg: fmt.Sprintf("action %q has unknown runner type %q", act.Ref, act.RunnerType)}
	}
	resolved, err := param.Resolve(rt.RunnerParameters, act.Parameters, req.Parameters, nil)
	if err != nil {
		var perr *param.Error
		if errors.As(err, &perr) {
			return nil, &InvalidInputError{Msg: perr.Error()}
		}
		return nil, fmt.Errorf("resolve parameters of %q: %w", act.Ref, err)
	}

	id := req.ID
	if id == "" {
		id = catalog.NewID()
	}
	user := req.User
	if user == "" {
		user = "stanley" // st2's default system user
	}
	execCtx := map[string]any{}
	for k, v := range req.Context {
		execCtx[k] = v
	}
	execCtx["user"] = user

	// Everything shown to people carries masked secrets; the workflow input
	// carries the real values because the runner needs them.
	shown := mergeParams(resolved.Runner, resolved.Action)
	maskSecrets(shown, resolved.Secrets)

	actionDoc := actionSummary(act, resolved.Secrets)
	runnerDoc := map[string]any{"name": rt.Name, "runner_module": rt.RunnerModule, "description": rt.Description}

	in := workflows.ExecutionInput{
		Request: activities.RunRequest{
			ExecutionID:     id,
			Runner:          act.RunnerType,
			ActionRef:       act.Ref,
			Pack:            act.Pack,
			PackPath:        act.PackPath,
			EntryPoint:      act.EntryPoint,
			RunnerParams:    resolved.Runner,
			ActionParams:    resolved.Action,
			PositionalOrder: resolved.Positional,
			Secrets:         resolved.Secrets,
			Config:          act.PackConfig,
			Timeout:         timeoutOf(shownTimeout(resolved)),
			User:            user,
		},
		Delay:            req.Delay,
		Notify:           notifyOf(req.Notify, act.Notify),
		EmitEvents:       true,
		MaxAttempts:      s.cfg.MaxAttempts,
		HeartbeatTimeout: s.cfg.HeartbeatTimeout,
	}
	status := StatusScheduled
	if req.Delay > 0 {
		status = StatusDelayed
	}
	sa := []temporal.SearchAttributeUpdate{
		workflows.AttrStatus.ValueSet(status),
		workflows.AttrAction.ValueSet(act.Ref),
		workflows.AttrPack.ValueSet(act.Pack),
		workflows.AttrRunner.ValueSet(act.RunnerType),
		workflows.AttrUser.ValueSet(user),
	}
	// Rules and triggers are searched by ref (what people type in the Web
	// UI), trigger instances and parents by ID.
	for _, ref := range []struct {
		key, field string
		attr       temporal.SearchAttributeKeyKeyword
	}{
		{"rule", "ref", workflows.AttrRule}, {"trigger", "ref", workflows.AttrTrigger},
		{"trigger_instance", "id", workflows.AttrTriggerInstance}, {"parent", "id", workflows.AttrParent},
	} {
		if v := contextRef(execCtx, ref.key, ref.field); v != "" {
			sa = append(sa, ref.attr.ValueSet(v))
		}
	}
	opts := client.StartWorkflowOptions{
		ID:                       id,
		TaskQueue:                s.cfg.TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		TypedSearchAttributes:    temporal.NewSearchAttributes(sa...),
		Memo: map[string]any{
			memoAction:     actionDoc,
			memoRunner:     runnerDoc,
			memoParameters: shown,
			memoContext:    execCtx,
		},
		EnableEagerStart: s.cfg.EagerStart,
		// Without it the SDK hands back the existing run of a reused ID as
		// if it had started it.
		WorkflowExecutionErrorWhenAlreadyStarted: true,
	}
	started := time.Now().UTC()
	if _, err := s.temporal.ExecuteWorkflow(ctx, opts, workflows.ExecutionWorkflow, in); err != nil {
		var already *serviceerror.WorkflowExecutionAlreadyStarted
		if errors.As(err, &already) || temporal.IsWorkflowExecutionAlreadyStartedError(err) {
			return s.Get(ctx, id)
		}
		return nil, fmt.Errorf("start execution of %q: %w", act.Ref, err)
	}
	return &Execution{
		ID:             id,
		Action:         actionDoc,
		Runner:         runnerDoc,
		Parameters:     shown,
		Status:         status,
		StartTimestamp: formatTime(started),
		Context:        execCtx,
		Log:            []StatusChange{{Status: StatusRequested, Timestamp: formatTime(started)}, {Status: status, Timestamp: formatTime(started)}},
		WebURL:         s.webURL(id),
	}, nil
}

// Get reads one execution from Temporal itself (not visibility), so it is
// current immediately after Run.
func (s *Service) Get(ctx context.Context, id string) (*Execution, error) {
	desc, err := s.temporal.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		return nil, fmt.Errorf("describe execution %s: %w", id, err)
	}
	info := desc.GetWorkflowExecutionInfo()
	if info.GetType().GetName() != workflows.ExecutionWorkflow {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	ex := s.fromInfo(info)
	if info.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		res, status := s.result(ctx, id, info.GetExecution().GetRunId())
		ex.Result = res
		if status != "" {
			ex.Status = status
		}
	}
	return ex, nil
}

// result fetches a closed execution's result from its close event.
func (s *Service) result(ctx context.Context, id, runID string) (map[string]any, string) {
	var res activities.RunResult
	err := s.temporal.GetWorkflow(ctx, id, runID).Get(ctx, &res)
	if err == nil {
		return res.Result, res.Status
	}
	var appErr *temporal.ApplicationError
	var canceledErr *temporal.CanceledError
	switch {
	case errors.As(err, &appErr):
		if appErr.HasDetails() && appErr.Details(&res) == nil {
			return res.Result, res.Status
		}
		return map[string]any{"error": appErr.Message()}, StatusFailed
	case errors.As(err, &canceledErr):
		if canceledErr.HasDetails() && canceledErr.Details(&res) == nil {
			return res.Result, StatusCanceled
		}
		return map[string]any{}, StatusCanceled
	default:
		var terminated *temporal.TerminatedError
		var timeout *temporal.TimeoutError
		if errors.As(err, &terminated) {
			return map[string]any{"error": "the execution's workflow was terminated"}, StatusAbandoned
		}
		if errors.As(err, &timeout) {
			return map[string]any{"error": "the execution's workflow timed out"}, StatusTimeout
		}
		s.cfg.Logger.Warn("read execution result", "execution", id, "error", err)
		return map[string]any{"error": err.Error()}, ""
	}
}

// List reads executions from Temporal visibility, newest first.
func (s *Service) List(ctx context.Context, f Filter) ([]*Execution, int, error) {
	query := listQuery(f, s.cfg.TaskQueue)
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	count, err := s.temporal.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: s.cfg.Namespace, Query: query})
	if err != nil {
		return nil, 0, fmt.Errorf("count executions: %w", err)
	}
	var out []*Execution
	var token []byte
	skip := f.Offset
	for len(out) < limit {
		page := int32(limit + skip)
		if page > 1000 {
			page = 1000
		}
		resp, err := s.temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: s.cfg.Namespace, PageSize: page, NextPageToken: token, Query: query,
		})
		if err != nil {
			return nil, 0, fmt.Errorf("list executions: %w", err)
		}
		for _, info := range resp.GetExecutions() {
			if skip > 0 {
				skip--
				continue
			}
			if len(out) < limit {
				out = append(out, s.fromInfo(info))
			}
		}
		token = resp.GetNextPageToken()
		if len(token) == 0 {
			break
		}
	}
	return out, int(count.GetCount()), nil
}

// Cancel asks the execution to stop; its runner kills the action's process
// group. The returned execution shows "canceling" until the runner is done.
func (s *Service) Cancel(ctx context.Context, id, user string) (*Execution, error) {
	ex, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if isFinal(ex.Status) {
		return nil, &InvalidInputError{Msg: fmt.Sprintf("Action cannot be canceled. State = %s.", ex.Status)}
	}
	if err := s.temporal.CancelWorkflow(ctx, id, ""); err != nil {
		return nil, fmt.Errorf("cancel execution %s: %w", id, err)
	}
	s.cfg.Logger.Info("execution cancel requested", "execution", id, "user", user)
	ex.Status = StatusCanceling
	return ex, nil
}

// ReRun starts a new execution of the same action with the original
// parameters overlaid by params (secret values cannot be recovered from the
// masked memo, so a re-run must supply them again).
func (s *Service) ReRun(ctx context.Context, id string, params map[string]any, user string) (*Execution, error) {
	orig, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	ref, _ := orig.Action["ref"].(string)
	secrets, _ := orig.Action["secret_parameters"].([]any)
	merged := map[string]any{}
	for k, v := range orig.Parameters {
		merged[k] = v
	}
	for _, name := range secrets {
		if n, ok := name.(string); ok && merged[n] == MaskedValue {
			delete(merged, n)
		}
	}
	// Runner parameters resolved from immutable defaults must not be passed
	// back as live values: keep only what the action schema lets a caller set.
	for k := range merged {
		if immutable(orig.Action, k) {
			delete(merged, k)
		}
	}
	for k, v := range params {
		merged[k] = v
	}
	return s.Run(ctx, RunRequest{Action: ref, Parameters: merged, User: user, Context: map[string]any{"re-run": map[string]any{"ref": id}}})
}

func (s *Service) fromInfo(info *workflowpb.WorkflowExecutionInfo) *Execution {
	ex := &Execution{
		ID:      info.GetExecution().GetWorkflowId(),
		Context: map[string]any{},
		WebURL:  s.webURL(info.GetExecution().GetWorkflowId()),
	}
	dc := converter.GetDefaultDataConverter()
	for key, field := range info.GetMemo().GetFields() {
		switch key {
		case memoAction:
			_ = dc.FromPayload(field, &ex.Action)
		case memoRunner:
			_ = dc.FromPayload(field, &ex.Runner)
		case memoParameters:
			_ = dc.FromPayload(field, &ex.Parameters)
		case memoContext:
			_ = dc.FromPayload(field, &ex.Context)
		}
	}
	if p := info.GetSearchAttributes().GetIndexedFields()[workflows.AttrStatus.GetName()]; p != nil {
		_ = dc.FromPayload(p, &ex.Status)
	}
	if ex.Status == "" {
		ex.Status = StatusScheduled
	}
	// A workflow closed by Temporal itself (terminated, timed out) never
	// wrote a final status: derive one so nothing stays "running".
	switch info.GetStatus() {
	case enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED:
		ex.Status = StatusAbandoned
	case enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:
		ex.Status = StatusTimeout
	case enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
		ex.Status = StatusCanceled
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		if isFinal(ex.Status) { // cannot happen, but never show a final status while running
			ex.Status = StatusRunning
		}
	}
	if p, ok := ex.Context["parent"].(string); ok {
		ex.Parent = p
	}
	if t := info.GetStartTime(); t != nil {
		ex.StartTimestamp = formatTime(t.AsTime())
	}
	if t := info.GetCloseTime(); t != nil && t.IsValid() && !t.AsTime().IsZero() && info.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		ex.EndTimestamp = formatTime(t.AsTime())
		ex.ElapsedSeconds = t.AsTime().Sub(info.GetStartTime().AsTime()).Seconds()
	}
	return ex
}

func (s *Service) webURL(id string) string {
	if s.cfg.WebUIURL == "" {
		return ""
	}
	return strings.TrimRight(s.cfg.WebUIURL, "/") + "/namespaces/" + url.PathEscape(s.cfg.Namespace) + "/workflows/" + url.PathEscape(id)
}

// listQuery turns a Filter into a visibility query. Values are quoted with
// single quotes; a quote in a value is escaped so that no filter can change
// the query's shape.
//
// The task queue scopes the list to this deployment: several Squall
// deployments (or test stacks) may share one Temporal namespace.
func listQuery(f Filter, taskQueue string) string {
	clauses := []string{fmt.Sprintf("WorkflowType = '%s'", workflows.ExecutionWorkflow), "TaskQueue = " + quote(taskQueue)}
	add := func(attr temporal.SearchAttributeKeyKeyword, v string) {
		if v != "" {
			clauses = append(clauses, fmt.Sprintf("%s = %s", attr.GetName(), quote(v)))
		}
	}
	add(workflows.AttrAction, f.Action)
	add(workflows.AttrPack, f.Pack)
	add(workflows.AttrStatus, f.Status)
	add(workflows.AttrUser, f.User)
	add(workflows.AttrRunner, f.Runner)
	add(workflows.AttrRule, f.Rule)
	add(workflows.AttrTriggerInstance, f.TriggerInstance)
	switch f.Parent {
	case "":
	case "null":
		clauses = append(clauses, workflows.AttrParent.GetName()+" IS NULL")
	default:
		add(workflows.AttrParent, f.Parent)
	}
	return strings.Join(clauses, " AND ")
}

func quote(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

func isFinal(status string) bool {
	switch status {
	case StatusSucceeded, StatusFailed, StatusTimeout, StatusAbandoned, StatusCanceled:
		return true
	}
	return false
}

// formatTime renders st2's timestamp format (ISO 8601, microseconds, UTC).
func formatTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000000Z")
}

func mergeParams(runnerParams, actionParams map[string]any) map[string]any {
	out := make(map[string]any, len(runnerParams)+len(actionParams))
	for k, v := range runnerParams {
		out[k] = v
	}
	for k, v := range actionParams {
		out[k] = v
	}
	return out
}

func maskSecrets(params map[string]any, secrets []string) {
	for _, name := range secrets {
		if _, ok := params[name]; ok {
			params[name] = MaskedValue
		}
	}
}

// timeoutOf reads the runner's "timeout" parameter (seconds).
func timeoutOf(runnerParams map[string]any) time.Duration {
	switch v := runnerParams["timeout"].(type) {
	case int:
		return time.Duration(v) * time.Second
	case int64:
		return time.Duration(v) * time.Second
	case float64:
		return time.Duration(v * float64(time.Second))
	case string:
		if n, err := strconv.ParseFloat(v, 64); err == nil {
			return time.Duration(n * float64(time.Second))
		}
	}
	return 0
}

// contextRef reads a reference string from the execution context, where it
// may be a plain string or an object with "id" or "ref".
func contextRef(ctx map[string]any, key, field string) string {
	switch v := ctx[key].(type) {
	case string:
		return v
	case map[string]any:
		if s, ok := v[field].(string); ok {
			return s
		}
	}
	return ""
}

// actionSummary is the action as shown in an execution (st2 embeds the
// action document); secret_parameters and immutable_parameters let readers
// mask and re-run without the catalog.
func actionSummary(a *catalog.ActionRecord, secrets []string) map[string]any {
	secrets = append([]string(nil), secrets...)
	var immutables []string
	for name, spec := range a.Parameters {
		if b, _ := spec["immutable"].(bool); b {
			immutables = append(immutables, name)
		}
	}
	sort.Strings(secrets)
	sort.Strings(immutables)
	return map[string]any{
		"id":                   a.ID,
		"ref":                  a.Ref,
		"name":                 a.Name,
		"pack":                 a.Pack,
		"description":          a.Description,
		"runner_type":          a.RunnerType,
		"entry_point":          a.EntryPoint,
		"enabled":              a.Enabled,
		"secret_parameters":    secrets,
		"immutable_parameters": immutables,
	}
}

func immutable(action map[string]any, name string) bool {
	list, _ := action["immutable_parameters"].([]any)
	for _, v := range list {
		if v == name {
			return true
		}
	}
	return false
}

// shownTimeout picks the "timeout" parameter wherever the action declares
// it: a runner parameter for the shell runners, an action parameter for
// core.http.
func shownTimeout(r param.Resolved) map[string]any {
	if _, ok := r.Runner["timeout"]; ok {
		return r.Runner
	}
	return r.Action
}

// notifyOf picks the run request's notify block over the action's, as st2
// does when a caller gives one.
func notifyOf(request, action map[string]any) map[string]any {
	if len(request) > 0 {
		return request
	}
	return action
}
