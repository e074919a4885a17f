package embedfs

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
)

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

func TestInstall(t *testing.T) {
	t.Parallel()
	src := fstest.MapFS{
		"python/wrapper.py":       {Data: []byte("print('hi')\n")},
		"python/pkg/__init__.py":  {Data: []byte("")},
		"python/pkg/base.py":      {Data: []byte("class Base: pass\n")},
		"elsewhere/not_copied.py": {Data: []byte("x")},
	}
	dir := filepath.Join(t.TempDir(), "shim") // created by Install
	if err := Install(src, "python", dir); err != nil {
		t.Fatal(err)
	}
	for rel, want := range map[string]string{
		"wrapper.py": "print('hi')\n", "pkg/__init__.py": "", "pkg/base.py": "class Base: pass\n",
	} {
		path := filepath.Join(dir, rel)
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("%s = %q, want %q", rel, got, want)
		}
		if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
			t.Errorf("%s mode = %v, want 0644", rel, fi.Mode().Perm())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "not_copied.py")); err == nil {
		t.Error("a file outside root was installed")
	}

	// Unchanged files stay as they are; a changed one is replaced by rename
	// (a new inode), never rewritten in place.
	sameIno, changedIno := inode(t, filepath.Join(dir, "pkg/base.py")), inode(t, filepath.Join(dir, "wrapper.py"))
	src["python/wrapper.py"] = &fstest.MapFile{Data: []byte("print('bye')\n")}
	if err := Install(src, "python", dir); err != nil {
		t.Fatal(err)
	}
	if got := inode(t, filepath.Join(dir, "pkg/base.py")); got != sameIno {
		t.Error("an unchanged file was rewritten")
	}
	if got := inode(t, filepath.Join(dir, "wrapper.py")); got == changedIno {
		t.Error("a changed file was rewritten in place")
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "wrapper.py")); string(got) != "print('bye')\n" {
		t.Errorf("wrapper.py = %q after the update", got)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".shim-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

func TestInstallError(t *testing.T) {
	t.Parallel()
	// A regular file where the directory should be.
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	src := fstest.MapFS{"python/a.py": {Data: []byte("a")}}
	if err := Install(src, "python", blocker); err == nil {
		t.Error("Install into a regular file succeeded")
	}
	if err := Install(src, "missing", t.TempDir()); err == nil {
		t.Error("Install of a missing root succeeded")
	}
}

func TestDefaultDir(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	got, err := DefaultDir("python-shim")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(cache, "squall", "python-shim"); got != want {
		t.Errorf("DefaultDir = %q, want %q", got, want)
	}

	// No cache directory at all: a fresh private temporary directory.
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "")
	t.Setenv("TMPDIR", t.TempDir())
	got, err = DefaultDir("sensor-shim")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(filepath.Base(got), "squall-sensor-shim-") || filepath.Dir(got) != os.Getenv("TMPDIR") {
		t.Errorf("DefaultDir = %q, want a squall-sensor-shim-* directory in $TMPDIR", got)
	}
	if fi, err := os.Stat(got); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("DefaultDir's directory: %v, %v; want a 0700 directory", fi, err)
	}
}
