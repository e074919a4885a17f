package catalog

import (
	"errors"
	"testing"
	"time"

	"github.com/squall-automation/squall/internal/testenv"
)

func TestNormalizeKVScope(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"", KVSystemScope, true},
		{"system", KVSystemScope, true},
		{"st2kv.system", KVSystemScope, true},
		{"user", KVUserScope, true},
		{"st2kv.user", KVUserScope, true},
		{"all", "", false},
		{"st2kv", "", false},
	} {
		got, err := NormalizeKVScope(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("NormalizeKVScope(%q) = %q, %v; want %q (ok=%v)", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestKVSetGetDeleteList(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := New(testenv.Pool(t))

	if _, err := s.GetKV(ctx, "system", "", "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetKV of a missing key = %v, want ErrNotFound", err)
	}
	first, err := s.SetKV(ctx, KeyValuePair{Name: "pack.Sensor:count", Value: "1"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if first.Scope != KVSystemScope || first.User != "" || first.ExpireAt != nil || first.CreatedAt.IsZero() {
		t.Errorf("SetKV = %+v", first)
	}
	second, err := s.SetKV(ctx, KeyValuePair{Name: "pack.Sensor:count", Value: "2", Secret: true}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if second.Value != "2" || !second.Secret || !second.CreatedAt.Equal(first.CreatedAt) || second.UpdatedAt.Before(first.UpdatedAt) {
		t.Errorf("replacing: %+v after %+v", second, first)
	}
	got, err := s.GetKV(ctx, "st2kv.system", "", "pack.Sensor:count")
	if err != nil || got.Value != "2" {
		t.Fatalf("GetKV = %+v, %v", got, err)
	}

	// User scope: per user, apart from the system scope.
	if _, err := s.SetKV(ctx, KeyValuePair{Name: "pack.Sensor:count", Value: "u", Scope: "user", User: "alice"}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetKV(ctx, KeyValuePair{Name: "x", Value: "u", Scope: "user"}, 0); err == nil {
		t.Error("a user-scoped key without a user was accepted")
	}
	if _, err := s.SetKV(ctx, KeyValuePair{Name: "x", Value: "v", User: "alice"}, 0); err == nil {
		t.Error("a system-scoped key with a user was accepted")
	}
	if _, err := s.GetKV(ctx, "user", "bob", "pack.Sensor:count"); !errors.Is(err, ErrNotFound) {
		t.Errorf("bob sees alice's key: %v", err)
	}

	// Prefixes are literal: _ and % are not wildcards.
	for _, name := range []string{"pack.Sensor:a", "pack.Sensor:b", "pack.SensorX:a", "pack_Sensor:a", "other"} {
		if _, err := s.SetKV(ctx, KeyValuePair{Name: name, Value: "v"}, 0); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"pack.Sensor:", []string{"pack.Sensor:a", "pack.Sensor:b", "pack.Sensor:count"}},
		{"pack_", []string{"pack_Sensor:a"}},
		{"%", nil},
		{"", []string{"other", "pack.Sensor:a", "pack.Sensor:b", "pack.Sensor:count", "pack.SensorX:a", "pack_Sensor:a"}},
	} {
		items, err := s.ListKV(ctx, "system", "", tc.prefix)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, it := range items {
			names = append(names, it.Name)
		}
		if len(names) != len(tc.want) {
			t.Errorf("ListKV(%q) = %v, want %v", tc.prefix, names, tc.want)
			continue
		}
		for i := range names {
			if names[i] != tc.want[i] {
				t.Errorf("ListKV(%q) = %v, want %v", tc.prefix, names, tc.want)
				break
			}
		}
	}

	if err := s.DeleteKV(ctx, "system", "", "pack.Sensor:a"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteKV(ctx, "system", "", "pack.Sensor:a"); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleting twice = %v, want ErrNotFound", err)
	}
}

func TestKVExpiry(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := New(testenv.Pool(t))

	kv, err := s.SetKV(ctx, KeyValuePair{Name: "short", Value: "v"}, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if kv.ExpireAt == nil || kv.ExpireAt.Sub(kv.UpdatedAt) < 200*time.Millisecond {
		t.Fatalf("expire_at = %v (updated %v)", kv.ExpireAt, kv.UpdatedAt)
	}
	if _, err := s.SetKV(ctx, KeyValuePair{Name: "kept", Value: "v"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	// Set again without ttl: the expiry goes, as in st2.
	if _, err := s.SetKV(ctx, KeyValuePair{Name: "cleared", Value: "v"}, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if kv, err := s.SetKV(ctx, KeyValuePair{Name: "cleared", Value: "v"}, 0); err != nil || kv.ExpireAt != nil {
		t.Fatalf("re-set without ttl = %+v, %v", kv, err)
	}
	time.Sleep(500 * time.Millisecond)

	if _, err := s.GetKV(ctx, "system", "", "short"); !errors.Is(err, ErrNotFound) {
		t.Errorf("expired key: %v, want ErrNotFound", err)
	}
	items, err := s.ListKV(ctx, "system", "", "")
	if err != nil || len(items) != 2 {
		t.Errorf("ListKV = %+v, %v; want kept and cleared", items, err)
	}
	if err := s.DeleteKV(ctx, "system", "", "short"); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleting an expired key = %v, want ErrNotFound", err)
	}
	// Purging removes what has expired (deleting "short" above removed it).
	if _, err := s.SetKV(ctx, KeyValuePair{Name: "short2", Value: "v"}, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	n, err := s.PurgeExpiredKV(ctx)
	if err != nil || n != 1 {
		t.Errorf("PurgeExpiredKV = %d, %v; want 1", n, err)
	}
}
