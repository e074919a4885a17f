package catalog

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// SetSensorEnabled enables or disables the sensor with the given ref or ID.
// The next registration of its pack sets it back to what the metadata file
// says, as st2's registrar does.
func (s *Store) SetSensorEnabled(ctx context.Context, refOrID string, enabled bool) (*SensorRecord, error) {
	rows, err := s.pool.Query(ctx, `
WITH c AS (
    UPDATE sensors SET enabled = $2, doc = jsonb_set(doc, '{enabled}', to_jsonb($2::boolean)), updated_at = now()
    WHERE ref = $1 OR id = $1
    RETURNING id, doc, raw, pack
)
SELECT `+withPackCols+` FROM c JOIN packs p ON p.ref = c.pack`, refOrID, enabled)
	if err != nil {
		return nil, fmt.Errorf("set sensor %q enabled: %w", refOrID, err)
	}
	rec, err := pgx.CollectExactlyOneRow(rows, scanSensor)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("sensor %q: %w", refOrID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("set sensor %q enabled: %w", refOrID, err)
	}
	return &rec, nil
}

// EnabledSensors returns every enabled sensor with its pack's directory and
// config, ordered by ref: what the sensor container should be running.
func (s *Store) EnabledSensors(ctx context.Context) ([]SensorRecord, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+withPackCols+" FROM "+sensorsFrom+" WHERE c.enabled ORDER BY c.ref")
	if err != nil {
		return nil, fmt.Errorf("enabled sensors: %w", err)
	}
	ss, err := pgx.CollectRows(rows, scanSensor)
	if err != nil {
		return nil, fmt.Errorf("enabled sensors: %w", err)
	}
	return ss, nil
}

// SensorsVersion identifies the current state of all sensors and of their
// packs (directory and config): the sensor container reconciles when it
// changes.
func (s *Store) SensorsVersion(ctx context.Context) (string, error) {
	q := "SELECT " + fmt.Sprintf(versionOf, "c.id || ':' || "+epochMicros("c.updated_at")+" || ':' || "+epochMicros("p.updated_at")) +
		" FROM " + sensorsFrom
	var v string
	if err := s.pool.QueryRow(ctx, q).Scan(&v); err != nil {
		return "", fmt.Errorf("sensors version: %w", err)
	}
	return v, nil
}
