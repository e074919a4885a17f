// Package embedfs installs files embedded in the binary (the Python shims
// that actions and sensors import) into a directory on disk, where a child
// process can read them.
package embedfs

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
)

// DefaultDir is where a shim called name goes when no directory is
// configured: squall/<name> under the user's cache directory, or a fresh
// private temporary directory when there is none. Never a fixed name under
// /tmp: another local user could plant code there that every child would
// then import.
func DefaultDir(name string) (string, error) {
	base, err := os.UserCacheDir()
	if err == nil {
		return filepath.Join(base, "squall", name), nil
	}
	return os.MkdirTemp("", "squall-"+name+"-")
}

// Install copies the tree under root in fsys to dir, creating directories
// as needed. A file whose content is already in place is left alone; any
// other is written to a temporary file (".shim-*") next to it and renamed
// over it, so processes sharing dir never see a half-written file.
func Install(fsys fs.FS, root, dir string) error {
	return fs.WalkDir(fsys, root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dir, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := fs.ReadFile(fsys, path)
		if err != nil {
			return err
		}
		if cur, err := os.ReadFile(target); err == nil && bytes.Equal(cur, data) {
			return nil
		}
		tmp, err := os.CreateTemp(filepath.Dir(target), ".shim-*")
		if err != nil {
			return err
		}
		_, werr := tmp.Write(data)
		if werr == nil {
			werr = tmp.Chmod(0o644)
		}
		if cerr := tmp.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			os.Remove(tmp.Name())
			return werr
		}
		return os.Rename(tmp.Name(), target)
	})
}
