package migrations_test

import (
	"context"
	"io/fs"
	"os"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/squall-automation/squall/internal/testenv"
	"github.com/squall-automation/squall/migrations"
)

func TestLatestAndChecksum(t *testing.T) {
	t.Parallel()
	if got := migrations.Latest(); got < 1 {
		t.Fatalf("Latest() = %d, want at least 1", got)
	}
	sum := migrations.Checksum()
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(sum) {
		t.Fatalf("Checksum() = %q, want 64 hex chars", sum)
	}
	if again := migrations.Checksum(); again != sum {
		t.Fatalf("Checksum() not stable: %q then %q", sum, again)
	}
}

func TestMigrateFreshDatabase(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := testenv.EmptyPool(t)

	if v, err := migrations.Version(ctx, pool); err != nil || v != 0 {
		t.Fatalf("Version before Migrate = %d, %v; want 0, nil", v, err)
	}
	if err := migrations.Migrate(ctx, pool); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	assertMigrated(t, pool)

	// Idempotent: a second run finds nothing to do and changes nothing.
	if err := migrations.Migrate(ctx, pool); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	assertMigrated(t, pool)
}

func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dbURL := testenv.EmptyDatabaseURL(t)

	// Separate pools stand in for separate processes starting together.
	const starters = 5
	pools := make([]*pgxpool.Pool, starters)
	for i := range pools {
		p, err := pgxpool.New(ctx, dbURL)
		if err != nil {
			t.Fatalf("pool %d: %v", i, err)
		}
		t.Cleanup(p.Close)
		pools[i] = p
	}
	var wg sync.WaitGroup
	errs := make([]error, starters)
	for i, p := range pools {
		wg.Go(func() { errs[i] = migrations.Migrate(ctx, p) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("starter %d: Migrate: %v", i, err)
		}
	}
	assertMigrated(t, pools[0])
}

// ternLockNum is the advisory lock tern's migrator holds while it works. If a
// tern upgrade changes it, this test fails rather than silently testing nothing.
const ternLockNum = int64(9628173550095224)

// Migrate waits while another session migrates; giving up on its context
// leaves nothing locked behind.
func TestMigrateWaitsForLock(t *testing.T) {
	t.Parallel()
	pool := testenv.EmptyPool(t)
	ctx := t.Context()

	holder, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := holder.Exec(ctx, "SELECT pg_advisory_lock($1)", ternLockNum); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if err := migrations.Migrate(short, pool); err == nil {
		t.Fatal("Migrate succeeded while another session held the migration lock")
	}
	if _, err := holder.Exec(ctx, "SELECT pg_advisory_unlock($1)", ternLockNum); err != nil {
		t.Fatal(err)
	}
	holder.Release()

	if err := migrations.Migrate(ctx, pool); err != nil {
		t.Fatalf("Migrate after the lock was released: %v", err)
	}
	assertMigrated(t, pool)
}

func TestTestenvPoolIsMigrated(t *testing.T) {
	t.Parallel()
	assertMigrated(t, testenv.Pool(t))
}

// assertMigrated checks the version row and that every table exists.
func assertMigrated(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	ctx := t.Context()
	v, err := migrations.Version(ctx, pool)
	if err != nil {
		t.Fatalf("Version: %v", err)
	}
	if v != migrations.Latest() {
		t.Fatalf("Version = %d, want %d", v, migrations.Latest())
	}
	var rows int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+migrations.VersionTable).Scan(&rows); err != nil {
		t.Fatalf("count version rows: %v", err)
	}
	if rows != 1 {
		t.Fatalf("%s has %d rows, want 1", migrations.VersionTable, rows)
	}
	for _, table := range []string{
		"packs", "actions", "rules", "sensors", "trigger_types", "aliases", "policies",
		"api_keys", "tokens", "execution_output",
		"triggers", "trigger_instances", "rule_enforcements", "rule_dedup",
	} {
		var exists bool
		if err := pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", table).Scan(&exists); err != nil {
			t.Fatalf("look up table %s: %v", table, err)
		}
		if !exists {
			t.Errorf("table %s missing after Migrate", table)
		}
	}
}

// The file names must follow NNN_name.up.sql: tern orders by the number and
// refuses gaps and duplicates.
func TestEmbeddedFileNames(t *testing.T) {
	t.Parallel()
	names, err := fs.Glob(os.DirFS("."), "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^\d{3}_[a-z0-9_]+\.up\.sql$`)
	if len(names) != int(migrations.Latest()) {
		t.Errorf("%d .sql files on disk, %d migrations embedded", len(names), migrations.Latest())
	}
	for _, n := range names {
		if !re.MatchString(n) {
			t.Errorf("migration file %q does not match NNN_name.up.sql", n)
		}
	}
}

// 002 gives rules that existed before it a trigger key (the type ref, which
// the catalog corrects for rules with parameters) and the 'pack' source.
func TestMigrate002BackfillsRules(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := testenv.EmptyPool(t)
	if err := migrations.MigrateTo(ctx, pool, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `
INSERT INTO packs (ref, id, name) VALUES ('demo', '5f2b7c3e9a1d4e0012345678', 'demo');
INSERT INTO rules (id, ref, pack, name, enabled, trigger_type, action_ref, doc)
VALUES ('5f2b7c3e9a1d4e0012345679', 'demo.r', 'demo', 'r', true, 'core.st2.webhook', 'core.local', '{}')`); err != nil {
		t.Fatal(err)
	}
	if err := migrations.Migrate(ctx, pool); err != nil {
		t.Fatalf("Migrate from 1: %v", err)
	}
	var key, source string
	if err := pool.QueryRow(ctx, "SELECT trigger_key, source FROM rules WHERE ref = 'demo.r'").Scan(&key, &source); err != nil {
		t.Fatal(err)
	}
	if key != "core.st2.webhook" || source != "pack" {
		t.Fatalf("migrated rule: trigger_key %q source %q; want core.st2.webhook, pack", key, source)
	}
	if _, err := pool.Exec(ctx, "UPDATE rules SET source = 'disk'"); err == nil {
		t.Fatal("rules.source accepted a value other than pack or api")
	}
}
