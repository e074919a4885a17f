// Package template renders Jinja templates the way StackStorm does: gonja/v2
// configured like st2's Jinja environment (strict undefined, trim_blocks,
// lstrip_blocks) with st2's custom filters (to_json_string, regex_replace,
// version_compare, use_none, ...). Action parameters, rule action parameters
// and notification messages are rendered through it.
//
// Compiled templates are kept in a bounded cache keyed by their source, since
// the same defaults (e.g. core.echo's `echo "{{message}}"`) are rendered for
// every execution. Templates cannot include, import or extend other files:
// their sources come from API users and pack metadata, never from disk.
package template

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/nikolalohinski/gonja/v2"
	"github.com/nikolalohinski/gonja/v2/builtins"
	"github.com/nikolalohinski/gonja/v2/config"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/loaders"
	"github.com/nikolalohinski/gonja/v2/nodes"
	"github.com/nikolalohinski/gonja/v2/parser"
	"github.com/nikolalohinski/gonja/v2/tokens"
)

// NoneMagicValue is what st2's use_none filter renders for None, so that a
// rendered parameter can be turned back into a real null when it is cast. The
// exact string is st2's: templates written for st2 may compare against it.
const NoneMagicValue = "%*****__%NONE%__*****%"

// Error is a template that does not parse or does not render. Line is
// 1-based; 0 means gonja did not say where.
type Error struct {
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("template error at line %d: %s", e.Line, e.Msg)
	}
	return "template error: " + e.Msg
}

// IsTemplate reports whether s contains Jinja markup, with st2's deliberately
// simple test (is_jinja_expression): "{{" or "{%" anywhere.
func IsTemplate(s string) bool {
	return strings.Contains(s, "{{") || strings.Contains(s, "{%")
}

// Render renders src with ctx as the template's variables. A string without
// Jinja markup is returned unchanged without being parsed.
func Render(src string, ctx map[string]any) (string, error) {
	if !IsTemplate(src) {
		return src, nil
	}
	c, err := compile(src)
	if err != nil {
		return "", err
	}
	out, err := c.tpl.ExecuteToString(exec.NewContext(ctx))
	if err != nil {
		return "", execError(err)
	}
	return out, nil
}

// RenderValue renders src but keeps the type of the value when src is
// exactly one expression, e.g. "{{ servers }}" yields the []any itself and
// "{{ count + 1 }}" an int, where st2 would render to text and parse it back
// according to the parameter's type. Any other template renders to a string.
// A value rendered as use_none's marker comes back as nil.
func RenderValue(src string, ctx map[string]any) (any, error) {
	if !IsTemplate(src) {
		return src, nil
	}
	c, err := compile(src)
	if err != nil {
		return nil, err
	}
	if c.single == nil {
		out, err := c.tpl.ExecuteToString(exec.NewContext(ctx))
		if err != nil {
			return nil, execError(err)
		}
		if out == NoneMagicValue {
			return nil, nil
		}
		return out, nil
	}
	e := &exec.Evaluator{
		Config: c.cfg,
		Environment: &exec.Environment{
			Filters:           environment.Filters,
			Tests:             environment.Tests,
			ControlStructures: environment.ControlStructures,
			Methods:           environment.Methods,
			Context:           environment.Context.Inherit().Update(exec.NewContext(ctx)),
		},
		Loader: c.loader,
	}
	v, err := evalOutput(e, c.single)
	if err != nil {
		return nil, err
	}
	return native(v), nil
}

// Variables returns the names of the variables src reads from its context,
// sorted: names it defines itself ({% set %}, loop variables, macro
// arguments) and Jinja's globals (range, dict, loop, ...) are left out. It is
// the counterpart of jinja2.meta.find_undeclared_variables, which st2 uses to
// order parameters that refer to one another. A string without markup has
// none.
func Variables(src string) ([]string, error) {
	if !IsTemplate(src) {
		return nil, nil
	}
	c, err := compile(src)
	if err != nil {
		return nil, err
	}
	return c.vars, nil
}

