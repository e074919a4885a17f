// Package pack reads StackStorm packs from disk: pack.yaml and the content
// directories (actions, rules, sensors, triggers, aliases, policies) plus the
// pack's config schema and config. It validates as it reads and never touches
// a database; the catalog package stores what it returns.
//
// Load reads one pack directory in StackStorm's layout, unchanged; LoadAll
// reads every pack under a base directory. Problems are collected, not
// returned at the first one: a *LoadError lists each as file:line: message,
// with files relative to the pack directory.
//
// Decisions worth knowing (st2's behaviour unless noted):
//   - Metadata is read from the top level of each content directory only
//     (*.yaml, *.yml, *.json, as st2's ALLOWED_EXTS); actions/workflows/ and
//     actions/chains/ hold entry points. actions/config.* is skipped.
//   - Decoded YAML is JSON-compatible: mappings are map[string]any, integers
//     int64 (float64 past int64), floats float64, timestamps stay strings.
//   - The pack ref is pack.yaml's ref, else its name when that matches
//     [a-z0-9_]+. A resource's own pack: field must equal the pack ref; it
//     never moves the resource. Refs are <pack ref>.<name>.
//   - Actions, sensors, aliases and policies default to enabled; rules
//     default to disabled, as st2's RuleAPI does.
//   - Entry points must stay inside the pack; whether they exist is checked
//     for runners that execute them unless LoadOptions.SkipEntryPointCheck.
//   - Every metadata file is capped at MaxMetadataFileSize (1 MiB); symlinks
//     that resolve outside the pack are refused.
//   - Runner types are not resolved here (runner imports pack); an unknown
//     runner_type is for the catalog to refuse at registration.
package pack

// ParamSpecs maps a parameter name to its JSON-schema-like definition exactly
// as written in the metadata file (type, description, required, default, enum,
// immutable, secret, position, ...). The param package interprets it.
type ParamSpecs map[string]map[string]any

// Pack is one loaded pack with all of its content.
type Pack struct {
	Ref            string         `json:"ref"`
	Name           string         `json:"name"`
	Description    string         `json:"description"`
	Version        string         `json:"version"`
	Author         string         `json:"author,omitempty"`
	Email          string         `json:"email,omitempty"`
	Keywords       []string       `json:"keywords,omitempty"`
	Dependencies   []string       `json:"dependencies,omitempty"`
	PythonVersions []string       `json:"python_versions,omitempty"`
	Path           string         `json:"path"`     // absolute directory the pack was read from
	Metadata       map[string]any `json:"metadata"` // pack.yaml as written
	ConfigSchema   map[string]any `json:"config_schema,omitempty"`
	// Config is the pack's config (<configs_dir>/<pack>.yaml or config.yaml in
	// the pack) with the schema's defaults applied, as st2 does.
	Config map[string]any `json:"config,omitempty"`

	Actions      []Action      `json:"actions"`
	Rules        []Rule        `json:"rules"`
	Sensors      []Sensor      `json:"sensors"`
	TriggerTypes []TriggerType `json:"trigger_types"`
	Aliases      []Alias       `json:"aliases"`
	Policies     []Policy      `json:"policies"`
}

// Action is an action's metadata (actions/*.yaml).
type Action struct {
	Name         string         `json:"name"`
	Pack         string         `json:"pack"`
	Ref          string         `json:"ref"` // pack.name
	Description  string         `json:"description"`
	Enabled      bool           `json:"enabled"`
	EntryPoint   string         `json:"entry_point"` // relative to <pack>/actions
	RunnerType   string         `json:"runner_type"`
	Parameters   ParamSpecs     `json:"parameters"`
	OutputSchema map[string]any `json:"output_schema,omitempty"`
	Notify       map[string]any `json:"notify,omitempty"`
	Tags         []any          `json:"tags,omitempty"`
	MetadataFile string         `json:"metadata_file"` // relative to the pack dir
	Raw          map[string]any `json:"-"`
}

