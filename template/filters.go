package template

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"

	"github.com/nikolalohinski/gonja/v2/exec"
	"gopkg.in/yaml.v3"

	"github.com/squall-automation/squall/pyfmt"
)

// st2Filters are StackStorm's custom Jinja filters
// (st2common.expressions.functions), with the same names and arguments.
// Filters that need services (decrypt_kv, jsonpath_query) are not here.
var st2Filters = map[string]exec.FilterFunction{
	"to_json_string":             filterToJSONString,
	"to_yaml_string":             filterToYAMLString,
	"from_json_string":           filterFromJSONString,
	"from_yaml_string":           filterFromYAMLString,
	"json_escape":                filterJSONEscape,
	"to_complex":                 filterToComplex,
	"to_human_time_from_seconds": filterToHumanTime,
	"regex_match":                filterRegexMatch,
	"regex_search":               filterRegexSearch,
	"regex_replace":              filterRegexReplace,
	"regex_substring":            filterRegexSubstring,
	"use_none":                   filterUseNone,
	"basename":                   filterBasename,
	"dirname":                    filterDirname,
	"version_compare":            filterVersionCompare,
	"version_more_than":          filterVersionMoreThan,
	"version_less_than":          filterVersionLessThan,
	"version_equal":              filterVersionEqual,
	"version_match":              filterVersionMatch,
	"version_bump_major":         filterVersionBump("major"),
	"version_bump_minor":         filterVersionBump("minor"),
	"version_bump_patch":         filterVersionBump("patch"),
	"version_strip_patch":        filterVersionStripPatch,
}

func fail(err error) *exec.Value { return exec.AsValue(exec.ErrInvalidCall(err)) }

func failf(format string, args ...any) *exec.Value {
	return exec.AsValue(exec.ErrInvalidCall(fmt.Errorf(format, args...)))
}

func plain(v *exec.Value) any {
	if v == nil || v.IsNil() {
		return nil
	}
	return native(v)
}

// str is Python's str() of a filter's input, which st2's regex filters apply
// to non-string values; gonja's String() already prints Python-style
// (True, 1.0, ['a']).
func str(v *exec.Value) string { return v.String() }

// --- data ------------------------------------------------------------------

func filterToJSONString(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
	if in.IsError() {
		return in
	}
	var indent, sortKeys *exec.Value
	if err := params.Take(
		exec.KeywordArgument("indent", exec.AsValue(nil), takeValue(&indent)),
		exec.KeywordArgument("sort_keys", exec.AsValue(false), takeValue(&sortKeys)),
		exec.KeywordArgument("separators", exec.AsValue(nil), takeValue(new(*exec.Value))),
	); err != nil {
		return fail(err)
	}
	// st2 passes separators=(',', ': ') to json.dumps; keys are always sorted
	// here because Go maps have no insertion order to preserve.
	opts := pyfmt.JSONOptions{ItemSep: ",", KeySep: ": "}
	if !indent.IsNil() {
		if !indent.IsInteger() {
			return failf("indent must be an integer, got %s", indent.String())
		}
		// A negative indent has always written one line here (Python would
		// break lines without indenting); kept as it is.
		if ind := indent.Integer(); ind >= 0 {
			opts.Indent = &ind
		}
	}
	out, err := pyfmt.JSON(plain(in), opts)
	if err != nil {
		return fail(err)
	}
	return exec.AsValue(out)
}

func filterToComplex(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
	if in.IsError() {
		return in
	}
	if err := params.Take(); err != nil {
		return fail(err)
	}
	out, err := pyfmt.JSON(plain(in), pyfmt.JSONOptions{})
	if err != nil {
		return fail(err)
	}
	return exec.AsValue(out)
}

func filterToYAMLString(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
	if in.IsError() {
		return in
	}
	var indent *exec.Value
	if err := params.Take(
		exec.KeywordArgument("indent", exec.AsValue(nil), takeValue(&indent)),
		exec.KeywordArgument("allow_unicode", exec.AsValue(true), takeValue(new(*exec.Value))),
	); err != nil {
		return fail(err)
	}
	var sb strings.Builder
	enc := yaml.NewEncoder(&sb)
	if !indent.IsNil() {
		if !indent.IsInteger() {
			return failf("indent must be an integer, got %s", indent.String())
		}
		enc.SetIndent(indent.Integer())
	} else {
		enc.SetIndent(2)
	}
	if err := enc.Encode(plain(in)); err != nil {
		return fail(err)
	}
	if err := enc.Close(); err != nil {
		return fail(err)
	}
	return exec.AsValue(sb.String())
}