// Check parses src and reports a syntax error, without rendering.
func Check(src string) error {
	if !IsTemplate(src) {
		return nil
	}
	_, err := compile(src)
	return err
}

// ---------------------------------------------------------------------------
// environment

var environment = newEnvironment()

func newEnvironment() *exec.Environment {
	filters := exec.NewFilterSet(map[string]exec.FilterFunction{}).Update(builtins.Filters)
	for name, fn := range st2Filters {
		if filters.Exists(name) {
			if err := filters.Replace(name, fn); err != nil {
				panic(err)
			}
			continue
		}
		if err := filters.Register(name, fn); err != nil {
			panic(err)
		}
	}
	return &exec.Environment{
		Context:           gonja.DefaultContext,
		Filters:           filters,
		Tests:             builtins.Tests,
		ControlStructures: builtins.ControlStructures,
		Methods:           builtins.Methods,
	}
}

// newConfig mirrors st2's get_jinja_environment: StrictUndefined,
// trim_blocks and lstrip_blocks.
func newConfig() *config.Config {
	cfg := config.New()
	cfg.StrictUndefined = true
	cfg.TrimBlocks = true
	cfg.LeftStripBlocks = true
	return cfg
}

var baseConfig = newConfig()

const rootName = "template"

// sourceLoader serves the one template being compiled and refuses everything
// else, so that {% include %}, {% import %} and {% extends %} cannot read
// files from the server's disk.
type sourceLoader struct{ src string }

func (l sourceLoader) Read(path string) (io.Reader, error) {
	if path != rootName {
		return nil, fmt.Errorf("templates cannot include other templates (%q)", path)
	}
	return strings.NewReader(l.src), nil
}

func (l sourceLoader) Resolve(path string) (string, error) {
	if path != rootName {
		return "", fmt.Errorf("templates cannot include other templates (%q)", path)
	}
	return path, nil
}

func (l sourceLoader) Inherit(string) (loaders.Loader, error) { return l, nil }

// ---------------------------------------------------------------------------
// compilation and cache

type compiled struct {
	tpl    *exec.Template
	cfg    *config.Config
	loader loaders.Loader
	single *nodes.Output // set when the template is exactly one {{ expression }}
	vars   []string
	err    error
}

func compile(src string) (*compiled, error) {
	if c, ok := cache.get(src); ok {
		return c, c.err
	}
	c := doCompile(src)
	cache.put(src, c)
	return c, c.err
}

func doCompile(src string) *compiled {
	loader := sourceLoader{src: src}
	tpl, err := exec.NewTemplate(rootName, baseConfig, loader, environment)
	if err != nil {
		return &compiled{err: parseError(src, err)}
	}
	c := &compiled{tpl: tpl, cfg: baseConfig, loader: loader}
	if root := tpl.Root(); root != nil && len(root.Nodes) == 1 {
		if out, ok := root.Nodes[0].(*nodes.Output); ok {
			c.single = out
		}
	}
	c.vars = undeclaredVariables(src, baseConfig)
	return c
}

// cacheSize bounds each of the cache's two generations. Live parameters are
// arbitrary user strings, so the cache must not grow without limit.
const cacheSize = 4096

// genCache is a two-generation cache: entries live in cur; when cur is full
// it becomes old and a new cur starts. A hit in old is promoted. Hot templates
// stay, the working set is bounded by 2*cacheSize, and there is no per-entry
// bookkeeping on the hot path.
type genCache struct {
	mu  sync.Mutex
	cur map[string]*compiled
	old map[string]*compiled
}

var cache = &genCache{cur: make(map[string]*compiled)}

func (g *genCache) get(src string) (*compiled, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if c, ok := g.cur[src]; ok {
		return c, true
	}
	if c, ok := g.old[src]; ok {
		g.putLocked(src, c)
		return c, true
	}
	return nil, false
}

func (g *genCache) put(src string, c *compiled) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.putLocked(src, c)
}

