// Package chaos runs fault scenarios against a real Squall deployment —
// separate `squall server` and `squall worker` processes, a private Postgres
// cluster and `squall temporal` — killing and restarting its parts under
// load, then counting what became of every acknowledged request. A scenario
// passes only on zero loss. squall-bench drives it (`make chaos`).
package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/squall-automation/squall/auth"
	"github.com/squall-automation/squall/bench"
	"github.com/squall-automation/squall/localpg"
)

// StackOptions configures the deployment under test.
type StackOptions struct {
	// Bin is the squall binary; Dir holds all state and logs.
	Bin string
	Dir string
	// RepoDir is the working directory of the daemons: the bundled packs
	// (packs/core) are registered from there.
	RepoDir string
	// HeartbeatTimeout is the runners' heartbeat timeout: how soon a killed
	// worker's actions are declared lost and retried.
	HeartbeatTimeout time.Duration
	Log              *slog.Logger
}

const (
	adminUser     = "st2admin"
	adminPassword = "chaos-Passw0rd"
	namespace     = "squall"
)

// Stack is a running deployment: Postgres, Temporal, one API server, one
// worker, each restartable.
type Stack struct {
	opts    StackOptions
	pg      *localpg.Cluster
	pgPort  int
	tPort   int
	apiAddr string
	env     []string
	log     *slog.Logger
	mu      sync.Mutex
	procs   map[string]*exec.Cmd
	exited  map[string]error
}

// StartStack starts everything and waits until the API answers. On failure
// whatever was started is stopped again.
func StartStack(ctx context.Context, o StackOptions) (*Stack, error) {
	s, err := startStack(ctx, o)
	if err != nil && s != nil {
		s.Close()
		return nil, err
	}
	return s, err
}

func startStack(ctx context.Context, o StackOptions) (s *Stack, err error) {
	if o.HeartbeatTimeout == 0 {
		o.HeartbeatTimeout = 3 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	s = &Stack{opts: o, log: o.Log, procs: map[string]*exec.Cmd{}, exited: map[string]error{}}
	if s.pgPort, err = freePort(); err != nil {
		return s, err
	}
	if s.tPort, err = freePort(); err != nil {
		return s, err
	}
	apiPort, err := freePort()
	if err != nil {
		return s, err
	}
	s.apiAddr = "127.0.0.1:" + strconv.Itoa(apiPort)
	if err := s.StartPostgres(ctx); err != nil {
		return s, err
	}
	if err := s.pg.EnsureDatabase(ctx, "squall"); err != nil {
		return s, err
	}
	dataDir := filepath.Join(o.Dir, "squall")
	htpasswd := filepath.Join(dataDir, "htpasswd")
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return s, err
	}
	if err := auth.EnsureUser(htpasswd, adminUser, adminPassword); err != nil {
		return s, fmt.Errorf("create admin user: %w", err)
	}
	// The daemons get only the settings chosen here, none of the caller's.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SQUALL_") {
			s.env = append(s.env, kv)
		}
	}
	s.env = append(s.env,
		"SQUALL_DATA_DIR="+dataDir,
		"SQUALL_HTPASSWD_FILE="+htpasswd,
		"SQUALL_DATABASE_URL="+s.pg.URL("squall"),
		"SQUALL_TEMPORAL_ADDRESS="+s.TemporalAddress(),
		"SQUALL_API_ADDR="+s.apiAddr,
		"SQUALL_RUNNER_HEARTBEAT_TIMEOUT="+o.HeartbeatTimeout.String(),
		"SQUALL_LOG_LEVEL=info",
	)
	if err := s.StartTemporal(ctx); err != nil {
		return s, err
	}
	if err := s.Start(ctx, "server"); err != nil {
		return s, err
	}
	if err := s.Start(ctx, "worker"); err != nil {
		return s, err
	}
	return s, nil
}

// APIURL is the API's base URL.
func (s *Stack) APIURL() string { return "http://" + s.apiAddr }

// TemporalAddress is the Temporal frontend's host:port.
func (s *Stack) TemporalAddress() string { return "127.0.0.1:" + strconv.Itoa(s.tPort) }

// Login returns an API client logged in as the admin.
func (s *Stack) Login(ctx context.Context) (*bench.API, error) {
	return bench.Login(ctx, s.APIURL(), adminUser, adminPassword)
}

// StartPostgres starts (or starts again) the private cluster.
func (s *Stack) StartPostgres(ctx context.Context) error {
	pg, err := localpg.Start(ctx, localpg.Options{Dir: filepath.Join(s.opts.Dir, "pg"), Port: s.pgPort, Logger: s.log})
	if err != nil {
		return fmt.Errorf("start Postgres: %w", err)
	}
	s.pg = pg
	return nil
}

// StopPostgres stops the cluster (pg_ctl fast: sessions are cut).
func (s *Stack) StopPostgres(ctx context.Context) error {
	if s.pg == nil {
		return nil
	}
	return s.pg.Stop(ctx)
}

