package server

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
)

// TestEveryRouteRequiresAuth walks echo's route table, so a route added
// later without authentication fails here.
func TestEveryRouteRequiresAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	public := map[string]bool{
		"GET /healthz":         true,
		"POST /auth/v1/tokens": true,
	}
	checked := 0
	for _, r := range e.srv.echo.Routes() {
		if r.Method == echo.RouteNotFound {
			continue // the group's catch-all, which is authenticated too (below)
		}
		key := r.Method + " " + r.Path
		if public[key] {
			continue
		}
		path := r.Path
		for _, seg := range strings.Split(r.Path, "/") {
			if strings.HasPrefix(seg, ":") {
				path = strings.Replace(path, seg, "x", 1)
			}
		}
		for name, headers := range map[string]map[string]string{
			"none":        nil,
			"bad token":   {"X-Auth-Token": "nope"},
			"bad api key": {"St2-Api-Key": "nope"},
			"bad bearer":  {"Authorization": "Bearer nope"},
			"basic":       {"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(testUser+":"+testPassword))},
		} {
			resp := e.doWith(r.Method, path, nil, headers)
			if resp.status != http.StatusUnauthorized {
				t.Errorf("%s (%s) with %s credentials: status %d, want 401: %s", key, path, name, resp.status, resp.body)
				continue
			}
			msg := resp.fault(t)
			if name == "none" || name == "basic" {
				if msg != msgNoCredentials {
					t.Errorf("%s: faultstring %q", key, msg)
				}
			} else if !strings.HasPrefix(msg, "Unauthorized - ") {
				t.Errorf("%s with %s: faultstring %q", key, name, msg)
			}
		}
		checked++
	}
	if checked < 30 {
		t.Errorf("only %d routes checked; route table not walked?", checked)
	}
	// Unknown paths do not reveal whether they exist to anonymous callers.
	if resp := e.doWith(http.MethodGet, "/api/v1/nothing", nil, nil); resp.status != http.StatusUnauthorized {
		t.Errorf("unknown path anonymously: %d", resp.status)
	}
	if resp := e.do(http.MethodGet, "/api/v1/nothing", nil); resp.status != http.StatusNotFound {
		t.Errorf("unknown path authenticated: %d %s", resp.status, resp.body)
	}
}

func TestHealthzWithoutAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	resp := e.doWith(http.MethodGet, "/healthz", nil, nil)
	if resp.status != http.StatusOK || !strings.Contains(string(resp.body), `"ok"`) {
		t.Fatalf("healthz: %d %s", resp.status, resp.body)
	}
}

func TestCreateToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	basic := func(user, pass string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	}
	tests := []struct {
		name       string
		auth       string
		body       any
		wantStatus int
		wantFault  string
		wantTTL    time.Duration
	}{
		{"good password", basic(testUser, testPassword), nil, http.StatusCreated, "", time.Hour},
		{"ttl in body", basic(testUser, testPassword), map[string]any{"ttl": 60}, http.StatusCreated, "", time.Minute},
		{"null ttl", basic(testUser, testPassword), `{"ttl": null}`, http.StatusCreated, "", time.Hour},
		{"bad password", basic(testUser, "wrong"), nil, http.StatusUnauthorized, msgBadLogin, 0},
		{"unknown user", basic("mallory", testPassword), nil, http.StatusUnauthorized, msgBadLogin, 0},
		{"no credentials", "", nil, http.StatusUnauthorized, msgBadLogin, 0},
		{"garbage header", "Basic !!!", nil, http.StatusUnauthorized, msgBadLogin, 0},
		{"ttl too large", basic(testUser, testPassword), map[string]any{"ttl": 7200}, http.StatusBadRequest, "TTL specified 7200 is greater than max allowed 3600.", 0},
		{"ttl zero", basic(testUser, testPassword), map[string]any{"ttl": 0}, http.StatusBadRequest, "0 is less than the minimum of 1", 0},
		{"ttl wrong type", basic(testUser, testPassword), `{"ttl": "long"}`, http.StatusBadRequest, `Failed to parse request body: field "ttl"`, 0},
		{"malformed json", basic(testUser, testPassword), `{"ttl": `, http.StatusBadRequest, "Failed to parse request body: unexpected end of JSON input", 0},
		// A wrong password is refused before the body is judged.
		{"bad password and bad ttl", basic(testUser, "wrong"), map[string]any{"ttl": 7200}, http.StatusUnauthorized, msgBadLogin, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			headers := map[string]string{}
			if tt.auth != "" {
				headers["Authorization"] = tt.auth
			}
			before := time.Now().UTC()
			resp := e.doWith(http.MethodPost, "/auth/v1/tokens", tt.body, headers)
			if resp.status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.status, tt.wantStatus, resp.body)
			}
			if tt.wantFault != "" {
				if got := resp.fault(t); !strings.HasPrefix(got, tt.wantFault) {
					t.Fatalf("faultstring %q, want prefix %q", got, tt.wantFault)
				}
				return
			}
			var tok tokenResponse
			resp.decode(t, &tok)
			if tok.User != testUser || len(tok.Token) < 32 || tok.ID == "" || tok.Metadata == nil {
				t.Fatalf("token document: %s", resp.body)
			}
			expiry, err := time.Parse("2006-01-02T15:04:05.000000Z", tok.Expiry)
			if err != nil {
				t.Fatalf("expiry %q not in st2's format: %v", tok.Expiry, err)
			}
			if d := expiry.Sub(before); d < tt.wantTTL-time.Minute/2 || d > tt.wantTTL+time.Minute/2 {
				t.Errorf("expiry %s is %s after the request, want about %s", tok.Expiry, d, tt.wantTTL)
			}
			// The token works.
			if r := e.doWith(http.MethodGet, "/api/v1/packs", nil, map[string]string{"X-Auth-Token": tok.Token}); r.status != http.StatusOK {
				t.Errorf("new token refused: %d %s", r.status, r.body)
			}
		})
	}
}

