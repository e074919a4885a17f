// Package e2e drives the built squall binary the way a user does: daemons as
// separate processes against the test harness's Postgres and Temporal, the
// REST API over HTTP and the CLI as a subprocess.
package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/squall-automation/squall/auth"
	"github.com/squall-automation/squall/internal/testenv"
)

const (
	adminUser     = "st2admin"
	adminPassword = "e2e-Passw0rd"
)

// stack is one Squall deployment under test: its environment and processes.
type stack struct {
	t       *testing.T
	bin     string
	env     []string
	apiURL  string
	dataDir string
	home    string

	mu    sync.Mutex
	procs map[string]*exec.Cmd
}

func squallBin(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("SQUALL_BIN")
	if bin == "" {
		t.Skip("SQUALL_BIN is not set: run the end-to-end tests through `make test`")
	}
	return bin
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// newStack prepares a deployment with its own database and task queue on
// the harness's Postgres and Temporal; nothing runs until start.
func newStack(t *testing.T) *stack {
	t.Helper()
	bin := squallBin(t)
	dbURL := testenv.DatabaseURL(t)
	temporal := testenv.TemporalAddress(t)
	dir := t.TempDir()
	htpasswd := filepath.Join(dir, "htpasswd")
	if err := auth.EnsureUser(htpasswd, adminUser, adminPassword); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	s := &stack{
		t: t, bin: bin, dataDir: dir, home: filepath.Join(dir, "home"),
		apiURL: fmt.Sprintf("http://127.0.0.1:%d", port),
		procs:  map[string]*exec.Cmd{},
	}
	if err := os.MkdirAll(s.home, 0o700); err != nil {
		t.Fatal(err)
	}
	ns := testenv.TemporalNamespace()
	s.env = append(os.Environ(),
		"HOME="+s.home,
		"SQUALL_DATA_DIR="+dir,
		"SQUALL_DATABASE_URL="+dbURL,
		"SQUALL_TEMPORAL_ADDRESS="+temporal,
		"SQUALL_TEMPORAL_NAMESPACE="+ns,
		"SQUALL_TASK_QUEUE=e2e-"+randomHex(6),
		fmt.Sprintf("SQUALL_API_ADDR=127.0.0.1:%d", port),
		"SQUALL_API_URL="+s.apiURL,
		"SQUALL_HTPASSWD_FILE="+htpasswd,
		"SQUALL_PACKS_PATHS="+repoPath(t, "packs"),
		"SQUALL_RUNNER_HEARTBEAT_TIMEOUT=3s",
		"SQUALL_WEB_UI_URL=http://127.0.0.1:8233",
		"SQUALL_LOG_LEVEL=info",
	)
	t.Cleanup(s.stopAll)
	return s
}

func repoPath(t *testing.T, rel string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", rel))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// start runs `squall <role>` as a named process; its output goes to a log
// file that is printed if the test fails.
func (s *stack) start(name string, args ...string) *exec.Cmd {
	s.t.Helper()
	logPath := filepath.Join(s.dataDir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	cmd := exec.Command(s.bin, args...)
	cmd.Env = s.env
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start %s: %v", name, err)
	}
	s.mu.Lock()
	s.procs[name] = cmd
	s.mu.Unlock()
	s.t.Cleanup(func() {
		f.Close()
		if s.t.Failed() {
			b, _ := os.ReadFile(logPath)
			s.t.Logf("---- %s log ----\n%s", name, tail(string(b), 8000))
		}
	})
	return cmd
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// take removes a process from the stack (nil if it is not running).
func (s *stack) take(name string) *exec.Cmd {
	s.mu.Lock()
	defer s.mu.Unlock()
	cmd := s.procs[name]
	delete(s.procs, name)
	return cmd
}

// exited waits up to timeout for cmd to exit and tells whether it did.
func exited(cmd *exec.Cmd, timeout time.Duration) bool {
	done := make(chan struct{})
	go func() { _, _ = cmd.Process.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// kill sends SIGKILL to a process (and its group: its actions go too).
func (s *stack) kill(name string) {
	if cmd := s.take(name); cmd != nil {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_, _ = cmd.Process.Wait()
	}
}

// stop sends SIGTERM to a process, as an operator's restart does, and waits
// for it to exit.
func (s *stack) stop(name string) {
	cmd := s.take(name)
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if !exited(cmd, 30*time.Second) {
		_ = cmd.Process.Kill()
		s.t.Errorf("%s did not stop within 30 s of SIGTERM", name)
	}
}

func (s *stack) stopAll() {
	s.mu.Lock()
	procs := s.procs
	s.procs = map[string]*exec.Cmd{}
	s.mu.Unlock()
	for _, cmd := range procs {
		_ = cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, cmd := range procs {
		if !exited(cmd, 20*time.Second) {
			_ = cmd.Process.Kill()
		}
	}
}

func (s *stack) waitHealthy(timeout time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.apiURL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("API at %s not healthy after %s", s.apiURL, timeout)
}

// api is an authenticated REST client.
type api struct {
	t     *testing.T
	base  string
	token string
}

func (s *stack) login() *api {
	s.t.Helper()
	req, _ := http.NewRequest("POST", s.apiURL+"/auth/v1/tokens", strings.NewReader("{}"))
	req.SetBasicAuth(adminUser, adminPassword)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		Token string `json:"token"`
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 201 || json.Unmarshal(body, &tok) != nil || tok.Token == "" {
		s.t.Fatalf("login: %d %s", resp.StatusCode, body)
	}
	return &api{t: s.t, base: s.apiURL, token: tok.Token}
}

// do sends a request and decodes a JSON answer into out (if not nil); it
// returns the status code.
func (a *api) do(method, path string, in, out any) int {
	a.t.Helper()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			a.t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, a.base+path, body)
	req.Header.Set("X-Auth-Token", a.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			a.t.Fatalf("%s %s: decode %q: %v", method, path, b, err)
		}
	}
	return resp.StatusCode
}

type execution struct {
	ID         string         `json:"id"`
	Status     string         `json:"status"`
	Result     map[string]any `json:"result"`
	Parameters map[string]any `json:"parameters"`
	Action     map[string]any `json:"action"`
	WebURL     string         `json:"web_url"`
}

func (a *api) run(action string, params map[string]any) execution {
	a.t.Helper()
	var ex execution
	if code := a.do("POST", "/api/v1/executions", map[string]any{"action": action, "parameters": params}, &ex); code != 201 {
		a.t.Fatalf("run %s: status %d (%+v)", action, code, ex)
	}
	return ex
}

func isFinal(status string) bool {
	switch status {
	case "succeeded", "failed", "timeout", "abandoned", "canceled":
		return true
	}
	return false
}

// wait polls an execution until it reaches a final status.
func (a *api) wait(id string, timeout time.Duration) execution {
	a.t.Helper()
	deadline := time.Now().Add(timeout)
	var ex execution
	for time.Now().Before(deadline) {
		ex = execution{}
		if code := a.do("GET", "/api/v1/executions/"+id, nil, &ex); code != 200 {
			a.t.Fatalf("get execution %s: %d", id, code)
		}
		if isFinal(ex.Status) {
			return ex
		}
		time.Sleep(100 * time.Millisecond)
	}
	a.t.Fatalf("execution %s still %q after %s", id, ex.Status, timeout)
	return ex
}

// cli runs the squall CLI with the stack's environment.
func (s *stack) cli(args ...string) (string, int) {
	s.t.Helper()
	cmd := exec.Command(s.bin, args...)
	cmd.Env = s.env
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		s.t.Fatalf("squall %v: %v", args, err)
	}
	return string(out), code
}

// sseLines reads the SSE output stream of an execution and sends each data
// payload's "data" field on the channel until the stream ends.
func (a *api) sseLines(id string) <-chan string {
	ch := make(chan string, 100)
	go func() {
		defer close(ch)
		req, _ := http.NewRequest("GET", a.base+"/stream/v1/executions/"+id+"/output", nil)
		req.Header.Set("X-Auth-Token", a.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			line := sc.Text()
			if !strings.HasPrefix(line, "data:") {
				continue
			}
			var ev struct {
				Data string `json:"data"`
			}
			if json.Unmarshal([]byte(strings.TrimSpace(strings.TrimPrefix(line, "data:"))), &ev) == nil {
				ch <- ev.Data
			}
		}
	}()
	return ch
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
