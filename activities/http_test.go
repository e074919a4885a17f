package activities

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestHTTPRequest(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("/json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Add("X-Multi", "a")
		w.Header().Add("X-Multi", "b")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"ok": true, "agent": r.Header.Get("X-Stanley-Action"), "q": r.URL.Query().Get("q"),
			"method": r.Method, "token": r.Header.Get("X-Token"),
		})
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"method": r.Method, "body": string(body), "ct": r.Header.Get("Content-Type")})
	})
	mux.HandleFunc("/text", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, `{"looks": "like json"}`)
	})
	mux.HandleFunc("/badjson", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{not json`)
	})
	mux.HandleFunc("/missing", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "nothing here", http.StatusNotFound)
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/json", http.StatusFound)
	})
	mux.HandleFunc("/partial", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusPartialContent)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	host = host[:strings.LastIndexByte(host, ':')]

	req := func(path string, rp, ap map[string]any) RunRequest {
		runnerParams := map[string]any{"url": srv.URL + path}
		for k, v := range rp {
			runnerParams[k] = v
		}
		return RunRequest{ExecutionID: "exec-4", Runner: RunnerHTTPRequest, ActionRef: "core.http",
			Pack: "core", RunnerParams: runnerParams, ActionParams: ap}
	}
	tests := []struct {
		name       string
		req        RunRequest
		wantStatus string
		wantCode   float64
		wantBody   any
		wantParsed bool
		check      func(t *testing.T, res RunResult)
		errorHas   string
	}{
		{name: "JSON body parsed",
			req: req("/json", map[string]any{"headers": map[string]any{"X-Token": "t"}},
				map[string]any{"params": map[string]any{"q": "search me"}}),
			wantStatus: "succeeded", wantCode: 200, wantParsed: true,
			wantBody: map[string]any{"ok": true, "agent": "http", "q": "search me", "method": "GET", "token": "t"},
			check: func(t *testing.T, res RunResult) {
				h, _ := res.Result["headers"].(map[string]any)
				if h["X-Multi"] != "a, b" || !strings.HasPrefix(h["Content-Type"].(string), "application/json") {
					t.Errorf("headers = %v", h)
				}
			}},
		{name: "JSON request body, POST by default",
			req: req("/echo", map[string]any{"headers": map[string]any{"Content-Type": "application/json"}},
				map[string]any{"body": `{"a": 1}`}),
			wantStatus: "succeeded", wantCode: 200, wantParsed: true,
			wantBody: map[string]any{"method": "POST", "body": `{"a":1}`, "ct": "application/json"}},
		{name: "plain body with method", req: req("/echo", nil, map[string]any{"body": "raw text", "method": "put"}),
			wantStatus: "succeeded", wantCode: 200, wantParsed: true,
			wantBody: map[string]any{"method": "PUT", "body": "raw text", "ct": ""}},
		{name: "non-JSON content type is not parsed", req: req("/text", nil, nil),
			wantStatus: "succeeded", wantCode: 200, wantParsed: false, wantBody: `{"looks": "like json"}`},
		{name: "invalid JSON stays text", req: req("/badjson", nil, nil),
			wantStatus: "succeeded", wantCode: 200, wantParsed: false, wantBody: `{not json`},
		{name: "404 fails", req: req("/missing", nil, nil),
			wantStatus: "failed", wantCode: 404, wantParsed: false, wantBody: "nothing here\n"},
		{name: "206 succeeds", req: req("/partial", nil, nil), wantStatus: "succeeded", wantCode: 206, wantBody: ""},
		{name: "redirects not followed by default", req: req("/redirect", nil, nil),
			wantStatus: "failed", wantCode: 302, check: func(t *testing.T, res RunResult) {}},
		{name: "redirects followed when allowed", req: req("/redirect", map[string]any{"allow_redirects": true}, nil),
			wantStatus: "succeeded", wantCode: 200, wantParsed: true,
			wantBody: map[string]any{"ok": true, "agent": "http", "q": "", "method": "GET", "token": ""}},
		{name: "timeout", req: req("/slow", nil, map[string]any{"timeout": 0.3}),
			wantStatus: "timeout", errorHas: "timed out after 0.3 seconds"},
		{name: "blacklisted host", req: req("/json", map[string]any{"url_hosts_blacklist": []any{host}}, nil),
			wantStatus: statusInvalid, errorHas: "is blacklisted"},
		{name: "connection refused", req: func() RunRequest {
			r := req("", nil, nil)
			r.RunnerParams["url"] = "http://127.0.0.1:1/"
			return r
		}(), wantStatus: "failed", errorHas: "failed"},
		{name: "no URL", req: func() RunRequest {
			r := req("", nil, nil)
			delete(r.RunnerParams, "url")
			return r
		}(), wantStatus: statusInvalid, errorHas: `"url" is required`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, _ := newRunners(t)
			res, err := run(t, r, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tt.wantStatus {
				t.Errorf("status = %q, want %q (%v)", res.Status, tt.wantStatus, res.Result)
			}
			if tt.errorHas != "" {
				if e, _ := res.Result["error"].(string); !strings.Contains(e, tt.errorHas) {
					t.Errorf("error = %q, want it to contain %q", e, tt.errorHas)
				}
				return
			}
			if res.Result["status_code"] != tt.wantCode {
				t.Errorf("status_code = %v, want %v", res.Result["status_code"], tt.wantCode)
			}
			if tt.check != nil {
				tt.check(t, res)
			}
			if tt.wantBody != nil && !reflect.DeepEqual(res.Result["body"], tt.wantBody) {
				t.Errorf("body = %#v, want %#v", res.Result["body"], tt.wantBody)
			}
			if res.Result["parsed"] != tt.wantParsed && tt.wantBody != nil {
				t.Errorf("parsed = %v, want %v", res.Result["parsed"], tt.wantParsed)
			}
		})
	}
}
