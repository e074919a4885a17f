package rules

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// OpFunc is one criteria operator (st2common/operators.py): value is the
// payload value the criterion's key selected (nil when the key is missing
// or null, which st2 cannot tell apart), pattern the rendered pattern. An
// error is what Python would raise (TypeError, re.error, ...): st2 counts
// the criterion as not matched and records a failed rule enforcement.
type OpFunc func(value, pattern any) (bool, error)

// Operator returns the operator named name. Like st2's get_operator the
// name is case-insensitive; aliases (eq, neq, lt, td_gt, in, nin, ...)
// return the same function as their long names.
//
// search only works inside compiled criteria: it needs the criterion's
// condition and nested criteria, which Compile attaches; called with a
// plain pattern it returns an error.
func Operator(name string) (OpFunc, bool) {
	fn, ok := operators[strings.ToLower(name)]
	return fn, ok
}

// OperatorNames lists st2's operator names, aliases included, sorted.
func OperatorNames() []string {
	names := make([]string, 0, len(operators))
	for n := range operators {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Operator names, st2's exactly (operators.py): 33 with the aliases.
const (
	OpMatchWildcard = "matchwildcard"
	OpMatchRegex    = "matchregex"
	OpRegex         = "regex"
	OpIRegex        = "iregex"
	OpEquals        = "equals"
	OpEq            = "eq"
	OpNEquals       = "nequals"
	OpNeq           = "neq"
	OpIEquals       = "iequals"
	OpIEq           = "ieq"
	OpContains      = "contains"
	OpIContains     = "icontains"
	OpNContains     = "ncontains"
	OpINContains    = "incontains"
	OpStartsWith    = "startswith"
	OpIStartsWith   = "istartswith"
	OpEndsWith      = "endswith"
	OpIEndsWith     = "iendswith"
	OpLessThan      = "lessthan"
	OpLt            = "lt"
	OpGreaterThan   = "greaterthan"
	OpGt            = "gt"
	OpTimediffLt    = "timediff_lt"
	OpTdLt          = "td_lt"
	OpTimediffGt    = "timediff_gt"
	OpTdGt          = "td_gt"
	OpExists        = "exists"
	OpNExists       = "nexists"
	OpInside        = "inside"
	OpIn            = "in"
	OpNInside       = "ninside"
	OpNin           = "nin"
	OpSearch        = "search"
)

var operators = map[string]OpFunc{
	OpMatchWildcard: matchWildcard,
	OpMatchRegex:    matchRegex,
	OpRegex:         regexSearch,
	OpIRegex:        iregexSearch,
	OpEquals:        equals,
	OpEq:            equals,
	OpNEquals:       nequals,
	OpNeq:           nequals,
	OpIEquals:       iequals,
	OpIEq:           iequals,
	OpContains:      contains,
	OpIContains:     icontains,
	OpNContains:     ncontains,
	OpINContains:    incontains,
	OpStartsWith:    startsWith,
	OpIStartsWith:   istartsWith,
	OpEndsWith:      endsWith,
	OpIEndsWith:     iendsWith,
	OpLessThan:      lessThan,
	OpLt:            lessThan,
	OpGreaterThan:   greaterThan,
	OpGt:            greaterThan,
	OpTimediffLt:    timediffLt,
	OpTdLt:          timediffLt,
	OpTimediffGt:    timediffGt,
	OpTdGt:          timediffGt,
	OpExists:        exists,
	OpNExists:       nexists,
	OpInside:        inside,
	OpIn:            inside,
	OpNInside:       ninside,
	OpNin:           ninside,
	OpSearch:        search,
}

// Nearly every st2 operator starts with `if criteria_pattern is None:
// return False`; nequals, exists and nexists do not.

func equals(value, pattern any) (bool, error) {
	if pattern == nil {
		return false, nil
	}
	return pyEqual(value, pattern), nil
}

// nequals has no None guard in st2: a null pattern is "not equal" to any
// present value.
func nequals(value, pattern any) (bool, error) {
	return !pyEqual(value, pattern), nil
}

func iequals(value, pattern any) (bool, error) {
	return strPair(value, pattern, func(v, p string) bool {
		return strings.ToLower(v) == strings.ToLower(p)
	})
}

// contains is Python's `pattern in value`: a substring test on strings, a
// membership test (with ==) on lists, a key test on dicts.
func contains(value, pattern any) (bool, error) {
	if pattern == nil {
		return false, nil
	}
	return pyContains(value, pattern)
}

func ncontains(value, pattern any) (bool, error) {
	if pattern == nil {
		return false, nil
	}
	in, err := pyContains(value, pattern)
	if err != nil {
		return false, err
	}
	return !in, nil
}

// icontains and incontains lower-case both sides, so unlike contains they
// only work on strings (a list has no .lower()).
func icontains(value, pattern any) (bool, error) {
	return strPair(value, pattern, func(v, p string) bool {
		return strings.Contains(strings.ToLower(v), strings.ToLower(p))
	})
}

func incontains(value, pattern any) (bool, error) {
	return strPair(value, pattern, func(v, p string) bool {
		return !strings.Contains(strings.ToLower(v), strings.ToLower(p))
	})
}

func startsWith(value, pattern any) (bool, error) {
	if pattern == nil {
		return false, nil
	}
	v, err := pyStr(value, "startswith")
	if err != nil {
		return false, err
	}
	p, ok := pattern.(string)
	if !ok {
		return false, typeErrorf("startswith first arg must be str or a tuple of str, not %s", pyType(pattern))
	}
	return strings.HasPrefix(v, p), nil
}

func istartsWith(value, pattern any) (bool, error) {
	return strPair(value, pattern, func(v, p string) bool {
		return strings.HasPrefix(strings.ToLower(v), strings.ToLower(p))
	})
}

func endsWith(value, pattern any) (bool, error) {
	if pattern == nil {
		return false, nil
	}
	v, err := pyStr(value, "endswith")
	if err != nil {
		return false, err
	}
	p, ok := pattern.(string)
	if !ok {
		return false, typeErrorf("endswith first arg must be str or a tuple of str, not %s", pyType(pattern))
	}
	return strings.HasSuffix(v, p), nil
}

func iendsWith(value, pattern any) (bool, error) {
	return strPair(value, pattern, func(v, p string) bool {
		return strings.HasSuffix(strings.ToLower(v), strings.ToLower(p))
	})
}

// strPair applies a case-insensitive string test: st2 calls .lower() on
// both sides, which only str has.
func strPair(value, pattern any, test func(v, p string) bool) (bool, error) {
	if pattern == nil {
		return false, nil
	}
	v, err := pyStr(value, "lower")
	if err != nil {
		return false, err
	}
	p, err := pyStr(pattern, "lower")
	if err != nil {
		return false, err
	}
	return test(v, p), nil
}

// lessThan and greaterThan are Python's < and > with no coercion: a
// numeric payload against a quoted pattern ("5") is a TypeError, so the
// rule does not match and the enforcement is recorded as failed.
func lessThan(value, pattern any) (bool, error) {
	if pattern == nil {
		return false, nil
	}
	c, err := pyCompare(value, pattern)
	if err == errUnordered {
		return false, nil
	}
	return c < 0, err
}

func greaterThan(value, pattern any) (bool, error) {
	if pattern == nil {
		return false, nil
	}
	c, err := pyCompare(value, pattern)
	if err == errUnordered {
		return false, nil
	}
	return c > 0, err
}

// matchWildcard is fnmatch.fnmatch: shell-style *, ?, [seq], [!seq] over
// the whole value, case-sensitive (POSIX normcase is the identity).
func matchWildcard(value, pattern any) (bool, error) {
	if pattern == nil {
		return false, nil
	}
	v, ok := value.(string)
	if !ok {
		return false, typeErrorf("expected str, bytes or os.PathLike object, not %s", pyType(value))
	}
	p, ok := pattern.(string)
	if !ok {
		return false, typeErrorf("expected str, bytes or os.PathLike object, not %s", pyType(pattern))
	}
	re, err := cachedRegexp(fnmatchKey, p)
	if err != nil {
		return false, err
	}
	return re.MatchString(v), nil
}

// matchRegex (deprecated in st2 for regex/iregex) is
// re.compile(pattern, re.DOTALL).match(value): anchored at the start only,
// and "." also matches newlines.
func matchRegex(value, pattern any) (bool, error) {
	return regexOp(value, pattern, matchKey)
}

// regexSearch is re.search(pattern, value): unanchored, "." stops at
// newlines.
func regexSearch(value, pattern any) (bool, error) {
	return regexOp(value, pattern, searchKey)
}

// iregexSearch is re.search with re.IGNORECASE.
func iregexSearch(value, pattern any) (bool, error) {
	return regexOp(value, pattern, isearchKey)
}

func regexOp(value, pattern any, kind regexKind) (bool, error) {
	if pattern == nil {
		return false, nil
	}
	p, ok := pattern.(string)
	if !ok {
		return false, typeErrorf("first argument must be string or compiled pattern")
	}
	v, ok := value.(string)
	if !ok {
		return false, typeErrorf("expected string or bytes-like object, got '%s'", pyType(value))
	}
	re, err := cachedRegexp(kind, p)
	if err != nil {
		return false, err
	}
	return re.MatchString(v), nil
}

// timediffLt and timediffGt compare the seconds elapsed since the payload's
// timestamp (dateutil-parsed, naive times taken as UTC) with float(pattern).
func timediffLt(value, pattern any) (bool, error) {
	return timediff(value, pattern, func(elapsed, period float64) bool { return elapsed < period })
}

func timediffGt(value, pattern any) (bool, error) {
	return timediff(value, pattern, func(elapsed, period float64) bool { return elapsed > period })
}

// now is replaced by tests to make timediff deterministic.
var now = time.Now

func timediff(value, pattern any, op func(elapsed, period float64) bool) (bool, error) {
	if pattern == nil {
		return false, nil
	}
	t, err := parseTimestamp(value)
	if err != nil {
		return false, err
	}
	period, err := pyFloat(pattern)
	if err != nil {
		return false, err
	}
	return op(now().Sub(t).Seconds(), period), nil
}

// timestampLayouts are the forms dateutil.parser.parse reads that payloads
// carry in practice: ISO 8601 / RFC 3339 with or without a zone, with a T or
// a space, fractional seconds, and RFC 1123 dates from HTTP headers.
var timestampLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999Z0700",
	"2006-01-02 15:04:05.999999999 -0700",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04",
	"2006-01-02 15:04",
	"2006-01-02",
	time.RFC1123Z,
	time.RFC1123,
	time.RFC850,
	time.ANSIC,
	"Mon, 2 Jan 2006 15:04:05 -0700",
	"Mon, 2 Jan 2006 15:04:05 MST",
}

// parseTimestamp is st2's date_utils.parse: str(value) parsed, naive times
// assumed UTC.
func parseTimestamp(value any) (time.Time, error) {
	s, ok := value.(string)
	if !ok {
		if value == nil {
			return time.Time{}, typeErrorf("cannot parse None as a date")
		}
		s = fmt.Sprint(value)
	}
	s = strings.TrimSpace(s)
	for _, layout := range timestampLayouts {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, &typeError{msg: fmt.Sprintf("unknown string format: %q", s)}
}

func exists(value, _ any) (bool, error) { return value != nil, nil }

func nexists(value, _ any) (bool, error) { return value == nil, nil }

// inside is the reverse of contains: Python's `value in pattern`.
func inside(value, pattern any) (bool, error) {
	if pattern == nil {
		return false, nil
	}
	return pyContains(pattern, value)
}

func ninside(value, pattern any) (bool, error) {
	if pattern == nil {
		return false, nil
	}
	in, err := pyContains(pattern, value)
	if err != nil {
		return false, err
	}
	return !in, nil
}

// ---------------------------------------------------------------------------
// regular expressions

type regexKind uint8

const (
	searchKey regexKind = iota
	isearchKey
	matchKey
	fnmatchKey
)

type regexCacheKey struct {
	kind    regexKind
	pattern string
}

// regexCache holds compiled patterns: literal patterns are compiled once at
// Compile, rendered (Jinja) ones on first use. It is bounded because
// rendered patterns can be as many as the events.
var regexCache = struct {
	sync.RWMutex
	m map[regexCacheKey]*regexp.Regexp
}{m: map[regexCacheKey]*regexp.Regexp{}}

const regexCacheSize = 4096

func cachedRegexp(kind regexKind, pattern string) (*regexp.Regexp, error) {
	key := regexCacheKey{kind, pattern}
	regexCache.RLock()
	re, ok := regexCache.m[key]
	regexCache.RUnlock()
	if ok {
		return re, nil
	}
	re, err := compileRegexp(kind, pattern)
	if err != nil {
		return nil, err
	}
	regexCache.Lock()
	if len(regexCache.m) >= regexCacheSize {
		regexCache.m = map[regexCacheKey]*regexp.Regexp{}
	}
	regexCache.m[key] = re
	regexCache.Unlock()
	return re, nil
}

func compileRegexp(kind regexKind, pattern string) (*regexp.Regexp, error) {
	var src string
	switch kind {
	case searchKey:
		src = pyRegex(pattern)
	case isearchKey:
		src = "(?i)" + pyRegex(pattern)
	case matchKey:
		// re.match anchors at the start only; \A keeps "a|b" anchored as a
		// whole; (?s) is re.DOTALL.
		src = `(?s)\A(?:` + pyRegex(pattern) + `)`
	case fnmatchKey:
		src = fnmatchTranslate(pattern)
	}
	re, err := regexp.Compile(src)
	if err != nil {
		return nil, fmt.Errorf("pattern %q is not a regular expression Go's RE2 supports (st2 uses Python's re; lookarounds and backreferences are not available): %w", pattern, err)
	}
	return re, nil
}

// pyRegex adapts the Python-only spellings RE2 lacks an equivalent name
// for: \Z (end of string) is RE2's \z.
func pyRegex(p string) string {
	if !strings.Contains(p, `\Z`) {
		return p
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '\\' && i+1 < len(p) {
			if p[i+1] == 'Z' {
				b.WriteString(`\z`)
			} else {
				b.WriteByte(p[i])
				b.WriteByte(p[i+1])
			}
			i++
			continue
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

// fnmatchTranslate is Python's fnmatch.translate: the whole string must
// match, "*" spans anything including "/" and newlines, "[!...]" negates,
// an unclosed "[" is literal.
func fnmatchTranslate(pat string) string {
	var b strings.Builder
	b.WriteString(`(?s)\A(?:`)
	rs := []rune(pat)
	n := len(rs)
	for i := 0; i < n; {
		c := rs[i]
		i++
		switch c {
		case '*':
			b.WriteString(`.*`)
			for i < n && rs[i] == '*' {
				i++
			}
		case '?':
			b.WriteString(`.`)
		case '[':
			j := i
			if j < n && rs[j] == '!' {
				j++
			}
			if j < n && rs[j] == ']' {
				j++
			}
			for j < n && rs[j] != ']' {
				j++
			}
			if j >= n {
				b.WriteString(`\[`)
				continue
			}
			stuff := rs[i:j]
			i = j + 1
			var set strings.Builder
			for k, r := range stuff {
				switch {
				case k == 0 && r == '!':
					set.WriteRune('^')
				case k == 0 && r == '^':
					set.WriteString(`\^`)
				case r == '\\' || r == '[' || r == ']':
					set.WriteRune('\\')
					set.WriteRune(r)
				default:
					set.WriteRune(r)
				}
			}
			b.WriteString("[" + set.String() + "]")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString(`)\z`)
	return b.String()
}
