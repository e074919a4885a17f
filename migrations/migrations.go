// Package migrations holds Squall's Postgres schema as numbered SQL files
// (NNN_name.up.sql, embedded in the binary) and applies them with tern.
//
// Every migration runs in its own transaction together with the update of the
// version row, so a crash leaves the schema at a whole version. Migrate holds
// a Postgres advisory lock while it works, so any number of Squall processes
// (server, workers, `squall up`) may start at once against one database: the
// first applies what is missing, the others wait and then find nothing to do.
//
// Files are append-only: never edit a migration that has been released, add
// the next number instead. tern evaluates each file as a Go text/template, so
// SQL must not contain "{{".
package migrations

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"sort"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"
)

// VersionTable is the single-row table where tern records the schema version.
// It is not schema-qualified on purpose: it lives next to the tables, in the
// first schema of the connection's search_path.
const VersionTable = "squall_schema_version"

//go:embed *.up.sql
var files embed.FS

// Migrate brings the database behind pool up to the latest schema version.
// It is idempotent and safe to call concurrently from several processes.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return withMigrator(ctx, pool, func(m *migrate.Migrator) error {
		if err := m.Migrate(ctx); err != nil {
			return fmt.Errorf("migrate database: %w", err)
		}
		return nil
	})
}

// Version reports the schema version the database is at (0: never migrated).
func Version(ctx context.Context, pool *pgxpool.Pool) (int32, error) {
	var v int32
	err := withMigrator(ctx, pool, func(m *migrate.Migrator) error {
		var err error
		v, err = m.GetCurrentVersion(ctx)
		if err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		return nil
	})
	return v, err
}

// Latest is the version Migrate brings a database to.
func Latest() int32 {
	names, err := migrate.FindMigrations(files)
	if err != nil {
		// The embedded files are fixed at build time and checked by the tests.
		panic(fmt.Sprintf("migrations: embedded files are inconsistent: %v", err))
	}
	return int32(len(names))
}

// Checksum identifies the set of embedded migrations (names and contents).
// Test harnesses key cached template databases on it so that a schema change
// never reuses a stale template.
func Checksum() string {
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		panic(fmt.Sprintf("migrations: read embedded files: %v", err))
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	h := sha256.New()
	for _, name := range names {
		body, err := fs.ReadFile(files, name)
		if err != nil {
			panic(fmt.Sprintf("migrations: read embedded %s: %v", name, err))
		}
		fmt.Fprintf(h, "%s\x00%d\x00", name, len(body))
		h.Write(body)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// withMigrator runs fn with a tern migrator on a connection taken out of the
// pool for good. tern holds its advisory lock at session level and releases
// it with the caller's context; if that context is cancelled the unlock fails,
// and a pooled connection would then keep the lock forever. Closing the
// connection afterwards releases the lock whatever happened.
func withMigrator(ctx context.Context, pool *pgxpool.Pool, fn func(*migrate.Migrator) error) (err error) {
	pc, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrations: acquire connection: %w", err)
	}
	conn := pc.Hijack()
	defer func() {
		// A fresh context: the caller's may be the reason we are leaving.
		if cerr := conn.Close(context.WithoutCancel(ctx)); cerr != nil && err == nil {
			err = fmt.Errorf("migrations: close connection: %w", cerr)
		}
	}()
	m, err := newMigrator(ctx, conn)
	if err != nil {
		return err
	}
	return fn(m)
}

func newMigrator(ctx context.Context, conn *pgx.Conn) (*migrate.Migrator, error) {
	m, err := migrate.NewMigrator(ctx, conn, VersionTable)
	if err != nil {
		return nil, fmt.Errorf("migrations: prepare version table %s: %w", VersionTable, err)
	}
	if err := m.LoadMigrations(files); err != nil {
		return nil, fmt.Errorf("migrations: load embedded migrations: %w", err)
	}
	return m, nil
}
