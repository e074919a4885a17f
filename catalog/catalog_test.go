package catalog

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestNewID(t *testing.T) {
	t.Parallel()
	before := time.Now().Truncate(time.Second)
	seen := map[string]bool{}
	for range 1000 {
		id := NewID()
		if !regexp.MustCompile(`^[0-9a-f]{24}$`).MatchString(id) {
			t.Fatalf("NewID() = %q, want 24 lowercase hex chars", id)
		}
		if seen[id] {
			t.Fatalf("NewID() repeated %q", id)
		}
		seen[id] = true
		ts, err := IDTime(id)
		if err != nil {
			t.Fatalf("IDTime(%q): %v", id, err)
		}
		if ts.Before(before) || ts.After(time.Now()) {
			t.Fatalf("IDTime(%q) = %s, want between %s and now", id, ts, before)
		}
	}
}

func TestIsID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want bool
	}{
		{"5f2b7c3e9a1d4e0012345678", true},
		{NewID(), true},
		{"5F2B7C3E9A1D4E0012345678", false}, // st2 IDs are lowercase
		{"5f2b7c3e9a1d4e001234567", false},
		{"5f2b7c3e9a1d4e00123456789", false},
		{"5f2b7c3e9a1d4e001234567g", false},
		{"core.local", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := IsID(tt.in); got != tt.want {
			t.Errorf("IsID(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
	if _, err := IDTime("core.local"); err == nil {
		t.Error("IDTime of a ref succeeded")
	}
}

func TestSanitizeText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"ascii", []byte("hello\n"), "hello\n"},
		{"utf8", []byte("héllo ✓"), "héllo ✓"},
		{"invalid byte", []byte{'a', 0xff, 'b'}, "a\uFFFDb"},
		{"truncated rune", []byte("x\xe2\x9c"), "x\uFFFD"},
		{"nul", []byte("a\x00b"), "a\uFFFDb"},
		{"empty", nil, ""},
	}
	for _, tt := range tests {
		if got := sanitizeText(tt.in); got != tt.want {
			t.Errorf("%s: sanitizeText(%q) = %q, want %q", tt.name, tt.in, got, tt.want)
		}
		if strings.ContainsRune(sanitizeText(tt.in), 0) {
			t.Errorf("%s: result contains NUL", tt.name)
		}
	}
}

func TestHashSecret(t *testing.T) {
	t.Parallel()
	// sha256("abc"), the FIPS 180-2 test vector: st2 stores API keys as
	// sha256 hex, so existing hashes stay comparable.
	const want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	if got := hashSecret("abc"); got != want {
		t.Fatalf("hashSecret(abc) = %s, want %s", got, want)
	}
	plain, hash, err := newSecret()
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(plain) || hash != hashSecret(plain) {
		t.Fatalf("newSecret() = %q, %q", plain, hash)
	}
}
