// Package catalog is Squall's Postgres store for what StackStorm kept in
// MongoDB outside of executions: registered packs and their content (actions,
// rules, sensors, trigger types, aliases, policies), users' tokens and API
// keys, and the stdout/stderr of executions. Executions themselves live in
// Temporal.
//
// It also holds the event pipeline's records: trigger objects (derived from
// rules and trigger types, reconciled on every change to either), trigger
// instances, rule enforcements (one per trigger instance and rule) and the
// claims of rules' dedup keys. Those writes are idempotent, so retried
// processing records each event and enforcement once.
//
// The schema comes from the migrations package; a Store assumes it is
// applied. Lookups that find nothing return an error wrapping ErrNotFound.
package catalog

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrNotFound is wrapped by every error that means "no such row" (including
// expired tokens and disabled API keys on lookup), so callers can answer 404
// or 401 with errors.Is.
var ErrNotFound = errors.New("not found")

// ErrConflict is wrapped by errors that mean "that ref or key is taken", so
// callers can answer 409 with errors.Is.
var ErrConflict = errors.New("conflict")

// Store reads and writes the catalog. It is safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
	// now is the clock for token expiry; tests replace it.
	now func() time.Time
}

// New returns a Store over pool. The pool's database must be migrated.
func New(pool *pgxpool.Pool) *Store {
	return &Store{pool: pool, now: time.Now}
}

// advisory lock namespaces (the first key of pg_advisory_xact_lock(int, int));
// the second key is hashtext of the object's name. Collisions only serialise.
const (
	lockPackRegistration int32 = 0x53510001
	lockExecutionOutput  int32 = 0x53510002
	// lockTriggers (second key 0) serialises every change to the set of
	// rules and trigger types with the reconciliation of trigger objects
	// that follows it; see reconcileTriggers. Always taken after a pack's
	// lock and before any row is written, so it cannot deadlock with them.
	lockTriggers int32 = 0x53510003
)

// NewID returns a new 24-character lowercase hex ID shaped like a MongoDB
// ObjectId, as StackStorm's IDs are: 4 bytes of big-endian Unix seconds then 8
// random bytes. IDs therefore sort roughly by creation time, and clients that
// validate st2 IDs accept them.
func NewID() string {
	var b [12]byte
	binary.BigEndian.PutUint32(b[:4], uint32(time.Now().Unix()))
	if _, err := rand.Read(b[4:]); err != nil {
		// crypto/rand does not fail on supported platforms.
		panic(fmt.Sprintf("catalog: crypto/rand: %v", err))
	}
	return hex.EncodeToString(b[:])
}

// IsID reports whether s has the shape of an ID from NewID (or a Mongo
// ObjectId from StackStorm), which lets APIs tell an ID from a ref.
func IsID(s string) bool {
	if len(s) != 24 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// IDTime is the creation time encoded in an ID (whole seconds, UTC).
func IDTime(id string) (time.Time, error) {
	if !IsID(id) {
		return time.Time{}, fmt.Errorf("%q is not an ID", id)
	}
	b, _ := hex.DecodeString(id[:8])
	return time.Unix(int64(binary.BigEndian.Uint32(b)), 0).UTC(), nil
}

// emptyMap makes nil maps store as {} rather than JSON null.
func emptyMap(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

// emptySlice makes nil slices store as [] rather than JSON null.
func emptySlice[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
