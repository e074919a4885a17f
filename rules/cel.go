package rules

import (
	"fmt"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/ext"
)

// Squall's `when:` is a CEL expression over `trigger`, the trigger instance
// payload as a map. It is parsed and type-checked when the rule is
// compiled; evaluation is bounded by a cost limit so that one rule cannot
// stall the rules engine.

// celCostLimit bounds one evaluation (roughly, the number of operations);
// generous for conditions, fatal for accidental quadratic comprehensions
// over large payloads.
const celCostLimit = 1_000_000

var (
	celEnvOnce sync.Once
	celEnv     *cel.Env
	celEnvErr  error
)

func whenEnv() (*cel.Env, error) {
	celEnvOnce.Do(func() {
		celEnv, celEnvErr = cel.NewEnv(
			cel.Variable(TriggerPrefix, cel.MapType(cel.StringType, cel.DynType)),
			cel.OptionalTypes(),
			ext.Strings(),
			ext.Math(),
			ext.Lists(),
			ext.Sets(),
			ext.Encoders(),
		)
	})
	return celEnv, celEnvErr
}

// WhenError is a `when:` expression that does not compile; Line and Column
// are 1-based.
type WhenError struct {
	Line   int
	Column int
	Msg    string
}

func (e *WhenError) Error() string {
	return fmt.Sprintf("when: line %d, column %d: %s", e.Line, e.Column, e.Msg)
}

type whenProgram struct {
	src string
	prg cel.Program
}

func compileWhen(src string) (*whenProgram, error) {
	env, err := whenEnv()
	if err != nil {
		return nil, fmt.Errorf("when: CEL environment: %w", err)
	}
	ast, iss := env.Compile(src)
	if iss.Err() != nil {
		return nil, celIssues(iss.Errors())
	}
	switch t := ast.OutputType(); {
	case t.IsExactType(types.BoolType), t.IsExactType(types.DynType):
	default:
		return nil, &WhenError{Line: 1, Column: 1, Msg: fmt.Sprintf("expression must be a bool, not %s", t)}
	}
	prg, err := env.Program(ast,
		cel.EvalOptions(cel.OptOptimize),
		cel.CostLimit(celCostLimit),
	)
	if err != nil {
		return nil, fmt.Errorf("when: %w", err)
	}
	return &whenProgram{src: src, prg: prg}, nil
}

// celIssues turns CEL's errors into a WhenError at the first one, keeping
// the others in the message.
func celIssues(errs []*cel.Error) error {
	if len(errs) == 0 {
		return &WhenError{Line: 1, Column: 1, Msg: "invalid expression"}
	}
	first := errs[0]
	msgs := make([]string, 0, len(errs))
	for i, e := range errs {
		if i == 0 {
			msgs = append(msgs, e.Message)
			continue
		}
		msgs = append(msgs, fmt.Sprintf("%s (line %d, column %d)", e.Message, e.Location.Line(), e.Location.Column()+1))
	}
	return &WhenError{
		Line:   first.Location.Line(),
		Column: first.Location.Column() + 1, // CEL's columns are 0-based
		Msg:    strings.Join(msgs, "; "),
	}
}

func (w *whenProgram) eval(payload map[string]any) (bool, error) {
	if payload == nil {
		payload = map[string]any{}
	}
	out, _, err := w.prg.Eval(map[string]any{TriggerPrefix: payload})
	if err != nil {
		return false, fmt.Errorf("when: %w", err)
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("when: expression evaluated to %s, not a bool", out.Type().TypeName())
	}
	return b, nil
}
