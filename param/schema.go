package param

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// st2Keys are parameter attributes that are StackStorm's, not JSON schema's.
var st2Keys = []string{"required", "immutable", "secret", "position"}

// schemaFor turns a parameter spec into a draft-4 JSON schema: st2's
// attributes are removed and draft-3 style "required: true" inside nested
// "properties" (st2 validates with a draft-3 properties rule) becomes the
// parent's "required" list. An empty spec accepts anything, as in st2.
func schemaFor(spec map[string]any) map[string]any {
	out := make(map[string]any, len(spec))
	for k, v := range spec {
		out[k] = v
	}
	for _, k := range st2Keys {
		delete(out, k)
	}
	// "default" is not validated against its own schema by JSON schema
	// anyway, and may hold Jinja; leave it out of the cache key.
	delete(out, "default")
	delete(out, "description")
	return convertRequired(out)
}

func convertRequired(schema map[string]any) map[string]any {
	props, ok := schema["properties"].(map[string]any)
	if ok {
		newProps := make(map[string]any, len(props))
		var required []any
		if list, ok := schema["required"].([]any); ok {
			required = append(required, list...)
		}
		for name, p := range props {
			ps, ok := p.(map[string]any)
			if !ok {
				newProps[name] = p
				continue
			}
			cp := make(map[string]any, len(ps))
			for k, v := range ps {
				cp[k] = v
			}
			if r, ok := cp["required"].(bool); ok {
				delete(cp, "required")
				if r {
					required = append(required, name)
				}
			}
			newProps[name] = convertRequired(cp)
		}
		schema["properties"] = newProps
		if len(required) > 0 {
			schema["required"] = required
		} else if _, isBool := schema["required"].(bool); isBool {
			delete(schema, "required")
		}
	}
	if items, ok := schema["items"].(map[string]any); ok {
		cp := make(map[string]any, len(items))
		for k, v := range items {
			cp[k] = v
		}
		delete(cp, "required")
		schema["items"] = convertRequired(cp)
	}
	return schema
}

// compiled schemas by their canonical JSON. Specs come from pack metadata, so
// the number of distinct ones is bounded by what is installed; the cap only
// guards against pathological callers.
var (
	schemaCache   sync.Map // string -> *jsonschema.Schema
	schemaCount   int
	schemaCountMu sync.Mutex
)

const schemaCacheMax = 16384

func compileSchema(spec map[string]any) (*jsonschema.Schema, error) {
	return compileConverted(schemaFor(spec))
}

// CompileSchema compiles a JSON schema as StackStorm packs write them —
// draft 4, with draft 3's boolean `required` on properties here and there —
// such as a trigger type's payload_schema or parameters_schema. Compiled
// schemas are cached by content.
func CompileSchema(schema map[string]any) (*jsonschema.Schema, error) {
	cp := make(map[string]any, len(schema))
	for k, v := range schema {
		cp[k] = v
	}
	if _, isBool := cp["required"].(bool); isBool {
		delete(cp, "required") // draft 3's form at the top means nothing here
	}
	return compileConverted(convertRequired(cp))
}

