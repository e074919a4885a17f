package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// API is a small client of Squall's REST API: what the benchmarks and the
// fault scenarios need, nothing more.
type API struct {
	Base  string
	Token string
	// Poll is the interval between GETs while waiting for a final state.
	Poll time.Duration
	// Await, when set, blocks until execution id has ended and returns its
	// final status: a long poll on its Temporal workflow, the way the floor
	// awaits its result. Without it WaitExecution polls GET every Poll,
	// which at high concurrency loads the stack it measures.
	Await  func(ctx context.Context, id string) (status string, err error)
	Client *http.Client
}

// Login gets a token with HTTP basic auth, as `squall login` does.
func Login(ctx context.Context, base, user, password string) (*API, error) {
	a := &API{Base: strings.TrimRight(base, "/"), Poll: 5 * time.Millisecond, Client: &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 0},
		Timeout:   60 * time.Second,
	}}
	req, _ := http.NewRequestWithContext(ctx, "POST", a.Base+"/auth/v1/tokens", strings.NewReader("{}"))
	req.SetBasicAuth(user, password)
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("login to %s: %w", a.Base, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var tok struct {
		Token string `json:"token"`
	}
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(data, &tok) != nil || tok.Token == "" {
		return nil, fmt.Errorf("login to %s as %s: %d %s", a.Base, user, resp.StatusCode, bytes.TrimSpace(data))
	}
	a.Token = tok.Token
	return a, nil
}

// StatusError is a reply with an unexpected HTTP status.
type StatusError struct {
	Method, Path string
	Code         int
	Body         string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.Code, e.Body)
}

// do sends a request and decodes a JSON reply into out (when not nil). It
// returns the response headers.
// JSON sends body (when not nil) as JSON, expects 200 and decodes the reply
// into out (when not nil): for calls this client has no method for.
func (a *API) JSON(ctx context.Context, method, path string, body, out any) error {
	_, err := a.do(ctx, method, path, body, nil, http.StatusOK, out)
	return err
}

func (a *API) do(ctx context.Context, method, path string, body any, headers map[string]string, want int, out any) (http.Header, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.Base+path, r)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Auth-Token", a.Token)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := a.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.Header, fmt.Errorf("%s %s: read reply: %w", method, path, err)
	}
	if resp.StatusCode != want {
		msg := string(bytes.TrimSpace(data))
		if len(msg) > 300 {
			msg = msg[:300] + "..."
		}
		return resp.Header, &StatusError{Method: method, Path: path, Code: resp.StatusCode, Body: msg}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.Header, fmt.Errorf("%s %s: decode reply: %w", method, path, err)
		}
	}
	return resp.Header, nil
}

// Execution is the part of an execution the benchmarks read.
type Execution struct {
	ID             string `json:"id"`
	Status         string `json:"status"`
	StartTimestamp string `json:"start_timestamp"`
	Log            []struct {
		Status    string `json:"status"`
		Timestamp string `json:"timestamp"`
	} `json:"log"`
}

// Final reports whether the status is one an execution ends in.
func Final(status string) bool {
	switch status {
	case "succeeded", "failed", "timeout", "abandoned", "canceled":
		return true
	}
	return false
}

// StartedAt is when the execution's action started running: its "running"
// log entry when the API shows one, else its start_timestamp (when the
// execution was started); zero when unknown.
func (e *Execution) StartedAt() time.Time {
	for _, l := range e.Log {
		if l.Status == "running" {
			if t, err := time.Parse(time.RFC3339Nano, l.Timestamp); err == nil {
				return t
			}
		}
	}
	t, _ := time.Parse(time.RFC3339Nano, e.StartTimestamp)
	return t
}

// RunExecution is POST /api/v1/executions.
func (a *API) RunExecution(ctx context.Context, action string, params map[string]any) (Execution, error) {
	var ex Execution
	_, err := a.do(ctx, "POST", "/api/v1/executions", map[string]any{"action": action, "parameters": params}, nil, http.StatusCreated, &ex)
	return ex, err
}

// GetExecution is GET /api/v1/executions/<id>.
func (a *API) GetExecution(ctx context.Context, id string) (Execution, error) {
	var ex Execution
	_, err := a.do(ctx, "GET", "/api/v1/executions/"+url.PathEscape(id), nil, nil, http.StatusOK, &ex)
	return ex, err
}

// WaitExecution waits until an execution's status is final.
func (a *API) WaitExecution(ctx context.Context, id string) (Execution, error) {
	if a.Await != nil {
		if _, err := a.Await(ctx, id); err != nil {
			return Execution{}, fmt.Errorf("await execution %s: %w", id, err)
		}
	}
	for {
		ex, err := a.GetExecution(ctx, id)
		if err != nil {
			return ex, err
		}
		if Final(ex.Status) {
			return ex, nil
		}
		if err := sleep(ctx, a.Poll); err != nil {
			return ex, fmt.Errorf("execution %s still %s: %w", id, ex.Status, err)
		}
	}
}

// Webhook is the reply to a webhook POST.
type Webhook struct {
	TriggerInstance string
	Duplicate       bool
}

// PostWebhook is POST /api/v1/webhooks/<hook>; key, when set, is sent as
// the Idempotency-Key.
func (a *API) PostWebhook(ctx context.Context, hook string, body any, key string) (Webhook, error) {
	var h map[string]string
	if key != "" {
		h = map[string]string{"Idempotency-Key": key}
	}
	hdr, err := a.do(ctx, "POST", "/api/v1/webhooks/"+hook, body, h, http.StatusAccepted, nil)
	if err != nil {
		return Webhook{}, err
	}
	w := Webhook{TriggerInstance: hdr.Get("X-Squall-Trigger-Instance"), Duplicate: hdr.Get("X-Squall-Duplicate") == "true"}
	if w.TriggerInstance == "" {
		return w, errors.New("webhook accepted without an X-Squall-Trigger-Instance header")
	}
	return w, nil
}

// Enforcement is the part of a rule enforcement the benchmarks read.
type Enforcement struct {
	ID                string `json:"id"`
	TriggerInstanceID string `json:"trigger_instance_id"`
	ExecutionID       string `json:"execution_id"`
	Status            string `json:"status"`
	FailureReason     string `json:"failure_reason"`
	Rule              struct {
		Ref string `json:"ref"`
	} `json:"rule"`
}

// Enforcements lists the rule enforcements of one trigger instance.
func (a *API) Enforcements(ctx context.Context, triggerInstance string) ([]Enforcement, error) {
	var list []Enforcement
	_, err := a.do(ctx, "GET", "/api/v1/ruleenforcements?limit=-1&trigger_instance="+url.QueryEscape(triggerInstance), nil, nil, http.StatusOK, &list)
	return list, err
}

// RegisterPack is POST /api/v1/packs/register of one pack directory
// (absolute, on the API server's host).
func (a *API) RegisterPack(ctx context.Context, dir string) error {
	_, err := a.do(ctx, "POST", "/api/v1/packs/register", map[string]any{"packs": []string{dir}}, nil, http.StatusOK, nil)
	return err
}

// Healthy reports whether GET /healthz answers 200.
func Healthy(ctx context.Context, base string) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", strings.TrimRight(base, "/")+"/healthz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
