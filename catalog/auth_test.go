package catalog

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/squall-automation/squall/internal/testenv"
)

func jsonMarshal(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

func TestTokens(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := testenv.Pool(t)
	s := New(pool)
	clock := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	s.now = func() time.Time { return clock }

	tok, err := s.CreateToken(ctx, "alice", time.Hour, map[string]any{"service": "cli"})
	if err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	if len(tok.Token) != 64 || !IsID(tok.ID) || tok.User != "alice" || !tok.Expiry.Equal(clock.Add(time.Hour)) {
		t.Fatalf("CreateToken = %+v", tok)
	}

	// Only the hash is stored.
	var stored string
	if err := pool.QueryRow(ctx, "SELECT token_hash FROM tokens WHERE id = $1", tok.ID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != hashSecret(tok.Token) || strings.Contains(stored, tok.Token) {
		t.Fatalf("stored %q for token %q", stored, tok.Token)
	}

	got, err := s.LookupToken(ctx, tok.Token)
	if err != nil {
		t.Fatalf("LookupToken: %v", err)
	}
	if got.ID != tok.ID || got.User != "alice" || got.Token != "" || !got.Expiry.Equal(tok.Expiry) ||
		!reflect.DeepEqual(got.Metadata, map[string]any{"service": "cli"}) {
		t.Fatalf("LookupToken = %+v, created %+v", got, tok)
	}
	if _, err := s.LookupToken(ctx, strings.Repeat("0", 64)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("LookupToken of an unknown token: %v", err)
	}

	// One microsecond before expiry it works; at expiry it does not.
	clock = tok.Expiry.Add(-time.Microsecond)
	if _, err := s.LookupToken(ctx, tok.Token); err != nil {
		t.Fatalf("LookupToken just before expiry: %v", err)
	}
	clock = tok.Expiry
	if _, err := s.LookupToken(ctx, tok.Token); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("LookupToken at expiry: %v, want expired ErrNotFound", err)
	}

	// Purge removes the expired token but not a live one.
	live, err := s.CreateToken(ctx, "bob", time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	if live.Metadata == nil {
		t.Error("nil metadata not normalised to an empty map")
	}
	if n, err := s.PurgeExpiredTokens(ctx); err != nil || n != 1 {
		t.Fatalf("PurgeExpiredTokens = %d, %v; want 1", n, err)
	}
	if _, err := s.LookupToken(ctx, live.Token); err != nil {
		t.Fatalf("live token after purge: %v", err)
	}

	if err := s.DeleteToken(ctx, live.Token); err != nil {
		t.Fatalf("DeleteToken: %v", err)
	}
	if _, err := s.LookupToken(ctx, live.Token); !errors.Is(err, ErrNotFound) {
		t.Fatalf("LookupToken after delete: %v", err)
	}
	if err := s.DeleteToken(ctx, live.Token); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second DeleteToken: %v", err)
	}

	for _, bad := range []struct {
		user string
		ttl  time.Duration
	}{{"", time.Hour}, {"alice", 0}, {"alice", -time.Second}} {
		if _, err := s.CreateToken(ctx, bad.user, bad.ttl, nil); err == nil {
			t.Errorf("CreateToken(%q, %s) succeeded", bad.user, bad.ttl)
		}
	}
}

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := New(testenv.Pool(t))

	k, err := s.CreateAPIKey(ctx, "alice", map[string]any{"used_by": "ci"})
	if err != nil {
		t.Fatalf("CreateAPIKey: %v", err)
	}
	if len(k.Key) != 64 || k.KeyHash != hashSecret(k.Key) || k.UID != "api_key:"+k.KeyHash || !k.Enabled || k.CreatedAt.IsZero() {
		t.Fatalf("CreateAPIKey = %+v", k)
	}
	other, err := s.CreateAPIKey(ctx, "bob", nil)
	if err != nil {
		t.Fatal(err)
	}

	got, err := s.LookupAPIKey(ctx, k.Key)
	if err != nil {
		t.Fatalf("LookupAPIKey: %v", err)
	}
	if got.ID != k.ID || got.User != "alice" || got.Key != "" || got.Metadata["used_by"] != "ci" || !got.CreatedAt.Equal(k.CreatedAt) {
		t.Fatalf("LookupAPIKey = %+v", got)
	}
	if _, err := s.LookupAPIKey(ctx, k.KeyHash); !errors.Is(err, ErrNotFound) {
		t.Fatalf("LookupAPIKey with the hash instead of the key: %v", err)
	}

	// JSON: st2's shape, no plaintext outside of creation.
	js, _ := jsonMarshal(got)
	for _, field := range []string{`"id"`, `"uid"`, `"user"`, `"key_hash"`, `"metadata"`, `"created_at"`, `"enabled"`} {
		if !strings.Contains(js, field) {
			t.Errorf("API key JSON lacks %s: %s", field, js)
		}
	}
	if strings.Contains(js, `"key"`) {
		t.Errorf("looked-up API key JSON has the key: %s", js)
	}

	// Disabled keys do not authenticate but can still be managed.
	upd, err := s.UpdateAPIKey(ctx, k.ID, false, map[string]any{"used_by": "nobody"})
	if err != nil || upd.Enabled || upd.Metadata["used_by"] != "nobody" {
		t.Fatalf("UpdateAPIKey = %+v, %v", upd, err)
	}
	if _, err := s.LookupAPIKey(ctx, k.Key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("LookupAPIKey of a disabled key: %v", err)
	}
	if g, err := s.GetAPIKey(ctx, k.ID); err != nil || g.Enabled {
		t.Fatalf("GetAPIKey of a disabled key = %+v, %v", g, err)
	}
	if _, err := s.UpdateAPIKey(ctx, k.ID, true, nil); err != nil {
		t.Fatal(err)
	}
	if g, err := s.LookupAPIKey(ctx, k.Key); err != nil || len(g.Metadata) != 0 {
		t.Fatalf("re-enabled key = %+v, %v", g, err)
	}

	keys, err := s.ListAPIKeys(ctx)
	if err != nil || len(keys) != 2 {
		t.Fatalf("ListAPIKeys = %v, %v", keys, err)
	}
	if keys[0].ID != k.ID || keys[1].ID != other.ID {
		t.Errorf("ListAPIKeys order = %s, %s; want %s, %s", keys[0].ID, keys[1].ID, k.ID, other.ID)
	}

	if err := s.DeleteAPIKey(ctx, k.ID); err != nil {
		t.Fatalf("DeleteAPIKey: %v", err)
	}
	if _, err := s.GetAPIKey(ctx, k.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetAPIKey after delete: %v", err)
	}
	if err := s.DeleteAPIKey(ctx, k.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second DeleteAPIKey: %v", err)
	}
	if _, err := s.UpdateAPIKey(ctx, k.ID, true, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("UpdateAPIKey of a deleted key: %v", err)
	}
	if _, err := s.CreateAPIKey(ctx, "", nil); err == nil {
		t.Fatal("CreateAPIKey without a user succeeded")
	}
}
