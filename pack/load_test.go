package pack

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/squall-automation/squall/internal/testenv"
)

// corpusDir is StackStorm's contrib packs (metadata only), the compatibility
// corpus every Squall build must load.
func corpusDir(t *testing.T) string {
	t.Helper()
	return testenv.ST2Packs(t)
}

func TestLoadCorpus(t *testing.T) {
	t.Parallel()
	base := corpusDir(t)
	// Counts derived from the files: top-level actions/*.yaml (workflows/ and
	// chains/ hold entry points), sensors/*.yaml, triggers/*.yaml plus the
	// sensors' inline trigger_types items, aliases/*.yaml, policies/*.yaml.
	tests := []struct {
		dir                                                   string
		ref, name                                             string
		actions, rules, sensors, triggerTypes, aliases, polic int
	}{
		{dir: "chatops", ref: "chatops", name: "chatops", actions: 6, rules: 2},
		{dir: "core", ref: "core", name: "core", actions: 16},
		{dir: "default", ref: "default", name: "default"},
		{dir: "examples", ref: "examples", name: "examples", actions: 117, rules: 6, sensors: 4, triggerTypes: 5, aliases: 1},
		{dir: "hello_st2", ref: "hello_st2", name: "Hello StackStorm", actions: 1, rules: 1, sensors: 1, triggerTypes: 1, aliases: 1, polic: 2},
		{dir: "linux", ref: "linux", name: "linux", actions: 19, sensors: 1, triggerTypes: 1},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			t.Parallel()
			p, err := Load(filepath.Join(base, tt.dir), LoadOptions{SkipEntryPointCheck: true})
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if p.Ref != tt.ref || p.Name != tt.name {
				t.Errorf("ref, name = %q, %q; want %q, %q", p.Ref, p.Name, tt.ref, tt.name)
			}
			got := []int{len(p.Actions), len(p.Rules), len(p.Sensors), len(p.TriggerTypes), len(p.Aliases), len(p.Policies)}
			want := []int{tt.actions, tt.rules, tt.sensors, tt.triggerTypes, tt.aliases, tt.polic}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("counts (actions, rules, sensors, trigger types, aliases, policies) = %v, want %v", got, want)
			}
			for _, a := range p.Actions {
				if a.Ref != p.Ref+"."+a.Name || a.Pack != p.Ref || a.RunnerType == "" || a.MetadataFile == "" {
					t.Errorf("action %+v: ref/pack/runner/metadata_file not set", a)
				}
			}
		})
	}
}

