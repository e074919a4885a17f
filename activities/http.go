package activities

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"sort"
	"strings"
)

// userAgent identifies Squall's http-request runner; st2 sends
// "st2/v<version>" and X-Stanley-Action, which Squall keeps.
const userAgent = "squall (st2-compatible)"

// runHTTPRequest is st2's http-request runner: url, headers, cookies,
// allow_redirects, http(s)_proxy, verify_ssl_cert, username/password and
// url_hosts_blacklist/whitelist are runner parameters; method, body, params,
// timeout, file_name/file_content(_type) are action parameters (core.http).
// A 200-206 response is "succeeded", any other status code "failed".
func (r *Runners) runHTTPRequest(ctx context.Context, req RunRequest) (RunResult, error) {
	rp, ap := req.RunnerParams, req.ActionParams

	rawURL := stringParam(rp, "url")
	if rawURL == "" {
		return invalidRequest("http-request: runner parameter \"url\" is required")
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return invalidRequest("http-request: runner parameter \"url\" is not an http(s) URL")
	}
	shown := u.Redacted()
	blacklist, whitelist := stringList(rp["url_hosts_blacklist"]), stringList(rp["url_hosts_whitelist"])
	switch {
	case len(blacklist) > 0 && len(whitelist) > 0:
		return invalidRequest("http-request: \"url_hosts_blacklist\" and \"url_hosts_whitelist\" parameters are mutually exclusive. Only one should be provided.")
	case len(blacklist) > 0 && slices.Contains(blacklist, u.Hostname()):
		return invalidRequest("URL %q is blacklisted", shown)
	case len(whitelist) > 0 && !slices.Contains(whitelist, u.Hostname()):
		return invalidRequest("URL %q is not whitelisted", shown)
	}

	timeout := httpDefaultTimeout
	if v, ok := ap["timeout"]; ok && v != nil {
		d, err := toSeconds(v)
		if err != nil {
			return invalidRequest("http-request: action parameter \"timeout\": %v", err)
		}
		if d > 0 {
			timeout = d
		}
	} else if timeout, err = actionTimeout(req, httpDefaultTimeout); err != nil {
		return invalidRequest("http-request: %v", err)
	}

	if params, ok := ap["params"].(map[string]any); ok && len(params) > 0 {
		q := u.Query()
		keys := make([]string, 0, len(params))
		for k := range params {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			switch v := params[k].(type) {
			case nil:
			case []any:
				for _, e := range v {
					q.Add(k, pythonStr(e))
				}
			default:
				q.Add(k, pythonStr(v))
			}
		}
		u.RawQuery = q.Encode()
	}

	headers := http.Header{}
	for _, src := range []any{ap["headers"], rp["headers"]} { // the runner's value wins
		if m, ok := src.(map[string]any); ok {
			for k, v := range m {
				if v != nil {
					headers.Set(k, pythonStr(v))
				}
			}
		}
	}
	headers.Set("User-Agent", userAgent)
	headers.Set("X-Stanley-Action", actionName(req.ActionRef))

	body, err := httpBody(ap, headers)
	if err != nil {
		return invalidRequest("http-request: %v", err)
	}
	method := strings.ToUpper(stringParam(ap, "method"))
	if method == "" {
		method = http.MethodGet
		if body != nil {
			method = http.MethodPost
		}
	}

	client, done, err := r.httpClient(rp)
	if err != nil {
		return invalidRequest("http-request: %v", err)
	}
	defer done()

	reqCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var bodyReader io.Reader
	if body != nil {
		bodyReader = bytes.NewReader(body)
	}
	hreq, err := http.NewRequestWithContext(reqCtx, method, u.String(), bodyReader)
	if err != nil {
		return invalidRequest("http-request: build request: %v", err)
	}
	hreq.Header = headers
	if user, pass := stringParam(rp, "username"), stringParam(rp, "password"); user != "" || pass != "" {
		hreq.SetBasicAuth(user, pass)
	}
	if cookies, ok := rp["cookies"].(map[string]any); ok {
		for k, v := range cookies {
			hreq.AddCookie(&http.Cookie{Name: k, Value: pythonStr(v)})
		}
	}

	if err := ctx.Err(); err != nil {
		return stopError(ctx, RunResult{})
	}
	hbStop := make(chan struct{})
	defer close(hbStop)
	go r.heartbeat(ctx, hbStop)

	resp, err := client.Do(hreq)
	if err == nil {
		defer resp.Body.Close()
	}
	var result map[string]any
	if err == nil {
		result, err = r.readHTTPResponse(resp)
	}
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return stopError(ctx, RunResult{Result: map[string]any{"error": err.Error()}})
		case errors.Is(err, context.DeadlineExceeded) || isNetTimeout(err):
			return RunResult{Status: StatusTimeout, Result: map[string]any{
				"error": fmt.Sprintf("Request to %s timed out after %s seconds", shown, formatSeconds(timeout)),
			}}, nil
		default:
			return failedResult("Request to %s failed: %v", shown, err), nil
		}
	}
	status := StatusFailed
	if resp.StatusCode >= 200 && resp.StatusCode <= 206 { // st2's SUCCESS_STATUS_CODES
		status = StatusSucceeded
	}
	return RunResult{Status: status, Result: result}, nil
}

