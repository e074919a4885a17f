package pack

import (
	"fmt"
	"math"
	"strings"
)

// entryPointRunners are the runner types whose actions run a file from the
// pack (a script, a Python module, a workflow definition), so an action of
// one of them without an entry_point can never run.
var entryPointRunners = map[string]bool{
	"local-shell-script":  true,
	"remote-shell-script": true,
	"python-script":       true,
	"orquesta":            true,
	"action-chain":        true,
	"winrm-ps-script":     true,
}

// EntryPointRequired reports whether actions of runnerType need an entry point.
func EntryPointRequired(runnerType string) bool { return entryPointRunners[runnerType] }

// Allowed top-level keys per resource, from st2's API schemas (which set
// additionalProperties: false). id, ref, uid and metadata_file are computed by
// st2 and tolerated when written.
var (
	actionKeys = keySet("id", "ref", "uid", "name", "description", "enabled", "runner_type",
		"entry_point", "pack", "parameters", "output_schema", "tags", "notify", "metadata_file")
	notifyKeys  = keySet("on-complete", "on-failure", "on-success")
	triggerKeys = keySet("id", "ref", "uid", "name", "pack", "description", "payload_schema",
		"parameters_schema", "tags", "metadata_file")
	sensorKeys = keySet("id", "ref", "uid", "name", "class_name", "pack", "description",
		"artifact_uri", "entry_point", "enabled", "trigger_types", "poll_interval", "metadata_file")
	ruleKeys = keySet("id", "ref", "uid", "name", "pack", "description", "type", "trigger",
		"criteria", "action", "enabled", "context", "tags", "metadata_file",
		"when", "dedup") // when, dedup: Squall extensions
	ruleActionKeys = keySet("ref", "parameters", "description")
	ruleTypeKeys   = keySet("ref", "parameters")
	aliasKeys      = keySet("id", "ref", "uid", "name", "pack", "description", "enabled",
		"action_ref", "formats", "ack", "result", "extra", "immutable_parameters", "metadata_file")
	policyKeys = keySet("id", "ref", "uid", "name", "pack", "description", "enabled",
		"resource_ref", "policy_type", "parameters", "metadata_file")
)

// criteriaOperators are st2's rule criteria operators (st2common/operators.py).
var criteriaOperators = keySet(
	"matchwildcard", "matchregex", "regex", "iregex",
	"eq", "equals", "neq", "nequals", "ieq", "iequals",
	"contains", "icontains", "ncontains", "incontains",
	"startswith", "istartswith", "endswith", "iendswith",
	"lt", "lessthan", "gt", "greaterthan",
	"td_lt", "timediff_lt", "td_gt", "timediff_gt",
	"exists", "nexists", "inside", "in", "ninside", "nin", "search",
)

// ruleTypes are st2's rule types.
var ruleTypes = keySet("standard", "backstop")

// readActions reads actions/*.{yaml,yml,json} except st2's reserved
// actions/config.* file.
func (l *loader) readActions(p *Pack) {
	names := newDupCheck("action")
	p.Actions = []Action{}
	for _, f := range l.loadContent("actions") {
		base := f.doc.file[strings.LastIndex(f.doc.file, "/")+1:]
		if strings.HasPrefix(base, "config.") && hasMetadataExt(base) && strings.Count(base, ".") == 1 {
			continue
		}
		m := decodeDoc(f.doc, l.probs)
		if m == nil {
			continue
		}
		f.unknownKeys(m, nil, actionKeys, "an action")
		l.checkPackField(f, m, nil)
		a := Action{
			Name:         f.str(m, nil, "name", true),
			Pack:         p.Ref,
			Description:  f.str(m, nil, "description", false),
			Enabled:      f.boolean(m, nil, "enabled", true),
			EntryPoint:   f.str(m, nil, "entry_point", false),
			RunnerType:   f.str(m, nil, "runner_type", true),
			OutputSchema: f.mapping(m, nil, "output_schema"),
			Notify:       f.mapping(m, nil, "notify"),
			Tags:         f.tags(m, nil),
			MetadataFile: f.doc.file,
			Raw:          m,
		}
		a.Ref = l.ref(a.Name)
		if _, has := m["parameters"]; has {
			params := f.mapping(m, nil, "parameters")
			a.Parameters = f.paramSpecs(params, []string{"parameters"}, true)
		} else {
			a.Parameters = ParamSpecs{}
		}
		if a.Notify != nil {
			f.unknownKeys(a.Notify, []string{"notify"}, notifyKeys, "notify")
		}
		if a.OutputSchema != nil {
			f.schemaNode(a.OutputSchema, []string{"output_schema"}, false)
		}
		if entryPointRunners[a.RunnerType] && a.EntryPoint == "" {
			f.fail([]string{"entry_point"}, "required for runner type %q", a.RunnerType)
		}
		l.checkEntryPoint(f, []string{"entry_point"}, "actions", a.EntryPoint, entryPointRunners[a.RunnerType])
		if names.add(f, []string{"name"}, a.Name) {
			p.Actions = append(p.Actions, a)
		}
	}
}