func compileConverted(schema map[string]any) (*jsonschema.Schema, error) {
	key, err := json.Marshal(schema)
	if err != nil {
		return nil, fmt.Errorf("schema is not valid JSON: %v", err)
	}
	if s, ok := schemaCache.Load(string(key)); ok {
		return s.(*jsonschema.Schema), nil
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(key))
	if err != nil {
		return nil, fmt.Errorf("schema is not valid JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft4)
	if err := c.AddResource("param.json", doc); err != nil {
		return nil, err
	}
	s, err := c.Compile("param.json")
	if err != nil {
		return nil, schemaCompileError(err)
	}
	schemaCountMu.Lock()
	if schemaCount < schemaCacheMax {
		if _, loaded := schemaCache.LoadOrStore(string(key), s); !loaded {
			schemaCount++
		}
	}
	schemaCountMu.Unlock()
	return s, nil
}

func schemaCompileError(err error) error {
	var se *jsonschema.SchemaValidationError
	if errors.As(err, &se) {
		return fmt.Errorf("invalid JSON schema: %s", leafMessages(se.Err))
	}
	return fmt.Errorf("invalid JSON schema: %v", err)
}

// validate checks a resolved value against its parameter's schema (type,
// enum, minimum, pattern, items ...).
func validate(name string, spec map[string]any, v any) error {
	if typ, ok := onlyType(spec); ok {
		// Most parameters declare nothing but a type; checking it directly
		// spares encoding the spec to find its compiled schema.
		if got := jsonType(v); got != typ && !(typ == "number" && got == "integer") {
			return &Error{Param: name, Msg: fmt.Sprintf("must be %s, not %s", article(typ), article(got))}
		}
		return nil
	}
	s, err := compileSchema(spec)
	if err != nil {
		return &Error{Param: name, Msg: err.Error()}
	}
	if err := s.Validate(v); err != nil {
		return &Error{Param: name, Msg: leafMessages(err)}
	}
	return nil
}

// ignoredForValidation are spec attributes that do not constrain the value.
var ignoredForValidation = map[string]bool{
	"required": true, "immutable": true, "secret": true, "position": true,
	"default": true, "description": true, "title": true,
}

// onlyType reports the spec's type when that is its one constraint.
func onlyType(spec map[string]any) (string, bool) {
	typ, ok := spec["type"].(string)
	if !ok {
		return "", false
	}
	switch typ {
	case "string", "integer", "number", "boolean", "array", "object":
	default:
		return "", false
	}
	for k := range spec {
		if k != "type" && !ignoredForValidation[k] {
			return "", false
		}
	}
	return typ, true
}

// jsonType names the JSON type of a resolved value ("integer" for whole
// numbers, as draft 4 counts them).
func jsonType(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case int, int64, int32, uint64:
		return "integer"
	case float64:
		if x == math.Trunc(x) && !math.IsInf(x, 0) {
			return "integer"
		}
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

var printer = message.NewPrinter(language.English)

// leafMessages words a validation error from its innermost causes, the ones
// that say what is actually wrong.
func leafMessages(err error) string {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err.Error()
	}
	var msgs []string
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		msg := kindMessage(e.ErrorKind)
		if len(e.InstanceLocation) > 0 {
			msg = fmt.Sprintf("at %s: %s", strings.Join(e.InstanceLocation, "."), msg)
		}
		msgs = append(msgs, msg)
	}
	walk(ve)
	if len(msgs) == 0 {
		return ve.Error()
	}
	return strings.Join(msgs, "; ")
}

func kindMessage(k jsonschema.ErrorKind) string {
	switch x := k.(type) {
	case *kind.Type:
		return fmt.Sprintf("must be %s, not %s", article(strings.Join(x.Want, " or ")), article(x.Got))
	case *kind.Enum:
		opts := make([]string, len(x.Want))
		for i, w := range x.Want {
			b, _ := json.Marshal(w)
			opts[i] = string(b)
		}
		got, _ := json.Marshal(x.Got)
		return fmt.Sprintf("%s is not one of %s", got, strings.Join(opts, ", "))
	case *kind.Minimum:
		return fmt.Sprintf("%s is less than the minimum %s", rat(x.Got), rat(x.Want))
	case *kind.Maximum:
		return fmt.Sprintf("%s is greater than the maximum %s", rat(x.Got), rat(x.Want))
	case *kind.ExclusiveMinimum:
		return fmt.Sprintf("%s must be greater than %s", rat(x.Got), rat(x.Want))
	case *kind.ExclusiveMaximum:
		return fmt.Sprintf("%s must be less than %s", rat(x.Got), rat(x.Want))
	case *kind.MinLength:
		return fmt.Sprintf("is %d characters long, shorter than the minimum %d", x.Got, x.Want)
	case *kind.MaxLength:
		return fmt.Sprintf("is %d characters long, longer than the maximum %d", x.Got, x.Want)
	case *kind.Pattern:
		return fmt.Sprintf("%q does not match the pattern %q", x.Got, x.Want)
	}
	return k.LocalizedString(printer)
}

// rat prints a schema number without the printer's digit grouping.
func rat(r *big.Rat) string {
	if r == nil {
		return "?"
	}
	if r.IsInt() {
		return r.Num().String()
	}
	f, _ := r.Float64()
	return strconv.FormatFloat(f, 'g', -1, 64)
}

func article(typ string) string {
	switch {
	case typ == "null":
		return "null"
	case strings.HasPrefix(typ, "a") || strings.HasPrefix(typ, "o") || strings.HasPrefix(typ, "i"):
		return "an " + typ
	default:
		return "a " + typ
	}
}
