// Package timers runs StackStorm's timer triggers (core.st2.IntervalTimer,
// core.st2.DateTimer, core.st2.CronTimer) as Temporal Schedules.
//
// st2 keeps timers in the memory of one st2timersengine process (APScheduler)
// and needs an external lock to run more than one. Here a timer is a
// Temporal Schedule: the Temporal server decides when it fires, so a firing
// happens once however many Squall processes run, survives their restarts,
// and is visible (and pausable) in the Temporal Web UI. Each firing starts
// a TriggerInstance workflow, the same path as every other event.
//
// Spec translates a timer's parameters, with APScheduler's semantics, into a
// client.ScheduleSpec; Validate checks them when a rule is registered; the
// Reconciler keeps the schedules in step with the enabled rules.
package timers

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	// Timer time zones are validated here, before the Temporal server sees
	// them; embedding the zone database keeps validation identical in
	// minimal containers that lack /usr/share/zoneinfo.
	_ "time/tzdata"

	"go.temporal.io/sdk/client"

	"github.com/squall-automation/squall/catalog"
	"github.com/squall-automation/squall/trigger"
)

// DefaultTimeZone is the time zone of timers without a timezone parameter.
// (st2 falls back to its timer.local_timezone setting; Squall makes the
// default explicit and independent of where the server runs.)
const DefaultTimeZone = "UTC"

// ParamError reports an invalid timer parameter: which one and why. The API
// turns it into a 400 when a rule is registered.
type ParamError struct {
	Type   string // trigger type ref
	Field  string // parameter name
	Reason string
}

func (e *ParamError) Error() string {
	return fmt.Sprintf("%s parameter %q: %s", e.Type, e.Field, e.Reason)
}