// readHTTPResponse builds st2's {status_code, body, parsed, headers}. A JSON
// response (Content-Type application/json) is parsed; a body over the output
// cap is kept as text up to the cap and flagged body_truncated.
func (r *Runners) readHTTPResponse(resp *http.Response) (map[string]any, error) {
	limit := r.maxOutput()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("read response body: %w", err)
	}
	headers := make(map[string]any, len(resp.Header))
	for k, vs := range resp.Header {
		headers[k] = strings.Join(vs, ", ")
	}
	result := map[string]any{"status_code": resp.StatusCode, "headers": headers, "parsed": false}
	if len(raw) > limit {
		result["body"] = string(trimPartialRuneEnd(raw[:limit]))
		result["body_truncated"] = true
		return result, nil
	}
	result["body"] = string(raw)
	// st2 compares the media type exactly, parameters (charset) cut off.
	if ct, _, _ := strings.Cut(resp.Header.Get("Content-Type"), ";"); ct == "application/json" {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err == nil && !dec.More() {
			result["body"], result["parsed"] = v, true
		}
	}
	return result, nil
}

// httpBody renders the request body as st2's HTTPClient does: with a JSON
// Content-Type the body is (parsed and) sent as JSON; a file upload is a
// multipart form; otherwise a string goes as is and an object form-encoded.
func httpBody(ap map[string]any, headers http.Header) ([]byte, error) {
	if name, content := stringParam(ap, "file_name"), stringParam(ap, "file_content"); name != "" && content != "" {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, name, name))
		if ct := stringParam(ap, "file_content_type"); ct != "" {
			h.Set("Content-Type", ct)
		}
		part, err := mw.CreatePart(h)
		if err != nil {
			return nil, fmt.Errorf("build upload: %w", err)
		}
		if _, err := io.WriteString(part, content); err != nil {
			return nil, fmt.Errorf("build upload: %w", err)
		}
		if err := mw.Close(); err != nil {
			return nil, fmt.Errorf("build upload: %w", err)
		}
		headers.Set("Content-Type", mw.FormDataContentType())
		return buf.Bytes(), nil
	}

	body, ok := ap["body"]
	if !ok || body == nil {
		return nil, nil
	}
	if headers.Get("Content-Type") == "application/json" {
		if s, ok := body.(string); ok {
			if s == "" {
				return nil, nil
			}
			var v any
			if err := json.Unmarshal([]byte(s), &v); err != nil {
				return nil, fmt.Errorf("request body can't be parsed as JSON: %v", err)
			}
			body = v
		}
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("request body can't be encoded as JSON: %v", err)
		}
		return b, nil
	}
	switch v := body.(type) {
	case string:
		if v == "" {
			return nil, nil
		}
		return []byte(v), nil
	case map[string]any:
		form := url.Values{}
		for k, e := range v {
			form.Set(k, pythonStr(e))
		}
		if headers.Get("Content-Type") == "" {
			headers.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		return []byte(form.Encode()), nil
	default:
		return []byte(pythonStr(v)), nil
	}
}

// httpClient derives the client for one request from r.HTTPClient: no
// redirects unless allow_redirects, and a private transport when
// verify_ssl_cert or a proxy changes how connections are made. done
// releases that transport's idle connections.
func (r *Runners) httpClient(rp map[string]any) (*http.Client, func(), error) {
	base := r.HTTPClient
	if base == nil {
		base = &http.Client{}
	}
	c := *base
	if !boolParam(rp, "allow_redirects", false) {
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	verify := boolParam(rp, "verify_ssl_cert", true)
	httpProxy, httpsProxy := stringParam(rp, "http_proxy"), stringParam(rp, "https_proxy")
	if verify && httpProxy == "" && httpsProxy == "" {
		return &c, func() {}, nil
	}
	var t *http.Transport
	switch tr := base.Transport.(type) {
	case nil:
		t = http.DefaultTransport.(*http.Transport).Clone()
	case *http.Transport:
		t = tr.Clone()
	default:
		return nil, nil, fmt.Errorf("verify_ssl_cert/http_proxy/https_proxy need an *http.Transport, the worker's client has a %T", tr)
	}
	if !verify {
		if t.TLSClientConfig == nil {
			t.TLSClientConfig = &tls.Config{}
		}
		t.TLSClientConfig.InsecureSkipVerify = true // the action asked for it (verify_ssl_cert: false)
	}
	if httpProxy != "" || httpsProxy != "" {
		fallback := t.Proxy
		proxies := map[string]string{"http": httpProxy, "https": httpsProxy}
		t.Proxy = func(req *http.Request) (*url.URL, error) {
			if p := proxies[req.URL.Scheme]; p != "" {
				pu, err := url.Parse(p)
				if err != nil {
					return nil, fmt.Errorf("proxy URL for %s: %w", req.URL.Scheme, err)
				}
				return pu, nil
			}
			if fallback != nil {
				return fallback(req)
			}
			return nil, nil
		}
	}
	c.Transport = t
	return &c, t.CloseIdleConnections, nil
}

func isNetTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func stringList(v any) []string {
	switch x := v.(type) {
	case []string:
		return x
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// actionName is the name part of a pack.name action ref.
func actionName(ref string) string {
	if _, name, ok := strings.Cut(ref, "."); ok {
		return name
	}
	return ref
}
