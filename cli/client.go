package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultAPIURL is where a local `squall up` listens.
const DefaultAPIURL = "http://127.0.0.1:9101"

// Config tells a Client where the API is and how to authenticate.
type Config struct {
	// APIURL is the server's base URL (scheme://host:port); /api/v1,
	// /auth/v1 and /stream/v1 are served under it.
	APIURL string
	// AuthToken is sent as X-Auth-Token (from `squall login`).
	AuthToken string
	// APIKey is sent as St2-Api-Key.
	APIKey string
	// Timeout bounds each request except output streams, which last as long
	// as the execution. Zero means 5 minutes: registering many packs is slow.
	Timeout time.Duration
	// HTTPClient defaults to a client without an overall timeout (streams).
	HTTPClient *http.Client
}

// Client is a small typed client of Squall's StackStorm-compatible REST API.
type Client struct {
	base    string
	token   string
	apiKey  string
	timeout time.Duration
	hc      *http.Client
}

// NewClient returns a client for cfg; it does not contact the server.
func NewClient(cfg Config) *Client {
	base := strings.TrimRight(cfg.APIURL, "/")
	if base == "" {
		base = DefaultAPIURL
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Minute
	}
	return &Client{base: base, token: cfg.AuthToken, apiKey: cfg.APIKey, timeout: timeout, hc: hc}
}

// APIError is an error answer of the API: its HTTP status and the
// faultstring of the body ({"faultstring": "..."}), StackStorm's error shape.
type APIError struct {
	StatusCode  int
	Faultstring string
}

func (e *APIError) Error() string { return fmt.Sprintf("%d: %s", e.StatusCode, e.Faultstring) }

// IsNotFound reports whether err is an API 404.
func IsNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.StatusCode == http.StatusNotFound
}

// ErrStreamInterrupted means an output stream ended before the server said
// the execution was over (its EOF event): the connection was cut.
var ErrStreamInterrupted = errors.New("output stream ended before the execution completed")

// Execution is an action execution as the API returns it (st2's shape).
type Execution struct {
	ID             string         `json:"id"`
	Action         map[string]any `json:"action"`
	Runner         map[string]any `json:"runner,omitempty"`
	Parameters     map[string]any `json:"parameters,omitempty"`
	Status         string         `json:"status"`
	StartTimestamp string         `json:"start_timestamp,omitempty"`
	EndTimestamp   string         `json:"end_timestamp,omitempty"`
	ElapsedSeconds float64        `json:"elapsed_seconds,omitempty"`
	Result         any            `json:"result,omitempty"`
	Context        map[string]any `json:"context,omitempty"`
	Parent         string         `json:"parent,omitempty"`
	Children       []string       `json:"children,omitempty"`
	WebURL         string         `json:"web_url,omitempty"`
	// Raw is the JSON the server sent, for -j output without losing fields.
	Raw json.RawMessage `json:"-"`
}

// ActionRef is action.ref.
func (e *Execution) ActionRef() string { s, _ := e.Action["ref"].(string); return s }

// User is context.user.
func (e *Execution) User() string { s, _ := e.Context["user"].(string); return s }

// Completed reports whether the execution reached a final status.
func (e *Execution) Completed() bool { return completedStatuses[e.Status] }

// Final statuses, StackStorm's LIVEACTION_COMPLETED_STATES.
var completedStatuses = map[string]bool{
	"succeeded": true, "failed": true, "timeout": true, "canceled": true, "abandoned": true,
}

// RunRequest is the body of POST /api/v1/executions.
type RunRequest struct {
	Action     string         `json:"action"`
	Parameters map[string]any `json:"parameters"`
	User       string         `json:"user,omitempty"`
	Delay      int            `json:"delay,omitempty"` // milliseconds
	Context    map[string]any `json:"context,omitempty"`
}

// ReRunRequest is the body of POST /api/v1/executions/{id}/re_run:
// parameters override those of the original execution.
type ReRunRequest struct {
	Parameters map[string]any `json:"parameters"`
	Tasks      []string       `json:"tasks,omitempty"`
	User       string         `json:"user,omitempty"`
	Delay      int            `json:"delay,omitempty"`
}

