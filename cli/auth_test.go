package cli

import (
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func readConfig(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestLoginSavesTokenAndLaterCommandsUseIt(t *testing.T) {
	a := newAPI(t)
	cfg := isolate(t, a.srv.URL)
	expiry := time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339Nano)
	a.json("POST /auth/v1/tokens", 201, map[string]any{"user": "stanley", "token": "tok-1", "expiry": expiry})
	a.json("GET /api/v1/actions", 200, []any{})

	// A config that already has other settings keeps them.
	if err := os.MkdirAll(filepath.Dir(cfg), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte("api_key: keep-me\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SQUALL_API_KEY", "")

	r := squall(t, "Ch@ngeMe\n", "login", "stanley", "--ttl", "3600")
	r.wantCode(t, 0)
	mustContain(t, "stdout", r.stdout, "Logged in as stanley")

	req := a.only("POST", "/auth/v1/tokens")
	wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte("stanley:Ch@ngeMe"))
	if got := req.Header.Get("Authorization"); got != wantAuth {
		t.Errorf("Authorization = %q, want %q (password read from stdin)", got, wantAuth)
	}
	if body := decodeBody(t, req); body["ttl"] != float64(3600) {
		t.Errorf("login body %v", body)
	}
	if req.Header.Get("St2-Api-Key") != "" {
		t.Error("login sent the saved API key along with the password")
	}

	fi, err := os.Stat(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("config mode %v, want 0600", fi.Mode().Perm())
	}
	want := map[string]any{"api_key": "keep-me", "username": "stanley", "auth_token": "tok-1", "token_expiry": expiry}
	if got := readConfig(t, cfg); !reflect.DeepEqual(got, want) {
		t.Errorf("config = %v, want %v", got, want)
	}

	squall(t, "", "action", "list").wantCode(t, 0)
	h := a.only("GET", "/api/v1/actions").Header
	if h.Get("X-Auth-Token") != "tok-1" || h.Get("St2-Api-Key") != "keep-me" {
		t.Errorf("after login: X-Auth-Token %q, St2-Api-Key %q", h.Get("X-Auth-Token"), h.Get("St2-Api-Key"))
	}
}

func TestLoginPasswordFlagAndFailure(t *testing.T) {
	a := newAPI(t)
	cfg := isolate(t, a.srv.URL)
	a.json("POST /auth/v1/tokens", 401, map[string]any{"faultstring": "Invalid or missing credentials"})
	r := squall(t, "", "login", "stanley", "-p", "wrong")
	r.wantCode(t, 1)
	if r.stderr != "ERROR: 401: Invalid or missing credentials\n" {
		t.Errorf("stderr = %q", r.stderr)
	}
	if _, err := os.Stat(cfg); !os.IsNotExist(err) {
		t.Errorf("failed login wrote the config (%v)", err)
	}
	u, p, _ := (&http.Request{Header: a.only("POST", "/auth/v1/tokens").Header}).BasicAuth()
	if u != "stanley" || p != "wrong" {
		t.Errorf("basic auth %q:%q", u, p)
	}

	r = squall(t, "", "login", "stanley") // no -p and nothing on stdin
	r.wantCode(t, ExitUsage)
}

func TestConfigPrecedence(t *testing.T) {
	file, env, flag := newAPI(t), newAPI(t), newAPI(t)
	for _, a := range []*api{file, env, flag} {
		a.json("GET /api/v1/packs", 200, []any{})
	}
	cfg := isolate(t, "")
	if err := os.MkdirAll(filepath.Dir(cfg), 0o700); err != nil {
		t.Fatal(err)
	}
	write := func(s string) {
		if err := os.WriteFile(cfg, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("api_url: " + file.srv.URL + "\nauth_token: file-token\n")

	check := func(a *api, token string, args ...string) {
		t.Helper()
		squall(t, "", append([]string{"pack", "list"}, args...)...).wantCode(t, 0)
		rs := a.requests("GET", "/api/v1/packs")
		if len(rs) == 0 {
			t.Fatalf("request went elsewhere")
		}
		if got := rs[len(rs)-1].Header.Get("X-Auth-Token"); got != token {
			t.Errorf("token %q, want %q", got, token)
		}
	}
	check(file, "file-token")
	t.Setenv("SQUALL_API_URL", env.srv.URL)
	t.Setenv("SQUALL_AUTH_TOKEN", "env-token")
	check(env, "env-token")
	check(flag, "flag-token", "--url", flag.srv.URL, "--token", "flag-token")

	// --config beats $SQUALL_CONFIG.
	other := filepath.Join(t.TempDir(), "other")
	if err := os.WriteFile(other, []byte("api_url: "+file.srv.URL+"\nauth_token: other-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SQUALL_API_URL", "")
	t.Setenv("SQUALL_AUTH_TOKEN", "")
	check(file, "other-token", "--config", other)

	// Default URL when nothing says otherwise.
	write("")
	s, err := loadSettings(newPackCmd())
	if err != nil {
		t.Fatal(err)
	}
	if s.APIURL != DefaultAPIURL || s.ConfigFile != cfg {
		t.Errorf("defaults: %+v", s)
	}

	write("api_url: [not, a, string\n")
	r := squall(t, "", "pack", "list")
	r.wantCode(t, 1)
	mustContain(t, "stderr", r.stderr, "ERROR: read CLI config "+cfg)
}

func TestExpiredSavedTokenIsNotSent(t *testing.T) {
	a := newAPI(t)
	cfg := isolate(t, a.srv.URL)
	if err := os.MkdirAll(filepath.Dir(cfg), 0o700); err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339Nano)
	if err := os.WriteFile(cfg, []byte("auth_token: old\ntoken_expiry: "+past+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a.handle("GET /api/v1/packs", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Auth-Token") != "" {
			t.Errorf("expired token sent")
		}
		writeJSON(w, 401, map[string]any{"faultstring": "Unauthorized - One of Token or API key required."})
	})
	r := squall(t, "", "pack", "list")
	r.wantCode(t, 1)
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if len(lines) != 2 || lines[0] != "ERROR: 401: Unauthorized - One of Token or API key required." ||
		!strings.Contains(lines[1], "expired at") || !strings.Contains(lines[1], "squall login") {
		t.Errorf("stderr = %q", r.stderr)
	}
}

func TestWhoami(t *testing.T) {
	a := newAPI(t)
	isolate(t, a.srv.URL)
	t.Setenv("SQUALL_AUTH_TOKEN", "tok")
	a.json("GET /api/v1/user", 200, map[string]any{
		"username":       "stanley",
		"authentication": map[string]any{"method": "authentication token", "location": "header", "token_expire": "2030-01-02T03:04:05Z"},
		"rbac":           map[string]any{"enabled": false, "roles": []any{}},
	})
	r := squall(t, "", "whoami")
	r.wantCode(t, 0)
	want := "Currently logged in as \"stanley\".\n\nAuthentication method: authentication token\n" +
		"Authentication token expire time: Wed, 02 Jan 2030 03:04:05 UTC\n"
	if r.stdout != want {
		t.Errorf("stdout = %q", r.stdout)
	}

	b := newAPI(t)
	isolate(t, b.srv.URL)
	b.json("GET /api/v1/user", 401, map[string]any{"faultstring": "Unauthorized"})
	r = squall(t, "", "whoami")
	r.wantCode(t, 1)
	if r.stdout != "Not authenticated\n" {
		t.Errorf("stdout = %q", r.stdout)
	}
}

func TestAPIKeys(t *testing.T) {
	a := newAPI(t)
	isolate(t, a.srv.URL)
	t.Setenv("SQUALL_API_KEY", "admin-key")
	a.json("POST /api/v1/apikeys", 201, map[string]any{
		"id": "k1", "user": "ci", "key": "secret-key", "metadata": map[string]any{"purpose": "ci"},
		"created_at": "2024-01-02T03:04:05Z", "enabled": true,
	})
	a.json("GET /api/v1/apikeys", 200, []any{
		map[string]any{"id": "k1", "user": "ci", "metadata": map[string]any{"purpose": "ci"}},
		map[string]any{"id": "k2", "user": "stanley", "metadata": map[string]any{}},
	})

	r := squall(t, "", "apikey", "create", "-u", "ci", "-m", `{"purpose": "ci"}`)
	r.wantCode(t, 0)
	req := a.only("POST", "/api/v1/apikeys")
	if req.Header.Get("St2-Api-Key") != "admin-key" {
		t.Errorf("St2-Api-Key = %q", req.Header.Get("St2-Api-Key"))
	}
	if body := decodeBody(t, req); !reflect.DeepEqual(body, map[string]any{"user": "ci", "metadata": map[string]any{"purpose": "ci"}}) {
		t.Errorf("body %v", body)
	}
	mustContain(t, "stdout", r.stdout, "id: k1\n", "key: secret-key\n", "metadata:\n  purpose: ci\n", "enabled: true\n")

	r = squall(t, "", "apikey", "create", "-k")
	r.wantCode(t, 0)
	if r.stdout != "secret-key\n" {
		t.Errorf("-k stdout %q", r.stdout)
	}
	if body := decodeBody(t, a.requests("POST", "/api/v1/apikeys")[1]); len(body) != 0 {
		t.Errorf("create without flags sent %v", body)
	}

	r = squall(t, "", "apikey", "list", "-u", "ci")
	r.wantCode(t, 0)
	if q := a.only("GET", "/api/v1/apikeys").Query; q["user"][0] != "ci" {
		t.Errorf("query %v", q)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "id") || !strings.Contains(lines[1], `{"purpose":"ci"}`) {
		t.Errorf("table:\n%s", r.stdout)
	}
}
