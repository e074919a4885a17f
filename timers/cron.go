package timers

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.temporal.io/sdk/client"
)

// cronField is one of APScheduler's CronTrigger fields, in APScheduler's
// order (most to least significant), with its value range and the default
// it takes when a more significant field is given and it is not.
type cronField struct {
	name     string
	min, max int
	deflt    string
}

var cronFields = []cronField{
	{"year", 1970, 9999, "*"},
	{"month", 1, 12, "1"},
	{"day", 1, 31, "1"},
	{"week", 1, 53, "*"},
	{"day_of_week", 0, 6, "*"},
	{"hour", 0, 23, "0"},
	{"minute", 0, 59, "0"},
	{"second", 0, 59, "0"},
}

func cronFieldNames() []string {
	names := make([]string, len(cronFields))
	for i, f := range cronFields {
		names[i] = f.name
	}
	return names
}

var (
	weekdayNames = []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}
	monthNames   = []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}
	positions    = []string{"1st", "2nd", "3rd", "4th", "5th", "last"}

	// APScheduler's expression forms. Unlike APScheduler, which matches
	// name forms by prefix and ignores what follows ("mon-fri/2" reads as
	// "mon-fri"), these are anchored: trailing text is an error.
	allRe      = regexp.MustCompile(`^\*(?:/(\d+))?$`)
	rangeRe    = regexp.MustCompile(`^(\d+)(?:-(\d+))?(?:/(\d+))?$`)
	nameRe     = regexp.MustCompile(`^([a-z]+)(?:-([a-z]+))?$`)
	positionRe = regexp.MustCompile(`^(1st|2nd|3rd|4th|5th|last) +([a-z0-9]+)$`)
	separator  = regexp.MustCompile(` *, *`)
)

// fieldValues is what one field matches: a set of values indexed from 0,
// plus, for the day field only, weekday positions ("2nd fri").
type fieldValues struct {
	set       []bool
	positions map[int][]int // occurrence (0 = 1st .. 4 = 5th) -> APScheduler weekdays
}

// cronSpec builds a calendar spec with APScheduler CronTrigger semantics:
// a date matches when every field matches (Temporal calendars AND their
// fields too, unlike Unix cron's day-of-month OR day-of-week); fields after
// the least significant given one default to their minimum, fields before
// it to "*".
func cronSpec(typeRef string, params map[string]any) (client.ScheduleSpec, error) {
	exprs := map[string]string{}
	last := -1
	for i, f := range cronFields {
		v, ok := params[f.name]
		if !ok || v == nil {
			continue
		}
		s, err := cronValue(v)
		if err != nil {
			return client.ScheduleSpec{}, paramErr(typeRef, f.name, "%v", err)
		}
		exprs[f.name] = s
		last = i
	}
	var comment []string
	values := map[string]fieldValues{}
	for i, f := range cronFields {
		expr, given := exprs[f.name]
		switch {
		case given:
			comment = append(comment, f.name+"="+expr)
		case i > last && last >= 0:
			expr = f.deflt
		default:
			expr = "*"
		}
		fv, err := parseCronField(f, expr)
		if err != nil {
			return client.ScheduleSpec{}, paramErr(typeRef, f.name, "%v", err)
		}
		values[f.name] = fv
	}
	if week := values["week"]; !full(week.set, 1, 53) {
		return client.ScheduleSpec{}, paramErr(typeRef, "week",
			"ISO week numbers cannot be expressed in a Temporal schedule; use month and day instead")
	}

	// Temporal numbers weekdays from Sunday = 0; APScheduler from Monday = 0.
	dow := make([]bool, 7)
	for aps, on := range values["day_of_week"].set {
		if on {
			dow[(aps+1)%7] = true
		}
	}
	base := client.ScheduleCalendarSpec{
		Second:  ranges(values["second"].set, 0, 59),
		Minute:  ranges(values["minute"].set, 0, 59),
		Hour:    ranges(values["hour"].set, 0, 23),
		Month:   ranges(values["month"].set, 1, 12),
		Comment: "st2 CronTimer: " + strings.Join(comment, " "),
	}
	if len(comment) == 0 {
		base.Comment = "st2 CronTimer: every second"
	}
	if y := values["year"].set; !full(y, 1970, 9999) {
		base.Year = ranges(y, 1970, 9999)
	}

	var cals []client.ScheduleCalendarSpec
	day := values["day"]
	if anySet(day.set) {
		c := base
		c.DayOfMonth = ranges(day.set, 1, 31)
		c.DayOfWeek = ranges(dow, 0, 6)
		cals = append(cals, c)
	}
	// "2nd fri" is the day of days 8-14 that is a Friday; it must also
	// satisfy the day_of_week field, hence the intersection.
	occurrences := make([]int, 0, len(day.positions))
	for n := range day.positions {
		occurrences = append(occurrences, n)
	}
	sort.Ints(occurrences)
	for _, n := range occurrences {
		wd := make([]bool, 7)
		for _, aps := range day.positions[n] {
			t := (aps + 1) % 7
			wd[t] = dow[t]
		}
		if !anySet(wd) {
			continue
		}
		days := make([]bool, 32)
		for d := 7*n + 1; d <= 7*n+7 && d <= 31; d++ {
			days[d] = true
		}
		c := base
		c.DayOfMonth = ranges(days, 1, 31)
		c.DayOfWeek = ranges(wd, 0, 6)
		cals = append(cals, c)
	}
	if len(cals) == 0 {
		return client.ScheduleSpec{}, paramErr(typeRef, "day_of_week",
			"no weekday matches both day %q and day_of_week %q", exprs["day"], exprs["day_of_week"])
	}
	if firstYear(values["year"].set) > maxTemporalYear {
		return client.ScheduleSpec{}, paramErr(typeRef, "year", "no year up to %d matches, the last year Temporal schedules fire in", maxTemporalYear)
	}
	return client.ScheduleSpec{Calendars: cals}, nil
}

