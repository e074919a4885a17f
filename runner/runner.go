// Package runner describes StackStorm's built-in runner types as data: their
// names, runner_parameters, output key and output schema exactly as st2
// registers them, plus whether Squall can execute each one yet. Actions name a
// runner type; the param package merges its runner_parameters with the
// action's parameters, and the API serves the list at /api/v1/runnertypes.
package runner

import (
	_ "embed"
	"fmt"
	"slices"

	"gopkg.in/yaml.v3"

	"github.com/squall-automation/squall/pack"
)

// Type is one runner type.
type Type struct {
	Name        string   `json:"name"`
	Aliases     []string `json:"-"` // other names st2 registers the runner under
	Description string   `json:"description"`
	Enabled     bool     `json:"enabled"`
	// Supported says whether Squall's workers can run actions of this type.
	// Unsupported types are still listed so that packs using them load and
	// their actions validate; running one fails with a clear error.
	Supported        bool            `json:"supported"`
	RunnerPackage    string          `json:"runner_package"`
	RunnerModule     string          `json:"runner_module"`
	RunnerParameters pack.ParamSpecs `json:"runner_parameters"`
	OutputKey        string          `json:"output_key,omitempty"`
	OutputSchema     map[string]any  `json:"output_schema,omitempty"`
}

// Names of the runner types Squall executes. They are constants because the
// activities and workflows packages dispatch on them.
const (
	LocalShellCmd     = "local-shell-cmd"
	LocalShellScript  = "local-shell-script"
	RemoteShellCmd    = "remote-shell-cmd"
	RemoteShellScript = "remote-shell-script"
	PythonScript      = "python-script"
	HTTPRequest       = "http-request"
	Noop              = "noop"
	ActionChain       = "action-chain"
	Orquesta          = "orquesta"
	Inquirer          = "inquirer"
	Announcement      = "announcement"
	WinRMCmd          = "winrm-cmd"
	WinRMPSCmd        = "winrm-ps-cmd"
	WinRMPSScript     = "winrm-ps-script"
)

var supported = map[string]bool{
	LocalShellCmd:    true,
	LocalShellScript: true,
	Noop:             true,
	HTTPRequest:      true,
	PythonScript:     true,
}

//go:embed runners.yaml
var runnersYAML []byte

// types is parsed once; List and Get hand out deep copies so that no caller
// can change another caller's view of a runner.
var (
	types  []Type
	byName map[string]int
)

func init() {
	var err error
	types, err = parse(runnersYAML)
	if err != nil {
		// The file is embedded and covered by tests, so this only fires on a
		// broken build.
		panic(fmt.Sprintf("runner: embedded runners.yaml: %v", err))
	}
	byName = make(map[string]int, len(types)*2)
	for i, t := range types {
		byName[t.Name] = i
		for _, a := range t.Aliases {
			byName[a] = i
		}
	}
}

type fileEntry struct {
	Name             string         `yaml:"name"`
	Aliases          []string       `yaml:"aliases"`
	Description      string         `yaml:"description"`
	Enabled          bool           `yaml:"enabled"`
	RunnerPackage    string         `yaml:"runner_package"`
	RunnerModule     string         `yaml:"runner_module"`
	RunnerParameters map[string]any `yaml:"runner_parameters"`
	OutputKey        string         `yaml:"output_key"`
	OutputSchema     map[string]any `yaml:"output_schema"`
}

func parse(data []byte) ([]Type, error) {
	var entries []fileEntry
	if err := yaml.Unmarshal(data, &entries); err != nil {
		return nil, err
	}
	out := make([]Type, 0, len(entries))
	seen := map[string]bool{}
	for _, e := range entries {
		if e.Name == "" || e.RunnerModule == "" {
			return nil, fmt.Errorf("runner %q: name and runner_module are required", e.Name)
		}
		if seen[e.Name] {
			return nil, fmt.Errorf("runner %q declared twice", e.Name)
		}
		seen[e.Name] = true
		specs := make(pack.ParamSpecs, len(e.RunnerParameters))
		for name, raw := range e.RunnerParameters {
			spec, ok := raw.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("runner %q: parameter %q is not a mapping", e.Name, name)
			}
			specs[name] = spec
		}
		out = append(out, Type{
			Name:             e.Name,
			Aliases:          e.Aliases,
			Description:      e.Description,
			Enabled:          e.Enabled,
			Supported:        supported[e.Name],
			RunnerPackage:    e.RunnerPackage,
			RunnerModule:     e.RunnerModule,
			RunnerParameters: specs,
			OutputKey:        e.OutputKey,
			OutputSchema:     e.OutputSchema,
		})
	}
	return out, nil
}

// List returns every built-in runner type in a stable order (st2's
// contrib/runners order), each a private copy.
func List() []Type {
	out := make([]Type, len(types))
	for i, t := range types {
		out[i] = t.clone()
	}
	return out
}

// Get returns the runner type called name; st2's aliases (http-runner,
// orchestra) resolve to the type they stand for.
func Get(name string) (Type, bool) {
	i, ok := byName[name]
	if !ok {
		return Type{}, false
	}
	return types[i].clone(), true
}

// Names returns the canonical runner type names, in List order.
func Names() []string {
	out := make([]string, len(types))
	for i, t := range types {
		out[i] = t.Name
	}
	return out
}

// API is a runner type as /api/v1/runnertypes returns it (st2's
// RunnerTypeAPI). ID is whatever the catalog stores the type under.
type API struct {
	ID               string          `json:"id"`
	UID              string          `json:"uid"`
	Name             string          `json:"name"`
	Description      string          `json:"description"`
	Enabled          bool            `json:"enabled"`
	RunnerPackage    string          `json:"runner_package"`
	RunnerModule     string          `json:"runner_module"`
	RunnerParameters pack.ParamSpecs `json:"runner_parameters"`
	OutputKey        string          `json:"output_key,omitempty"`
	OutputSchema     map[string]any  `json:"output_schema,omitempty"`
}

// ToAPI returns t in the API shape under the given id. st2's uid for runner
// types is "runner_type:<name>".
func (t Type) ToAPI(id string) API {
	c := t.clone()
	params := c.RunnerParameters
	if params == nil {
		params = pack.ParamSpecs{}
	}
	return API{
		ID:               id,
		UID:              "runner_type:" + c.Name,
		Name:             c.Name,
		Description:      c.Description,
		Enabled:          c.Enabled,
		RunnerPackage:    c.RunnerPackage,
		RunnerModule:     c.RunnerModule,
		RunnerParameters: params,
		OutputKey:        c.OutputKey,
		OutputSchema:     c.OutputSchema,
	}
}

func (t Type) clone() Type {
	c := t
	c.Aliases = slices.Clone(t.Aliases)
	if t.RunnerParameters != nil {
		c.RunnerParameters = make(pack.ParamSpecs, len(t.RunnerParameters))
		for name, spec := range t.RunnerParameters {
			c.RunnerParameters[name] = deepCopyMap(spec)
		}
	}
	c.OutputSchema = deepCopyMap(t.OutputSchema)
	return c
}

func deepCopyMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = deepCopy(v)
	}
	return out
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return deepCopyMap(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = deepCopy(e)
		}
		return out
	default:
		return v
	}
}