func TestCredentialLocations(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	key := e.do(http.MethodPost, "/api/v1/apikeys", map[string]any{})
	var k apiKeyResponse
	key.decode(t, &k)
	tests := []struct {
		name    string
		path    string
		headers map[string]string
		want    int
	}{
		{"token header", "/api/v1/packs", map[string]string{"X-Auth-Token": e.token}, 200},
		{"token query", "/api/v1/packs?x-auth-token=" + e.token, nil, 200},
		{"api key header", "/api/v1/packs", map[string]string{"St2-Api-Key": k.Key}, 200},
		{"api key query", "/api/v1/packs?st2-api-key=" + k.Key, nil, 200},
		{"bearer token", "/api/v1/packs", map[string]string{"Authorization": "Bearer " + e.token}, 200},
		{"bearer api key", "/api/v1/packs", map[string]string{"Authorization": "bearer " + k.Key}, 200},
		{"token as api key", "/api/v1/packs", map[string]string{"St2-Api-Key": e.token}, 401},
		{"api key as token", "/api/v1/packs", map[string]string{"X-Auth-Token": k.Key}, 401},
		// The header is judged first, as in st2: a bad header is not rescued
		// by a good query parameter.
		{"bad header good query", "/api/v1/packs?x-auth-token=" + e.token, map[string]string{"X-Auth-Token": "bad"}, 401},
	}
	for _, tt := range tests {
		if resp := e.doWith(http.MethodGet, tt.path, nil, tt.headers); resp.status != tt.want {
			t.Errorf("%s: status %d, want %d: %s", tt.name, resp.status, tt.want, resp.body)
		}
	}
}

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	resp := e.do(http.MethodPost, "/api/v1/apikeys", map[string]any{"metadata": map[string]any{"used_by": "ci"}})
	if resp.status != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.status, resp.body)
	}
	var created apiKeyResponse
	resp.decode(t, &created)
	if created.Key == "" || created.KeyHash == "" || created.User != testUser || !created.Enabled ||
		created.UID != "api_key:"+created.KeyHash || created.Metadata["used_by"] != "ci" {
		t.Fatalf("created key: %s", resp.body)
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000000Z", created.CreatedAt); err != nil {
		t.Errorf("created_at %q: %v", created.CreatedAt, err)
	}
	useKey := func() int {
		return e.doWith(http.MethodGet, "/api/v1/actions", nil, map[string]string{"St2-Api-Key": created.Key}).status
	}
	if s := useKey(); s != http.StatusOK {
		t.Fatalf("use key: %d", s)
	}

	// The plaintext key is never shown again.
	for _, path := range []string{"/api/v1/apikeys", "/api/v1/apikeys/" + created.ID} {
		r := e.do(http.MethodGet, path, nil)
		if r.status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, r.status, r.body)
		}
		if strings.Contains(string(r.body), created.Key) || strings.Contains(string(r.body), `"key":`) {
			t.Errorf("GET %s shows the key: %s", path, r.body)
		}
		if !strings.Contains(string(r.body), created.KeyHash) {
			t.Errorf("GET %s lacks key_hash: %s", path, r.body)
		}
	}
	list := e.do(http.MethodGet, "/api/v1/apikeys", nil)
	if list.header.Get("X-Total-Count") != "1" || list.header.Get("X-Limit") != "50" {
		t.Errorf("list headers: total=%q limit=%q", list.header.Get("X-Total-Count"), list.header.Get("X-Limit"))
	}
	// st2 also finds a key by its plaintext.
	if r := e.do(http.MethodGet, "/api/v1/apikeys/"+created.Key, nil); r.status != http.StatusOK {
		t.Errorf("GET by key: %d", r.status)
	}

	// Disable: the key stops working, metadata is kept.
	r := e.do(http.MethodPut, "/api/v1/apikeys/"+created.ID, map[string]any{"enabled": false})
	if r.status != http.StatusOK {
		t.Fatalf("disable: %d %s", r.status, r.body)
	}
	var updated apiKeyResponse
	r.decode(t, &updated)
	if updated.Enabled || updated.Metadata["used_by"] != "ci" || updated.Key != "" {
		t.Errorf("after disable: %s", r.body)
	}
	resp = e.doWith(http.MethodGet, "/api/v1/actions", nil, map[string]string{"St2-Api-Key": created.Key})
	if resp.status != http.StatusUnauthorized || resp.fault(t) != msgBadAPIKey {
		t.Errorf("disabled key: %d %s", resp.status, resp.body)
	}
	if r := e.do(http.MethodPut, "/api/v1/apikeys/"+created.ID, map[string]any{"enabled": true}); r.status != http.StatusOK {
		t.Fatalf("enable: %d", r.status)
	}
	if s := useKey(); s != http.StatusOK {
		t.Errorf("re-enabled key: %d", s)
	}
	if r := e.do(http.MethodPut, "/api/v1/apikeys/"+created.ID, map[string]any{"user": "someone"}); r.status != http.StatusBadRequest {
		t.Errorf("change user: %d", r.status)
	}

	// Keys for another user, created disabled.
	r = e.do(http.MethodPost, "/api/v1/apikeys", map[string]any{"user": "bot", "enabled": false})
	var bot apiKeyResponse
	r.decode(t, &bot)
	if r.status != http.StatusCreated || bot.User != "bot" || bot.Enabled || bot.Key == "" {
		t.Errorf("create for bot: %d %s", r.status, r.body)
	}

	if r := e.do(http.MethodDelete, "/api/v1/apikeys/"+created.ID, nil); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if s := useKey(); s != http.StatusUnauthorized {
		t.Errorf("deleted key: %d", s)
	}
	r = e.do(http.MethodGet, "/api/v1/apikeys/"+created.ID, nil)
	if r.status != http.StatusNotFound || !strings.Contains(r.fault(t), "not found") {
		t.Errorf("get deleted: %d %s", r.status, r.body)
	}
	if r := e.do(http.MethodDelete, "/api/v1/apikeys/"+created.ID, nil); r.status != http.StatusNotFound {
		t.Errorf("delete twice: %d", r.status)
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.do(http.MethodGet, "/api/v1/packs", nil)
	e.do(http.MethodGet, "/api/v1/actions/nope.nope", nil)
	resp := e.doWith(http.MethodGet, "/metrics", nil, map[string]string{"Authorization": "Bearer " + e.token})
	if resp.status != http.StatusOK {
		t.Fatalf("metrics: %d %s", resp.status, resp.body)
	}
	body := string(resp.body)
	for _, want := range []string{
		`squall_http_requests_total{method="GET",route="/api/v1/packs",status="200"} 1`,
		`squall_http_requests_total{method="GET",route="/api/v1/actions/:ref",status="404"} 1`,
		`squall_http_requests_total{method="POST",route="/auth/v1/tokens",status="201"} 1`,
		`squall_http_request_duration_seconds_bucket{method="GET",route="/api/v1/packs",status="200",le="+Inf"} 1`,
		"go_goroutines",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
