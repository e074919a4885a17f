package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/squall-automation/squall/execution"
)

func TestStartNeedsUsers(t *testing.T) {
	t.Parallel()
	srv := New(Config{Addr: "127.0.0.1:0", HtpasswdFile: filepath.Join(t.TempDir(), "missing"),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, Deps{})
	err := srv.Start(t.Context())
	if err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("Start with a missing htpasswd file: %v", err)
	}
}

// TestServeShutsDownWithOpenStream: ending the context stops the server
// although a client is following a running execution's output.
func TestServeShutsDownWithOpenStream(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.registerSecretPack()
	var ex execution.Execution
	e.do(http.MethodPost, "/api/v1/executions", map[string]any{"action": "sec.deploy"}).decode(t, &ex)
	e.execs.setStatus(ex.ID, execution.StatusRunning)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- e.srv.Serve(ctx, ln) }()

	base := "http://" + ln.Addr().String()
	req, _ := http.NewRequest(http.MethodGet, base+"/stream/v1/executions/"+ex.ID+"/output", nil)
	req.Header.Set("X-Auth-Token", e.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("stream: %d", resp.StatusCode)
	}
	if r, err := http.Get(base + "/healthz"); err != nil || r.StatusCode != http.StatusOK {
		t.Fatalf("healthz while serving: %v", err)
	} else {
		r.Body.Close()
	}

	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Serve did not return after the context ended")
	}
	// The stream was ended by the server, not left hanging (Shutdown would
	// also have failed after its grace period).
	read := make(chan struct{})
	go func() { _, _ = io.ReadAll(resp.Body); close(read) }()
	select {
	case <-read:
	case <-time.After(5 * time.Second):
		t.Fatal("stream still open after shutdown")
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("server still answers after shutdown")
	}
}

// lockedBuffer is a log sink shared by handler goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestInternalErrorsDoNotLeak: a failing database is a 500 whose body says
// nothing about it, while the log has the cause; request bodies are never
// logged.
func TestInternalErrorsDoNotLeak(t *testing.T) {
	t.Parallel()
	logs := &lockedBuffer{}
	e := newEnv(t, func(c *Config) { c.Logger = slog.New(slog.NewTextHandler(logs, nil)) })
	key := e.do(http.MethodPost, "/api/v1/apikeys", map[string]any{"metadata": map[string]any{"note": "body-marker-1"}})
	if key.status != http.StatusCreated {
		t.Fatalf("create key: %d", key.status)
	}
	e.pool.Close()
	for _, path := range []string{"/api/v1/packs", "/api/v1/actions"} {
		resp := e.do(http.MethodGet, path, nil)
		if resp.status != http.StatusInternalServerError || resp.fault(t) != "Internal Server Error" {
			t.Errorf("GET %s with the database gone: %d %s", path, resp.status, resp.body)
		}
	}
	resp := e.do(http.MethodPost, "/api/v1/executions", map[string]any{"action": "a.b", "parameters": map[string]any{"password": "body-marker-2"}})
	if resp.status != http.StatusInternalServerError || strings.Contains(string(resp.body), "closed") {
		t.Errorf("POST with the database gone: %d %s", resp.status, resp.body)
	}
	out := logs.String()
	if !strings.Contains(out, "request failed") || !strings.Contains(out, "closed pool") {
		t.Errorf("cause not logged:\n%s", out)
	}
	if strings.Contains(out, "body-marker") {
		t.Errorf("request body logged:\n%s", out)
	}
}
