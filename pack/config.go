package pack

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// LocalConfigFile is the pack-local config st2 reads first (deprecated in st2
// but still honoured); ConfigsDir/<ref>.yaml overrides its top-level keys.
const LocalConfigFile = "config.yaml"

// configSource is one config file that contributed values.
type configSource struct {
	check  *fileCheck
	values map[string]any
}

// readConfig reads config.schema.yaml and the pack's config, applies the
// schema's defaults the way st2's ContentPackConfigLoader does, and checks
// the result against the schema when a config file exists.
//
// Jinja expressions in config values ({{ st2kv.system.key }}) are kept as
// written: they are rendered against the datastore at run time, so they are
// neither resolved nor type-checked here.
func (l *loader) readConfig(p *Pack) {
	var schemaCheck *fileCheck
	if l.fs.exists(ConfigSchemaFile) {
		if doc := l.fs.loadDoc(ConfigSchemaFile); doc != nil {
			schemaCheck = &fileCheck{doc: doc, probs: l.probs}
			if m := decodeDoc(doc, l.probs); m != nil {
				// The schema's top level is a parameters mapping, checked like
				// action parameters (st2: patternProperties ^\w+$ -> draft schema).
				schemaCheck.paramSpecs(m, nil, false)
				p.ConfigSchema = m
			}
		}
	}

	var sources []configSource
	if l.fs.exists(LocalConfigFile) {
		if doc := l.fs.loadDoc(LocalConfigFile); doc != nil {
			if m := decodeDoc(doc, l.probs); m != nil {
				sources = append(sources, configSource{check: &fileCheck{doc: doc, probs: l.probs}, values: m})
			}
		}
	}
	if l.opts.ConfigsDir != "" {
		path := filepath.Join(l.opts.ConfigsDir, p.Ref+".yaml")
		if _, err := os.Stat(path); err == nil {
			if data, err := readCapped(path); err != nil {
				l.probs.add(path, 0, "%v", err)
			} else if doc := parseDoc(path, data, l.probs); doc != nil {
				if m := decodeDoc(doc, l.probs); m != nil {
					sources = append(sources, configSource{check: &fileCheck{doc: doc, probs: l.probs}, values: m})
				}
			}
		} else if !os.IsNotExist(err) {
			l.probs.add(path, 0, "cannot read pack config: %v", err)
		}
	}

	if p.ConfigSchema == nil && len(sources) == 0 {
		return
	}
	config := map[string]any{}
	origin := map[string]*fileCheck{}
	for _, s := range sources {
		for k, v := range s.values {
			config[k] = deepCopy(v)
			origin[k] = s.check
		}
	}
	if p.ConfigSchema != nil {
		// Defaults apply even without a config file, as in st2 >= 3.x.
		assignDefaults(p.ConfigSchema, config)
		if len(sources) > 0 {
			last := sources[len(sources)-1].check
			checkConfig(p.ConfigSchema, config, func(key string) *fileCheck {
				if c := origin[key]; c != nil {
					return c
				}
				return last
			})
		}
	}
	p.Config = config
}

// assignDefaults fills config from the schema's defaults in place, following
// st2's ContentPackConfigLoader._assign_default_values: a missing key gets its
// default; objects with properties/patternProperties/additionalProperties and
// arrays with items/additionalItems are descended into, created empty when
// absent, so nested defaults appear even when the parent was not given.
func assignDefaults(schema map[string]any, config map[string]any) {
	for key, raw := range schema {
		item, ok := raw.(map[string]any)
		if !ok {
			continue
		}
		if def, has := item["default"]; has {
			if _, set := config[key]; !set {
				config[key] = deepCopy(def)
			}
		}
		switch item["type"] {
		case "object":
			if !hasAny(item, "properties", "patternProperties", "additionalProperties") {
				continue
			}
			sub, ok := ensureMap(config, key)
			if !ok {
				continue
			}
			assignDefaults(objectPropertiesSchema(item, sub), sub)
		case "array":
			if !hasAny(item, "items", "additionalItems") {
				continue
			}
			cur, _ := config[key].([]any)
			if isFalsy(config[key]) {
				cur = []any{}
			} else if cur == nil {
				continue // not a list; checkConfig reports it
			}
			config[key] = assignDefaultsList(arrayItemsSchema(item, len(cur)), cur)
		}
	}
}

func assignDefaultsList(schemas []map[string]any, config []any) []any {
	for i, item := range schemas {
		if def, has := item["default"]; has && i >= len(config) {
			config = append(config, deepCopy(def))
		}
		if i >= len(config) {
			continue
		}
		switch item["type"] {
		case "object":
			if !hasAny(item, "properties", "patternProperties", "additionalProperties") {
				continue
			}
			sub, ok := config[i].(map[string]any)
			if isFalsy(config[i]) {
				sub, ok = map[string]any{}, true
				config[i] = sub
			}
			if ok {
				assignDefaults(objectPropertiesSchema(item, sub), sub)
			}
		case "array":
			if !hasAny(item, "items", "additionalItems") {
				continue
			}
			cur, ok := config[i].([]any)
			if isFalsy(config[i]) {
				cur, ok = []any{}, true
			}
			if ok {
				config[i] = assignDefaultsList(arrayItemsSchema(item, len(cur)), cur)
			}
		}
	}
	return config
}

// ensureMap returns config[key] as a map, replacing a falsy value (absent,
// null, empty) with a new empty map as st2 does.
func ensureMap(config map[string]any, key string) (map[string]any, bool) {
	if isFalsy(config[key]) {
		m := map[string]any{}
		config[key] = m
		return m, true
	}
	m, ok := config[key].(map[string]any)
	return m, ok
}