// ExecutionFilter selects executions; zero values are not sent.
type ExecutionFilter struct {
	Action string
	Status string
	User   string
	// Parent "null" lists top-level executions only (st2's default listing).
	Parent string
	Limit  int
	Offset int
}

// OutputEvent is one chunk of an execution's stdout or stderr.
type OutputEvent struct {
	ExecutionID string `json:"execution_id"`
	OutputType  string `json:"output_type"` // stdout, stderr
	Data        string `json:"data"`
	Timestamp   string `json:"timestamp"`
}

// Token is the answer to a login.
type Token struct {
	User   string `json:"user"`
	Token  string `json:"token"`
	Expiry string `json:"expiry"`
}

// UserInfo is GET /api/v1/user: who the credentials belong to.
type UserInfo struct {
	Username       string `json:"username"`
	Authentication struct {
		Method      string `json:"method"`
		Location    string `json:"location"`
		TokenExpire string `json:"token_expire"`
	} `json:"authentication"`
	RBAC struct {
		Enabled bool     `json:"enabled"`
		Roles   []string `json:"roles"`
		IsAdmin bool     `json:"is_admin"`
	} `json:"rbac"`
}

// Action is an action as the API lists it.
type Action struct {
	ID          string                    `json:"id"`
	UID         string                    `json:"uid"`
	Ref         string                    `json:"ref"`
	Pack        string                    `json:"pack"`
	Name        string                    `json:"name"`
	Description string                    `json:"description"`
	Enabled     bool                      `json:"enabled"`
	EntryPoint  string                    `json:"entry_point"`
	RunnerType  string                    `json:"runner_type"`
	Parameters  map[string]map[string]any `json:"parameters"`
	Raw         json.RawMessage           `json:"-"`
}

// RunnerType is a runner as the API describes it.
type RunnerType struct {
	Name             string                    `json:"name"`
	Description      string                    `json:"description"`
	RunnerParameters map[string]map[string]any `json:"runner_parameters"`
}

