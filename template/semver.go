package template

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// semver is a strict Semantic Versioning 2.0 version, as the python-semver
// library behind st2's version_* filters parses it.
type semver struct {
	major, minor, patch int
	prerelease          string
	build               string
}

var semverRe = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)` +
	`(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$`)

func parseSemver(s string) (semver, error) {
	m := semverRe.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return semver{}, fmt.Errorf("%q is not a valid semantic version (MAJOR.MINOR.PATCH)", s)
	}
	var v semver
	var err error
	if v.major, err = strconv.Atoi(m[1]); err != nil {
		return semver{}, fmt.Errorf("%q: %v", s, err)
	}
	if v.minor, err = strconv.Atoi(m[2]); err != nil {
		return semver{}, fmt.Errorf("%q: %v", s, err)
	}
	if v.patch, err = strconv.Atoi(m[3]); err != nil {
		return semver{}, fmt.Errorf("%q: %v", s, err)
	}
	v.prerelease, v.build = m[4], m[5]
	return v, nil
}

func (v semver) String() string {
	s := fmt.Sprintf("%d.%d.%d", v.major, v.minor, v.patch)
	if v.prerelease != "" {
		s += "-" + v.prerelease
	}
	if v.build != "" {
		s += "+" + v.build
	}
	return s
}

// compare returns -1, 0 or 1 by semver precedence; build metadata is ignored.
func (v semver) compare(o semver) int {
	for _, d := range [][2]int{{v.major, o.major}, {v.minor, o.minor}, {v.patch, o.patch}} {
		if d[0] != d[1] {
			if d[0] < d[1] {
				return -1
			}
			return 1
		}
	}
	switch {
	case v.prerelease == o.prerelease:
		return 0
	case v.prerelease == "":
		return 1 // a release ranks above its pre-releases
	case o.prerelease == "":
		return -1
	}
	a, b := strings.Split(v.prerelease, "."), strings.Split(o.prerelease, ".")
	for i := 0; i < len(a) && i < len(b); i++ {
		if c := comparePrereleaseID(a[i], b[i]); c != 0 {
			return c
		}
	}
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	}
	return 0
}

func comparePrereleaseID(a, b string) int {
	ai, aErr := strconv.Atoi(a)
	bi, bErr := strconv.Atoi(b)
	switch {
	case aErr == nil && bErr == nil:
		switch {
		case ai < bi:
			return -1
		case ai > bi:
			return 1
		}
		return 0
	case aErr == nil:
		return -1 // numeric identifiers rank below alphanumeric ones
	case bErr == nil:
		return 1
	}
	return strings.Compare(a, b)
}

// semverMatch implements semver.match(version, ">=1.2.3").
func semverMatch(version, expr string) (bool, error) {
	expr = strings.TrimSpace(expr)
	var op string
	for _, candidate := range []string{">=", "<=", "==", "!=", ">", "<"} {
		if strings.HasPrefix(expr, candidate) {
			op = candidate
			break
		}
	}
	if op == "" {
		return false, fmt.Errorf("%q must start with one of >=, <=, ==, !=, >, <", expr)
	}
	v, err := parseSemver(version)
	if err != nil {
		return false, err
	}
	w, err := parseSemver(expr[len(op):])
	if err != nil {
		return false, err
	}
	c := v.compare(w)
	switch op {
	case ">=":
		return c >= 0, nil
	case "<=":
		return c <= 0, nil
	case "==":
		return c == 0, nil
	case "!=":
		return c != 0, nil
	case ">":
		return c > 0, nil
	default:
		return c < 0, nil
	}
}
