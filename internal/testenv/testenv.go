// Package testenv is the test harness shared by Squall's packages: it turns
// TEST_DATABASE_URL into a fresh, fully migrated database per test and hands
// out the Temporal frontend named by SQUALL_TEST_TEMPORAL_ADDRESS. Tests that
// need either skip, saying which variable to set, when it is missing.
//
// Databases are cloned from a template that is migrated once: the template's
// name carries the migrations' checksum, so every test binary (and every
// concurrent `go test` process) shares it until the schema changes. Cloning
// with CREATE DATABASE ... TEMPLATE takes milliseconds, which keeps tests
// independent and t.Parallel() cheap.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/squall-automation/squall/migrations"
)

const (
	// DatabaseURLEnv names the server tests create their databases on; the
	// role must be allowed to CREATE DATABASE.
	DatabaseURLEnv = "TEST_DATABASE_URL"
	// TemporalAddressEnv names a running Temporal frontend (host:port).
	TemporalAddressEnv = "SQUALL_TEST_TEMPORAL_ADDRESS"
	// TemporalNamespaceEnv names the namespace of that Temporal.
	TemporalNamespaceEnv = "SQUALL_TEST_TEMPORAL_NAMESPACE"

	// templateLockKey serialises template creation across test processes.
	templateLockKey = int64(0x5371_7561_6c6c_0001)
	// setupTimeout bounds creating, migrating and cloning databases.
	setupTimeout = 2 * time.Minute
	// testDBPrefix marks databases created here, so leftovers from killed
	// test runs are recognisable.
	testDBPrefix = "squall_test_"
)

// TemporalAddress returns SQUALL_TEST_TEMPORAL_ADDRESS or skips the test.
func TemporalAddress(t testing.TB) string {
	t.Helper()
	addr := os.Getenv(TemporalAddressEnv)
	if addr == "" {
		t.Skipf("%s is not set: this test needs a Temporal frontend (host:port), e.g. one started with `squall temporal`", TemporalAddressEnv)
	}
	return addr
}

// TemporalNamespace is the namespace tests use on the harness's Temporal
// ("squall" unless TemporalNamespaceEnv says otherwise).
func TemporalNamespace() string {
	if ns := os.Getenv(TemporalNamespaceEnv); ns != "" {
		return ns
	}
	return "squall"
}

// Pool returns a pool on a fresh, fully migrated database of its own. The
// pool is closed and the database dropped when the test ends.
func Pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return connect(t, DatabaseURL(t))
}

// DatabaseURL creates a fresh, fully migrated database and returns its
// connection URL, for tests that hand it to another process. The database is
// dropped when the test ends, even if something is still connected to it.
func DatabaseURL(t testing.TB) string {
	t.Helper()
	h := harness(t)
	tmpl, err := h.template()
	if err != nil {
		t.Fatalf("testenv: prepare template database: %v", err)
	}
	return h.createDatabase(t, tmpl)
}

// EmptyPool returns a pool on a fresh database with no schema at all, for
// tests of migrations themselves. Dropped when the test ends.
func EmptyPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return connect(t, EmptyDatabaseURL(t))
}

// EmptyDatabaseURL is DatabaseURL without the migrations.
func EmptyDatabaseURL(t testing.TB) string {
	t.Helper()
	return harness(t).createDatabase(t, "template0")
}

func connect(t testing.TB, dbURL string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		t.Fatalf("testenv: parse database URL: %v", err)
	}
	// The development server is shared; parallel tests must not exhaust
	// its connection slots.
	cfg.MaxConns = 4
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("testenv: connect to test database: %v", err)
	}
	// Registered after the drop (see createDatabase), so it runs first.
	t.Cleanup(pool.Close)
	return pool
}

// state is per test binary: one admin pool on the server named by
// TEST_DATABASE_URL and the template, prepared at most once.
type state struct {
	baseURL string
	admin   *pgxpool.Pool

	tmplOnce sync.Once
	tmplName string
	tmplErr  error
}

var (
	stateMu sync.Mutex
	shared  *state
)

func harness(t testing.TB) *state {
	t.Helper()
	base := os.Getenv(DatabaseURLEnv)
	if base == "" {
		t.Skipf("%s is not set: this test needs a Postgres server where it may create databases, e.g. postgres://postgres@127.0.0.1:55432/postgres", DatabaseURLEnv)
	}
	stateMu.Lock()
	defer stateMu.Unlock()
	if shared != nil && shared.baseURL == base {
		return shared
	}
	cfg, err := pgxpool.ParseConfig(base)
	if err != nil {
		t.Fatalf("testenv: parse %s: %v", DatabaseURLEnv, err)
	}
	cfg.MaxConns = 4
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	admin, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("testenv: connect to %s: %v", DatabaseURLEnv, err)
	}
	if err := admin.Ping(ctx); err != nil {
		admin.Close()
		t.Fatalf("testenv: connect to %s: %v", DatabaseURLEnv, err)
	}
	// The admin pool lives as long as the test binary: tests of one binary
	// share it, and process exit closes its connections.
	shared = &state{baseURL: base, admin: admin}
	return shared
}