// isFalsy mirrors Python truthiness for the values st2's loader tests with
// "if not config_value".
func isFalsy(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case bool:
		return !x
	case int64:
		return x == 0
	case float64:
		return x == 0
	case string:
		return x == ""
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

func hasAny(m map[string]any, keys ...string) bool {
	for _, k := range keys {
		if !isFalsy(m[k]) {
			return true
		}
	}
	return false
}

// objectPropertiesSchema flattens properties, patternProperties and
// additionalProperties into one key -> schema mapping for the keys of obj
// plus the declared properties (precedence in that order), as st2's
// _get_object_properties_schema does.
func objectPropertiesSchema(schema map[string]any, obj map[string]any) map[string]any {
	out := map[string]any{}
	for k := range obj {
		out[k] = map[string]any{}
	}
	props, _ := schema["properties"].(map[string]any)
	for k, v := range props {
		out[k] = v
	}
	var extra []string
	for k := range obj {
		if _, declared := props[k]; !declared {
			extra = append(extra, k)
		}
	}
	if len(extra) == 0 {
		return out
	}
	sort.Strings(extra)
	remaining := extra[:0]
	if pp, ok := schema["patternProperties"].(map[string]any); ok && len(pp) > 0 {
		for _, k := range extra {
			composed := map[string]any{}
			matched := false
			for pattern, ps := range pp {
				// Python and Go regexps mostly agree; a pattern Go cannot
				// compile simply does not contribute defaults.
				re, err := regexp.Compile(pattern)
				if err != nil || !re.MatchString(k) {
					continue
				}
				if psm, ok := ps.(map[string]any); ok {
					for sk, sv := range psm {
						composed[sk] = sv
					}
					matched = true
				}
			}
			if matched {
				out[k] = composed
			} else {
				remaining = append(remaining, k)
			}
		}
	} else {
		remaining = extra
	}
	if ap, ok := schema["additionalProperties"].(map[string]any); ok && len(ap) > 0 {
		for _, k := range remaining {
			out[k] = ap
		}
	}
	return out
}

// arrayItemsSchema flattens items and additionalItems into one schema per
// element (st2's _get_array_items_schema).
func arrayItemsSchema(schema map[string]any, count int) []map[string]any {
	var out []map[string]any
	switch items := schema["items"].(type) {
	case map[string]any:
		for i := 0; i < count; i++ {
			out = append(out, items)
		}
	case []any:
		for _, it := range items {
			m, _ := it.(map[string]any)
			if m == nil {
				m = map[string]any{}
			}
			out = append(out, m)
		}
	}
	if len(out) >= count {
		return out
	}
	if ai, ok := schema["additionalItems"].(map[string]any); ok && len(ai) > 0 {
		for len(out) < count {
			out = append(out, ai)
		}
	}
	return out
}

// checkConfig validates config values against the config schema: required
// keys present (after defaults), types, enums, nested objects and arrays.
// fileFor names the file a top-level key came from, for the problem's line.
func checkConfig(schema map[string]any, config map[string]any, fileFor func(key string) *fileCheck) {
	keys := make([]string, 0, len(schema))
	for k := range schema {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		spec, ok := schema[key].(map[string]any)
		if !ok {
			continue
		}
		f := fileFor(key)
		required, _ := spec["required"].(bool)
		checkConfigValue(f, spec, config, key, []string{key}, required)
	}
}

func checkConfigValue(f *fileCheck, spec map[string]any, parent map[string]any, key string, path []string, required bool) {
	v, has := parent[key]
	if !has || v == nil {
		if required {
			f.fail(path, "required config value is missing and the schema gives no default")
		}
		return
	}
	checkConfigInstance(f, spec, v, path)
}

func checkConfigInstance(f *fileCheck, spec map[string]any, v any, path []string) {
	if isJinja(v) {
		return
	}
	var types []string
	switch t := spec["type"].(type) {
	case string:
		types = []string{t}
	case []any:
		for _, x := range t {
			if s, ok := x.(string); ok {
				types = append(types, s)
			}
		}
	}
	if len(types) > 0 && !matchesAnyType(v, types) {
		f.fail(path, "must be %s, not %s", strings.Join(types, " or "), describe(v))
		return
	}
	if enum, ok := spec["enum"].([]any); ok && !inEnum(v, enum) {
		f.fail(path, "%s is not one of %v", describe(v), enum)
		return
	}
	switch x := v.(type) {
	case map[string]any:
		var reqList []string
		if rl, ok := spec["required"].([]any); ok {
			for _, r := range rl {
				if s, ok := r.(string); ok {
					reqList = append(reqList, s)
				}
			}
		}
		props := objectPropertiesSchema(spec, x)
		names := make([]string, 0, len(props))
		for k := range props {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			sub, _ := props[k].(map[string]any)
			if sub == nil {
				continue
			}
			req, _ := sub["required"].(bool)
			for _, r := range reqList {
				req = req || r == k
			}
			checkConfigValue(f, sub, x, k, join(path, k), req)
		}
	case []any:
		for i, item := range arrayItemsSchema(spec, len(x)) {
			if i < len(x) && x[i] != nil {
				checkConfigInstance(f, item, x[i], join(path, fmt.Sprint(i)))
			}
		}
	}
}

// deepCopy copies decoded YAML values so Config never shares maps with
// ConfigSchema or with the raw documents.
func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = deepCopy(e)
		}
		return out
	}
	return v
}
