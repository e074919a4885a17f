package sensors

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/squall-automation/squall/catalog"
	"github.com/squall-automation/squall/internal/testenv"
	"github.com/squall-automation/squall/pack"
)

func TestCheckPayload(t *testing.T) {
	t.Parallel()
	store := catalog.New(testenv.Pool(t))
	ctx := t.Context()
	p := &pack.Pack{
		Ref: "pl", Name: "pl", Description: "payload checks", Version: "1.0.0", Path: t.TempDir(),
		TriggerTypes: []pack.TriggerType{{
			Name: "reading", Pack: "pl", Ref: "pl.reading", MetadataFile: "sensors/s.yaml",
			// st2's draft-3 style `required: true` on a property.
			PayloadSchema: map[string]any{"type": "object", "properties": map[string]any{
				"n":    map[string]any{"type": "integer", "required": true},
				"unit": map[string]any{"type": "string"},
			}},
		}, {Name: "free", Pack: "pl", Ref: "pl.free", MetadataFile: "sensors/s.yaml"}},
	}
	if _, err := store.RegisterPack(ctx, p); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		typ     string
		payload map[string]any
		want    string // "" = valid
	}{
		{"pl.reading", map[string]any{"n": json.Number("3"), "unit": "C"}, ""},
		{"pl.reading", map[string]any{"n": 3.0}, ""},
		{"pl.reading", map[string]any{"unit": "C"}, "payload_schema of pl.reading"},
		{"pl.reading", map[string]any{"n": "three"}, "payload_schema of pl.reading"},
		{"pl.free", map[string]any{"anything": true}, ""},
		{"pl.nope", map[string]any{}, `trigger type "pl.nope" is not registered`},
	}
	for _, tc := range cases {
		reason, err := checkPayload(ctx, store, tc.typ, tc.payload)
		if err != nil {
			t.Fatalf("%s %v: %v", tc.typ, tc.payload, err)
		}
		if (tc.want == "") != (reason == "") || !strings.Contains(reason, tc.want) {
			t.Errorf("%s %v: reason %q, want %q", tc.typ, tc.payload, reason, tc.want)
		}
	}
}
