package catalog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Datastore scopes, st2's full names. The short forms "system" and "user"
// are accepted by NormalizeKVScope, as st2's API accepts them.
const (
	KVSystemScope = "st2kv.system"
	KVUserScope   = "st2kv.user"
)

// KeyValuePair is one datastore item (st2's KeyValuePairAPI shape).
//
// Secret values are stored as given for now: there is no encryption at rest
// yet, the flag only tells the API and the CLI to mask the value.
type KeyValuePair struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	Scope string `json:"scope"`
	// User owns a user-scoped key; empty in the system scope.
	User     string     `json:"user,omitempty"`
	Secret   bool       `json:"secret"`
	ExpireAt *time.Time `json:"expire_timestamp,omitempty"`
	// CreatedAt and UpdatedAt are set by the store.
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// NormalizeKVScope maps st2's scope spellings ("system", "st2kv.system",
// "user", "st2kv.user"; empty means system) to the full names.
func NormalizeKVScope(scope string) (string, error) {
	switch scope {
	case "", "system", KVSystemScope:
		return KVSystemScope, nil
	case "user", KVUserScope:
		return KVUserScope, nil
	}
	return "", fmt.Errorf("unknown datastore scope %q (want %s or %s)", scope, KVSystemScope, KVUserScope)
}

// kvKey validates and normalises the identity of a key.
func kvKey(scope, user, name string) (string, string, error) {
	sc, err := NormalizeKVScope(scope)
	if err != nil {
		return "", "", err
	}
	if sc == KVSystemScope {
		if user != "" {
			return "", "", fmt.Errorf("system-scoped key %q cannot belong to user %q", name, user)
		}
	} else if user == "" {
		return "", "", fmt.Errorf("user-scoped key %q needs a user", name)
	}
	return sc, user, nil
}

const kvCols = "name, value, scope, user_name, secret, expire_at, created_at, updated_at"

func scanKV(row pgx.CollectableRow) (KeyValuePair, error) {
	var kv KeyValuePair
	err := row.Scan(&kv.Name, &kv.Value, &kv.Scope, &kv.User, &kv.Secret, &kv.ExpireAt, &kv.CreatedAt, &kv.UpdatedAt)
	return kv, err
}

// GetKV returns a datastore item; an absent or expired one is ErrNotFound.
func (s *Store) GetKV(ctx context.Context, scope, user, name string) (*KeyValuePair, error) {
	sc, user, err := kvKey(scope, user, name)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, "SELECT "+kvCols+" FROM kv WHERE scope = $1 AND user_name = $2 AND name = $3"+
		" AND (expire_at IS NULL OR expire_at > now())", sc, user, name)
	if err != nil {
		return nil, fmt.Errorf("get key %q: %w", name, err)
	}
	kv, err := pgx.CollectExactlyOneRow(rows, scanKV)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("key %q in %s: %w", name, sc, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get key %q: %w", name, err)
	}
	return &kv, nil
}

// SetKV creates or replaces a datastore item (kv.Name, kv.Scope, kv.User,
// kv.Value, kv.Secret). A positive ttl makes it expire that long from now;
// otherwise it never expires, also when it had an expiry before (st2 does
// the same on a set without ttl). It returns the stored item.
func (s *Store) SetKV(ctx context.Context, kv KeyValuePair, ttl time.Duration) (*KeyValuePair, error) {
	sc, user, err := kvKey(kv.Scope, kv.User, kv.Name)
	if err != nil {
		return nil, err
	}
	if kv.Name == "" {
		return nil, errors.New("set key: empty name")
	}
	var expireSecs *float64 // NULL: never expires
	if ttl > 0 {
		secs := ttl.Seconds()
		expireSecs = &secs
	}
	rows, err := s.pool.Query(ctx, `INSERT INTO kv (scope, user_name, name, value, secret, expire_at)
		VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6::float8))
		ON CONFLICT (scope, user_name, name) DO UPDATE
		SET value = EXCLUDED.value, secret = EXCLUDED.secret, expire_at = EXCLUDED.expire_at,
		    updated_at = now(),
		    -- an expired key that is set again is a new key
		    created_at = CASE WHEN kv.expire_at IS NOT NULL AND kv.expire_at <= now()
		                      THEN now() ELSE kv.created_at END
		RETURNING `+kvCols, sc, user, kv.Name, kv.Value, kv.Secret, expireSecs)
	if err != nil {
		return nil, fmt.Errorf("set key %q: %w", kv.Name, err)
	}
	out, err := pgx.CollectExactlyOneRow(rows, scanKV)
	if err != nil {
		return nil, fmt.Errorf("set key %q: %w", kv.Name, err)
	}
	return &out, nil
}

// DeleteKV removes a datastore item; an absent or expired one is ErrNotFound.
func (s *Store) DeleteKV(ctx context.Context, scope, user, name string) error {
	sc, user, err := kvKey(scope, user, name)
	if err != nil {
		return err
	}
	var live bool
	err = s.pool.QueryRow(ctx, "DELETE FROM kv WHERE scope = $1 AND user_name = $2 AND name = $3"+
		" RETURNING expire_at IS NULL OR expire_at > now()", sc, user, name).Scan(&live)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && !live) {
		return fmt.Errorf("key %q in %s: %w", name, sc, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("delete key %q: %w", name, err)
	}
	return nil
}

// ListKV returns the live items of a scope (and user) whose names start
// with prefix, ordered by name.
func (s *Store) ListKV(ctx context.Context, scope, user, prefix string) ([]KeyValuePair, error) {
	sc, err := NormalizeKVScope(scope)
	if err != nil {
		return nil, err
	}
	if sc == KVUserScope && user == "" {
		return nil, errors.New("list user-scoped keys: no user")
	}
	if sc == KVSystemScope {
		user = ""
	}
	rows, err := s.pool.Query(ctx, "SELECT "+kvCols+` FROM kv WHERE scope = $1 AND user_name = $2
		AND name LIKE $3 ESCAPE '\' AND (expire_at IS NULL OR expire_at > now()) ORDER BY name`,
		sc, user, likePrefix(prefix))
	if err != nil {
		return nil, fmt.Errorf("list keys with prefix %q: %w", prefix, err)
	}
	items, err := pgx.CollectRows(rows, scanKV)
	if err != nil {
		return nil, fmt.Errorf("list keys with prefix %q: %w", prefix, err)
	}
	return items, nil
}

// PurgeExpiredKV deletes expired items and returns how many.
func (s *Store) PurgeExpiredKV(ctx context.Context) (int64, error) {
	tag, err := s.pool.Exec(ctx, "DELETE FROM kv WHERE expire_at IS NOT NULL AND expire_at <= now()")
	if err != nil {
		return 0, fmt.Errorf("purge expired keys: %w", err)
	}
	return tag.RowsAffected(), nil
}

// likePrefix turns a literal prefix into a LIKE pattern.
func likePrefix(p string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(p) + "%"
}