func (g *genCache) putLocked(src string, c *compiled) {
	if len(g.cur) >= cacheSize {
		g.old = g.cur
		g.cur = make(map[string]*compiled, cacheSize)
	}
	g.cur[src] = c
}

// ---------------------------------------------------------------------------
// evaluation of a single expression

func evalOutput(e *exec.Evaluator, out *nodes.Output) (*exec.Value, error) {
	expr := out.Expression
	if out.Condition != nil {
		cond := e.Eval(out.Condition)
		if cond.IsError() {
			return nil, exprError(out.Condition, cond)
		}
		if cond.IsNil() || !cond.IsTrue() {
			if out.Alternative == nil {
				// Jinja renders "{{ x if c }}" with a false c as "".
				return exec.AsValue(""), nil
			}
			expr = out.Alternative
		}
	}
	v := e.Eval(expr)
	if v.IsError() {
		return nil, exprError(expr, v)
	}
	return v, nil
}

func exprError(expr nodes.Expression, v *exec.Value) error {
	line := 0
	if p := expr.Position(); p != nil {
		line = p.Line
	}
	return &Error{Line: line, Msg: cleanMessage(innermost(v).Error())}
}

// native turns a gonja value into plain Go data (nil, bool, int, float64,
// string, []any, map[string]any). Maps and lists are copied so that the
// result never aliases the caller's context.
func native(v *exec.Value) any {
	if v == nil || v.IsNil() {
		return nil
	}
	if v.IsString() {
		s := v.String()
		if s == NoneMagicValue {
			return nil
		}
		return s
	}
	simple := v.ToGoSimpleType(false)
	if _, isErr := simple.(error); isErr {
		return v.Interface()
	}
	return simple
}

// ---------------------------------------------------------------------------
// errors

var (
	atLineRe    = regexp.MustCompile(`at line (\d+)`)
	undefinedRe = regexp.MustCompile(`^Unable to evaluate name "([^"]*)"$`)
)

func parseError(src string, err error) error {
	var se *parser.SyntaxError
	if errors.As(err, &se) {
		if se.Line > 0 {
			msg := strings.TrimSuffix(se.Message, ".")
			if se.Raw != "" {
				msg += fmt.Sprintf(" (near %q)", se.Raw)
			}
			return &Error{Line: se.Line, Msg: lowerFirst(msg)}
		}
		// Lexer errors reach the parser without a position; find the error
		// token again to say where it is.
		if line, msg, ok := lexError(src); ok {
			return &Error{Line: line, Msg: lowerFirst(msg)}
		}
		return &Error{Msg: lowerFirst(se.Message)}
	}
	if line, msg, ok := lexError(src); ok {
		return &Error{Line: line, Msg: lowerFirst(msg)}
	}
	// gonja repeats the whole source in front of the reason; drop it.
	msg := strings.TrimPrefix(err.Error(), "failed to parse template '"+src+"': ")
	return &Error{Msg: lowerFirst(msg)}
}

func lexError(src string) (line int, msg string, ok bool) {
	s := tokens.LexAll(src, baseConfig)
	for ; !s.EOF(); s.Next() {
		tok := s.Current()
		if tok.Type == tokens.Error {
			pos := min(max(tok.Pos, 0), len(src))
			return strings.Count(src[:pos], "\n") + 1, tok.Val, true
		}
	}
	return 0, "", false
}

func execError(err error) error {
	line := 0
	if m := atLineRe.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
	}
	return &Error{Line: line, Msg: cleanMessage(innermost(err).Error())}
}

func innermost(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

func cleanMessage(msg string) string {
	if m := undefinedRe.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("%q is undefined", m[1])
	}
	return lowerFirst(msg)
}

func lowerFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 || !unicode.IsUpper(r) {
		return s
	}
	// Keep acronyms ("JSON ...") as they are.
	if r2, _ := utf8.DecodeRuneInString(s[n:]); unicode.IsUpper(r2) {
		return s
	}
	return string(unicode.ToLower(r)) + s[n:]
}
