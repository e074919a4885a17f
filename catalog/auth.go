package catalog

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Only SHA-256 hashes of tokens and API keys are stored: the plaintext is
// handed out once, at creation, and a leaked database dump cannot be used to
// call the API. Plain SHA-256 (no salt, no stretching) is enough because the
// secrets are 256 random bits, not passwords; it is also what StackStorm does
// for API keys.

// Token is a user's access token, StackStorm's shape. Token holds the
// plaintext only in what CreateToken returns.
type Token struct {
	ID       string         `json:"id"`
	User     string         `json:"user"`
	Token    string         `json:"token,omitempty"`
	Expiry   time.Time      `json:"expiry"`
	Metadata map[string]any `json:"metadata"`
}

// APIKey is a user's API key, StackStorm's shape. Key holds the plaintext only
// in what CreateAPIKey returns.
type APIKey struct {
	ID        string         `json:"id"`
	UID       string         `json:"uid"`
	User      string         `json:"user"`
	KeyHash   string         `json:"key_hash"`
	Key       string         `json:"key,omitempty"`
	Metadata  map[string]any `json:"metadata"`
	CreatedAt time.Time      `json:"created_at"`
	Enabled   bool           `json:"enabled"`
}

// newSecret returns 32 random bytes as hex and the SHA-256 hex of that.
func newSecret() (plaintext, hash string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("generate secret: %w", err)
	}
	plaintext = hex.EncodeToString(b)
	return plaintext, hashSecret(plaintext), nil
}

func hashSecret(plaintext string) string {
	sum := sha256.Sum256([]byte(plaintext))
	return hex.EncodeToString(sum[:])
}

// CreateToken issues a token for user valid for ttl.
func (s *Store) CreateToken(ctx context.Context, user string, ttl time.Duration, metadata map[string]any) (Token, error) {
	if user == "" {
		return Token{}, errors.New("create token: empty user")
	}
	if ttl <= 0 {
		return Token{}, fmt.Errorf("create token for %q: ttl must be positive, got %s", user, ttl)
	}
	plaintext, hash, err := newSecret()
	if err != nil {
		return Token{}, fmt.Errorf("create token for %q: %w", user, err)
	}
	// Postgres keeps microseconds; truncating here makes what we return equal
	// what a lookup reads back.
	t := Token{
		ID:       NewID(),
		User:     user,
		Token:    plaintext,
		Expiry:   s.now().UTC().Add(ttl).Truncate(time.Microsecond),
		Metadata: emptyMap(metadata),
	}
	_, err = s.pool.Exec(ctx, "INSERT INTO tokens (id, token_hash, user_name, expiry, metadata) VALUES ($1, $2, $3, $4, $5)",
		t.ID, hash, t.User, t.Expiry, t.Metadata)
	if err != nil {
		return Token{}, fmt.Errorf("create token for %q: %w", user, err)
	}
	return t, nil
}

// LookupToken returns the token whose plaintext is given, without the
// plaintext. A missing or expired token is ErrNotFound. Expiry is judged by
// this process's clock, the same one that set it.
func (s *Store) LookupToken(ctx context.Context, plaintext string) (*Token, error) {
	var t Token
	err := s.pool.QueryRow(ctx, "SELECT id, user_name, expiry, metadata FROM tokens WHERE token_hash = $1",
		hashSecret(plaintext)).Scan(&t.ID, &t.User, &t.Expiry, &t.Metadata)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("token: %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("look up token: %w", err)
	}
	if !t.Expiry.After(s.now()) {
		return nil, fmt.Errorf("token %s expired at %s: %w", t.ID, t.Expiry.UTC().Format(time.RFC3339), ErrNotFound)
	}
	t.Expiry = t.Expiry.UTC()
	return &t, nil
}