func filterFromJSONString(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
	if in.IsError() {
		return in
	}
	if err := params.Take(); err != nil {
		return fail(err)
	}
	dec := json.NewDecoder(strings.NewReader(in.String()))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		return failf("not valid JSON: %v", err)
	}
	if dec.More() {
		return failf("not valid JSON: data after the value")
	}
	return exec.AsValue(JSONNumbers(out))
}

func filterFromYAMLString(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
	if in.IsError() {
		return in
	}
	if err := params.Take(); err != nil {
		return fail(err)
	}
	var out any
	if err := yaml.Unmarshal([]byte(in.String()), &out); err != nil {
		return failf("not valid YAML: %v", err)
	}
	return exec.AsValue(out)
}

// filterJSONEscape escapes a value for embedding inside a JSON string, like
// st2's json.dumps(value) with the surrounding quotes removed. st2 strips every
// leading and trailing quote character, which eats an escaped quote at the end
// of the value; only the one pair json.dumps added is removed here.
func filterJSONEscape(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
	if in.IsError() {
		return in
	}
	if err := params.Take(); err != nil {
		return fail(err)
	}
	out, err := pyfmt.JSON(plain(in), pyfmt.JSONOptions{})
	if err != nil {
		return fail(err)
	}
	if len(out) >= 2 && out[0] == '"' && out[len(out)-1] == '"' {
		out = out[1 : len(out)-1]
	}
	return exec.AsValue(out)
}

func filterUseNone(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
	if in.IsError() {
		return in
	}
	if err := params.Take(); err != nil {
		return fail(err)
	}
	if in.IsNil() {
		return exec.AsValue(NoneMagicValue)
	}
	return in
}

// --- time ------------------------------------------------------------------

func filterToHumanTime(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
	if in.IsError() {
		return in
	}
	if err := params.Take(); err != nil {
		return fail(err)
	}
	if in.IsNil() {
		return exec.AsValue(nil)
	}
	if !in.IsNumber() {
		return failf("seconds must be a number, got %s", in.String())
	}
	s, err := humanTime(in)
	if err != nil {
		return fail(err)
	}
	return exec.AsValue(s)
}

// humanTime formats seconds as st2 does ("1h3m5s"): the value is added to
// 0001-01-01 and the year, day of month, hour, minute and second of the result
// are printed from the first non-zero one on. As in st2, whole months fall out
// of the day count.
func humanTime(in *exec.Value) (string, error) {
	var secs int64
	if in.IsFloat() {
		f := in.Float()
		if f == 0 {
			return "0s", nil
		}
		if f > 0 && f < 1 {
			return fmt.Sprintf("%sμs", pyfmt.Float(f)), nil
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return "", fmt.Errorf("seconds must be finite, got %v", f)
		}
		secs = int64(math.RoundToEven(f))
	} else {
		secs = int64(in.Integer())
	}
	if secs == 0 {
		return "0s", nil
	}
	if secs < 0 {
		return "", fmt.Errorf("seconds must not be negative, got %d", secs)
	}
	t := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(secs/86400)).Add(time.Duration(secs%86400) * time.Second)
	parts := []int{t.Year() - 1, t.Day() - 1, t.Hour(), t.Minute(), t.Second()}
	first := 0
	for first < len(parts) && parts[first] == 0 {
		first++
	}
	if first == len(parts) {
		return "0s", nil
	}
	units := []string{"y", "d", "h", "m", "s"}
	// st2 labels by how many parts remain, not by which ones they are.
	labels := units[len(units)-(len(parts)-first):]
	var sb strings.Builder
	for i, p := range parts[first:] {
		fmt.Fprintf(&sb, "%d%s", p, labels[i])
	}
	return sb.String(), nil
}

// --- regex -----------------------------------------------------------------

func compileRegex(pattern string, ignoreCase bool) (*regexp.Regexp, error) {
	if ignoreCase {
		pattern = "(?i)" + pattern
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("invalid regular expression %q: %v", pattern, err)
	}
	return re, nil
}

