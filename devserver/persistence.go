package devserver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	schematool "go.temporal.io/server/tools/common/schema"
	sqltool "go.temporal.io/server/tools/sql"
)

// DatabaseFile is the SQLite file's name inside Options.DataDir.
const DatabaseFile = "temporal.db"

// Embedded schema names understood by the server's schema tool (directories of schema/).
const (
	postgresSchema           = "postgresql/v12/temporal"
	postgresVisibilitySchema = "postgresql/v12/visibility"
)

// PostgresOptions selects Postgres persistence instead of SQLite.
type PostgresOptions struct {
	// Host defaults to 127.0.0.1, Port to 5432.
	Host string
	Port int
	// User and Password authenticate; the user must be allowed to create databases the first
	// time (or the databases must exist).
	User     string
	Password string
	// Database holds workflow state, VisibilityDatabase the searchable index. They default to
	// "temporal" and "temporal_visibility" and are created when missing.
	Database           string
	VisibilityDatabase string
	// MaintenanceDatabase is the one to connect to for creating the two above. Default "postgres".
	MaintenanceDatabase string
	// ConnectAttributes are extra libpq-style parameters, e.g. {"sslmode": "require"}. The
	// server defaults sslmode to disable.
	ConnectAttributes map[string]string
	// MaxConns bounds each service's pool per database. Default 20.
	MaxConns int
}

func (p *PostgresOptions) applyDefaults() {
	if p.Host == "" {
		p.Host = "127.0.0.1"
	}
	if p.Port == 0 {
		p.Port = 5432
	}
	if p.Database == "" {
		p.Database = "temporal"
	}
	if p.VisibilityDatabase == "" {
		p.VisibilityDatabase = "temporal_visibility"
	}
	if p.MaintenanceDatabase == "" {
		p.MaintenanceDatabase = "postgres"
	}
	if p.MaxConns == 0 {
		p.MaxConns = 20
	}
}

func (p *PostgresOptions) validate() error {
	switch {
	case p.User == "":
		return errors.New("devserver: Postgres.User is required")
	case p.Port < 1 || p.Port > 65535:
		return fmt.Errorf("devserver: Postgres.Port %d out of range", p.Port)
	case p.Database == p.VisibilityDatabase:
		return fmt.Errorf("devserver: Postgres.Database and VisibilityDatabase must differ (both %q)", p.Database)
	}
	return nil
}

func (p *PostgresOptions) sqlConfig(db string) *config.SQL {
	attrs := make(map[string]string, len(p.ConnectAttributes))
	for k, v := range p.ConnectAttributes {
		attrs[k] = v
	}
	return &config.SQL{
		PluginName:        postgresql.PluginNamePGX,
		DatabaseName:      db,
		ConnectAddr:       net.JoinHostPort(p.Host, strconv.Itoa(p.Port)),
		ConnectProtocol:   "tcp",
		User:              p.User,
		Password:          p.Password,
		ConnectAttributes: attrs,
		MaxConns:          p.MaxConns,
		MaxIdleConns:      p.MaxConns,
	}
}

// pgURL is the pgx URL of database db, used only to create the databases.
func (p *PostgresOptions) pgURL(db string) string {
	q := url.Values{}
	for k, v := range p.ConnectAttributes {
		q.Set(k, v)
	}
	if q.Get("sslmode") == "" {
		q.Set("sslmode", "disable") // the server's default; keep both connections alike
	}
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(p.User, p.Password),
		Host:     net.JoinHostPort(p.Host, strconv.Itoa(p.Port)),
		Path:     "/" + db,
		RawQuery: q.Encode(),
	}
	return u.String()
}