// cronValue renders a field value as APScheduler does (str() of an int).
func cronValue(v any) (string, error) {
	if s, ok := v.(string); ok {
		return s, nil
	}
	if _, isBool := v.(bool); !isBool {
		if n, ok := asInt(v); ok {
			return strconv.FormatInt(n, 10), nil
		}
	}
	return "", fmt.Errorf("must be an integer or a string expression, got %s", describe(v))
}

// parseCronField parses a comma-separated list of APScheduler expressions
// into the values they match.
func parseCronField(f cronField, expr string) (fieldValues, error) {
	fv := fieldValues{set: make([]bool, f.max+1)}
	expr = strings.TrimSpace(expr)
	for _, e := range separator.Split(expr, -1) {
		if err := fv.add(f, strings.ToLower(e)); err != nil {
			return fieldValues{}, fmt.Errorf("expression %q: %w", e, err)
		}
	}
	return fv, nil
}

func (fv *fieldValues) add(f cronField, e string) error {
	if m := allRe.FindStringSubmatch(e); m != nil {
		step, err := stepOf(m[1])
		if err != nil {
			return err
		}
		if step > f.max-f.min {
			return fmt.Errorf("the step %d is larger than the range of the field (%d)", step, f.max-f.min)
		}
		fv.fill(f.min, f.max, step)
		return nil
	}
	if m := rangeRe.FindStringSubmatch(e); m != nil {
		first, err := strconv.Atoi(m[1])
		if err != nil {
			return fmt.Errorf("value out of range")
		}
		last := first
		if m[2] != "" {
			if last, err = strconv.Atoi(m[2]); err != nil {
				return fmt.Errorf("value out of range")
			}
		} else if m[3] != "" {
			// "5/10" counts from 5 to the field's maximum.
			last = f.max
		}
		step, err := stepOf(m[3])
		if err != nil {
			return err
		}
		return fv.addRange(f, first, last, step, m[2] != "")
	}
	switch f.name {
	case "month", "day_of_week":
		names, base := monthNames, 1
		if f.name == "day_of_week" {
			names, base = weekdayNames, 0
		}
		if m := nameRe.FindStringSubmatch(e); m != nil {
			first, ok := indexOf(names, m[1])
			if !ok {
				return fmt.Errorf("unknown name %q (expected one of %s)", m[1], strings.Join(names, ", "))
			}
			last := first
			if m[2] != "" {
				if last, ok = indexOf(names, m[2]); !ok {
					return fmt.Errorf("unknown name %q (expected one of %s)", m[2], strings.Join(names, ", "))
				}
			}
			return fv.addRange(f, first+base, last+base, 1, true)
		}
	case "day":
		if e == "last" {
			return fmt.Errorf("the last day of the month cannot be expressed in a Temporal schedule")
		}
		if m := positionRe.FindStringSubmatch(e); m != nil {
			n, _ := indexOf(positions, m[1])
			wd, ok := indexOf(weekdayNames, m[2])
			if !ok {
				return fmt.Errorf("unknown weekday %q (expected one of %s)", m[2], strings.Join(weekdayNames, ", "))
			}
			if n == 5 {
				return fmt.Errorf("the last weekday of the month cannot be expressed in a Temporal schedule")
			}
			if fv.positions == nil {
				fv.positions = map[int][]int{}
			}
			fv.positions[n] = append(fv.positions[n], wd)
			return nil
		}
	}
	return fmt.Errorf("not a valid expression for %s (%s)", f.name, cronSyntax(f))
}

