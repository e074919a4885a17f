package rules

import (
	"fmt"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
)

// DefaultDedupWindow applies when a rule's dedup block gives no window.
const DefaultDedupWindow = 10 * time.Minute

// Dedup is a rule's compiled `dedup: {key: <CEL>, window: <duration>}`:
// trigger instances whose key evaluates to the same value fire the rule
// once per window (Squall's extension; st2 has none).
type Dedup struct {
	Window time.Duration
	prg    cel.Program
}

func compileDedup(spec map[string]any) (*Dedup, error) {
	if spec == nil {
		return nil, nil
	}
	src, _ := spec["key"].(string)
	if strings.TrimSpace(src) == "" {
		return nil, fmt.Errorf("dedup: key must be a CEL expression over trigger")
	}
	window := DefaultDedupWindow
	switch w := spec["window"].(type) {
	case nil:
	case string:
		d, err := time.ParseDuration(w)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("dedup: window %q is not a positive duration such as 30s, 10m or 2h", w)
		}
		window = d
	case int, int64, float64:
		secs := fmt.Sprint(w)
		d, err := time.ParseDuration(secs + "s")
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("dedup: window %v is not a positive number of seconds", w)
		}
		window = d
	default:
		return nil, fmt.Errorf("dedup: window must be a duration string or seconds, not %T", w)
	}
	env, err := whenEnv()
	if err != nil {
		return nil, fmt.Errorf("dedup: CEL environment: %w", err)
	}
	ast, iss := env.Compile(src)
	if iss.Err() != nil {
		werr := celIssues(iss.Errors()).(*WhenError)
		return nil, fmt.Errorf("dedup key: line %d, column %d: %s", werr.Line, werr.Column, werr.Msg)
	}
	if t := ast.OutputType(); t.IsExactType(types.BoolType) {
		return nil, fmt.Errorf("dedup key: a bool makes a poor key; use the field that identifies the event, e.g. trigger.body.alert_id")
	}
	prg, err := env.Program(ast, cel.EvalOptions(cel.OptOptimize), cel.CostLimit(celCostLimit))
	if err != nil {
		return nil, fmt.Errorf("dedup key: %w", err)
	}
	return &Dedup{Window: window, prg: prg}, nil
}

// Key evaluates the dedup key for a payload, as a string.
func (d *Dedup) Key(payload map[string]any) (string, error) {
	if payload == nil {
		payload = map[string]any{}
	}
	out, _, err := d.prg.Eval(map[string]any{TriggerPrefix: payload})
	if err != nil {
		return "", fmt.Errorf("dedup key: %w", err)
	}
	return fmt.Sprint(out.Value()), nil
}
