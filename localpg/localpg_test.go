package localpg

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func requirePostgres(t *testing.T) {
	t.Helper()
	if _, err := findBinDir(""); err != nil {
		t.Skipf("PostgreSQL server binaries not installed: %v", err)
	}
}

func startCluster(t *testing.T, ctx context.Context, dir string, port int) *Cluster {
	t.Helper()
	c, err := Start(ctx, Options{Dir: dir, Port: port, Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return c
}

func queryOne(t *testing.T, ctx context.Context, url, sql string) string {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	defer conn.Close(ctx)
	var s string
	if err := conn.QueryRow(ctx, sql).Scan(&s); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return s
}

func execSQL(t *testing.T, ctx context.Context, url, sql string) {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// TestLifecycle covers the whole life of a cluster: create, reuse while running, restart with
// data kept, and recovery after the postmaster was killed (stale postmaster.pid).
func TestLifecycle(t *testing.T) {
	requirePostgres(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "pg")
	port := freePort(t)

	c := startCluster(t, ctx, dir, port)
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	if c.Reused() {
		t.Fatal("fresh cluster reported as reused")
	}
	if got := queryOne(t, ctx, c.URL("postgres"), "SHOW server_encoding"); got != "UTF8" {
		t.Errorf("server_encoding = %q, want UTF8", got)
	}
	if got := queryOne(t, ctx, c.URL("postgres"), "SHOW listen_addresses"); got != "127.0.0.1" {
		t.Errorf("listen_addresses = %q, want 127.0.0.1", got)
	}
	if _, err := os.Stat(filepath.Join(dir, ".s.PGSQL."+strconv.Itoa(port))); err != nil {
		t.Errorf("unix socket not in Dir: %v", err)
	}

	for range 2 { // the second call must be a no-op
		if err := c.EnsureDatabase(ctx, "localpg_test"); err != nil {
			t.Fatalf("EnsureDatabase: %v", err)
		}
	}
	execSQL(t, ctx, c.URL("localpg_test"), "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('survives')")

	// A second Start while the postmaster runs adopts it.
	again := startCluster(t, ctx, dir, port)
	if !again.Reused() {
		t.Error("second Start on a running cluster did not reuse it")
	}

	if err := c.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := c.Stop(ctx); err != nil {
		t.Errorf("Stop of a stopped cluster: %v", err)
	}

	c = startCluster(t, ctx, dir, port)
	if c.Reused() {
		t.Error("restarted cluster reported as reused")
	}
	if got := queryOne(t, ctx, c.URL("localpg_test"), "SELECT v FROM kept"); got != "survives" {
		t.Errorf("after restart: %q", got)
	}

	// Simulate a crash: kill the postmaster so postmaster.pid stays behind.
	pidData, err := os.ReadFile(filepath.Join(dir, "data", "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.SplitN(string(pidData), "\n", 2)[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(t, pid)
	if _, err := os.Stat(filepath.Join(dir, "data", "postmaster.pid")); err != nil {
		t.Fatalf("expected a stale postmaster.pid after the crash: %v", err)
	}
	c = startCluster(t, ctx, dir, port)
	if c.Reused() {
		t.Error("cluster with a stale postmaster.pid reported as reused")
	}
	if got := queryOne(t, ctx, c.URL("localpg_test"), "SELECT v FROM kept"); got != "survives" {
		t.Errorf("after crash recovery: %q", got)
	}
}

// waitGone waits until process pid no longer exists (or is a zombie we cannot reap: the
// postmaster was started by pg_ctl, so it is not our child and init reaps it).
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if err := syscall.Kill(pid, 0); err != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("postmaster %d still alive after SIGKILL", pid)
}

func TestStartErrors(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"no dir", Options{}, "Dir is required"},
		{"bad port", Options{Dir: t.TempDir(), Port: 70000}, "out of range"},
		{"bad bindir", Options{Dir: t.TempDir(), BinDir: t.TempDir()}, "lacks initdb"},
		{"long socket path", Options{Dir: "/tmp/" + strings.Repeat("x", 120)}, "longer than 107 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Start(context.Background(), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestRefusesHalfInitializedDataDir(t *testing.T) {
	requirePostgres(t)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "data", "junk"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Start(context.Background(), Options{Dir: dir, Port: freePort(t)})
	if err == nil || !strings.Contains(err.Error(), "no PG_VERSION") {
		t.Fatalf("err = %v, want a refusal naming PG_VERSION", err)
	}
}

func TestURL(t *testing.T) {
	c := &Cluster{port: 5555}
	if got, want := c.URL("squall dev"), "postgres://postgres@127.0.0.1:5555/squall%20dev?sslmode=disable"; got != want {
		t.Errorf("URL = %q, want %q", got, want)
	}
}

func TestMajorOf(t *testing.T) {
	tests := map[string]int{
		"/usr/lib/postgresql/15/bin": 15,
		"/usr/lib/postgresql/9/bin":  9,
		"/usr/lib/postgresql/x/bin":  0,
	}
	for in, want := range tests {
		if got := majorOf(in); got != want {
			t.Errorf("majorOf(%q) = %d, want %d", in, got, want)
		}
	}
}