// triggerType reads one trigger type definition (a triggers/ file or an item
// of a sensor's trigger_types).
func (l *loader) triggerType(f *fileCheck, m map[string]any, path []string) TriggerType {
	f.unknownKeys(m, path, triggerKeys, "a trigger type")
	l.checkPackField(f, m, path)
	t := TriggerType{
		Name:             f.str(m, path, "name", true),
		Pack:             l.pack.Ref,
		Description:      f.str(m, path, "description", false),
		PayloadSchema:    f.mapping(m, path, "payload_schema"),
		ParametersSchema: f.mapping(m, path, "parameters_schema"),
		Tags:             f.tags(m, path),
		MetadataFile:     f.doc.file,
		Raw:              m,
	}
	t.Ref = l.ref(t.Name)
	if t.PayloadSchema != nil {
		f.schemaNode(t.PayloadSchema, join(path, "payload_schema"), false)
	}
	if t.ParametersSchema != nil {
		f.schemaNode(t.ParametersSchema, join(path, "parameters_schema"), false)
	}
	return t
}

func (l *loader) triggerNames() *dupCheck {
	if l.triggerDup == nil {
		l.triggerDup = newDupCheck("trigger type")
	}
	return l.triggerDup
}

// readTriggers reads triggers/*.yaml.
func (l *loader) readTriggers(p *Pack) {
	p.TriggerTypes = []TriggerType{}
	for _, f := range l.loadContent("triggers") {
		m := decodeDoc(f.doc, l.probs)
		if m == nil {
			continue
		}
		t := l.triggerType(f, m, nil)
		if l.triggerNames().add(f, []string{"name"}, t.Name) {
			p.TriggerTypes = append(p.TriggerTypes, t)
		}
	}
}

// readSensors reads sensors/*.yaml; trigger types declared inline become
// TriggerTypes of the pack.
func (l *loader) readSensors(p *Pack) {
	names := newDupCheck("sensor")
	p.Sensors = []Sensor{}
	for _, f := range l.loadContent("sensors") {
		m := decodeDoc(f.doc, l.probs)
		if m == nil {
			continue
		}
		f.unknownKeys(m, nil, sensorKeys, "a sensor")
		l.checkPackField(f, m, nil)
		s := Sensor{
			Pack:         p.Ref,
			Description:  f.str(m, nil, "description", false),
			Enabled:      f.boolean(m, nil, "enabled", true),
			EntryPoint:   f.str(m, nil, "entry_point", true),
			ClassName:    f.str(m, nil, "class_name", true),
			TriggerTypes: []string{},
			MetadataFile: f.doc.file,
			Raw:          m,
		}
		// st2 names a sensor by its class unless the metadata names it.
		s.Name = f.str(m, nil, "name", false)
		if s.Name == "" {
			s.Name = s.ClassName
		}
		s.Ref = l.ref(s.Name)
		if v, has := m["poll_interval"]; has && v != nil {
			switch x := v.(type) {
			case int64:
				s.PollInterval = int(x)
			case float64:
				s.PollInterval = int(math.Ceil(x))
			default:
				f.fail([]string{"poll_interval"}, "must be a number of seconds, not %s", typeName(v))
			}
			if s.PollInterval < 0 {
				f.fail([]string{"poll_interval"}, "must not be negative")
			}
		}
		l.checkEntryPoint(f, []string{"entry_point"}, "sensors", s.EntryPoint, true)
		for i, item := range f.list(m, nil, "trigger_types") {
			path := []string{"trigger_types", fmt.Sprint(i)}
			tm, ok := item.(map[string]any)
			if !ok {
				f.fail(path, "must be a trigger type definition (a mapping with name, payload_schema, ...), not %s", typeName(item))
				continue
			}
			t := l.triggerType(f, tm, path)
			if l.triggerNames().add(f, join(path, "name"), t.Name) {
				p.TriggerTypes = append(p.TriggerTypes, t)
				s.TriggerTypes = append(s.TriggerTypes, t.Ref)
			}
		}
		if names.add(f, []string{"class_name"}, s.Name) {
			p.Sensors = append(p.Sensors, s)
		}
	}
}

