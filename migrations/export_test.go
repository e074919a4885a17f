package migrations

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"
)

// MigrateTo brings the database to version v, so tests can check what a
// migration does to rows written under the schema before it.
func MigrateTo(ctx context.Context, pool *pgxpool.Pool, v int32) error {
	return withMigrator(ctx, pool, func(m *migrate.Migrator) error {
		if err := m.MigrateTo(ctx, v); err != nil {
			return fmt.Errorf("migrate database to %d: %w", v, err)
		}
		return nil
	})
}
