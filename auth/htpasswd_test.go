package auth

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestEnsureUserAndAuthenticate(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "htpasswd")
	if err := EnsureUser(path, "st2admin", "Ch@ngeMe"); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
	}
	h, err := LoadHtpasswd(path)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		user, pass string
		want       error
	}{
		{"st2admin", "Ch@ngeMe", nil},
		{"st2admin", "wrong", ErrInvalidCredentials},
		{"st2admin", "", ErrInvalidCredentials},
		{"nobody", "Ch@ngeMe", ErrInvalidCredentials},
		{"", "", ErrInvalidCredentials},
	}
	for _, tt := range tests {
		if err := h.Authenticate(tt.user, tt.pass); !errors.Is(err, tt.want) {
			t.Errorf("Authenticate(%q, %q) = %v, want %v", tt.user, tt.pass, err, tt.want)
		}
	}
}

func TestEnsureUserReplacesAndKeepsOthers(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "htpasswd")
	other, _ := bcrypt.GenerateFromPassword([]byte("otherpass"), bcrypt.MinCost)
	initial := "# managed by hand\nalice:" + string(other) + "\nbob:" + string(other) + "\n"
	if err := os.WriteFile(path, []byte(initial), 0o644); err != nil {
		t.Fatal(err)
	}
	h, err := LoadHtpasswd(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Authenticate("bob", "otherpass"); err != nil {
		t.Fatalf("bob before: %v", err)
	}
	if err := EnsureUser(path, "bob", "newpass"); err != nil {
		t.Fatal(err)
	}
	if err := EnsureUser(path, "carol", "carolpass"); err != nil {
		t.Fatal(err)
	}
	// The same Htpasswd notices the rewrite without being reloaded by hand.
	if err := h.Authenticate("bob", "otherpass"); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("bob old password after change: %v", err)
	}
	if err := h.Authenticate("bob", "newpass"); err != nil {
		t.Errorf("bob new password: %v", err)
	}
	if err := h.Authenticate("alice", "otherpass"); err != nil {
		t.Errorf("alice kept: %v", err)
	}
	if err := h.Authenticate("carol", "carolpass"); err != nil {
		t.Errorf("carol added: %v", err)
	}
	users, err := h.Users()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(users, ","); got != "alice,bob,carol" {
		t.Errorf("users = %s", got)
	}
	data, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(data), "# managed by hand\n") {
		t.Errorf("comment lost:\n%s", data)
	}
	if strings.Count(string(data), "bob:") != 1 {
		t.Errorf("bob duplicated:\n%s", data)
	}
}

func TestLoadHtpasswdRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, content, wantErr string
	}{
		{"apr1", "alice:$apr1$abc$def\n", "htpasswd:1: user \"alice\": only bcrypt"},
		{"sha", "\n#c\nbob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n", "htpasswd:3: user \"bob\": only bcrypt"},
		{"no colon", "alice\n", "htpasswd:1: expected user:hash"},
		{"bad bcrypt", "alice:$2y$xx\n", "malformed bcrypt hash"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "htpasswd")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadHtpasswd(path)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
			}
		})
	}
	if _, err := LoadHtpasswd(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestAuthenticateBrokenEditFailsLoudly(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "htpasswd")
	if err := EnsureUser(path, "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	h, err := LoadHtpasswd(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("alice:plaintext-oops\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err = h.Authenticate("alice", "pw")
	if err == nil || errors.Is(err, ErrInvalidCredentials) || !strings.Contains(err.Error(), "only bcrypt") {
		t.Fatalf("err = %v, want a reload error", err)
	}
}

func TestApacheBcryptVariantsAccepted(t *testing.T) {
	t.Parallel()
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost) // $2a$
	for _, prefix := range []string{"$2a$", "$2b$", "$2y$"} {
		h := prefix + string(hash[4:])
		path := filepath.Join(t.TempDir(), "htpasswd")
		if err := os.WriteFile(path, []byte("u:"+h+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		ht, err := LoadHtpasswd(path)
		if err != nil {
			t.Fatalf("%s: %v", prefix, err)
		}
		if err := ht.Authenticate("u", "pw"); err != nil {
			t.Errorf("%s: %v", prefix, err)
		}
	}
}

func TestEnsureUserInvalid(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "htpasswd")
	for _, user := range []string{"", "a:b", "a\nb"} {
		if err := EnsureUser(path, user, "pw"); err == nil {
			t.Errorf("EnsureUser(%q) succeeded", user)
		}
	}
	if err := EnsureUser(path, "a", ""); err == nil {
		t.Error("empty password accepted")
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("file created by failed calls: %v", err)
	}
}

func TestGeneratePassword(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 50 {
		p := GeneratePassword()
		if len(p) != 24 {
			t.Fatalf("len(%q) = %d", p, len(p))
		}
		for _, c := range p {
			if !strings.ContainsRune(passwordAlphabet, c) {
				t.Fatalf("%q has %q outside the alphabet", p, c)
			}
		}
		if seen[p] {
			t.Fatalf("duplicate password %q", p)
		}
		seen[p] = true
	}
}
