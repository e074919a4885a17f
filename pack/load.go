package pack

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// LoadOptions tune Load and LoadAll.
type LoadOptions struct {
	// ConfigsDir is st2's /opt/stackstorm/configs: the pack's config is read
	// from ConfigsDir/<pack ref>.yaml when that file exists. Empty means no
	// external configs.
	ConfigsDir string
	// SkipEntryPointCheck turns off the check that action and sensor entry
	// points exist on disk. The path-safety checks (no absolute paths, nothing
	// outside the pack) always apply. Use it for metadata-only trees such as
	// the st2-packs compatibility corpus.
	SkipEntryPointCheck bool
}

// PackFile is the pack manifest file name.
const PackFile = "pack.yaml"

// ConfigSchemaFile is the pack config schema file name.
const ConfigSchemaFile = "config.schema.yaml"

var (
	// st2's PACK_REF_WHITELIST_REGEX.
	packRefRE        = regexp.MustCompile(`^[a-z0-9_]+$`)
	twoPartVersionRE = regexp.MustCompile(`^\d+\.\d+$`)
	// st2's PACK_VERSION_REGEX (semver).
	packVersionRE = regexp.MustCompile(`^(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)(?:-[\da-z\-]+(?:\.[\da-z\-]+)*)?(?:\+[\da-z\-]+(?:\.[\da-z\-]+)*)?$`)
)

// reservedPackRefs cannot be used as pack refs (st2's RESERVED_PACK_LIST).
var reservedPackRefs = map[string]bool{"_global": true}

// Load reads and validates the pack in dir. On any problem it returns nil and
// a *LoadError listing all of them; errors that are not about the pack's
// content (dir missing, not a directory) are returned as plain errors.
func Load(dir string, opts LoadOptions) (*Pack, error) {
	probs := &problems{}
	pfs, err := newPackFS(dir, probs)
	if err != nil {
		return nil, fmt.Errorf("load pack: %w", err)
	}
	l := &loader{fs: pfs, probs: probs, opts: opts}
	p := l.load()
	if err := probs.err(dir); err != nil {
		return nil, err
	}
	return p, nil
}

// Result is the outcome of loading one pack directory in LoadAll.
type Result struct {
	Dir  string // the pack directory
	Pack *Pack  // nil when Err is set
	Err  error  // a *LoadError for content problems
}

// LoadAll loads every pack directly under baseDir: each subdirectory holding
// a pack.yaml, in name order, as st2's content loader discovers packs.
// Directories without pack.yaml are not packs and are skipped. Two packs with
// the same ref make the later one fail. The error is only for baseDir itself.
func LoadAll(baseDir string, opts LoadOptions) ([]Result, error) {
	entries, err := os.ReadDir(baseDir)
	if err != nil {
		return nil, fmt.Errorf("load packs from %s: %w", baseDir, err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	var results []Result
	seen := map[string]string{}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		dir := filepath.Join(baseDir, e.Name())
		st, err := os.Stat(dir)
		if err != nil || !st.IsDir() {
			continue
		}
		if _, err := os.Lstat(filepath.Join(dir, PackFile)); err != nil {
			continue
		}
		p, err := Load(dir, opts)
		if err == nil {
			if prev, dup := seen[p.Ref]; dup {
				err = &LoadError{Dir: dir, Problems: []Problem{{
					File: PackFile,
					Msg:  fmt.Sprintf("pack ref %q is already used by the pack in %s", p.Ref, prev),
				}}}
				p = nil
			} else {
				seen[p.Ref] = dir
			}
		}
		results = append(results, Result{Dir: dir, Pack: p, Err: err})
	}
	return results, nil
}

// loader holds the state of one Load call.
type loader struct {
	fs    *packFS
	probs *problems
	opts  LoadOptions
	pack  *Pack
	// triggerDup spans triggers/ and the sensors' inline trigger types: both
	// name trigger types of the same pack.
	triggerDup *dupCheck
	// refKnown is false when pack.yaml gave no usable ref; the pack fields
	// of content files cannot be compared then.
	refKnown bool
}

func (l *loader) load() *Pack {
	p := &Pack{Path: l.fs.dir}
	l.pack = p
	// Without a valid manifest the pack cannot be registered, but its
	// content is still checked so one run reports every problem.
	l.refKnown = l.readManifest(p)
	l.readActions(p)
	l.readTriggers(p)
	l.readSensors(p)
	l.readRules(p)
	l.readAliases(p)
	l.readPolicies(p)
	l.readConfig(p)
	return p
}

// readManifest reads pack.yaml as st2's PackAPI schema validates it: name,
// description, version (semver) and author are required; ref defaults to name
// when name is a valid ref.
func (l *loader) readManifest(p *Pack) bool {
	if !l.fs.exists(PackFile) {
		l.probs.add(PackFile, 0, "pack.yaml is missing; every pack needs one")
		return false
	}
	doc := l.fs.loadDoc(PackFile)
	if doc == nil {
		return false
	}
	m := decodeDoc(doc, l.probs)
	if m == nil {
		return false
	}
	f := &fileCheck{doc: doc, probs: l.probs}
	p.Metadata = m
	p.Name = f.str(m, nil, "name", true)
	p.Description = f.str(m, nil, "description", true)
	p.Author = f.str(m, nil, "author", true)
	p.Email = f.str(m, nil, "email", false)
	p.Keywords = f.stringList(m, nil, "keywords")
	p.Dependencies = f.stringList(m, nil, "dependencies")
	p.PythonVersions = f.stringList(m, nil, "python_versions")
	f.stringList(m, nil, "contributors")
	f.str(m, nil, "stackstorm_version", false)
	f.mapping(m, nil, "system")

	switch v := m["version"].(type) {
	case nil:
		f.fail([]string{"version"}, "required field is missing")
	case string, int64, float64:
		// Unquoted versions such as 1.0 arrive as numbers; st2 casts them to
		// strings and normalizes pre-2.1 two-part versions (0.2 -> 0.2.0).
		p.Version = normalizeVersion(v)
		if !packVersionRE.MatchString(p.Version) {
			f.fail([]string{"version"}, "%q is not a valid semver version (for instance 0.1.0 or 1.2.3)", p.Version)
		}
	default:
		f.fail([]string{"version"}, "must be a string, not %s", typeName(v))
	}

	ref := f.str(m, nil, "ref", false)
	switch {
	case ref != "":
		if !packRefRE.MatchString(ref) {
			f.fail([]string{"ref"}, "%q is not a valid pack ref: only lowercase letters, digits and _ are allowed", ref)
			return false
		}
	case p.Name == "":
		return false
	case packRefRE.MatchString(p.Name):
		ref = p.Name
	default:
		f.fail([]string{"name"}, "%q cannot be used as the pack ref (only lowercase letters, digits and _ are allowed); add a ref field", p.Name)
		return false
	}
	if reservedPackRefs[ref] {
		f.fail([]string{"ref"}, "%q is a reserved pack name", ref)
		return false
	}
	p.Ref = ref
	return true
}

func normalizeVersion(v any) string {
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case int64:
		s = strconv.FormatInt(x, 10)
	case float64:
		s = strconv.FormatFloat(x, 'f', -1, 64)
	}
	if twoPartVersionRE.MatchString(s) {
		s += ".0"
	}
	return s
}

