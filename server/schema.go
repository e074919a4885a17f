package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/squall-automation/squall/catalog"
)

// Trigger types carry JSON schemas for their payload and their parameters,
// written in StackStorm packs in draft 4 with draft 3's `required: true`
// on properties here and there; st2 validates events and rule triggers
// against them and so does Squall.

// compiledSchemas caches compiled schemas by their JSON; there are as many
// as there are registered trigger types.
var compiledSchemas sync.Map // string -> *jsonschema.Schema

func compileTriggerSchema(schema map[string]any) (*jsonschema.Schema, error) {
	key, err := json.Marshal(draft4Required(schema))
	if err != nil {
		return nil, fmt.Errorf("schema is not JSON: %w", err)
	}
	if s, ok := compiledSchemas.Load(string(key)); ok {
		return s.(*jsonschema.Schema), nil
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(key))
	if err != nil {
		return nil, fmt.Errorf("schema is not JSON: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft4)
	if err := c.AddResource("schema.json", doc); err != nil {
		return nil, err
	}
	s, err := c.Compile("schema.json")
	if err != nil {
		return nil, err
	}
	compiledSchemas.Store(string(key), s)
	return s, nil
}

// draft4Required returns a copy of schema where draft 3's boolean
// `required` on a property becomes the parent's `required` list.
func draft4Required(schema map[string]any) map[string]any {
	out := make(map[string]any, len(schema))
	for k, v := range schema {
		out[k] = v
	}
	if _, isBool := out["required"].(bool); isBool {
		delete(out, "required")
	}
	if props, ok := schema["properties"].(map[string]any); ok {
		var required []any
		if l, ok := schema["required"].([]any); ok {
			required = append(required, l...)
		}
		np := make(map[string]any, len(props))
		for name, p := range props {
			ps, ok := p.(map[string]any)
			if !ok {
				np[name] = p
				continue
			}
			if r, _ := ps["required"].(bool); r {
				required = append(required, name)
			}
			np[name] = draft4Required(ps)
		}
		out["properties"] = np
		if len(required) > 0 {
			out["required"] = required
		}
	}
	if items, ok := schema["items"].(map[string]any); ok {
		out["items"] = draft4Required(items)
	}
	return out
}

// validateAgainst checks v against schema and returns the problems in one
// line ("at body.x: ..."); a nil or empty schema accepts anything.
func validateAgainst(schema map[string]any, v any) (string, error) {
	if len(schema) == 0 {
		return "", nil
	}
	s, err := compileTriggerSchema(schema)
	if err != nil {
		return "", err
	}
	// The validator wants JSON-decoded values; a round trip makes sure of it.
	data, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("encode value: %w", err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return "", fmt.Errorf("decode value: %w", err)
	}
	err = s.Validate(inst)
	if err == nil {
		return "", nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return "", err
	}
	return schemaMessages(ve), nil
}

var englishPrinter = message.NewPrinter(language.English)

// schemaMessages flattens a validation error to its leaf causes.
func schemaMessages(ve *jsonschema.ValidationError) string {
	var msgs []string
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		msg := e.ErrorKind.LocalizedString(englishPrinter)
		if len(e.InstanceLocation) > 0 {
			msg = "at " + strings.Join(e.InstanceLocation, ".") + ": " + msg
		}
		msgs = append(msgs, msg)
	}
	walk(ve)
	sort.Strings(msgs)
	return strings.Join(msgs, "; ")
}

// validatePayload checks an event payload against its trigger type's
// payload_schema; a violation is the sender's fault (400). A schema that
// does not compile (the pack loader should have refused it) is named in a
// 400 too: a 500 would hide from the sender which trigger type is broken.
func validatePayload(tt *catalog.TriggerTypeRecord, payload map[string]any) error {
	msg, err := validateAgainst(tt.PayloadSchema, payload)
	if err != nil {
		return badRequest("Trigger type %s has a payload_schema that cannot be used: %v", tt.Ref, err)
	}
	if msg != "" {
		return badRequest("Payload for trigger type %s does not match its payload_schema: %s", tt.Ref, msg)
	}
	return nil
}

// validateTriggerParams checks a rule's trigger parameters against the
// trigger type's parameters_schema, as st2 does when a rule is saved.
func validateTriggerParams(tt *catalog.TriggerTypeRecord, params map[string]any) error {
	if params == nil {
		params = map[string]any{}
	}
	msg, err := validateAgainst(tt.ParametersSchema, params)
	if err != nil {
		return badRequest("Trigger type %s has a parameters_schema that cannot be used: %v", tt.Ref, err)
	}
	if msg != "" {
		return badRequest("Parameters of trigger %s do not match its parameters_schema: %s", tt.Ref, msg)
	}
	return nil
}