// readRules reads rules/*.yaml in st2's format plus Squall's when and dedup.
func (l *loader) readRules(p *Pack) {
	names := newDupCheck("rule")
	p.Rules = []Rule{}
	for _, f := range l.loadContent("rules") {
		m := decodeDoc(f.doc, l.probs)
		if m == nil {
			continue
		}
		f.unknownKeys(m, nil, ruleKeys, "a rule")
		l.checkPackField(f, m, nil)
		r := Rule{
			Name:        f.str(m, nil, "name", true),
			Pack:        p.Ref,
			Description: f.str(m, nil, "description", false),
			// st2's RuleAPI defaults enabled to false: a rule fires only when
			// its author says so.
			Enabled:      f.boolean(m, nil, "enabled", false),
			Criteria:     map[string]any{},
			Context:      f.mapping(m, nil, "context"),
			When:         f.str(m, nil, "when", false),
			Dedup:        f.mapping(m, nil, "dedup"),
			MetadataFile: f.doc.file,
			Raw:          m,
		}
		r.Ref = l.ref(r.Name)
		f.tags(m, nil)

		if _, has := m["trigger"]; !has || m["trigger"] == nil {
			f.fail([]string{"trigger"}, "required field is missing (trigger: {type: <trigger type ref>})")
		} else if tm := f.mapping(m, nil, "trigger"); tm != nil {
			path := []string{"trigger"}
			r.Trigger = RuleTrigger{
				Type:        f.str(tm, path, "type", true),
				Parameters:  f.mapping(tm, path, "parameters"),
				Description: f.str(tm, path, "description", false),
			}
			f.str(tm, path, "ref", false)
		}

		if _, has := m["action"]; !has || m["action"] == nil {
			f.fail([]string{"action"}, "required field is missing (action: {ref: <action ref>})")
		} else if am := f.mapping(m, nil, "action"); am != nil {
			path := []string{"action"}
			f.unknownKeys(am, path, ruleActionKeys, "a rule action")
			r.Action = RuleAction{
				Ref:         f.str(am, path, "ref", true),
				Parameters:  f.mapping(am, path, "parameters"),
				Description: f.str(am, path, "description", false),
			}
		}

		if cm := f.mapping(m, nil, "criteria"); cm != nil {
			r.Criteria = cm
			l.checkCriteria(f, cm)
		}

		if tm := f.mapping(m, nil, "type"); tm != nil {
			path := []string{"type"}
			f.unknownKeys(tm, path, ruleTypeKeys, "a rule type")
			if ref := f.str(tm, path, "ref", true); ref != "" && !ruleTypes[ref] {
				f.fail(join(path, "ref"), "%q is not a rule type (standard, backstop)", ref)
			}
			f.mapping(tm, path, "parameters")
			r.Type = tm
		}

		if r.Dedup != nil {
			path := []string{"dedup"}
			f.str(r.Dedup, path, "key", false)
			if w, has := r.Dedup["window"]; has && w != nil {
				switch w.(type) {
				case string, int64, float64:
				default:
					f.fail(join(path, "window"), "must be a duration such as 5m or a number of seconds, not %s", typeName(w))
				}
			}
		}

		if names.add(f, []string{"name"}, r.Name) {
			p.Rules = append(p.Rules, r)
		}
	}
}