// checkPackField enforces st2's rule that a resource's own pack field, when
// present, names the pack it lives in; it never moves a resource elsewhere.
func (l *loader) checkPackField(f *fileCheck, m map[string]any, path []string) {
	pv := f.str(m, path, "pack", false)
	if l.refKnown && pv != "" && pv != l.pack.Ref {
		f.fail(join(path, "pack"), "is %q but the file is in pack %q; remove the field or make it match", pv, l.pack.Ref)
	}
}

// dupCheck finds duplicate names of one kind within the pack.
type dupCheck struct {
	kind string
	seen map[string]string // name -> file
}

func newDupCheck(kind string) *dupCheck { return &dupCheck{kind: kind, seen: map[string]string{}} }

// add reports whether name is new; a duplicate is recorded as a problem.
func (d *dupCheck) add(f *fileCheck, path []string, name string) bool {
	if name == "" {
		return true
	}
	if prev, ok := d.seen[name]; ok {
		f.fail(path, "duplicate %s name %q (also defined in %s)", d.kind, name, prev)
		return false
	}
	d.seen[name] = f.doc.file
	return true
}

// loadContent parses every metadata file of a content directory.
func (l *loader) loadContent(dir string) []*fileCheck {
	var out []*fileCheck
	for _, rel := range l.fs.metadataFiles(dir) {
		doc := l.fs.loadDoc(rel)
		if doc == nil {
			continue
		}
		out = append(out, &fileCheck{doc: doc, probs: l.probs})
	}
	return out
}

func (l *loader) ref(name string) string { return l.pack.Ref + "." + name }

// checkEntryPoint validates an entry point relative to base (a directory
// inside the pack, "actions" or "sensors"). Path safety is always checked;
// existence only when mustExist and not LoadOptions.SkipEntryPointCheck,
// because runners that do not execute a file (local-shell-cmd, http-request,
// ...) ignore entry_point, as st2 does.
func (l *loader) checkEntryPoint(f *fileCheck, path []string, base, ep string, mustExist bool) {
	skipExistence := l.opts.SkipEntryPointCheck || !mustExist
	if ep == "" {
		return
	}
	if strings.ContainsRune(ep, 0) {
		f.fail(path, "contains a NUL byte")
		return
	}
	if filepath.IsAbs(ep) || strings.HasPrefix(ep, "/") || strings.HasPrefix(ep, `\`) {
		f.fail(path, "%q is an absolute path; entry points are relative to <pack>/%s", ep, base)
		return
	}
	rel := filepath.ToSlash(filepath.Clean(filepath.Join(base, filepath.FromSlash(ep))))
	if rel == ".." || strings.HasPrefix(rel, "../") {
		f.fail(path, "%q points outside the pack directory", ep)
		return
	}
	if !l.fs.exists(rel) {
		if !skipExistence {
			f.fail(path, "%q does not exist (looked for %s in the pack)", ep, rel)
		}
		return
	}
	// It exists (maybe as a symlink): wherever it resolves must be inside
	// the pack, even when existence checks are off.
	real, err := filepath.EvalSymlinks(filepath.Join(l.fs.dir, filepath.FromSlash(rel)))
	if err != nil {
		if !skipExistence {
			f.fail(path, "%q cannot be resolved: %v", ep, err)
		}
		return
	}
	if !l.fs.within(real) {
		f.fail(path, "%q resolves outside the pack directory (to %s)", ep, real)
		return
	}
	if skipExistence {
		return
	}
	st, err := os.Stat(real)
	if err != nil {
		f.fail(path, "%q: %v", ep, err)
		return
	}
	if !st.Mode().IsRegular() {
		f.fail(path, "%q is not a regular file", ep)
	}
}