func (fv *fieldValues) addRange(f cronField, first, last, step int, explicitLast bool) error {
	if first > last {
		return fmt.Errorf("the first value %d is higher than the last %d", first, last)
	}
	if first < f.min {
		return fmt.Errorf("the value %d is lower than the minimum %d", first, f.min)
	}
	if last > f.max {
		return fmt.Errorf("the value %d is higher than the maximum %d", last, f.max)
	}
	// APScheduler's check, including its reading of a last value of 0 as
	// "no last value".
	span := f.max - first
	if explicitLast && last != 0 {
		span = last - first
	}
	if step > 1 && step > span {
		return fmt.Errorf("the step %d is larger than the range of the expression (%d)", step, span)
	}
	fv.fill(first, last, step)
	return nil
}

func (fv *fieldValues) fill(first, last, step int) {
	if step < 1 {
		step = 1
	}
	for v := first; v <= last; v += step {
		fv.set[v] = true
	}
}

func stepOf(s string) (int, error) {
	if s == "" {
		return 1, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n > 1<<20 {
		return 0, fmt.Errorf("the step %s is too large", s)
	}
	if n == 0 {
		return 0, fmt.Errorf("the step must be higher than 0")
	}
	return n, nil
}

func cronSyntax(f cronField) string {
	forms := fmt.Sprintf("*, */step, N, N-M, N-M/step, N/step, lists with commas; values %d-%d", f.min, f.max)
	switch f.name {
	case "month":
		forms += " or jan-dec"
	case "day_of_week":
		forms += " (0 is Monday) or mon-sun"
	case "day":
		forms += " or \"1st mon\" .. \"5th sun\""
	}
	return forms
}

func indexOf(list []string, s string) (int, bool) {
	for i, v := range list {
		if v == s {
			return i, true
		}
	}
	return 0, false
}

func anySet(set []bool) bool {
	for _, on := range set {
		if on {
			return true
		}
	}
	return false
}

func full(set []bool, min, max int) bool {
	for v := min; v <= max; v++ {
		if !set[v] {
			return false
		}
	}
	return true
}

func firstYear(set []bool) int {
	for v, on := range set {
		if on {
			return v
		}
	}
	return -1
}

// ranges compresses a set of values into Temporal ranges: runs of
// consecutive values, and arithmetic progressions of three or more values
// ("*/5" stays one range); anything else is listed value by value.
func ranges(set []bool, min, max int) []client.ScheduleRange {
	var vals []int
	for v := min; v <= max && v < len(set); v++ {
		if set[v] {
			vals = append(vals, v)
		}
	}
	var out []client.ScheduleRange
	for i := 0; i < len(vals); {
		j := i
		step := 0
		if i+1 < len(vals) {
			step = vals[i+1] - vals[i]
			for j+1 < len(vals) && vals[j+1]-vals[j] == step {
				j++
			}
		}
		if step > 1 && j-i < 2 {
			j = i // two values far apart are two values, not a progression
		}
		r := client.ScheduleRange{Start: vals[i], End: vals[j]}
		if j > i && step > 1 {
			r.Step = step
		}
		out = append(out, r)
		i = j + 1
	}
	return out
}
