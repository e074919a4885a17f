package sensors

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/squall-automation/squall/catalog"
	"github.com/squall-automation/squall/param"
)

// TriggerTypes looks trigger types up; *catalog.Store is one.
type TriggerTypes interface {
	GetTriggerType(ctx context.Context, refOrID string) (*catalog.TriggerTypeRecord, error)
}

// checkPayload validates what a sensor dispatched against its trigger
// type's payload_schema, as st2's sensor service does (validate_trigger_
// payload): a reason means the event is invalid and must be dropped (and
// logged); an error means the check could not be made and should be
// retried.
func checkPayload(ctx context.Context, types TriggerTypes, typeRef string, payload map[string]any) (reason string, err error) {
	tt, err := types.GetTriggerType(ctx, typeRef)
	if errors.Is(err, catalog.ErrNotFound) {
		return fmt.Sprintf("trigger type %q is not registered", typeRef), nil
	}
	if err != nil {
		return "", fmt.Errorf("look up trigger type %s: %w", typeRef, err)
	}
	if len(tt.PayloadSchema) == 0 {
		return "", nil
	}
	schema, err := param.CompileSchema(tt.PayloadSchema)
	if err != nil {
		// A schema that does not compile was accepted at registration by an
		// older Squall; do not hold every event of the type hostage to it.
		return "", nil
	}
	// The validator wants JSON-decoded values.
	data, err := json.Marshal(payload)
	if err != nil {
		return fmt.Sprintf("payload is not JSON: %v", err), nil
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return fmt.Sprintf("payload is not JSON: %v", err), nil
	}
	if err := schema.Validate(doc); err != nil {
		return fmt.Sprintf("payload does not match the payload_schema of %s: %v", typeRef, err), nil
	}
	return "", nil
}
