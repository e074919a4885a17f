// Package auth holds Squall's user credentials: the htpasswd file of bcrypt
// hashes that the API checks passwords against (StackStorm's flat_file auth
// backend), and the helpers that create users and passwords for it. Tokens
// and API keys themselves live in the catalog; this package never touches a
// database.
package auth

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// ErrInvalidCredentials is returned by Authenticate for an unknown user or a
// wrong password; callers must not tell the two apart in their answers.
var ErrInvalidCredentials = errors.New("invalid or missing credentials")

// dummyHash is compared against when the user is unknown so that the time an
// answer takes does not reveal which user names exist.
var dummyHash = mustHash("squall-timing-equaliser")

func mustHash(s string) []byte {
	h, err := bcrypt.GenerateFromPassword([]byte(s), bcrypt.DefaultCost)
	if err != nil {
		panic(err)
	}
	return h
}

// Htpasswd is an htpasswd file of bcrypt entries ("user:$2y$..."), as written
// by `htpasswd -B` or EnsureUser. It re-reads the file when its modification
// time or size changes, so users can be added without restarting the server.
// Safe for concurrent use.
type Htpasswd struct {
	path string

	mu sync.Mutex
	// fi is the file as last read; a change of inode (atomic rename), size
	// or modification time triggers a reload.
	fi    os.FileInfo
	users map[string][]byte
	names []string // file order, without duplicates
}

// LoadHtpasswd reads the file at path. Every entry must be a bcrypt hash;
// other htpasswd formats (MD5 apr1, SHA1, crypt) are rejected with the line
// number, since accepting them silently would weaken every password check.
func LoadHtpasswd(path string) (*Htpasswd, error) {
	h := &Htpasswd{path: path}
	if err := h.reloadLocked(); err != nil {
		return nil, err
	}
	return h, nil
}

// Path is the file this Htpasswd reads.
func (h *Htpasswd) Path() string { return h.path }

// Authenticate checks user and password. It returns nil on success,
// ErrInvalidCredentials when the pair is wrong, and another error when the
// file changed and can no longer be read or parsed: a broken edit makes
// logins fail loudly rather than fall back to stale entries.
func (h *Htpasswd) Authenticate(user, password string) error {
	h.mu.Lock()
	err := h.refreshLocked()
	hash, ok := h.users[user]
	h.mu.Unlock()
	if err != nil {
		return err
	}
	if !ok {
		_ = bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return ErrInvalidCredentials
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil {
		return ErrInvalidCredentials
	}
	return nil
}

// Users lists the user names currently in the file, in file order.
func (h *Htpasswd) Users() ([]string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.refreshLocked(); err != nil {
		return nil, err
	}
	return append([]string(nil), h.names...), nil
}

// refreshLocked reloads the file when it changed since the last read.
func (h *Htpasswd) refreshLocked() error {
	fi, err := os.Stat(h.path)
	if err != nil {
		return fmt.Errorf("htpasswd %s: %w", h.path, err)
	}
	if h.fi != nil && os.SameFile(fi, h.fi) && fi.ModTime().Equal(h.fi.ModTime()) && fi.Size() == h.fi.Size() {
		return nil
	}
	return h.reloadLocked()
}

func (h *Htpasswd) reloadLocked() error {
	fi, err := os.Stat(h.path)
	if err != nil {
		return fmt.Errorf("htpasswd %s: %w", h.path, err)
	}
	entries, err := readEntries(h.path)
	if err != nil {
		return err
	}
	users := make(map[string][]byte, len(entries))
	var names []string
	for _, e := range entries {
		if !isBcrypt(e.hash) {
			return fmt.Errorf("htpasswd %s:%d: user %q: only bcrypt hashes are supported (create entries with `htpasswd -B` or `squall user add`)", h.path, e.line, e.user)
		}
		if _, err := bcrypt.Cost([]byte(e.hash)); err != nil {
			return fmt.Errorf("htpasswd %s:%d: user %q: malformed bcrypt hash: %w", h.path, e.line, e.user, err)
		}
		if _, dup := users[e.user]; !dup {
			names = append(names, e.user)
		}
		users[e.user] = []byte(e.hash)
	}
	h.users = users
	h.names = names
	h.fi = fi
	return nil
}

type entry struct {
	user, hash string
	line       int
}

// readEntries parses an htpasswd file; blank lines and # comments are
// skipped. A later entry for the same user wins, as with Apache.
func readEntries(path string) ([]entry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("htpasswd %s: %w", path, err)
	}
	return parseEntries(path, data)
}

func parseEntries(path string, data []byte) ([]entry, error) {
	var entries []entry
	sc := bufio.NewScanner(bytes.NewReader(data))
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		if !ok || user == "" || hash == "" {
			return nil, fmt.Errorf("htpasswd %s:%d: expected user:hash", path, n)
		}
		entries = append(entries, entry{user: user, hash: hash, line: n})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("htpasswd %s: %w", path, err)
	}
	return entries, nil
}

func isBcrypt(hash string) bool {
	return strings.HasPrefix(hash, "$2a$") || strings.HasPrefix(hash, "$2b$") || strings.HasPrefix(hash, "$2y$")
}

// EnsureUser adds user to the htpasswd file at path with a bcrypt hash of
// password, or replaces the user's existing entry; other entries and
// comments are kept. The file is created if missing. It is rewritten
// atomically (temporary file in the same directory, then rename) with mode
// 0600, so a concurrent reader sees either the old or the new file.
func EnsureUser(path, user, password string) error {
	if user == "" || strings.ContainsAny(user, ":\r\n") {
		return fmt.Errorf("ensure user: invalid user name %q (must be non-empty, without ':' or newlines)", user)
	}
	if password == "" {
		return fmt.Errorf("ensure user %q: empty password", user)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return fmt.Errorf("ensure user %q: hash password: %w", user, err)
	}
	newLine := user + ":" + string(hash)

	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("ensure user %q: %w", user, err)
	}
	var out strings.Builder
	replaced := false
	if len(old) > 0 {
		for _, line := range strings.SplitAfter(string(old), "\n") {
			if line == "" {
				continue
			}
			name, _, _ := strings.Cut(strings.TrimRight(line, "\r\n"), ":")
			if name == user && !strings.HasPrefix(strings.TrimSpace(line), "#") {
				if !replaced {
					out.WriteString(newLine + "\n")
					replaced = true
				}
				continue // drop duplicates of the same user
			}
			out.WriteString(line)
			if !strings.HasSuffix(line, "\n") {
				out.WriteString("\n")
			}
		}
	}
	if !replaced {
		out.WriteString(newLine + "\n")
	}
	if err := writeFileAtomic(path, []byte(out.String()), 0o600); err != nil {
		return fmt.Errorf("ensure user %q: %w", user, err)
	}
	return nil
}

func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// passwordAlphabet avoids characters that need quoting in shells and URLs.
const passwordAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"

// GeneratePassword returns a random 24-character password (about 140 bits)
// from an alphabet without look-alike characters, for the initial admin user.
func GeneratePassword() string {
	const n = 24
	// Rejection sampling keeps every character equally likely.
	limit := byte(256 - 256%len(passwordAlphabet))
	out := make([]byte, 0, n)
	buf := make([]byte, 2*n)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			panic(fmt.Sprintf("crypto/rand: %v", err)) // never fails on supported platforms
		}
		for _, b := range buf {
			if b >= limit {
				continue
			}
			out = append(out, passwordAlphabet[int(b)%len(passwordAlphabet)])
			if len(out) == n {
				break
			}
		}
	}
	return string(out)
}
