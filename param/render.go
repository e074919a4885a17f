package param

import (
	"errors"
	"fmt"
	"strings"

	"github.com/squall-automation/squall/template"
)

// node is one parameter on its way to a final value.
type node struct {
	raw      any  // live value or default, before rendering
	has      bool // raw is set
	template bool // raw contains Jinja to render
	deps     []string
}

// resolveValues gives every declared parameter its final, cast value (nil
// when it has none). Live values win over defaults; a nil live value means
// "use the default", as in st2.
func resolveValues(merged map[string]map[string]any, live, ctx map[string]any) (map[string]any, error) {
	names := sortedKeys(merged)
	nodes := make(map[string]*node, len(merged))
	for _, name := range names {
		spec := merged[name]
		n := &node{}
		if v, ok := live[name]; ok && v != nil {
			n.raw, n.has = deepCopy(v), true
		} else if d, ok := spec["default"]; ok && d != nil {
			n.raw, n.has = deepCopy(d), true
		}
		if !n.has && truthy(spec["required"]) {
			return nil, &Error{Param: name, Msg: "is required but was not given and has no default"}
		}
		nodes[name] = n
	}

	// Find what each template refers to. st2's rules (param._validate): a
	// template whose variables are all unknown is not treated as a template
	// but kept as written; one that mixes known and unknown variables is an
	// error.
	for _, name := range names {
		n := nodes[name]
		if !n.has || !containsTemplate(n.raw) {
			continue
		}
		vars, err := templateVariables(n.raw)
		if err != nil {
			return nil, &Error{Param: name, Msg: "invalid template: " + err.Error()}
		}
		n.template = true
		var unknown []string
		for _, v := range vars {
			if _, ok := nodes[v]; ok {
				n.deps = append(n.deps, v)
			} else if _, ok := ctx[v]; !ok {
				unknown = append(unknown, v)
			}
		}
		switch {
		case len(vars) > 0 && len(unknown) == len(vars):
			n.template, n.deps = false, nil
		case len(unknown) > 0:
			return nil, &Error{Param: name, Msg: fmt.Sprintf(
				"template refers to %s, which is neither a parameter of the action nor a context variable",
				quoteList(unknown))}
		}
	}

	order, err := topoOrder(names, nodes)
	if err != nil {
		return nil, err
	}

	// Templates see the context plus every parameter resolved so far; the
	// order guarantees a template's dependencies come first.
	scope := make(map[string]any, len(ctx)+len(nodes))
	for k, v := range ctx {
		scope[k] = v
	}
	for _, name := range names {
		scope[name] = nil
	}
	values := make(map[string]any, len(nodes))
	for _, name := range order {
		n, spec := nodes[name], merged[name]
		v := n.raw
		if n.template {
			v, err = renderParam(v, typeOf(spec), scope)
			if err != nil {
				var te *template.Error
				if errors.As(err, &te) {
					return nil, &Error{Param: name, Msg: "cannot render: " + te.Error()}
				}
				return nil, &Error{Param: name, Msg: "cannot render: " + err.Error()}
			}
		}
		cast, err := castValue(name, spec, v)
		if err != nil {
			return nil, err
		}
		values[name] = cast
		scope[name] = cast
	}
	return values, nil
}

// renderParam renders a parameter's template. A string parameter gets the
// rendered text, as in st2; others keep the type of a lone expression
// ("{{ hosts }}") and are cast afterwards. Lists and objects are rendered
// member by member.
func renderParam(v any, typ string, scope map[string]any) (any, error) {
	switch x := v.(type) {
	case string:
		if typ == "string" {
			s, err := template.Render(x, scope)
			if err != nil {
				return nil, err
			}
			if s == template.NoneMagicValue {
				return nil, nil
			}
			return s, nil
		}
		return template.RenderValue(x, scope)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			r, err := renderParam(e, "", scope)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			r, err := renderParam(e, "", scope)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	default:
		return v, nil
	}
}

func containsTemplate(v any) bool {
	switch x := v.(type) {
	case string:
		return template.IsTemplate(x)
	case []any:
		for _, e := range x {
			if containsTemplate(e) {
				return true
			}
		}
	case map[string]any:
		for _, e := range x {
			if containsTemplate(e) {
				return true
			}
		}
	}
	return false
}

func templateVariables(v any) ([]string, error) {
	seen := map[string]bool{}
	var walk func(any) error
	walk = func(v any) error {
		switch x := v.(type) {
		case string:
			vars, err := template.Variables(x)
			if err != nil {
				return err
			}
			for _, name := range vars {
				seen[name] = true
			}
		case []any:
			for _, e := range x {
				if err := walk(e); err != nil {
					return err
				}
			}
		case map[string]any:
			for _, e := range x {
				if err := walk(e); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(v); err != nil {
		return nil, err
	}
	return sortedKeys(seen), nil
}

// topoOrder orders the parameters so that every template comes after the
// parameters it refers to, and names the cycle when there is one.
func topoOrder(names []string, nodes map[string]*node) ([]string, error) {
	const (
		unvisited = iota
		visiting
		done
	)
	state := make(map[string]int, len(names))
	order := make([]string, 0, len(names))
	var stack []string
	var visit func(string) error
	visit = func(name string) error {
		switch state[name] {
		case done:
			return nil
		case visiting:
			i := len(stack) - 1
			for i > 0 && stack[i] != name {
				i--
			}
			cycle := append(append([]string{}, stack[i:]...), name)
			if len(cycle) == 2 {
				return &Error{Param: name, Msg: "its value refers to itself"}
			}
			return &Error{Param: cycle[0], Msg: "cyclic dependency between parameters: " + strings.Join(cycle, " -> ")}
		}
		state[name] = visiting
		stack = append(stack, name)
		for _, dep := range nodes[name].deps {
			if err := visit(dep); err != nil {
				return err
			}
		}
		stack = stack[:len(stack)-1]
		state[name] = done
		order = append(order, name)
		return nil
	}
	for _, name := range names {
		if err := visit(name); err != nil {
			return nil, err
		}
	}
	return order, nil
}

func typeOf(spec map[string]any) string {
	t, _ := spec["type"].(string)
	return t
}