func regexArgs(params *exec.VarArgs) (pattern string, ignoreCase bool, err error) {
	var p, ic *exec.Value
	err = params.Take(
		exec.PositionalArgument("pattern", nil, takeValue(&p)),
		exec.KeywordArgument("ignorecase", exec.AsValue(false), takeValue(&ic)),
	)
	if err != nil {
		return "", false, err
	}
	return p.String(), ic.IsTrue(), nil
}

func filterRegexMatch(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
	if in.IsError() {
		return in
	}
	pattern, ic, err := regexArgs(params)
	if err != nil {
		return fail(err)
	}
	// Python's re.match anchors at the start of the string only.
	re, err := compileRegex(`\A(?:`+pattern+`)`, ic)
	if err != nil {
		return fail(err)
	}
	return exec.AsValue(re.MatchString(str(in)))
}

func filterRegexSearch(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
	if in.IsError() {
		return in
	}
	pattern, ic, err := regexArgs(params)
	if err != nil {
		return fail(err)
	}
	re, err := compileRegex(pattern, ic)
	if err != nil {
		return fail(err)
	}
	return exec.AsValue(re.MatchString(str(in)))
}

func filterRegexReplace(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
	if in.IsError() {
		return in
	}
	var p, repl, ic *exec.Value
	if err := params.Take(
		exec.PositionalArgument("pattern", nil, takeValue(&p)),
		exec.PositionalArgument("replacement", nil, takeValue(&repl)),
		exec.KeywordArgument("ignorecase", exec.AsValue(false), takeValue(&ic)),
	); err != nil {
		return fail(err)
	}
	re, err := compileRegex(p.String(), ic.IsTrue())
	if err != nil {
		return fail(err)
	}
	return exec.AsValue(re.ReplaceAllString(str(in), pythonReplacement(repl.String())))
}

// pythonReplacement rewrites a Python re.sub replacement (\1, \g<name>,
// \g<1>, \n) into Go's Expand syntax (${1}, ${name}), escaping literal '$'.
func pythonReplacement(r string) string {
	var sb strings.Builder
	for i := 0; i < len(r); i++ {
		c := r[i]
		switch {
		case c == '$':
			sb.WriteString("$$")
		case c == '\\' && i+1 < len(r):
			n := r[i+1]
			switch {
			case n >= '0' && n <= '9':
				j := i + 1
				for j < len(r) && j < i+3 && r[j] >= '0' && r[j] <= '9' {
					j++
				}
				sb.WriteString("${" + r[i+1:j] + "}")
				i = j - 1
			case n == 'g' && i+2 < len(r) && r[i+2] == '<':
				end := strings.IndexByte(r[i+3:], '>')
				if end < 0 {
					sb.WriteString(`\g`)
					i++
					continue
				}
				sb.WriteString("${" + r[i+3:i+3+end] + "}")
				i = i + 3 + end
			case n == 'n':
				sb.WriteByte('\n')
				i++
			case n == 't':
				sb.WriteByte('\t')
				i++
			case n == 'r':
				sb.WriteByte('\r')
				i++
			case n == '\\':
				sb.WriteByte('\\')
				i++
			default:
				sb.WriteByte('\\')
			}
		default:
			sb.WriteByte(c)
		}
	}
	return sb.String()
}

// filterRegexSubstring returns re.findall(pattern, value)[result_index]: the
// whole match when the pattern has no groups, the group when it has one, and
// the list of groups when it has several.
func filterRegexSubstring(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
	if in.IsError() {
		return in
	}
	var p, idx, ic *exec.Value
	if err := params.Take(
		exec.PositionalArgument("pattern", nil, takeValue(&p)),
		exec.KeywordArgument("result_index", exec.AsValue(0), takeValue(&idx)),
		exec.KeywordArgument("ignorecase", exec.AsValue(false), takeValue(&ic)),
	); err != nil {
		return fail(err)
	}
	if !idx.IsInteger() {
		return failf("result_index must be an integer, got %s", idx.String())
	}
	re, err := compileRegex(p.String(), ic.IsTrue())
	if err != nil {
		return fail(err)
	}
	matches := re.FindAllStringSubmatch(str(in), -1)
	i := idx.Integer()
	if i < 0 {
		i += len(matches)
	}
	if i < 0 || i >= len(matches) {
		return failf("no match number %d for %q (found %d)", idx.Integer(), p.String(), len(matches))
	}
	m := matches[i]
	switch re.NumSubexp() {
	case 0:
		return exec.AsValue(m[0])
	case 1:
		return exec.AsValue(m[1])
	default:
		groups := make([]any, len(m)-1)
		for j, g := range m[1:] {
			groups[j] = g
		}
		return exec.AsValue(groups)
	}
}

