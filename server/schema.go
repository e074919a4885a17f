package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/squall-automation/squall/catalog"
	"github.com/squall-automation/squall/param"
)

// Trigger types carry JSON schemas for their payload and their parameters,
// written in StackStorm packs in draft 4 with draft 3's `required: true`
// on properties here and there; st2 validates events and rule triggers
// against them and so does Squall.

// validateAgainst checks v against schema and returns the problems in one
// line ("at body.x: ..."); a nil or empty schema accepts anything.
func validateAgainst(schema map[string]any, v any) (string, error) {
	if len(schema) == 0 {
		return "", nil
	}
	s, err := param.CompileSchema(schema)
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
