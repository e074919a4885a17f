package pack

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// MaxMetadataFileSize caps every metadata file the loader reads (pack.yaml,
// content metadata, config schema, config). Real metadata is a few KiB; the
// cap keeps a broken or hostile pack from exhausting memory.
const MaxMetadataFileSize = 1 << 20

// metadataExts are the extensions st2 reads metadata from (ALLOWED_EXTS).
var metadataExts = []string{".yaml", ".yml", ".json"}

// packFS reads files of one pack directory, refusing anything that resolves
// outside it.
type packFS struct {
	dir   string // absolute pack directory as given
	real  string // dir with symlinks resolved
	probs *problems
}

func newPackFS(dir string, probs *problems) (*packFS, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("pack directory %q: %w", dir, err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, fmt.Errorf("pack directory %q: %w", dir, err)
	}
	st, err := os.Stat(real)
	if err != nil {
		return nil, fmt.Errorf("pack directory %q: %w", dir, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("pack directory %q is not a directory", dir)
	}
	return &packFS{dir: abs, real: real, probs: probs}, nil
}

// within reports whether the resolved path lies inside the resolved pack dir.
func (p *packFS) within(resolved string) bool {
	rel, err := filepath.Rel(p.real, resolved)
	if err != nil {
		return false
	}
	return rel == "." || (rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)))
}

// resolve returns the real path of rel (slash-separated, relative to the
// pack) and whether it exists; a path resolving outside the pack is reported.
func (p *packFS) resolve(rel string) (string, bool) {
	real, err := filepath.EvalSymlinks(filepath.Join(p.dir, filepath.FromSlash(rel)))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if p.exists(rel) {
				p.probs.add(rel, 0, "broken symlink: its target does not exist")
			}
			return "", false
		}
		p.probs.add(rel, 0, "cannot resolve path: %v", err)
		return "", false
	}
	if !p.within(real) {
		p.probs.add(rel, 0, "symlink points outside the pack directory (to %s)", real)
		return "", false
	}
	return real, true
}

// exists reports whether rel is present in the pack (without reporting its
// absence, which is normal for optional files).
func (p *packFS) exists(rel string) bool {
	_, err := os.Lstat(filepath.Join(p.dir, filepath.FromSlash(rel)))
	return err == nil
}

// readFile reads a metadata file of the pack. Problems go to p.probs; the
// bool says whether data is usable.
func (p *packFS) readFile(rel string) ([]byte, bool) {
	real, ok := p.resolve(rel)
	if !ok {
		if !p.exists(rel) {
			p.probs.add(rel, 0, "file does not exist")
		}
		return nil, false
	}
	data, err := readCapped(real)
	if err != nil {
		p.probs.add(rel, 0, "%v", err)
		return nil, false
	}
	return data, true
}

// readCapped reads a regular file of at most MaxMetadataFileSize bytes.
func readCapped(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read: %w", err)
	}
	// Opening a FIFO or device would block or read forever.
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file (%s)", st.Mode().Type())
	}
	if st.Size() > MaxMetadataFileSize {
		return nil, fmt.Errorf("file is %d bytes; metadata files are limited to %d bytes (1 MiB)", st.Size(), MaxMetadataFileSize)
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read: %w", err)
	}
	defer fh.Close()
	// The file may grow between Stat and Read; the limit still holds.
	data, err := io.ReadAll(io.LimitReader(fh, MaxMetadataFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read: %w", err)
	}
	if len(data) > MaxMetadataFileSize {
		return nil, fmt.Errorf("file exceeds the %d byte (1 MiB) limit for metadata files", MaxMetadataFileSize)
	}
	return data, nil
}

// metadataFiles lists the metadata files directly inside the content
// directory dirRel (no recursion: actions/workflows/*.yaml and
// actions/chains/*.yaml are entry points, not metadata), sorted like st2's
// sorted(glob()). Dotfiles are skipped, as glob's * skips them.
func (p *packFS) metadataFiles(dirRel string) []string {
	if !p.exists(dirRel) {
		return nil
	}
	real, ok := p.resolve(dirRel)
	if !ok {
		return nil
	}
	entries, err := os.ReadDir(real)
	if err != nil {
		p.probs.add(dirRel, 0, "cannot list directory: %v", err)
		return nil
	}
	var out []string
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || !hasMetadataExt(name) {
			continue
		}
		rel := dirRel + "/" + name
		if e.IsDir() {
			continue
		}
		if e.Type()&fs.ModeSymlink != 0 {
			// Follow it only to see whether it is a directory; readFile
			// checks where it leads.
			if st, err := os.Stat(filepath.Join(real, name)); err == nil && st.IsDir() {
				continue
			}
		}
		out = append(out, rel)
	}
	sort.Strings(out)
	return out
}

func hasMetadataExt(name string) bool {
	for _, ext := range metadataExts {
		if strings.HasSuffix(name, ext) && len(name) > len(ext) {
			return true
		}
	}
	return false
}

// loadDoc reads and parses one metadata file of the pack.
func (p *packFS) loadDoc(rel string) *document {
	data, ok := p.readFile(rel)
	if !ok {
		return nil
	}
	return parseDoc(rel, data, p.probs)
}

func parseDoc(name string, data []byte, probs *problems) *document {
	root, line, err := parseYAML(data)
	if err != nil {
		probs.add(name, line, "%v", err)
		return nil
	}
	return &document{file: name, root: root}
}
