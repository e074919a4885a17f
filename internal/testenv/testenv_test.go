package testenv

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/squall-automation/squall/migrations"
)

func TestWithDatabase(t *testing.T) {
	t.Parallel()
	tests := []struct {
		base, want string
	}{
		{"postgres://postgres@127.0.0.1:55432/postgres", "postgres://postgres@127.0.0.1:55432/db1"},
		{"postgresql://u:p%40ss@h/postgres?sslmode=disable", "postgresql://u:p%40ss@h/db1?sslmode=disable"},
		{"postgres://h:5432", "postgres://h:5432/db1"},
		{"host=/tmp user=postgres dbname=postgres", "host=/tmp user=postgres dbname=postgres dbname='db1'"},
	}
	for _, tt := range tests {
		if got := withDatabase(tt.base, "db1"); got != tt.want {
			t.Errorf("withDatabase(%q) = %q, want %q", tt.base, got, tt.want)
		}
	}
}

// Parallel tests each get their own database: writes in one are invisible
// in the others.
func TestPoolIsolation(t *testing.T) {
	t.Parallel()
	for i := range 3 {
		t.Run("", func(t *testing.T) {
			t.Parallel()
			pool := Pool(t)
			ctx := t.Context()
			if _, err := pool.Exec(ctx, "INSERT INTO api_keys (id, key_hash, user_name) VALUES ($1, $2, 'u')",
				"00000000000000000000000"+string(rune('0'+i)), "hash"); err != nil {
				t.Fatalf("insert: %v", err)
			}
			var n int
			if err := pool.QueryRow(ctx, "SELECT count(*) FROM api_keys").Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				t.Fatalf("database shared between tests: %d rows", n)
			}
		})
	}
}

func TestDatabaseURLIsDropped(t *testing.T) {
	t.Parallel()
	var name string
	t.Run("create", func(t *testing.T) {
		cfg, err := pgx.ParseConfig(DatabaseURL(t))
		if err != nil {
			t.Fatal(err)
		}
		name = cfg.Database
		if !strings.HasPrefix(name, testDBPrefix) {
			t.Fatalf("DatabaseURL names database %q", name)
		}
	})
	h := harness(t)
	var exists bool
	if err := h.admin.QueryRow(t.Context(), "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Fatalf("database %s still exists after its test ended", name)
	}
}

// Several test processes preparing the same template at once: each takes its
// own connection and the advisory lock, as separate binaries would. All must
// succeed and the template must be usable.
func TestEnsureTemplateConcurrently(t *testing.T) {
	t.Parallel()
	h := harness(t)
	ctx := t.Context()
	name := "squall_tmpl_test_" + randomHex(6)
	t.Cleanup(func() {
		for _, db := range []string{name, name + "_build"} {
			if _, err := h.admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{db}.Sanitize()+" WITH (FORCE)"); err != nil {
				t.Errorf("drop %s: %v", db, err)
			}
		}
	})
	// A half-built template left by a killed run must not be mistaken for
	// a finished one.
	if _, err := h.admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name + "_build"}.Sanitize()); err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() {
			got, err := h.ensureTemplate(ctx, name)
			if err == nil && got != name {
				err = fmt.Errorf("ensureTemplate = %q", got)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("ensureTemplate: %v", err)
		}
	}
	pool := connect(t, h.createDatabase(t, name))
	if v, err := migrations.Version(ctx, pool); err != nil || v != migrations.Latest() {
		t.Fatalf("database cloned from the template is at version %d, %v; want %d", v, err, migrations.Latest())
	}
}