func TestLoadCorpusDetails(t *testing.T) {
	t.Parallel()
	base := corpusDir(t)
	opts := LoadOptions{SkipEntryPointCheck: true}

	linux, err := Load(filepath.Join(base, "linux"), opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := linux.TriggerTypes[0]; got.Ref != "linux.file_watch.line" || got.MetadataFile != "sensors/file_watch_sensor.yaml" || got.ParametersSchema == nil {
		t.Errorf("linux trigger type = %+v", got)
	}
	if got := linux.Sensors[0]; got.Ref != "linux.FileWatchSensor" || !reflect.DeepEqual(got.TriggerTypes, []string{"linux.file_watch.line"}) {
		t.Errorf("linux sensor = %+v", got)
	}

	ex, err := Load(filepath.Join(base, "examples"), opts)
	if err != nil {
		t.Fatal(err)
	}
	rules := map[string]Rule{}
	for _, r := range ex.Rules {
		rules[r.Name] = r
	}
	timer := rules["sample_rule_with_timer"]
	if timer.Enabled || timer.Trigger.Type != "core.st2.IntervalTimer" || timer.Action.Ref != "core.local" {
		t.Errorf("timer rule = %+v", timer)
	}
	// YAML integers decode as int64.
	if d := timer.Trigger.Parameters["delta"]; d != int64(5) {
		t.Errorf("delta = %#v, want int64(5)", d)
	}
	if c := rules["sample_rule_with_webhook"].Criteria["trigger.body.name"]; !reflect.DeepEqual(c, map[string]any{"pattern": "st2", "type": "equals"}) {
		t.Errorf("webhook criteria = %#v", c)
	}
	// config.schema.yaml defaults apply without a config file.
	if !reflect.DeepEqual(ex.Config, map[string]any{"region": "us-east-1"}) {
		t.Errorf("examples config = %#v", ex.Config)
	}
	var echochain *Action
	for i := range ex.Actions {
		if ex.Actions[i].Name == "echochain" {
			echochain = &ex.Actions[i]
		}
	}
	if echochain == nil || echochain.MetadataFile != "actions/echochain.meta.yaml" || echochain.EntryPoint != "chains/echochain.yaml" {
		t.Errorf("echochain = %+v", echochain)
	}

	hello, err := Load(filepath.Join(base, "hello_st2"), opts)
	if err != nil {
		t.Fatal(err)
	}
	if pol := hello.Policies[0]; pol.Ref != "hello_st2.greet.concurrency" || pol.Parameters["threshold"] != int64(10) || !pol.Enabled {
		t.Errorf("policy = %+v", pol)
	}
	if a := hello.Aliases[0]; a.ActionRef != "hello_st2.greet" || !reflect.DeepEqual(a.Formats, []any{"greet {{greeting}}"}) {
		t.Errorf("alias = %+v", a)
	}
}

func TestLoadAllCorpus(t *testing.T) {
	t.Parallel()
	base := corpusDir(t)
	results, err := LoadAll(base, LoadOptions{SkipEntryPointCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	var refs []string
	for _, r := range results {
		if r.Err != nil {
			t.Errorf("%s: %v", r.Dir, r.Err)
			continue
		}
		refs = append(refs, r.Pack.Ref)
	}
	want := []string{"chatops", "core", "default", "examples", "hello_st2", "linux"}
	if !reflect.DeepEqual(refs, want) {
		t.Errorf("refs = %v, want %v", refs, want)
	}
}

// The corpus has no scripts, so with the entry-point check on it must fail,
// naming the missing files; the bundled packs ship theirs and must pass.
func TestEntryPointCheckDefault(t *testing.T) {
	t.Parallel()
	base := corpusDir(t)
	_, err := Load(filepath.Join(base, "core"), LoadOptions{})
	want := []string{
		`actions/inject_trigger.yaml:6: entry_point: "inject_trigger.py" does not exist (looked for actions/inject_trigger.py in the pack)`,
		`actions/pause.yaml:6: entry_point: "pause.py" does not exist (looked for actions/pause.py in the pack)`,
		`actions/sendmail.yaml:5: entry_point: "send_mail/send_mail" does not exist (looked for actions/send_mail/send_mail in the pack)`,
		`actions/uuid.yaml:6: entry_point: "generate_uuid.py" does not exist (looked for actions/generate_uuid.py in the pack)`,
	}
	if got := problemStrings(t, err); !reflect.DeepEqual(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	results, err := LoadAll("../packs", LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(results) == 0 {
		t.Fatal("no bundled packs found in ../packs")
	}
	for _, r := range results {
		if r.Err != nil {
			t.Errorf("bundled pack %s: %v", r.Dir, r.Err)
		}
	}
}

func problemStrings(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		t.Fatal("Load succeeded, want a *LoadError")
	}
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("error %v (%T) is not a *LoadError", err, err)
	}
	out := make([]string, len(le.Problems))
	for i, p := range le.Problems {
		out[i] = p.String()
	}
	return out
}

const manifest = "---\nname: demo\ndescription: Demo pack\nversion: 0.1.0\nauthor: Squall\n"

// writePack creates a pack from file contents; "pack.yaml" defaults to a
// valid manifest. A nil-content entry is skipped.
func writePack(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "demo")
	if _, ok := files[PackFile]; !ok {
		files[PackFile] = manifest
	}
	for name, content := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadProblems(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{
			name:  "malformed YAML",
			files: map[string]string{"actions/bad.yaml": "name: bad\nrunner_type: local-shell-cmd\nparameters:\n  cmd: {type: string\n"},
			want:  []string{"actions/bad.yaml:4: invalid YAML: did not find expected ',' or '}'"},
		},
		{
			name:  "invalid parameter type",
			files: map[string]string{"actions/bad.yaml": "---\nname: bad\nrunner_type: local-shell-cmd\nparameters:\n  cmd:\n    required: true\n    type: strng\n"},
			want:  []string{`actions/bad.yaml:7: parameters.cmd.type: "strng" is not a valid type (string, integer, number, boolean, object, array, null)`},
		},
		{
			name:  "parameters not a mapping",
			files: map[string]string{"actions/bad.yaml": "name: bad\nrunner_type: local-shell-cmd\nparameters:\n  - cmd\n"},
			want:  []string{"actions/bad.yaml:4: parameters: must be a mapping, not list"},
		},
		{
			name:  "runner_type and name missing",
			files: map[string]string{"actions/bad.yml": "---\ndescription: nothing here\n"},
			want: []string{
				"actions/bad.yml:2: name: required field is missing",
				"actions/bad.yml:2: runner_type: required field is missing",
			},
		},
		{
			name: "duplicate action names",
			files: map[string]string{
				"actions/a.yaml": "name: same\nrunner_type: noop\n",
				"actions/b.yaml": "name: same\nrunner_type: noop\n",
			},
			want: []string{`actions/b.yaml:1: name: duplicate action name "same" (also defined in actions/a.yaml)`},
		},
		{
			name: "enum and default mismatches",
			files: map[string]string{"actions/bad.yaml": "name: bad\nrunner_type: noop\nparameters:\n" +
				"  method:\n    type: string\n    enum: [GET, POST]\n    default: PUT\n" +
				"  timeout:\n    type: integer\n    default: \"soon\"\n" +
				"  rendered:\n    type: integer\n    default: \"{{ config_context.timeout }}\"\n"},
			want: []string{
				`actions/bad.yaml:7: parameters.method.default: "PUT" is not one of the enum values [GET POST]`,
				`actions/bad.yaml:10: parameters.timeout.default: "soon" does not match type integer`,
			},
		},
		{
			name: "positions must be unique and contiguous",
			files: map[string]string{
				"actions/dup.yaml": "name: dup\nrunner_type: noop\nparameters:\n  a: {type: string, position: 0}\n  b: {type: string, position: 0}\n",
				"actions/gap.yaml": "name: gap\nrunner_type: noop\nparameters:\n  a: {type: string, position: 0}\n  b: {type: string, position: 2}\n",
			},
			want: []string{
				`actions/dup.yaml:5: parameters.b.position: position 0 is already used by parameter "a"; positions must be unique`,
				`actions/gap.yaml:4: parameters: parameter positions [0 2] are not contiguous`,
			},
		},
		{
			name:  "unknown field, wrong pack, script runner without entry point",
			files: map[string]string{"actions/bad.yaml": "name: bad\npack: other\nrunner_type: python-script\nentrypoint: run.py\nenabled: \"yes\"\n"},
			want: []string{
				`actions/bad.yaml:1: entry_point: required for runner type "python-script"`,
				`actions/bad.yaml:2: pack: is "other" but the file is in pack "demo"; remove the field or make it match`,
				`actions/bad.yaml:4: entrypoint: unknown field for an action (allowed: description, enabled, entry_point, id, metadata_file, name, notify, output_schema, pack, parameters, ref, runner_type, tags, uid)`,
				`actions/bad.yaml:5: enabled: must be a boolean (true or false), not string`,
			},
		},
		{
			name:  "duplicate YAML key",
			files: map[string]string{"actions/bad.yaml": "name: bad\nrunner_type: noop\nname: again\n"},
			want:  []string{`actions/bad.yaml:3: duplicate key "name"`},
		},
		{
			name:  "top level not a mapping",
			files: map[string]string{"rules/bad.yaml": "- name: r\n"},
			want:  []string{"rules/bad.yaml:1: top level must be a mapping, not a list"},
		},
		{
			name:  "empty file",
			files: map[string]string{"rules/empty.yaml": "---\n# nothing\n"},
			want:  []string{"rules/empty.yaml: file is empty"},
		},
		{
			name: "rule without trigger type or action ref, bad criteria",
			files: map[string]string{
				"rules/a.yaml": "name: a\ntrigger:\n  parameters: {}\naction:\n  parameters: {}\ncriteria:\n  - trigger.x\n",
				"rules/b.yaml": "name: b\ntrigger: {type: core.st2.webhook}\naction: {ref: core.local}\ncriteria:\n  trigger.body.x:\n    type: equal\n    pattern: 1\n  trigger.body.y: oops\ntype:\n  ref: sometimes\n",
				"rules/c.yaml": "name: c\ndescription: no trigger and no action\n",
			},
			want: []string{
				"rules/a.yaml:3: trigger.type: required field is missing",
				"rules/a.yaml:5: action.ref: required field is missing",
				"rules/a.yaml:7: criteria: must be a mapping, not list",
				`rules/b.yaml:6: criteria["trigger.body.x"].type: "equal" is not a criteria operator (contains, endswith, eq, equals, exists, greaterthan, gt, icontains, iendswith, ieq, iequals, in, incontains, inside, iregex, istartswith, lessthan, lt, matchregex, matchwildcard, ncontains, neq, nequals, nexists, nin, ninside, regex, search, startswith, td_gt, td_lt, timediff_gt, timediff_lt)`,
				`rules/b.yaml:8: criteria["trigger.body.y"]: must be a mapping with type and pattern, not string`,
				`rules/b.yaml:10: type.ref: "sometimes" is not a rule type (standard, backstop)`,
				"rules/c.yaml:1: trigger: required field is missing (trigger: {type: <trigger type ref>})",
				"rules/c.yaml:1: action: required field is missing (action: {ref: <action ref>})",
			},
		},
		{
			name: "sensor, trigger type, alias and policy problems",
			files: map[string]string{
				"sensors/s.yaml":  "class_name: S\nentry_point: s.py\ntrigger_types:\n  - name: ev\n  - ev2\n",
				"triggers/t.yaml": "name: ev\npayload_schema: {type: objekt}\n",
				"aliases/a.yaml":  "name: a\nformats:\n  - 42\n",
				"policies/p.yaml": "name: p\nresource_ref: demo.x\n",
			},
			want: []string{
				"aliases/a.yaml:1: action_ref: required field is missing",
				"aliases/a.yaml:3: formats[0]: must be a string or a mapping with display and representation, not integer",
				"policies/p.yaml:1: policy_type: required field is missing",
				`sensors/s.yaml:4: trigger_types[0].name: duplicate trigger type name "ev" (also defined in triggers/t.yaml)`,
				"sensors/s.yaml:5: trigger_types[1]: must be a trigger type definition (a mapping with name, payload_schema, ...), not string",
				`triggers/t.yaml:2: payload_schema.type: "objekt" is not a valid type (string, integer, number, boolean, object, array, null)`,
			},
		},
		{
			name: "pack.yaml without name; content is still checked",
			files: map[string]string{
				PackFile:         "---\ndescription: d\nversion: 1.0.0\nauthor: a\n",
				"actions/a.yaml": "name: a\n",
			},
			want: []string{
				"actions/a.yaml:1: runner_type: required field is missing",
				"pack.yaml:2: name: required field is missing",
			},
		},
		{
			name:  "pack name not usable as ref, bad version, missing author",
			files: map[string]string{PackFile: "name: My Pack\ndescription: d\nversion: 1.x\n"},
			want: []string{
				"pack.yaml:1: author: required field is missing",
				`pack.yaml:1: name: "My Pack" cannot be used as the pack ref (only lowercase letters, digits and _ are allowed); add a ref field`,
				`pack.yaml:3: version: "1.x" is not a valid semver version (for instance 0.1.0 or 1.2.3)`,
			},
		},
		{
			name:  "invalid ref",
			files: map[string]string{PackFile: "ref: my-pack\nname: My Pack\ndescription: d\nversion: 1.0.0\nauthor: a\n"},
			want:  []string{`pack.yaml:1: ref: "my-pack" is not a valid pack ref: only lowercase letters, digits and _ are allowed`},
		},
		{
			name:  "oversized metadata file",
			files: map[string]string{"actions/big.yaml": "name: big\nrunner_type: noop\ndescription: " + strings.Repeat("x", MaxMetadataFileSize-41) + "\n"},
			want:  []string{"actions/big.yaml: file is 1048577 bytes; metadata files are limited to 1048576 bytes (1 MiB)"},
		},
		{
			name: "entry point path tricks",
			files: map[string]string{
				"actions/up.yaml":  "name: up\nrunner_type: local-shell-script\nentry_point: ../../etc/passwd\n",
				"actions/abs.yaml": "name: abs\nrunner_type: local-shell-script\nentry_point: /etc/passwd\n",
				"sensors/s.yaml":   "class_name: S\nentry_point: ../../../s.py\n",
			},
			want: []string{
				`actions/abs.yaml:3: entry_point: "/etc/passwd" is an absolute path; entry points are relative to <pack>/actions`,
				`actions/up.yaml:3: entry_point: "../../etc/passwd" points outside the pack directory`,
				`sensors/s.yaml:2: entry_point: "../../../s.py" points outside the pack directory`,
			},
		},
		{
			name: "non-finite number",
			files: map[string]string{
				"actions/a.yaml": "name: a\nrunner_type: noop\nparameters:\n  x: {type: number, default: .inf}\n",
			},
			want: []string{`actions/a.yaml:4: parameters.x.default: ".inf" cannot be represented in JSON; quote it to make it a string`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := writePack(t, tt.files)
			_, err := Load(dir, LoadOptions{SkipEntryPointCheck: true})
			got := problemStrings(t, err)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if !strings.Contains(err.Error(), tt.want[0]) {
				t.Errorf("Error() = %q does not mention %q", err.Error(), tt.want[0])
			}
		})
	}
}

func TestSymlinksOutOfPack(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret.yaml")
	if err := os.WriteFile(secret, []byte("name: stolen\nrunner_type: noop\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(outside, "run.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	dir := writePack(t, map[string]string{
		"actions/ok.yaml":    "name: ok\nrunner_type: local-shell-script\nentry_point: run.sh\n",
		"actions/inner.yaml": "name: inner\nrunner_type: local-shell-script\nentry_point: real.sh\n",
		"actions/real.sh":    "#!/bin/sh\n",
	})
	links := map[string]string{
		"actions/evil.yaml": secret,  // metadata file leaving the pack
		"actions/run.sh":    script,  // entry point leaving the pack
		"rules":             outside, // a whole content directory leaving the pack
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dir, filepath.FromSlash(name))); err != nil {
			t.Skipf("symlinks not supported: %v", err)
		}
	}
	// A symlink that stays inside the pack is fine.
	if err := os.Symlink("real.sh", filepath.Join(dir, "actions", "inner.sh")); err != nil {
		t.Fatal(err)
	}
	for _, skip := range []bool{false, true} {
		_, err := Load(dir, LoadOptions{SkipEntryPointCheck: skip})
		got := problemStrings(t, err)
		want := []string{
			"actions/evil.yaml: symlink points outside the pack directory (to " + mustReal(t, secret) + ")",
			`actions/ok.yaml:3: entry_point: "run.sh" resolves outside the pack directory (to ` + mustReal(t, script) + ")",
			"rules: symlink points outside the pack directory (to " + mustReal(t, outside) + ")",
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("skip=%v problems:\n%s\nwant:\n%s", skip, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

func mustReal(t *testing.T, p string) string {
	t.Helper()
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestEntryPointExistence(t *testing.T) {
	t.Parallel()
	files := map[string]string{
		"actions/wf.yaml":           "name: wf\nrunner_type: orquesta\nentry_point: workflows/wf.yaml\n",
		"actions/workflows/wf.yaml": "version: 1.0\ntasks: {}\n", // an entry point, not metadata
		"actions/cmd.yaml":          "name: cmd\nrunner_type: local-shell-cmd\nentry_point: not-needed.sh\n",
		"actions/py.yaml":           "name: py\nrunner_type: python-script\nentry_point: missing.py\n",
		"actions/dir.yaml":          "name: dir\nrunner_type: python-script\nentry_point: workflows\n",
		"sensors/s.yaml":            "class_name: S\nentry_point: s.py\n",
		"sensors/s.py":              "class S: pass\n",
	}
	dir := writePack(t, files)
	_, err := Load(dir, LoadOptions{})
	want := []string{
		`actions/dir.yaml:3: entry_point: "workflows" is not a regular file`,
		`actions/py.yaml:3: entry_point: "missing.py" does not exist (looked for actions/missing.py in the pack)`,
	}
	if got := problemStrings(t, err); !reflect.DeepEqual(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	p, err := Load(dir, LoadOptions{SkipEntryPointCheck: true})
	if err != nil {
		t.Fatalf("with SkipEntryPointCheck: %v", err)
	}
	if len(p.Actions) != 4 {
		t.Errorf("got %d actions, want 4 (workflows/*.yaml is not metadata)", len(p.Actions))
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	schema := `---
api_key:
  type: string
  secret: true
  required: true
region:
  type: string
  default: us-east-1
  enum: [us-east-1, eu-west-1]
retries:
  type: integer
  default: 3
auth:
  type: object
  properties:
    user:
      type: string
      default: stanley
    tls:
      type: object
      properties:
        verify: {type: boolean, default: true}
servers:
  type: array
  items:
    type: object
    properties:
      host: {type: string, required: true}
      port: {type: integer, default: 22}
labels:
  type: object
  additionalProperties:
    type: object
    properties:
      color: {type: string, default: blue}
`
	tests := []struct {
		name      string
		local     string // <pack>/config.yaml
		external  string // <configs>/demo.yaml
		want      map[string]any
		wantProbs []string
	}{
		{
			name: "defaults without a config file, nested objects created",
			want: map[string]any{
				"region":  "us-east-1",
				"retries": int64(3),
				"auth":    map[string]any{"user": "stanley", "tls": map[string]any{"verify": true}},
				"servers": []any{},
				"labels":  map[string]any{},
			},
		},
		{
			name:     "external config overrides local; defaults fill the rest",
			local:    "api_key: local\nregion: eu-west-1\n",
			external: "api_key: \"{{ st2kv.system.api_key | decrypt_kv }}\"\nretries: \"{{ st2kv.system.retries }}\"\nauth:\n  tls: {}\nservers:\n  - host: a\n  - host: b\n    port: 2222\nlabels:\n  prod: {}\n",
			want: map[string]any{
				"api_key": "{{ st2kv.system.api_key | decrypt_kv }}",
				"region":  "eu-west-1",
				"retries": "{{ st2kv.system.retries }}",
				"auth":    map[string]any{"user": "stanley", "tls": map[string]any{"verify": true}},
				"servers": []any{
					map[string]any{"host": "a", "port": int64(22)},
					map[string]any{"host": "b", "port": int64(2222)},
				},
				"labels": map[string]any{"prod": map[string]any{"color": "blue"}},
			},
		},
		{
			name:     "config values checked against the schema",
			external: "region: mars\nretries: many\nservers:\n  - port: 1\nauth:\n  tls:\n    verify: \"no\"\n",
			wantProbs: []string{
				"CONFIG:1: region: \"mars\" is not one of [us-east-1 eu-west-1]",
				"CONFIG:1: api_key: required config value is missing and the schema gives no default",
				"CONFIG:2: retries: must be integer, not \"many\"",
				"CONFIG:4: servers[0].host: required config value is missing and the schema gives no default",
				"CONFIG:7: auth.tls.verify: must be boolean, not \"no\"",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			files := map[string]string{ConfigSchemaFile: schema}
			if tt.local != "" {
				files[LocalConfigFile] = tt.local
			}
			dir := writePack(t, files)
			configs := t.TempDir()
			cfgPath := filepath.Join(configs, "demo.yaml")
			if tt.external != "" {
				if err := os.WriteFile(cfgPath, []byte(tt.external), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			p, err := Load(dir, LoadOptions{ConfigsDir: configs})
			if tt.wantProbs != nil {
				got := problemStrings(t, err)
				var want []string
				for _, w := range tt.wantProbs {
					want = append(want, strings.Replace(w, "CONFIG", cfgPath, 1))
				}
				// Problems sort by file then line; ties keep discovery order.
				if !sameSet(got, want) {
					t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(p.Config, tt.want) {
				t.Errorf("config = %#v\nwant %#v", p.Config, tt.want)
			}
			// Defaults are copies: changing the config leaves the schema alone.
			p.Config["auth"].(map[string]any)["user"] = "changed"
			if p.ConfigSchema["auth"].(map[string]any)["properties"].(map[string]any)["user"].(map[string]any)["default"] != "stanley" {
				t.Error("config shares maps with the config schema")
			}
		})
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]int{}
	for _, s := range a {
		seen[s]++
	}
	for _, s := range b {
		seen[s]--
	}
	for _, n := range seen {
		if n != 0 {
			return false
		}
	}
	return true
}

func TestDecodeYAML(t *testing.T) {
	t.Parallel()
	src := `---
base: &base
  a: 1
  b: two
merged:
  <<: *base
  b: three
ints: [0x1F, 18446744073709551616, -3]
float: 1.5
when: 2014-07-30 05:04:24
nothing: ~
yes_is_a_string: yes
bool: true
`
	root, _, err := parseYAML([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	v, errs := decodeYAML(root)
	if len(errs) != 0 {
		t.Fatalf("decode errors: %+v", errs)
	}
	want := map[string]any{
		"base":            map[string]any{"a": int64(1), "b": "two"},
		"merged":          map[string]any{"a": int64(1), "b": "three"},
		"ints":            []any{int64(31), float64(18446744073709551616), int64(-3)},
		"float":           1.5,
		"when":            "2014-07-30 05:04:24",
		"nothing":         nil,
		"yes_is_a_string": "yes",
		"bool":            true,
	}
	if !reflect.DeepEqual(v, want) {
		t.Errorf("decoded = %#v\nwant %#v", v, want)
	}
}

func TestAliasBomb(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 9; i++ {
		b.WriteString("a" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [")
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a" + string(rune('0'+i-1)))
		}
		b.WriteString("]\n")
	}
	dir := writePack(t, map[string]string{"actions/bomb.yaml": b.String()})
	_, err := Load(dir, LoadOptions{})
	got := problemStrings(t, err)
	if len(got) == 0 || !strings.Contains(strings.Join(got, "\n"), "alias bomb") {
		t.Errorf("problems = %v, want an alias bomb report", got)
	}
}

func TestLoadAllDuplicateRefs(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	for _, d := range []string{"a", "b"} {
		if err := os.MkdirAll(filepath.Join(base, d), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(base, d, PackFile), []byte(manifest), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Not a pack: no pack.yaml.
	if err := os.MkdirAll(filepath.Join(base, "notes"), 0o755); err != nil {
		t.Fatal(err)
	}
	results, err := LoadAll(base, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 2 {
		t.Fatalf("got %d results, want 2", len(results))
	}
	if results[0].Err != nil || results[0].Pack.Ref != "demo" {
		t.Errorf("first = %+v", results[0])
	}
	got := problemStrings(t, results[1].Err)
	want := []string{`pack.yaml: pack ref "demo" is already used by the pack in ` + filepath.Join(base, "a")}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problems = %v, want %v", got, want)
	}
}

func TestLoadNotADirectory(t *testing.T) {
	t.Parallel()
	_, err := Load(filepath.Join(t.TempDir(), "missing"), LoadOptions{})
	var le *LoadError
	if err == nil || errors.As(err, &le) {
		t.Errorf("err = %v, want a plain error for a missing directory", err)
	}
	dir := t.TempDir()
	_, err = Load(dir, LoadOptions{})
	if got := problemStrings(t, err); !reflect.DeepEqual(got, []string{"pack.yaml: pack.yaml is missing; every pack needs one"}) {
		t.Errorf("problems = %v", got)
	}
}

func TestMetadataFileAtSizeLimit(t *testing.T) {
	t.Parallel()
	prefix := "name: big\nrunner_type: noop\ndescription: "
	dir := writePack(t, map[string]string{
		"actions/big.yaml": prefix + strings.Repeat("x", MaxMetadataFileSize-len(prefix)-1) + "\n",
	})
	p, err := Load(dir, LoadOptions{})
	if err != nil {
		t.Fatalf("a file of exactly %d bytes must load: %v", MaxMetadataFileSize, err)
	}
	if len(p.Actions) != 1 {
		t.Errorf("got %d actions", len(p.Actions))
	}
}
