package catalog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Output streams.
const (
	StreamStdout = "stdout"
	StreamStderr = "stderr"
)

// OutputChunk is one stored piece of an execution's output. The JSON names
// follow StackStorm's execution output (output_type, timestamp).
type OutputChunk struct {
	ID          int64     `json:"id"`
	ExecutionID string    `json:"execution_id"`
	Attempt     int32     `json:"attempt"`
	Stream      string    `json:"output_type"`
	Data        string    `json:"data"`
	Timestamp   time.Time `json:"timestamp"`
}

// AppendOutput stores one chunk of an execution's stdout or stderr with a
// single INSERT; callers batch small writes. It implements
// activities.OutputSink.
//
// data may be any bytes, but Postgres text holds only valid UTF-8 without NUL:
// invalid sequences and NUL bytes become U+FFFD. A character split across two
// calls is therefore mangled; callers should cut chunks at line or rune
// boundaries.
//
// Chunks of one execution are committed in ID order (an advisory lock per
// execution is held from taking the ID to the commit), so a reader tailing
// with ReadOutput(afterID) never skips a chunk that commits late.
func (s *Store) AppendOutput(ctx context.Context, executionID string, attempt int32, stream string, data []byte) error {
	if executionID == "" {
		return errors.New("append output: empty execution ID")
	}
	if stream != StreamStdout && stream != StreamStderr {
		return fmt.Errorf("append output of %s: stream must be %q or %q, got %q", executionID, StreamStdout, StreamStderr, stream)
	}
	if len(data) == 0 {
		return nil
	}
	_, err := s.pool.Exec(ctx, `
INSERT INTO execution_output (execution_id, attempt, stream, data)
SELECT $1::text, $2::integer, $3::text, $4::text
FROM (SELECT pg_advisory_xact_lock($5, hashtext($1))) AS serialize`,
		executionID, attempt, stream, sanitizeText(data), lockExecutionOutput)
	if err != nil {
		return fmt.Errorf("append %s output of %s: %w", stream, executionID, err)
	}
	return nil
}

// sanitizeText makes data storable as Postgres text.
func sanitizeText(data []byte) string {
	s := strings.ToValidUTF8(string(data), "\uFFFD")
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}

// ReadOutput returns up to limit chunks of an execution's output with IDs
// above afterID, in order. stream "" means both streams; limit 0 means all.
func (s *Store) ReadOutput(ctx context.Context, executionID string, afterID int64, stream string, limit int) ([]OutputChunk, error) {
	if stream != "" && stream != StreamStdout && stream != StreamStderr {
		return nil, fmt.Errorf("read output of %s: unknown stream %q", executionID, stream)
	}
	if limit < 0 {
		return nil, fmt.Errorf("read output of %s: negative limit %d", executionID, limit)
	}
	rows, err := s.pool.Query(ctx, `
SELECT id, execution_id, attempt, stream, data, created_at
FROM execution_output
WHERE execution_id = $1 AND id > $2 AND ($3 = '' OR stream = $3)
ORDER BY id
LIMIT NULLIF($4::bigint, 0)`, executionID, afterID, stream, limit)
	if err != nil {
		return nil, fmt.Errorf("read output of %s: %w", executionID, err)
	}
	chunks, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (OutputChunk, error) {
		var c OutputChunk
		err := row.Scan(&c.ID, &c.ExecutionID, &c.Attempt, &c.Stream, &c.Data, &c.Timestamp)
		c.Timestamp = c.Timestamp.UTC()
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("read output of %s: %w", executionID, err)
	}
	return chunks, nil
}

// DeleteOutput removes all stored output of an execution (when the execution
// is purged). Deleting the output of an execution that has none is not an
// error.
func (s *Store) DeleteOutput(ctx context.Context, executionID string) error {
	if _, err := s.pool.Exec(ctx, "DELETE FROM execution_output WHERE execution_id = $1", executionID); err != nil {
		return fmt.Errorf("delete output of %s: %w", executionID, err)
	}
	return nil
}