func paramErr(typeRef, field, format string, args ...any) error {
	return &ParamError{Type: typeRef, Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Validate checks the parameters of a timer trigger with the rules st2
// (jsonschema, then APScheduler) applies, plus what a Temporal Schedule can
// express. It returns nil for trigger types that are not timers. Errors are
// *ParamError.
func Validate(typeRef string, params map[string]any) error {
	if !trigger.IsTimer(typeRef) {
		return nil
	}
	_, err := specFor(typeRef, params)
	return err
}

// Spec returns the Temporal schedule spec of a timer trigger. A DateTimer's
// spec matches its one second only; the Reconciler also limits its schedule
// to one action.
func Spec(t catalog.Trigger) (client.ScheduleSpec, error) {
	if !trigger.IsTimer(t.Type) {
		return client.ScheduleSpec{}, fmt.Errorf("trigger %s: type %s is not a timer", t.Ref, t.Type)
	}
	spec, err := specFor(t.Type, t.Parameters)
	if err != nil {
		return client.ScheduleSpec{}, fmt.Errorf("trigger %s: %w", t.Ref, err)
	}
	return spec, nil
}

func specFor(typeRef string, params map[string]any) (client.ScheduleSpec, error) {
	var allowed []string
	switch typeRef {
	case trigger.IntervalTimer:
		allowed = []string{"timezone", "unit", "delta"}
	case trigger.DateTimer:
		allowed = []string{"timezone", "date"}
	case trigger.CronTimer:
		allowed = append([]string{"timezone"}, cronFieldNames()...)
	}
	if err := checkKeys(typeRef, params, allowed); err != nil {
		return client.ScheduleSpec{}, err
	}
	loc, err := location(typeRef, params)
	if err != nil {
		return client.ScheduleSpec{}, err
	}
	var spec client.ScheduleSpec
	switch typeRef {
	case trigger.IntervalTimer:
		spec, err = intervalSpec(typeRef, params)
	case trigger.DateTimer:
		spec, err = dateSpec(typeRef, params, loc)
	default:
		spec, err = cronSpec(typeRef, params)
	}
	if err != nil {
		return client.ScheduleSpec{}, err
	}
	spec.TimeZoneName = loc.String()
	return spec, nil
}

// checkKeys mirrors the schemas' additionalProperties: false, so a typo
// ("minutes" for "minute") is an error instead of a timer that fires at the
// wrong time.
func checkKeys(typeRef string, params map[string]any, allowed []string) error {
	var unknown []string
	for k := range params {
		ok := false
		for _, a := range allowed {
			ok = ok || k == a
		}
		if !ok {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	return paramErr(typeRef, unknown[0], "unknown parameter (allowed: %s)", strings.Join(allowed, ", "))
}

func location(typeRef string, params map[string]any) (*time.Location, error) {
	v, ok := params["timezone"]
	if !ok || v == nil {
		return time.UTC, nil
	}
	name, ok := v.(string)
	if !ok {
		return nil, paramErr(typeRef, "timezone", "must be a string, got %s", typeName(v))
	}
	// Go reads "" as UTC and "Local" as the server's zone; neither is an
	// IANA name, and the Temporal server would read "Local" as its own zone.
	if name == "" || strings.EqualFold(name, "local") {
		return nil, paramErr(typeRef, "timezone", "%q is not an IANA time zone name (e.g. UTC, Europe/Paris)", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, paramErr(typeRef, "timezone", "unknown time zone %q (use an IANA name such as UTC or America/New_York)", name)
	}
	return loc, nil
}

var intervalUnits = map[string]time.Duration{
	"weeks":   7 * 24 * time.Hour,
	"days":    24 * time.Hour,
	"hours":   time.Hour,
	"minutes": time.Minute,
	"seconds": time.Second,
}

// intervalSpec: APScheduler starts counting when the timer is added, so
// st2's timers drift with every restart; a Temporal interval counts from the
// Unix epoch (offset 0), so "every 5 minutes" fires at :00, :05, ... in every
// process and after every restart.
func intervalSpec(typeRef string, params map[string]any) (client.ScheduleSpec, error) {
	uv, ok := params["unit"]
	if !ok {
		return client.ScheduleSpec{}, paramErr(typeRef, "unit", "is required (weeks, days, hours, minutes or seconds)")
	}
	unitName, _ := uv.(string)
	unit, ok := intervalUnits[unitName]
	if !ok {
		return client.ScheduleSpec{}, paramErr(typeRef, "unit", "must be one of weeks, days, hours, minutes, seconds; got %s", describe(uv))
	}
	dv, ok := params["delta"]
	if !ok {
		return client.ScheduleSpec{}, paramErr(typeRef, "delta", "is required (a positive integer)")
	}
	delta, ok := asInt(dv)
	if !ok {
		return client.ScheduleSpec{}, paramErr(typeRef, "delta", "must be an integer, got %s", describe(dv))
	}
	if delta < 1 {
		return client.ScheduleSpec{}, paramErr(typeRef, "delta", "must be at least 1, got %d", delta)
	}
	if delta > math.MaxInt64/int64(unit) {
		return client.ScheduleSpec{}, paramErr(typeRef, "delta", "%d %s is too long an interval", delta, unitName)
	}
	return client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: time.Duration(delta) * unit}}}, nil
}

// Layouts of DateTimer dates, the forms st2 users write (dateutil parses
// these and many more). time.Parse accepts fractional seconds after the
// seconds field even when the layout has none.
var dateLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02T15:04:05Z0700",
	"2006-01-02 15:04:05Z0700",
	"2006-01-02 15:04:05 Z07:00",
	"2006-01-02T15:04Z07:00",
	"2006-01-02 15:04Z07:00",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05",
	"2006-01-02T15:04",
	"2006-01-02 15:04",
	"2006-01-02",
}

// parseDate reads a DateTimer date. A date with an offset names its own
// instant; a date without one is wall time in the timer's time zone, as
// APScheduler localises naive datetimes.
func parseDate(s string, loc *time.Location) (time.Time, bool) {
	s = strings.TrimSpace(s)
	for _, layout := range dateLayouts {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// dateSpec matches the date's one second: a calendar entry for that wall
// time in the timer's zone (readable in the Web UI), bounded to the exact
// instant so that a wall time repeated when clocks go back matches once.
func dateSpec(typeRef string, params map[string]any, loc *time.Location) (client.ScheduleSpec, error) {
	v, ok := params["date"]
	if !ok {
		return client.ScheduleSpec{}, paramErr(typeRef, "date", "is required (e.g. \"2030-12-31 23:59:59\")")
	}
	s, ok := v.(string)
	if !ok {
		return client.ScheduleSpec{}, paramErr(typeRef, "date", "must be a string, got %s", typeName(v))
	}
	t, ok := parseDate(s, loc)
	if !ok {
		return client.ScheduleSpec{}, paramErr(typeRef, "date", "cannot parse %q as a date and time (use YYYY-MM-DD HH:MM:SS, optionally with a UTC offset)", s)
	}
	// Schedules have one-second resolution; round up so that the timer
	// never fires before the time asked for.
	if t.Nanosecond() != 0 {
		t = t.Truncate(time.Second).Add(time.Second)
	}
	if t.Year() > maxTemporalYear {
		return client.ScheduleSpec{}, paramErr(typeRef, "date", "%q is after %d, the last year Temporal schedules fire in", s, maxTemporalYear)
	}
	wall := t.In(loc)
	one := func(v int) []client.ScheduleRange { return []client.ScheduleRange{{Start: v, End: v}} }
	return client.ScheduleSpec{
		Calendars: []client.ScheduleCalendarSpec{{
			Second:     one(wall.Second()),
			Minute:     one(wall.Minute()),
			Hour:       one(wall.Hour()),
			DayOfMonth: one(wall.Day()),
			Month:      one(int(wall.Month())),
			Year:       one(wall.Year()),
			DayOfWeek:  []client.ScheduleRange{{Start: 0, End: 6}},
			Comment:    "st2 DateTimer: date=" + s,
		}},
		StartAt: t.UTC(),
		EndAt:   t.UTC(),
	}, nil
}

// maxTemporalYear is the last year the Temporal server computes schedule
// times for.
const maxTemporalYear = 2100

// asInt accepts the integer representations a params map holds: Go ints
// from YAML, integral float64 from JSON, json.Number.
func asInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int8:
		return int64(n), true
	case int16:
		return int64(n), true
	case int32:
		return int64(n), true
	case int64:
		return n, true
	case uint8:
		return int64(n), true
	case uint16:
		return int64(n), true
	case uint32:
		return int64(n), true
	case uint:
		if uint64(n) > math.MaxInt64 {
			return 0, false
		}
		return int64(n), true
	case uint64:
		if n > math.MaxInt64 {
			return 0, false
		}
		return int64(n), true
	case float32:
		return asInt(float64(n))
	case float64:
		if n != math.Trunc(n) || n > math.MaxInt64 || n < math.MinInt64 {
			return 0, false
		}
		return int64(n), true
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	}
	return 0, false
}

func typeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	if _, ok := asInt(v); ok {
		return "an integer"
	}
	return fmt.Sprintf("%T", v)
}

func describe(v any) string {
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	if v == nil {
		return "null"
	}
	return fmt.Sprintf("%v (%s)", v, typeName(v))
}
