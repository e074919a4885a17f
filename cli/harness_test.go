package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/spf13/cobra"
)

// recorded is one request the CLI sent.
type recorded struct {
	Method string
	Path   string
	Query  map[string][]string
	Header http.Header
	Body   []byte
}

// api is an httptest server with just the endpoints a test registers; it
// records every request and fails the test on an unexpected one.
type api struct {
	t    *testing.T
	mux  *http.ServeMux
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []recorded
}

func newAPI(t *testing.T) *api {
	t.Helper()
	a := &api{t: t, mux: http.NewServeMux()}
	a.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("unexpected request %s %s", r.Method, r.URL)
		writeJSON(w, 404, map[string]any{"faultstring": "no such endpoint"})
	})
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		a.mu.Lock()
		a.reqs = append(a.reqs, recorded{r.Method, r.URL.Path, r.URL.Query(), r.Header.Clone(), body})
		a.mu.Unlock()
		a.mux.ServeHTTP(w, r)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *api) handle(pattern string, h http.HandlerFunc) { a.mux.HandleFunc(pattern, h) }

// json answers pattern with a fixed status and body.
func (a *api) json(pattern string, status int, body any) {
	a.handle(pattern, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, status, body) })
}

// requests returns the recorded requests matching method and path.
func (a *api) requests(method, path string) []recorded {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []recorded
	for _, r := range a.reqs {
		if r.Method == method && r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// only returns the single request to method path, failing otherwise.
func (a *api) only(method, path string) recorded {
	a.t.Helper()
	rs := a.requests(method, path)
	if len(rs) != 1 {
		a.t.Fatalf("%s %s requested %d times, want 1", method, path, len(rs))
	}
	return rs[0]
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func decodeBody(t *testing.T, r recorded) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("request body %q: %v", r.Body, err)
	}
	return m
}

// isolate points the CLI at a fresh config file and clears the environment
// so that the developer's own ~/.squall/config never leaks into a test.
func isolate(t *testing.T, apiURL string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "squall", "config")
	t.Setenv("HOME", dir)
	t.Setenv("SQUALL_CONFIG", cfg)
	t.Setenv("SQUALL_API_URL", apiURL)
	t.Setenv("SQUALL_AUTH_TOKEN", "")
	t.Setenv("SQUALL_API_KEY", "")
	return cfg
}

type result struct {
	stdout, stderr string
	code           int
}

// squall runs the CLI in-process like cmd/squall does.
func squall(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	root := &cobra.Command{Use: "squall"}
	AddCommands(root)
	var out, errw bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errw)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	code := execute(context.Background(), root)
	return result{out.String(), errw.String(), code}
}

func (r result) wantCode(t *testing.T, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
}

func mustContain(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, got)
		}
	}
}