// preparePostgres creates both databases if missing and brings their schemas to the version
// this server build expects, the way `temporal-sql-tool setup-schema -v 0.0` followed by
// `update-schema` would.
func preparePostgres(ctx context.Context, p *PostgresOptions, logger log.Logger) (defaultStore, visibilityStore *config.SQL, err error) {
	for _, db := range []string{p.Database, p.VisibilityDatabase} {
		if err := ensurePostgresDatabase(ctx, p, db); err != nil {
			return nil, nil, err
		}
	}
	defaultStore = p.sqlConfig(p.Database)
	visibilityStore = p.sqlConfig(p.VisibilityDatabase)
	if err := migratePostgres(defaultStore, postgresSchema, logger); err != nil {
		return nil, nil, err
	}
	if err := migratePostgres(visibilityStore, postgresVisibilitySchema, logger); err != nil {
		return nil, nil, err
	}
	return defaultStore, visibilityStore, nil
}

func ensurePostgresDatabase(ctx context.Context, p *PostgresOptions, db string) error {
	conn, err := pgx.Connect(ctx, p.pgURL(p.MaintenanceDatabase))
	if err != nil {
		return fmt.Errorf("devserver: connect to Postgres at %s:%d as %q (database %q): %w",
			p.Host, p.Port, p.User, p.MaintenanceDatabase, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", db).Scan(&exists); err != nil {
		return fmt.Errorf("devserver: look up database %q: %w", db, err)
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database: a concurrent starter won
		return nil
	}
	if err != nil {
		return fmt.Errorf("devserver: create database %q (grant CREATEDB to %q or create it yourself): %w", db, p.User, err)
	}
	return nil
}

func migratePostgres(cfg *config.SQL, schemaName string, logger log.Logger) error {
	conn, err := sqltool.NewConnection(cfg, logger)
	if err != nil {
		return fmt.Errorf("devserver: connect to database %q: %w", cfg.DatabaseName, err)
	}
	defer conn.Close()
	// A missing schema_version table is how an empty database shows itself; the setup task
	// creates it and records version 0.0 so that the update task applies every versioned step.
	if _, err := conn.ReadSchemaVersion(); err != nil {
		setup := schematool.NewSetupSchemaTask(conn, &schematool.SetupConfig{InitialVersion: "0.0"}, logger)
		if err := setup.Run(); err != nil {
			return fmt.Errorf("devserver: set up schema versioning in %q: %w", cfg.DatabaseName, err)
		}
	}
	update := schematool.NewUpdateSchemaTask(conn, &schematool.UpdateConfig{DBName: cfg.DatabaseName, SchemaName: schemaName}, logger)
	if err := update.Run(); err != nil {
		return fmt.Errorf("devserver: update schema %s in %q: %w", schemaName, cfg.DatabaseName, err)
	}
	return nil
}

// prepareSQLite returns the store configuration for dataDir (in-memory when empty), creating
// the database file with its schema the first time.
func prepareSQLite(dataDir string) (*config.SQL, error) {
	if dataDir == "" {
		return &config.SQL{
			PluginName:        sqliteplugin.PluginName,
			ConnectAttributes: map[string]string{"mode": "memory", "cache": "shared"},
			// Shared-cache in-memory databases are per name within the process: a random name
			// keeps two servers in one process (tests) apart.
			DatabaseName: "squall-" + strconv.FormatUint(rand.Uint64(), 36),
		}, nil
	}
	if strings.ContainsAny(dataDir, "?#") {
		// The plugin builds a file: URI from the path without escaping it.
		return nil, fmt.Errorf("devserver: DataDir %q must not contain '?' or '#'", dataDir)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("devserver: create data directory: %w", err)
	}
	path := filepath.Join(dataDir, DatabaseFile)
	_, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := createSQLiteFile(path); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("devserver: %w", err)
	}
	if err := trimVisibilityIndexes(path); err != nil {
		return nil, err
	}
	return &config.SQL{
		PluginName:   sqliteplugin.PluginName,
		DatabaseName: path,
		ConnectAttributes: map[string]string{
			"mode": "rwc",
			// WAL: readers (the UI, visibility queries) do not block the writer, and a crash
			// loses at most the last transactions instead of corrupting the file.
			"journal_mode": "wal",
			// In WAL mode NORMAL is still crash-safe for the database; it only may lose the
			// last commits on power loss, which is fine for a development server.
			"synchronous": "normal",
			// Wait for locks held by another process reading the file (the sqlite3 shell, a
			// backup) rather than failing with SQLITE_BUSY.
			"busy_timeout": "10000",
		},
	}, nil
}