// StartTemporal starts `squall temporal` on its data dir and waits until
// its frontend accepts connections.
func (s *Stack) StartTemporal(ctx context.Context) error {
	logOffset := s.logSize("temporal")
	if err := s.spawn("temporal", "temporal", "--data-dir", filepath.Join(s.opts.Dir, "temporal"),
		"--port", strconv.Itoa(s.tPort), "--ui-port", "0", "--namespace", namespace); err != nil {
		return err
	}
	// `squall temporal` prints its frontend address once the namespace and
	// search attributes exist; an open port alone comes earlier.
	return s.waitFor(ctx, "temporal", 90*time.Second, func() bool {
		return strings.Contains(s.logSince("temporal", logOffset), "Temporal frontend "+s.TemporalAddress())
	})
}

// Start starts a squall daemon ("server" or "worker") and, for the server,
// waits until /healthz answers.
func (s *Stack) Start(ctx context.Context, role string) error {
	if err := s.spawn(role, role); err != nil {
		return err
	}
	if role != "server" {
		// A worker has no port to probe; give it time to register its pollers.
		return sleep(ctx, 2*time.Second)
	}
	return s.waitFor(ctx, role, 120*time.Second, func() bool { return bench.Healthy(ctx, s.APIURL()) })
}

// Kill sends SIGKILL to a process's group: the daemon and the actions it
// runs die at once, as when their host is lost.
func (s *Stack) Kill(name string) error {
	s.mu.Lock()
	cmd := s.procs[name]
	delete(s.procs, name)
	s.mu.Unlock()
	if cmd == nil {
		return fmt.Errorf("kill %s: not running", name)
	}
	s.log.Info("kill -9", "process", name, "pid", cmd.Process.Pid)
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill %s: %w", name, err)
	}
	return nil
}

// PID is a running process's ID (0 when not running).
func (s *Stack) PID(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.procs[name]; c != nil {
		return c.Process.Pid
	}
	return 0
}

// Exited reports processes that ended without being killed by us.
func (s *Stack) Exited() map[string]error {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]error, len(s.exited))
	for k, v := range s.exited {
		out[k] = v
	}
	return out
}

// Stop sends SIGTERM to a process's group and waits for it to exit, then
// SIGKILLs the group if it is still there after 20 s.
func (s *Stack) Stop(name string) {
	s.mu.Lock()
	cmd := s.procs[name]
	delete(s.procs, name)
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	pid := cmd.Process.Pid
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	deadline := time.Now().Add(20 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Close stops every process (SIGTERM, then SIGKILL after 20s) and Postgres.
func (s *Stack) Close() {
	s.mu.Lock()
	var extra []string
	for name := range s.procs {
		if name != "server" && name != "worker" && name != "temporal" {
			extra = append(extra, name)
		}
	}
	s.mu.Unlock()
	// Extra processes (a second worker) and Squall's daemons first,
	// Temporal and Postgres last.
	for _, name := range append(extra, "server", "worker", "temporal") {
		s.Stop(name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := s.StopPostgres(ctx); err != nil {
		s.log.Error("stop Postgres", "error", err)
	}
}

// spawn starts one process with its output appended to <Dir>/<name>.log.
func (s *Stack) spawn(name string, args ...string) error {
	f, err := os.OpenFile(filepath.Join(s.opts.Dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.opts.Bin, args...)
	cmd.Dir = s.opts.RepoDir
	cmd.Env = s.env
	cmd.Stdout, cmd.Stderr = f, f
	// Its own group, so that Kill takes its children too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", name, err)
	}
	s.mu.Lock()
	s.procs[name] = cmd
	delete(s.exited, name)
	s.mu.Unlock()
	s.log.Info("started", "process", name, "pid", cmd.Process.Pid)
	go func() {
		err := cmd.Wait()
		f.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.procs[name] == cmd { // not killed by us
			delete(s.procs, name)
			if err == nil {
				err = errors.New("exited with status 0")
			}
			s.exited[name] = err
		}
	}()
	return nil
}

func (s *Stack) waitFor(ctx context.Context, name string, timeout time.Duration, ready func() bool) error {
	deadline := time.Now().Add(timeout)
	for !ready() {
		if err, gone := s.Exited()[name]; gone {
			return fmt.Errorf("%s exited while starting (%v); see %s", name, err, s.LogPath(name))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s; see %s", name, timeout, s.LogPath(name))
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

// LogPath is where a process's output goes.
func (s *Stack) LogPath(name string) string { return filepath.Join(s.opts.Dir, name+".log") }

func (s *Stack) logSize(name string) int64 {
	fi, err := os.Stat(s.LogPath(name))
	if err != nil {
		return 0
	}
	return fi.Size()
}

// logSince returns a process's log from a byte offset on.
func (s *Stack) logSince(name string, offset int64) string {
	f, err := os.Open(s.LogPath(name))
	if err != nil {
		return ""
	}
	defer f.Close()
	_, _ = f.Seek(offset, io.SeekStart)
	b, _ := io.ReadAll(f)
	return string(b)
}

// TailLog returns the last n bytes of a process's log.
func (s *Stack) TailLog(name string, n int64) string {
	f, err := os.Open(s.LogPath(name))
	if err != nil {
		return ""
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > n {
		_, _ = f.Seek(fi.Size()-n, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
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