// checkCriteria checks each criterion is {type: <operator>, pattern: ...}.
func (l *loader) checkCriteria(f *fileCheck, criteria map[string]any) {
	for key, c := range criteria {
		path := []string{"criteria", key}
		cm, ok := c.(map[string]any)
		if !ok {
			f.fail(path, "must be a mapping with type and pattern, not %s", typeName(c))
			continue
		}
		op, has := cm["type"]
		if !has || op == nil {
			f.fail(join(path, "type"), "operator is missing")
			continue
		}
		ops, ok := op.(string)
		if !ok {
			f.fail(join(path, "type"), "must be an operator name, not %s", typeName(op))
			continue
		}
		if !criteriaOperators[ops] {
			f.fail(join(path, "type"), "%q is not a criteria operator (%s)", ops, keyList(criteriaOperators))
		}
	}
}

// readAliases reads aliases/*.yaml.
func (l *loader) readAliases(p *Pack) {
	names := newDupCheck("alias")
	p.Aliases = []Alias{}
	for _, f := range l.loadContent("aliases") {
		m := decodeDoc(f.doc, l.probs)
		if m == nil {
			continue
		}
		f.unknownKeys(m, nil, aliasKeys, "an action alias")
		l.checkPackField(f, m, nil)
		a := Alias{
			Name:                f.str(m, nil, "name", true),
			Pack:                p.Ref,
			Description:         f.str(m, nil, "description", false),
			Enabled:             f.boolean(m, nil, "enabled", true),
			ActionRef:           f.str(m, nil, "action_ref", true),
			Formats:             f.list(m, nil, "formats"),
			Ack:                 f.mapping(m, nil, "ack"),
			Result:              f.mapping(m, nil, "result"),
			Extra:               f.mapping(m, nil, "extra"),
			ImmutableParameters: f.mapping(m, nil, "immutable_parameters"),
			MetadataFile:        f.doc.file,
			Raw:                 m,
		}
		a.Ref = l.ref(a.Name)
		if a.Formats == nil {
			a.Formats = []any{}
		}
		for i, format := range a.Formats {
			path := []string{"formats", fmt.Sprint(i)}
			switch x := format.(type) {
			case string:
			case map[string]any:
				// {display: "...", representation: ["...", ...]}
				f.str(x, path, "display", false)
				for j, rep := range f.list(x, path, "representation") {
					if _, ok := rep.(string); !ok {
						f.fail(join(path, "representation", fmt.Sprint(j)), "must be a string, not %s", typeName(rep))
					}
				}
			default:
				f.fail(path, "must be a string or a mapping with display and representation, not %s", typeName(format))
			}
		}
		if names.add(f, []string{"name"}, a.Name) {
			p.Aliases = append(p.Aliases, a)
		}
	}
}

// readPolicies reads policies/*.yaml.
func (l *loader) readPolicies(p *Pack) {
	names := newDupCheck("policy")
	p.Policies = []Policy{}
	for _, f := range l.loadContent("policies") {
		m := decodeDoc(f.doc, l.probs)
		if m == nil {
			continue
		}
		f.unknownKeys(m, nil, policyKeys, "a policy")
		l.checkPackField(f, m, nil)
		pol := Policy{
			Name:         f.str(m, nil, "name", true),
			Pack:         p.Ref,
			Description:  f.str(m, nil, "description", false),
			Enabled:      f.boolean(m, nil, "enabled", true),
			ResourceRef:  f.str(m, nil, "resource_ref", true),
			PolicyType:   f.str(m, nil, "policy_type", true),
			Parameters:   f.mapping(m, nil, "parameters"),
			MetadataFile: f.doc.file,
			Raw:          m,
		}
		pol.Ref = l.ref(pol.Name)
		if names.add(f, []string{"name"}, pol.Name) {
			p.Policies = append(p.Policies, pol)
		}
	}
}