// --- path ------------------------------------------------------------------

// filterBasename and filterDirname follow Python's posixpath: "a/b/" has an
// empty basename and "a/b" as dirname.
func filterBasename(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
	if in.IsError() {
		return in
	}
	if err := params.Take(); err != nil {
		return fail(err)
	}
	p := in.String()
	return exec.AsValue(p[strings.LastIndexByte(p, '/')+1:])
}

func filterDirname(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
	if in.IsError() {
		return in
	}
	if err := params.Take(); err != nil {
		return fail(err)
	}
	p := in.String()
	head := p[:strings.LastIndexByte(p, '/')+1]
	if head != "" && strings.Trim(head, "/") != "" {
		head = strings.TrimRight(head, "/")
	}
	return exec.AsValue(head)
}

// --- version ---------------------------------------------------------------

func versionArgs(in *exec.Value, params *exec.VarArgs) (a, b semver, err error) {
	var other *exec.Value
	if err = params.Take(exec.PositionalArgument("pattern", nil, takeValue(&other))); err != nil {
		return
	}
	if a, err = parseSemver(in.String()); err != nil {
		return
	}
	b, err = parseSemver(other.String())
	return
}

func filterVersionCompare(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
	if in.IsError() {
		return in
	}
	a, b, err := versionArgs(in, params)
	if err != nil {
		return fail(err)
	}
	return exec.AsValue(a.compare(b))
}

func filterVersionMoreThan(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
	if in.IsError() {
		return in
	}
	a, b, err := versionArgs(in, params)
	if err != nil {
		return fail(err)
	}
	return exec.AsValue(a.compare(b) == 1)
}

func filterVersionLessThan(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
	if in.IsError() {
		return in
	}
	a, b, err := versionArgs(in, params)
	if err != nil {
		return fail(err)
	}
	return exec.AsValue(a.compare(b) == -1)
}

func filterVersionEqual(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
	if in.IsError() {
		return in
	}
	a, b, err := versionArgs(in, params)
	if err != nil {
		return fail(err)
	}
	return exec.AsValue(a.compare(b) == 0)
}

// filterVersionMatch is semver.match: pattern is a comparison operator
// (>, >=, <, <=, ==, !=) followed by a version.
func filterVersionMatch(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
	if in.IsError() {
		return in
	}
	var pattern *exec.Value
	if err := params.Take(exec.PositionalArgument("pattern", nil, takeValue(&pattern))); err != nil {
		return fail(err)
	}
	ok, err := semverMatch(in.String(), pattern.String())
	if err != nil {
		return fail(err)
	}
	return exec.AsValue(ok)
}

func filterVersionBump(part string) exec.FilterFunction {
	return func(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
		if in.IsError() {
			return in
		}
		if err := params.Take(); err != nil {
			return fail(err)
		}
		v, err := parseSemver(in.String())
		if err != nil {
			return fail(err)
		}
		switch part {
		case "major":
			v = semver{major: v.major + 1}
		case "minor":
			v = semver{major: v.major, minor: v.minor + 1}
		default:
			v = semver{major: v.major, minor: v.minor, patch: v.patch + 1}
		}
		return exec.AsValue(v.String())
	}
}

func filterVersionStripPatch(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
	if in.IsError() {
		return in
	}
	if err := params.Take(); err != nil {
		return fail(err)
	}
	v, err := parseSemver(in.String())
	if err != nil {
		return fail(err)
	}
	return exec.AsValue(fmt.Sprintf("%d.%d", v.major, v.minor))
}

func takeValue(out **exec.Value) exec.ArgumentTransmuter {
	return func(v *exec.Value) error {
		*out = v
		return nil
	}
}