// Pack is a registered pack.
type Pack struct {
	ID          string          `json:"id"`
	Ref         string          `json:"ref"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Version     string          `json:"version"`
	Author      string          `json:"author"`
	Email       string          `json:"email"`
	Keywords    []string        `json:"keywords"`
	Path        string          `json:"path"`
	Raw         json.RawMessage `json:"-"`
}

// APIKey is an API key; Key is only present in the answer to its creation.
type APIKey struct {
	ID        string          `json:"id"`
	User      string          `json:"user"`
	Key       string          `json:"key,omitempty"`
	Metadata  map[string]any  `json:"metadata"`
	CreatedAt string          `json:"created_at"`
	Enabled   bool            `json:"enabled"`
	Raw       json.RawMessage `json:"-"`
}

// Login exchanges a user's password for a token (POST /auth/v1/tokens with
// Basic auth). ttl in seconds; 0 lets the server choose.
func (c *Client) Login(ctx context.Context, user, password string, ttl int) (*Token, error) {
	body := map[string]any{}
	if ttl > 0 {
		body["ttl"] = ttl
	}
	var tok Token
	err := c.do(ctx, http.MethodPost, "/auth/v1/tokens", nil, body, &tok, func(r *http.Request) {
		r.SetBasicAuth(user, password)
		// The password is the credential here; a stale token must not win.
		r.Header.Del("X-Auth-Token")
		r.Header.Del("St2-Api-Key")
	})
	if err != nil {
		return nil, fmt.Errorf("log in as %q: %w", user, err)
	}
	return &tok, nil
}

// WhoAmI describes the user the client's credentials belong to.
func (c *Client) WhoAmI(ctx context.Context) (*UserInfo, error) {
	var u UserInfo
	if err := c.do(ctx, http.MethodGet, "/api/v1/user", nil, nil, &u, nil); err != nil {
		return nil, err
	}
	return &u, nil
}

// Run starts an execution.
func (c *Client) Run(ctx context.Context, req RunRequest) (*Execution, error) {
	if req.Parameters == nil {
		req.Parameters = map[string]any{}
	}
	var raw json.RawMessage
	if err := c.do(ctx, http.MethodPost, "/api/v1/executions", nil, req, &raw, nil); err != nil {
		return nil, fmt.Errorf("run %s: %w", req.Action, err)
	}
	return decodeExecution(raw)
}

// GetExecution reads one execution.
func (c *Client) GetExecution(ctx context.Context, id string) (*Execution, error) {
	var raw json.RawMessage
	if err := c.do(ctx, http.MethodGet, "/api/v1/executions/"+url.PathEscape(id), nil, nil, &raw, nil); err != nil {
		return nil, err
	}
	return decodeExecution(raw)
}

// ListExecutions lists executions, newest first. total is the server's
// X-Total-Count (all matches, not just this page) or -1 if it sent none.
func (c *Client) ListExecutions(ctx context.Context, f ExecutionFilter) (execs []Execution, total int, err error) {
	q := url.Values{}
	setIf(q, "action", f.Action)
	setIf(q, "status", f.Status)
	setIf(q, "user", f.User)
	setIf(q, "parent", f.Parent)
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.Offset > 0 {
		q.Set("offset", strconv.Itoa(f.Offset))
	}
	// Results can be large and a listing never shows them (st2 does the same).
	q.Set("exclude_attributes", "result,trigger_instance")
	var raws []json.RawMessage
	total = -1
	err = c.do(ctx, http.MethodGet, "/api/v1/executions", q, nil, &raws, nil, withTotal(&total))
	if err != nil {
		return nil, 0, err
	}
	execs = make([]Execution, 0, len(raws))
	for _, r := range raws {
		e, err := decodeExecution(r)
		if err != nil {
			return nil, 0, err
		}
		execs = append(execs, *e)
	}
	return execs, total, nil
}

// Cancel asks the server to cancel an execution and returns it as the
// server sees it afterwards (usually "canceling").
func (c *Client) Cancel(ctx context.Context, id string) (*Execution, error) {
	var raw json.RawMessage
	if err := c.do(ctx, http.MethodDelete, "/api/v1/executions/"+url.PathEscape(id), nil, nil, &raw, nil); err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return &Execution{ID: id, Status: "canceling"}, nil
	}
	return decodeExecution(raw)
}

// ReRun starts a new execution of the action of execution id with its
// parameters, overridden by req.Parameters.
func (c *Client) ReRun(ctx context.Context, id string, req ReRunRequest) (*Execution, error) {
	if req.Parameters == nil {
		req.Parameters = map[string]any{}
	}
	var raw json.RawMessage
	if err := c.do(ctx, http.MethodPost, "/api/v1/executions/"+url.PathEscape(id)+"/re_run", nil, req, &raw, nil); err != nil {
		return nil, fmt.Errorf("re-run %s: %w", id, err)
	}
	return decodeExecution(raw)
}

// Output returns the output an execution produced so far as plain text
// (GET /api/v1/executions/{id}/output). outputType is stdout, stderr or ""
// for both.
func (c *Client) Output(ctx context.Context, id, outputType string) (string, error) {
	q := url.Values{}
	setIf(q, "output_type", outputType)
	var buf bytes.Buffer
	if err := c.do(ctx, http.MethodGet, "/api/v1/executions/"+url.PathEscape(id)+"/output", q, nil, &buf, nil); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// StreamOutput follows /stream/v1/executions/{id}/output: fn gets the
// output produced so far, then new output as it comes, until the server
// signals the execution is over (nil), fn fails, ctx ends, or the
// connection drops (ErrStreamInterrupted).
func (c *Client) StreamOutput(ctx context.Context, id, outputType string, fn func(OutputEvent) error) error {
	q := url.Values{}
	setIf(q, "output_type", outputType)
	req, err := c.newRequest(ctx, http.MethodGet, "/stream/v1/executions/"+url.PathEscape(id)+"/output", q, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("stream output of %s: %w", id, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("stream output of %s: %w", id, apiError(resp))
	}
	err = readSSE(resp.Body, func(event, data string) (bool, error) {
		switch event {
		case "st2.execution.output__create":
			var ev OutputEvent
			if err := json.Unmarshal([]byte(data), &ev); err != nil {
				return false, fmt.Errorf("decode output event %q: %w", data, err)
			}
			return false, fn(ev)
		case "EOF":
			return true, nil
		}
		// Other events (keep-alives, future additions) carry nothing for us.
		return false, nil
	})
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// readSSE parses a text/event-stream body and hands each event to fn until
// fn says stop. A body that ends without stop is ErrStreamInterrupted.
func readSSE(body io.Reader, fn func(event, data string) (stop bool, err error)) error {
	br := bufio.NewReader(body)
	var event string
	var data []string
	for {
		line, err := br.ReadString('\n')
		if err != nil && line == "" {
			if errors.Is(err, io.EOF) {
				return ErrStreamInterrupted
			}
			return fmt.Errorf("read output stream: %w", err)
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			if event == "" && data == nil {
				continue
			}
			if event == "" {
				event = "message"
			}
			stop, ferr := fn(event, strings.Join(data, "\n"))
			if ferr != nil || stop {
				return ferr
			}
			event, data = "", nil
		case strings.HasPrefix(line, ":"):
			// Comment, used by servers as keep-alive.
		default:
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "event":
				event = value
			case "data":
				data = append(data, value)
			}
		}
	}
}

// ListActions lists actions, of one pack if pack is not empty.
func (c *Client) ListActions(ctx context.Context, pack string) ([]Action, error) {
	q := url.Values{}
	setIf(q, "pack", pack)
	var raws []json.RawMessage
	if err := c.do(ctx, http.MethodGet, "/api/v1/actions", q, nil, &raws, nil); err != nil {
		return nil, err
	}
	out := make([]Action, 0, len(raws))
	for _, r := range raws {
		var a Action
		if err := json.Unmarshal(r, &a); err != nil {
			return nil, fmt.Errorf("decode action: %w", err)
		}
		a.Raw = r
		out = append(out, a)
	}
	return out, nil
}

// GetAction reads one action by ref (pack.name).
func (c *Client) GetAction(ctx context.Context, ref string) (*Action, error) {
	var raw json.RawMessage
	if err := c.do(ctx, http.MethodGet, "/api/v1/actions/"+url.PathEscape(ref), nil, nil, &raw, nil); err != nil {
		return nil, err
	}
	var a Action
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, fmt.Errorf("decode action %s: %w", ref, err)
	}
	a.Raw = raw
	return &a, nil
}

// GetRunnerType reads one runner type by name.
func (c *Client) GetRunnerType(ctx context.Context, name string) (*RunnerType, error) {
	var rt RunnerType
	if err := c.do(ctx, http.MethodGet, "/api/v1/runnertypes/"+url.PathEscape(name), nil, nil, &rt, nil); err != nil {
		return nil, err
	}
	return &rt, nil
}

// ListPacks lists the registered packs.
func (c *Client) ListPacks(ctx context.Context) ([]Pack, error) {
	var raws []json.RawMessage
	if err := c.do(ctx, http.MethodGet, "/api/v1/packs", nil, nil, &raws, nil); err != nil {
		return nil, err
	}
	out := make([]Pack, 0, len(raws))
	for _, r := range raws {
		var p Pack
		if err := json.Unmarshal(r, &p); err != nil {
			return nil, fmt.Errorf("decode pack: %w", err)
		}
		p.Raw = r
		out = append(out, p)
	}
	return out, nil
}

// GetPack reads one pack by ref.
func (c *Client) GetPack(ctx context.Context, ref string) (*Pack, error) {
	var raw json.RawMessage
	if err := c.do(ctx, http.MethodGet, "/api/v1/packs/"+url.PathEscape(ref), nil, nil, &raw, nil); err != nil {
		return nil, err
	}
	var p Pack
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("decode pack %s: %w", ref, err)
	}
	p.Raw = raw
	return &p, nil
}

// RegisterPacks asks the server to (re)load packs from directories it can
// read; no directories means all packs under the server's packs paths.
// types limits the content types (actions, rules, ...). The answer counts
// what was registered per content type.
func (c *Client) RegisterPacks(ctx context.Context, dirs, types []string) (map[string]any, error) {
	body := map[string]any{}
	if len(dirs) > 0 {
		body["packs"] = dirs
	}
	if len(types) > 0 {
		body["types"] = types
	}
	out := map[string]any{}
	if err := c.do(ctx, http.MethodPost, "/api/v1/packs/register", nil, body, &out, nil); err != nil {
		return nil, fmt.Errorf("register packs: %w", err)
	}
	return out, nil
}

// CreateAPIKey creates an API key for user (empty: the caller).
func (c *Client) CreateAPIKey(ctx context.Context, user string, metadata map[string]any) (*APIKey, error) {
	body := map[string]any{}
	if user != "" {
		body["user"] = user
	}
	if len(metadata) > 0 {
		body["metadata"] = metadata
	}
	var raw json.RawMessage
	if err := c.do(ctx, http.MethodPost, "/api/v1/apikeys", nil, body, &raw, nil); err != nil {
		return nil, fmt.Errorf("create api key: %w", err)
	}
	var k APIKey
	if err := json.Unmarshal(raw, &k); err != nil {
		return nil, fmt.Errorf("decode api key: %w", err)
	}
	k.Raw = raw
	return &k, nil
}

// ListAPIKeys lists API keys, of one user if user is not empty.
func (c *Client) ListAPIKeys(ctx context.Context, user string) ([]APIKey, error) {
	q := url.Values{}
	setIf(q, "user", user)
	var raws []json.RawMessage
	if err := c.do(ctx, http.MethodGet, "/api/v1/apikeys", q, nil, &raws, nil); err != nil {
		return nil, err
	}
	out := make([]APIKey, 0, len(raws))
	for _, r := range raws {
		var k APIKey
		if err := json.Unmarshal(r, &k); err != nil {
			return nil, fmt.Errorf("decode api key: %w", err)
		}
		k.Raw = r
		out = append(out, k)
	}
	return out, nil
}

func decodeExecution(raw json.RawMessage) (*Execution, error) {
	var e Execution
	if err := json.Unmarshal(raw, &e); err != nil {
		return nil, fmt.Errorf("decode execution: %w", err)
	}
	e.Raw = raw
	return &e, nil
}

func setIf(q url.Values, k, v string) {
	if v != "" {
		q.Set(k, v)
	}
}

func (c *Client) newRequest(ctx context.Context, method, path string, q url.Values, body any) (*http.Request, error) {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode request body: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, fmt.Errorf("build request %s %s: %w", method, u, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "squall-cli")
	if c.token != "" {
		req.Header.Set("X-Auth-Token", c.token)
	}
	if c.apiKey != "" {
		req.Header.Set("St2-Api-Key", c.apiKey)
	}
	return req, nil
}

type respHook func(*http.Response)

func withTotal(total *int) respHook {
	return func(r *http.Response) {
		if n, err := strconv.Atoi(r.Header.Get("X-Total-Count")); err == nil {
			*total = n
		}
	}
}

// do sends one request and decodes the answer into out: a *bytes.Buffer
// gets the body as is, anything else is JSON-decoded.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body, out any, edit func(*http.Request), hooks ...respHook) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := c.newRequest(ctx, method, path, q, body)
	if err != nil {
		return err
	}
	if edit != nil {
		edit(req)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, req.URL.Redacted(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return apiError(resp)
	}
	for _, h := range hooks {
		h(resp)
	}
	if buf, ok := out.(*bytes.Buffer); ok {
		if _, err := io.Copy(buf, resp.Body); err != nil {
			return fmt.Errorf("read %s %s: %w", method, path, err)
		}
		return nil
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("read %s %s: %w", method, path, err)
	}
	if out == nil || len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("decode answer to %s %s: %w", method, path, err)
	}
	return nil
}

// apiError turns an error response into an *APIError, taking the
// faultstring from the JSON body, or the body itself when it is not JSON
// (a proxy's error page, say).
func apiError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	msg := ""
	var fault struct {
		Faultstring string `json:"faultstring"`
	}
	if json.Unmarshal(b, &fault) == nil && fault.Faultstring != "" {
		msg = fault.Faultstring
	} else {
		msg = strings.TrimSpace(string(b))
		if len(msg) > 500 {
			msg = msg[:500] + "..."
		}
	}
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	return &APIError{StatusCode: resp.StatusCode, Faultstring: msg}
}