// template returns the name of the migrated template database, creating it
// if no process has done so yet.
func (s *state) template() (string, error) {
	s.tmplOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
		defer cancel()
		s.tmplName, s.tmplErr = s.ensureTemplate(ctx, "squall_tmpl_"+migrations.Checksum()[:16])
	})
	return s.tmplName, s.tmplErr
}

func (s *state) ensureTemplate(ctx context.Context, name string) (string, error) {
	building := name + "_build"

	// A session-level advisory lock on a dedicated connection: other test
	// binaries wait here until the template is complete.
	pc, err := s.admin.Acquire(ctx)
	if err != nil {
		return "", fmt.Errorf("acquire admin connection: %w", err)
	}
	// Taken out of the pool and closed at the end, which releases the lock
	// whatever happened (an explicit unlock could fail with ctx).
	conn := pc.Hijack()
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", templateLockKey); err != nil {
		return "", fmt.Errorf("lock template creation: %w", err)
	}

	exists, err := databaseExists(ctx, conn, name)
	if err != nil {
		return "", err
	}
	if exists {
		return name, nil
	}

	// A template is only ever visible under its final name once it is
	// completely migrated; a half-built one left by a killed run is dropped.
	ident := pgx.Identifier{building}.Sanitize()
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
		return "", fmt.Errorf("drop stale %s: %w", building, err)
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident+" TEMPLATE template0"); err != nil {
		return "", fmt.Errorf("create %s: %w", building, err)
	}
	if err := migrateDatabase(ctx, withDatabase(s.baseURL, building)); err != nil {
		return "", fmt.Errorf("migrate %s: %w", building, err)
	}
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+ident+" RENAME TO "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("rename %s to %s: %w", building, name, err)
	}
	return name, nil
}

func migrateDatabase(ctx context.Context, dbURL string) error {
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		return err
	}
	// Closed before returning: CREATE DATABASE ... TEMPLATE and RENAME refuse
	// a source database that has sessions.
	defer pool.Close()
	return migrations.Migrate(ctx, pool)
}

func databaseExists(ctx context.Context, conn *pgx.Conn, name string) (bool, error) {
	var exists bool
	err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists)
	if err != nil {
		return false, fmt.Errorf("look up database %s: %w", name, err)
	}
	return exists, nil
}

// createDatabase clones tmpl into a new database, schedules its drop and
// returns its URL.
func (s *state) createDatabase(t testing.TB, tmpl string) string {
	t.Helper()
	name := testDBPrefix + randomHex(8)
	ident := pgx.Identifier{name}.Sanitize()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	if _, err := s.admin.Exec(ctx, "CREATE DATABASE "+ident+" TEMPLATE "+pgx.Identifier{tmpl}.Sanitize()); err != nil {
		t.Fatalf("testenv: create database %s from %s: %v", name, tmpl, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
		defer cancel()
		// FORCE: a subprocess or a leaked pool may still be connected.
		if _, err := s.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			t.Errorf("testenv: drop database %s: %v", name, err)
		}
	})
	return withDatabase(s.baseURL, name)
}

// withDatabase returns base with its database name replaced. It accepts both
// URL (postgres://...) and keyword/value ("host=... dbname=...") forms.
func withDatabase(base, name string) string {
	if strings.HasPrefix(base, "postgres://") || strings.HasPrefix(base, "postgresql://") {
		u, err := url.Parse(base)
		if err == nil {
			u.Path = "/" + name
			u.RawPath = ""
			return u.String()
		}
	}
	// In keyword/value strings a later keyword overrides an earlier one.
	return base + " dbname='" + strings.ReplaceAll(name, `'`, `\'`) + "'"
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("testenv: crypto/rand: %v", err))
	}
	return hex.EncodeToString(b)
}

// ST2Packs returns the directory of StackStorm's contrib packs, the
// compatibility corpus (SQUALL_ST2_PACKS, which `make test` sets to
// ../shared/st2-packs beside the repository). Without it the test is
// skipped; under `make test` it is always set, and the run fails if the
// corpus is missing.
func ST2Packs(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("SQUALL_ST2_PACKS")
	if dir == "" {
		t.Skip("SQUALL_ST2_PACKS is not set: run through `make test`, or point it at shared/st2-packs")
	}
	if _, err := os.Stat(filepath.Join(dir, "core", "pack.yaml")); err != nil {
		t.Fatalf("SQUALL_ST2_PACKS=%s is not the st2 pack corpus: %v", dir, err)
	}
	return dir
}