// Rule is a rule's metadata (rules/*.yaml), StackStorm's format.
type Rule struct {
	Name         string         `json:"name"`
	Pack         string         `json:"pack"`
	Ref          string         `json:"ref"`
	Description  string         `json:"description"`
	Enabled      bool           `json:"enabled"`
	Trigger      RuleTrigger    `json:"trigger"`
	Criteria     map[string]any `json:"criteria"`
	Action       RuleAction     `json:"action"`
	Type         map[string]any `json:"type,omitempty"` // {ref: standard|backstop, parameters}
	Context      map[string]any `json:"context,omitempty"`
	When         string         `json:"when,omitempty"`  // Squall: CEL condition
	Dedup        map[string]any `json:"dedup,omitempty"` // Squall: {key, window}
	MetadataFile string         `json:"metadata_file"`
	Raw          map[string]any `json:"-"`
}

type RuleTrigger struct {
	Type        string         `json:"type"`
	Parameters  map[string]any `json:"parameters,omitempty"`
	Description string         `json:"description,omitempty"`
}

type RuleAction struct {
	Ref         string         `json:"ref"`
	Parameters  map[string]any `json:"parameters,omitempty"`
	Description string         `json:"description,omitempty"`
}

// Sensor is a sensor's metadata (sensors/*.yaml).
type Sensor struct {
	Name         string         `json:"name"` // class_name
	Pack         string         `json:"pack"`
	Ref          string         `json:"ref"`
	Description  string         `json:"description"`
	Enabled      bool           `json:"enabled"`
	EntryPoint   string         `json:"entry_point"` // relative to <pack>/sensors
	ClassName    string         `json:"class_name"`
	PollInterval int            `json:"poll_interval,omitempty"`
	TriggerTypes []string       `json:"trigger_types"` // refs of the trigger types it emits
	MetadataFile string         `json:"metadata_file"`
	Raw          map[string]any `json:"-"`
}

// TriggerType is a trigger type declared in triggers/*.yaml or inline in a
// sensor's metadata.
type TriggerType struct {
	Name             string         `json:"name"`
	Pack             string         `json:"pack"`
	Ref              string         `json:"ref"`
	Description      string         `json:"description"`
	PayloadSchema    map[string]any `json:"payload_schema,omitempty"`
	ParametersSchema map[string]any `json:"parameters_schema,omitempty"`
	Tags             []any          `json:"tags,omitempty"`
	MetadataFile     string         `json:"metadata_file"`
	Raw              map[string]any `json:"-"`
}

// Alias is an action alias (aliases/*.yaml) for ChatOps.
type Alias struct {
	Name        string `json:"name"`
	Pack        string `json:"pack"`
	Ref         string `json:"ref"`
	Description string `json:"description"`
	Enabled     bool   `json:"enabled"`
	ActionRef   string `json:"action_ref"`
	Formats     []any  `json:"formats"`
	// Ack, Result and Extra shape the chat replies; ImmutableParameters are
	// passed to the action whatever the user typed.
	Ack                 map[string]any `json:"ack,omitempty"`
	Result              map[string]any `json:"result,omitempty"`
	Extra               map[string]any `json:"extra,omitempty"`
	ImmutableParameters map[string]any `json:"immutable_parameters,omitempty"`
	MetadataFile        string         `json:"metadata_file"`
	Raw                 map[string]any `json:"-"`
}

// Policy is an action policy (policies/*.yaml), e.g. concurrency or retry.
type Policy struct {
	Name         string         `json:"name"`
	Pack         string         `json:"pack"`
	Ref          string         `json:"ref"`
	Description  string         `json:"description"`
	Enabled      bool           `json:"enabled"`
	ResourceRef  string         `json:"resource_ref"`
	PolicyType   string         `json:"policy_type"`
	Parameters   map[string]any `json:"parameters,omitempty"`
	MetadataFile string         `json:"metadata_file"`
	Raw          map[string]any `json:"-"`
}