// DeleteToken revokes the token whose plaintext is given (logout).
func (s *Store) DeleteToken(ctx context.Context, plaintext string) error {
	tag, err := s.pool.Exec(ctx, "DELETE FROM tokens WHERE token_hash = $1", hashSecret(plaintext))
	if err != nil {
		return fmt.Errorf("delete token: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("token: %w", ErrNotFound)
	}
	return nil
}

// PurgeExpiredTokens deletes tokens that expired before now and returns how
// many; lookups already refuse them, this only keeps the table small.
func (s *Store) PurgeExpiredTokens(ctx context.Context) (int64, error) {
	tag, err := s.pool.Exec(ctx, "DELETE FROM tokens WHERE expiry <= $1", s.now())
	if err != nil {
		return 0, fmt.Errorf("purge expired tokens: %w", err)
	}
	return tag.RowsAffected(), nil
}

// CreateAPIKey issues an enabled API key for user.
func (s *Store) CreateAPIKey(ctx context.Context, user string, metadata map[string]any) (APIKey, error) {
	if user == "" {
		return APIKey{}, errors.New("create API key: empty user")
	}
	plaintext, hash, err := newSecret()
	if err != nil {
		return APIKey{}, fmt.Errorf("create API key for %q: %w", user, err)
	}
	k := APIKey{
		ID:       NewID(),
		User:     user,
		KeyHash:  hash,
		Key:      plaintext,
		Metadata: emptyMap(metadata),
		Enabled:  true,
	}
	err = s.pool.QueryRow(ctx,
		"INSERT INTO api_keys (id, key_hash, user_name, metadata, enabled) VALUES ($1, $2, $3, $4, true) RETURNING created_at",
		k.ID, k.KeyHash, k.User, k.Metadata).Scan(&k.CreatedAt)
	if err != nil {
		return APIKey{}, fmt.Errorf("create API key for %q: %w", user, err)
	}
	k.CreatedAt = k.CreatedAt.UTC()
	k.UID = apiKeyUID(k.KeyHash)
	return k, nil
}

// apiKeyUID is StackStorm's uid for an API key, which is keyed on the hash.
func apiKeyUID(keyHash string) string { return "api_key:" + keyHash }

const apiKeyColumns = "id, user_name, key_hash, metadata, created_at, enabled"

func scanAPIKey(row pgx.CollectableRow) (APIKey, error) {
	var k APIKey
	if err := row.Scan(&k.ID, &k.User, &k.KeyHash, &k.Metadata, &k.CreatedAt, &k.Enabled); err != nil {
		return k, err
	}
	k.CreatedAt = k.CreatedAt.UTC()
	k.UID = apiKeyUID(k.KeyHash)
	return k, nil
}

func (s *Store) oneAPIKey(ctx context.Context, what, cond, arg string) (*APIKey, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+apiKeyColumns+" FROM api_keys WHERE "+cond, arg)
	if err != nil {
		return nil, fmt.Errorf("get API key%s: %w", what, err)
	}
	k, err := pgx.CollectExactlyOneRow(rows, scanAPIKey)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("API key%s: %w", what, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get API key%s: %w", what, err)
	}
	return &k, nil
}

// LookupAPIKey returns the enabled API key whose plaintext is given. Missing
// and disabled keys are both ErrNotFound.
func (s *Store) LookupAPIKey(ctx context.Context, plaintext string) (*APIKey, error) {
	return s.oneAPIKey(ctx, "", "key_hash = $1 AND enabled", hashSecret(plaintext))
}

// GetAPIKey returns the API key with the given ID, enabled or not.
func (s *Store) GetAPIKey(ctx context.Context, id string) (*APIKey, error) {
	return s.oneAPIKey(ctx, " "+id, "id = $1", id)
}

// ListAPIKeys returns all API keys, oldest first.
func (s *Store) ListAPIKeys(ctx context.Context) ([]APIKey, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+apiKeyColumns+" FROM api_keys ORDER BY created_at, id")
	if err != nil {
		return nil, fmt.Errorf("list API keys: %w", err)
	}
	keys, err := pgx.CollectRows(rows, scanAPIKey)
	if err != nil {
		return nil, fmt.Errorf("list API keys: %w", err)
	}
	return keys, nil
}

// UpdateAPIKey sets an API key's enabled flag and replaces its metadata, as
// StackStorm's PUT does (nil metadata stores an empty object).
func (s *Store) UpdateAPIKey(ctx context.Context, id string, enabled bool, metadata map[string]any) (*APIKey, error) {
	rows, err := s.pool.Query(ctx, "UPDATE api_keys SET enabled = $2, metadata = $3 WHERE id = $1 RETURNING "+apiKeyColumns,
		id, enabled, emptyMap(metadata))
	if err != nil {
		return nil, fmt.Errorf("update API key %s: %w", id, err)
	}
	k, err := pgx.CollectExactlyOneRow(rows, scanAPIKey)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("API key %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("update API key %s: %w", id, err)
	}
	return &k, nil
}

// DeleteAPIKey deletes the API key with the given ID.
func (s *Store) DeleteAPIKey(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, "DELETE FROM api_keys WHERE id = $1", id)
	if err != nil {
		return fmt.Errorf("delete API key %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("API key %s: %w", id, ErrNotFound)
	}
	return nil
}
