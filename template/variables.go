package template

import (
	"sort"

	"github.com/nikolalohinski/gonja/v2/config"
	"github.com/nikolalohinski/gonja/v2/tokens"
)

// globals are names the environment provides; a template using them does not
// depend on any parameter.
var globals = map[string]bool{
	"range": true, "dict": true, "lipsum": true, "cycler": true, "joiner": true,
	"namespace": true, "loop": true, "self": true, "gonja": true, "caller": true,
	"varargs": true, "kwargs": true, "_": true, "gettext": true, "ngettext": true,
}

// keywords are names the grammar reserves inside {{ }} and {% %}.
var keywords = map[string]bool{
	"true": true, "false": true, "none": true, "True": true, "False": true, "None": true,
	"if": true, "else": true, "elif": true, "recursive": true, "as": true, "with": true,
	"without": true, "context": true, "ignore": true, "missing": true, "import": true,
	"from": true, "and": true, "or": true, "not": true, "in": true, "is": true,
}

// statementsWithoutVariables are block tags whose names never refer to
// context variables (end tags, filter sections, file inclusion which the
// loader refuses anyway).
var statementsWithoutVariables = map[string]bool{
	"filter": true, "include": true, "import": true, "from": true, "extends": true,
	"block": true, "raw": true, "autoescape": true, "trans": true, "break": true,
	"continue": true,
}

// undeclaredVariables finds the names a template reads from its context by
// walking its tokens: gonja's AST does not expose every statement's parts,
// while the token stream has all names with enough surroundings to tell a
// variable from an attribute, filter, test, keyword argument or a name the
// template declares itself.
func undeclaredVariables(src string, cfg *config.Config) []string {
	var toks []*tokens.Token
	s := tokens.LexAll(src, cfg)
	for ; !s.End(); s.Next() {
		toks = append(toks, s.Current())
	}

	used := map[string]bool{}
	declared := map[string]bool{}

	inExpr := false   // inside {{ }} or {% %}
	stmt := ""        // current block statement's tag, "" inside {{ }}
	stmtTokens := 0   // tokens seen since the block began
	beforeIn := false // in a for statement, before "in": loop targets
	beforeAssign := false
	parenDepth := 0

	for i, tok := range toks {
		switch tok.Type {
		case tokens.VariableBegin:
			inExpr, stmt, stmtTokens, parenDepth = true, "", 0, 0
			continue
		case tokens.BlockBegin:
			inExpr, stmt, stmtTokens, parenDepth = true, "", 0, 0
			beforeIn, beforeAssign = false, false
			continue
		case tokens.VariableEnd, tokens.BlockEnd:
			inExpr = false
			continue
		}
		if !inExpr {
			continue
		}
		stmtTokens++
		var prev, next *tokens.Token
		if i > 0 {
			prev = toks[i-1]
		}
		if i+1 < len(toks) {
			next = toks[i+1]
		}
		switch tok.Type {
		case tokens.LeftParenthesis, tokens.LeftBracket, tokens.LeftBrace:
			parenDepth++
			continue
		case tokens.RightParenthesis, tokens.RightBracket, tokens.RightBrace:
			parenDepth--
			continue
		case tokens.In:
			beforeIn = false
			continue
		case tokens.Assign:
			if parenDepth == 0 {
				beforeAssign = false
			}
			continue
		case tokens.Name:
		default:
			continue
		}

		name := tok.Val
		// The first name of a block is its tag.
		if prev != nil && prev.Type == tokens.BlockBegin {
			stmt = name
			switch name {
			case "for":
				beforeIn = true
			case "set", "with":
				beforeAssign = true
			}
			continue
		}
		if statementsWithoutVariables[stmt] {
			continue
		}
		if keywords[name] {
			continue
		}
		if prev != nil {
			switch prev.Type {
			case tokens.Dot, tokens.Pipe, tokens.Is:
				continue // attribute, filter or test name
			case tokens.Not:
				if i >= 2 && toks[i-2].Type == tokens.Is {
					continue // "is not <test>"
				}
			}
		}
		nextIsAssign := next != nil && next.Type == tokens.Assign
		switch {
		case stmt == "for" && beforeIn:
			declared[name] = true
		case (stmt == "set" || stmt == "with") && beforeAssign && parenDepth == 0:
			if next != nil && next.Type == tokens.Dot {
				used[name] = true // {% set ns.attr = ... %}
			} else {
				declared[name] = true
			}
		case stmt == "macro" && stmtTokens == 2:
			declared[name] = true // the macro's own name
		case stmt == "macro" && parenDepth == 1 && prev != nil &&
			(prev.Type == tokens.LeftParenthesis || prev.Type == tokens.Comma):
			declared[name] = true // a macro argument
		case nextIsAssign && parenDepth > 0:
			// keyword argument name in a call
		default:
			used[name] = true
		}
	}

	out := make([]string, 0, len(used))
	for name := range used {
		if declared[name] || globals[name] {
			continue
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}