// createSQLiteFile builds the schema in a temporary file and renames it into place, so an
// interrupted first start never leaves a half-initialised database that later starts would
// take for a complete one. (The plugin keeps every connection it opened for the life of the
// process, so the setup connection stays open, idle, on the renamed file.)
func createSQLiteFile(path string) error {
	tmp := path + ".init"
	for _, f := range []string{tmp, tmp + "-journal", tmp + "-wal", tmp + "-shm"} {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("devserver: remove leftover %s: %w", f, err)
		}
	}
	cfg := &config.SQL{
		PluginName:        sqliteplugin.PluginName,
		DatabaseName:      tmp,
		ConnectAttributes: map[string]string{"mode": "rwc"},
	}
	if err := sqliteschema.SetupSchema(cfg); err != nil {
		return fmt.Errorf("devserver: create Temporal schema in %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("devserver: %w", err)
	}
	return nil
}

// unusedVisibilityIndexes are indexes of Temporal's SQLite visibility schema that nothing
// here queries by: Squall lists by workflow type, ID, status, task queue and its Keyword
// search attributes; the Web UI by those, start and close time, parent and root workflow;
// schedules by TemporalNamespaceDivision and TemporalScheduledById. The schema indexes
// 58 columns, every one of which each visibility write (two or three per workflow) must
// update: at a few ms of CPU each in the pure-Go SQLite, that was the largest cost of a
// short workflow. Queries on these columns still work, by scanning.
var unusedVisibilityIndexes = []string{
	"by_history_length", "by_history_size_bytes", "by_execution_duration", "by_state_transition_count",
	"by_parent_run_id", "by_root_run_id", "by_batcher_user",
	"by_temporal_scheduled_start_time", "by_temporal_schedule_paused", "by_temporal_pause_info",
	"by_temporal_worker_deployment_version", "by_temporal_workflow_versioning_behavior", "by_temporal_worker_deployment",
	"by_bool_01", "by_bool_02", "by_bool_03", "by_datetime_01", "by_datetime_02", "by_datetime_03",
	"by_double_01", "by_double_02", "by_double_03", "by_int_01", "by_int_02", "by_int_03",
	"by_temporal_bool_01", "by_temporal_bool_02", "by_temporal_datetime_01", "by_temporal_datetime_02",
	"by_temporal_double_01", "by_temporal_double_02", "by_temporal_int_01", "by_temporal_int_02",
	"by_temporal_keyword_01", "by_temporal_keyword_02", "by_temporal_keyword_03", "by_temporal_keyword_04",
	"by_temporal_low_cardinality_keyword_01",
}

// trimVisibilityIndexes drops unusedVisibilityIndexes from the SQLite file, before the
// server opens it. Idempotent: a file trimmed before is left as it is.
func trimVisibilityIndexes(path string) error {
	// The "sqlite" driver is modernc.org/sqlite, registered by Temporal's SQLite plugin.
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return fmt.Errorf("devserver: open %s: %w", path, err)
	}
	defer db.Close()
	var b strings.Builder
	b.WriteString("BEGIN;")
	for _, name := range unusedVisibilityIndexes {
		b.WriteString("DROP INDEX IF EXISTS " + name + ";")
	}
	b.WriteString("COMMIT;")
	if _, err := db.Exec(b.String()); err != nil {
		return fmt.Errorf("devserver: drop unused visibility indexes in %s: %w", path, err)
	}
	return nil
}
