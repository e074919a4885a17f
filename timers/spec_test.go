package timers

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/squall-automation/squall/catalog"
	"github.com/squall-automation/squall/trigger"
)

type R = client.ScheduleRange

func rng(start, end, step int) R { return R{Start: start, End: end, Step: step} }
func one(v int) []R              { return []R{{Start: v, End: v}} }

var (
	allSeconds = []R{rng(0, 59, 0)}
	allMinutes = []R{rng(0, 59, 0)}
	allHours   = []R{rng(0, 23, 0)}
	allDays    = []R{rng(1, 31, 0)}
	allMonths  = []R{rng(1, 12, 0)}
	allWeek    = []R{rng(0, 6, 0)}
)

func TestIntervalSpec(t *testing.T) {
	tests := []struct {
		name   string
		params map[string]any
		every  time.Duration
		zone   string
	}{
		{"seconds", map[string]any{"unit": "seconds", "delta": 1}, time.Second, "UTC"},
		{"minutes from JSON", map[string]any{"unit": "minutes", "delta": float64(5)}, 5 * time.Minute, "UTC"},
		{"hours", map[string]any{"unit": "hours", "delta": int64(3)}, 3 * time.Hour, "UTC"},
		{"days", map[string]any{"unit": "days", "delta": 1}, 24 * time.Hour, "UTC"},
		{"weeks", map[string]any{"unit": "weeks", "delta": 2}, 14 * 24 * time.Hour, "UTC"},
		{"timezone kept", map[string]any{"unit": "days", "delta": 1, "timezone": "America/New_York"}, 24 * time.Hour, "America/New_York"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec, err := Spec(catalog.Trigger{Ref: "core.t", Type: trigger.IntervalTimer, Parameters: tt.params})
			if err != nil {
				t.Fatalf("Spec: %v", err)
			}
			want := client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: tt.every}}, TimeZoneName: tt.zone}
			if !reflect.DeepEqual(spec, want) {
				t.Errorf("spec = %+v, want %+v", spec, want)
			}
		})
	}
}

func TestDateSpec(t *testing.T) {
	paris, _ := time.LoadLocation("Europe/Paris")
	tests := []struct {
		name   string
		params map[string]any
		at     time.Time // the instant
		wall   [6]int    // year, month, day, hour, minute, second in the zone
		zone   string
	}{
		{"naive is UTC by default", map[string]any{"date": "2030-06-15 12:30:45"},
			time.Date(2030, 6, 15, 12, 30, 45, 0, time.UTC), [6]int{2030, 6, 15, 12, 30, 45}, "UTC"},
		{"naive in the timer's zone", map[string]any{"date": "2030-06-15 12:30:45", "timezone": "Europe/Paris"},
			time.Date(2030, 6, 15, 10, 30, 45, 0, time.UTC), [6]int{2030, 6, 15, 12, 30, 45}, "Europe/Paris"},
		{"explicit offset wins", map[string]any{"date": "2030-06-15T12:30:45+05:00"},
			time.Date(2030, 6, 15, 7, 30, 45, 0, time.UTC), [6]int{2030, 6, 15, 7, 30, 45}, "UTC"},
		{"offset shown in the timer's zone", map[string]any{"date": "2030-01-15T12:00:00Z", "timezone": "Europe/Paris"},
			time.Date(2030, 1, 15, 12, 0, 0, 0, time.UTC), [6]int{2030, 1, 15, 13, 0, 0}, "Europe/Paris"},
		{"fraction rounds up", map[string]any{"date": "2030-06-15 12:30:45.25"},
			time.Date(2030, 6, 15, 12, 30, 46, 0, time.UTC), [6]int{2030, 6, 15, 12, 30, 46}, "UTC"},
		{"date only is midnight", map[string]any{"date": "2030-06-15", "timezone": "Europe/Paris"},
			time.Date(2030, 6, 15, 0, 0, 0, 0, paris), [6]int{2030, 6, 15, 0, 0, 0}, "Europe/Paris"},
		{"without seconds", map[string]any{"date": "2030-06-15T08:05"},
			time.Date(2030, 6, 15, 8, 5, 0, 0, time.UTC), [6]int{2030, 6, 15, 8, 5, 0}, "UTC"},
		{"past dates are valid", map[string]any{"date": "2014-12-31 23:59:59"},
			time.Date(2014, 12, 31, 23, 59, 59, 0, time.UTC), [6]int{2014, 12, 31, 23, 59, 59}, "UTC"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec, err := Spec(catalog.Trigger{Ref: "core.d", Type: trigger.DateTimer, Parameters: tt.params})
			if err != nil {
				t.Fatalf("Spec: %v", err)
			}
			if spec.TimeZoneName != tt.zone {
				t.Errorf("zone = %q, want %q", spec.TimeZoneName, tt.zone)
			}
			if !spec.StartAt.Equal(tt.at) || !spec.EndAt.Equal(tt.at) {
				t.Errorf("StartAt, EndAt = %v, %v, want both %v", spec.StartAt, spec.EndAt, tt.at)
			}
			if len(spec.Calendars) != 1 || len(spec.Intervals) != 0 {
				t.Fatalf("want one calendar, got %+v", spec)
			}
			c := spec.Calendars[0]
			got := [6]int{c.Year[0].Start, c.Month[0].Start, c.DayOfMonth[0].Start, c.Hour[0].Start, c.Minute[0].Start, c.Second[0].Start}
			if got != tt.wall {
				t.Errorf("calendar = %v, want %v", got, tt.wall)
			}
			if !reflect.DeepEqual(c.DayOfWeek, allWeek) {
				t.Errorf("day of week = %v, want every day", c.DayOfWeek)
			}
			loc, _ := time.LoadLocation(tt.zone)
			if !matches(spec, tt.at, loc) || matches(spec, tt.at.Add(time.Second), loc) || matches(spec, tt.at.Add(-time.Second), loc) {
				t.Errorf("spec should match %v and only that second", tt.at)
			}
		})
	}
}

func TestCronSpec(t *testing.T) {
	tests := []struct {
		name   string
		params map[string]any
		want   []client.ScheduleCalendarSpec // Comment ignored
	}{
		{"no fields fires every second", map[string]any{},
			[]client.ScheduleCalendarSpec{{Second: allSeconds, Minute: allMinutes, Hour: allHours, DayOfMonth: allDays, Month: allMonths, DayOfWeek: allWeek}}},
		{"smaller fields default to their minimum", map[string]any{"hour": 9},
			[]client.ScheduleCalendarSpec{{Second: one(0), Minute: one(0), Hour: one(9), DayOfMonth: allDays, Month: allMonths, DayOfWeek: allWeek}}},
		{"month defaults day to 1", map[string]any{"month": "jun"},
			[]client.ScheduleCalendarSpec{{Second: one(0), Minute: one(0), Hour: one(0), DayOfMonth: one(1), Month: one(6), DayOfWeek: allWeek}}},
		{"step", map[string]any{"minute": "*/5"},
			[]client.ScheduleCalendarSpec{{Second: one(0), Minute: []R{rng(0, 55, 5)}, Hour: allHours, DayOfMonth: allDays, Month: allMonths, DayOfWeek: allWeek}}},
		{"range with step and list", map[string]any{"hour": "8-18/2", "minute": " 0 , 30 ", "second": "5/15"},
			[]client.ScheduleCalendarSpec{{Second: []R{rng(5, 50, 15)}, Minute: []R{rng(0, 0, 0), rng(30, 30, 0)}, Hour: []R{rng(8, 18, 2)}, DayOfMonth: allDays, Month: allMonths, DayOfWeek: allWeek}}},
		{"weekday names, Monday first", map[string]any{"day_of_week": "mon-fri", "hour": 9, "minute": 30},
			[]client.ScheduleCalendarSpec{{Second: one(0), Minute: one(30), Hour: one(9), DayOfMonth: allDays, Month: allMonths, DayOfWeek: []R{rng(1, 5, 0)}}}},
		{"day_of_week alone defaults the time to midnight", map[string]any{"day_of_week": "sun"},
			[]client.ScheduleCalendarSpec{{Second: one(0), Minute: one(0), Hour: one(0), DayOfMonth: allDays, Month: allMonths, DayOfWeek: one(0)}}},
		{"day_of_week 6 is Sunday", map[string]any{"day_of_week": 6, "hour": 0},
			[]client.ScheduleCalendarSpec{{Second: one(0), Minute: one(0), Hour: one(0), DayOfMonth: allDays, Month: allMonths, DayOfWeek: one(0)}}},
		{"day_of_week numbers", map[string]any{"day_of_week": "0,3", "hour": 0},
			[]client.ScheduleCalendarSpec{{Second: one(0), Minute: one(0), Hour: one(0), DayOfMonth: allDays, Month: allMonths, DayOfWeek: []R{rng(1, 1, 0), rng(4, 4, 0)}}}},
		{"weekday range across Sunday", map[string]any{"day_of_week": "FRI-Sun", "hour": 0},
			[]client.ScheduleCalendarSpec{{Second: one(0), Minute: one(0), Hour: one(0), DayOfMonth: allDays, Month: allMonths, DayOfWeek: []R{rng(0, 0, 0), rng(5, 6, 0)}}}},
		{"day_of_week step counts from Monday", map[string]any{"day_of_week": "*/2", "hour": 0},
			[]client.ScheduleCalendarSpec{{Second: one(0), Minute: one(0), Hour: one(0), DayOfMonth: allDays, Month: allMonths, DayOfWeek: []R{rng(0, 1, 0), rng(3, 3, 0), rng(5, 5, 0)}}}},
		{"month names and list", map[string]any{"month": "jan-mar,oct", "day": 1},
			[]client.ScheduleCalendarSpec{{Second: one(0), Minute: one(0), Hour: one(0), DayOfMonth: one(1), Month: []R{rng(1, 3, 0), rng(10, 10, 0)}, DayOfWeek: allWeek}}},
		{"year", map[string]any{"year": 2030, "month": 12, "day": 25, "hour": 6},
			[]client.ScheduleCalendarSpec{{Second: one(0), Minute: one(0), Hour: one(6), DayOfMonth: one(25), Month: one(12), Year: one(2030), DayOfWeek: allWeek}}},
		{"weekday position", map[string]any{"day": "1st mon", "hour": 8},
			[]client.ScheduleCalendarSpec{{Second: one(0), Minute: one(0), Hour: one(8), DayOfMonth: []R{rng(1, 7, 0)}, Month: allMonths, DayOfWeek: one(1)}}},
		{"weekday position and days", map[string]any{"day": "15, 3rd fri,3rd sat", "hour": 8},
			[]client.ScheduleCalendarSpec{
				{Second: one(0), Minute: one(0), Hour: one(8), DayOfMonth: one(15), Month: allMonths, DayOfWeek: allWeek},
				{Second: one(0), Minute: one(0), Hour: one(8), DayOfMonth: []R{rng(15, 21, 0)}, Month: allMonths, DayOfWeek: []R{rng(5, 6, 0)}},
			}},
		{"weekday position within day_of_week", map[string]any{"day": "5th mon,5th tue", "day_of_week": "tue"},
			[]client.ScheduleCalendarSpec{{Second: one(0), Minute: one(0), Hour: one(0), DayOfMonth: []R{rng(29, 31, 0)}, Month: allMonths, DayOfWeek: one(2)}}},
		{"week star is fine", map[string]any{"week": "*", "hour": 1},
			[]client.ScheduleCalendarSpec{{Second: one(0), Minute: one(0), Hour: one(1), DayOfMonth: allDays, Month: allMonths, DayOfWeek: allWeek}}},
		{"null fields are absent", map[string]any{"hour": nil, "minute": 7},
			[]client.ScheduleCalendarSpec{{Second: one(0), Minute: one(7), Hour: allHours, DayOfMonth: allDays, Month: allMonths, DayOfWeek: allWeek}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec, err := Spec(catalog.Trigger{Ref: "core.c", Type: trigger.CronTimer, Parameters: tt.params})
			if err != nil {
				t.Fatalf("Spec: %v", err)
			}
			if spec.TimeZoneName != "UTC" {
				t.Errorf("zone = %q, want UTC", spec.TimeZoneName)
			}
			for i := range spec.Calendars {
				if !strings.HasPrefix(spec.Calendars[i].Comment, "st2 CronTimer:") {
					t.Errorf("comment = %q", spec.Calendars[i].Comment)
				}
				spec.Calendars[i].Comment = ""
			}
			if !reflect.DeepEqual(spec.Calendars, tt.want) {
				t.Errorf("calendars =\n%+v\nwant\n%+v", spec.Calendars, tt.want)
			}
		})
	}
}

// TestCronMatches checks the translated specs against instants worked out
// by hand from APScheduler's semantics.
func TestCronMatches(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	d := func(s string, loc *time.Location) time.Time {
		t.Helper()
		tm, err := time.ParseInLocation("2006-01-02 15:04:05", s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		name       string
		params     map[string]any
		loc        *time.Location
		match, not []string
	}{
		{"weekdays at 9:30 in New York",
			map[string]any{"day_of_week": "mon-fri", "hour": 9, "minute": 30, "timezone": "America/New_York"}, ny,
			[]string{"2024-01-01 09:30:00", "2024-01-05 09:30:00"}, // Monday, Friday
			[]string{"2024-01-06 09:30:00", "2024-01-07 09:30:00", "2024-01-01 09:30:01", "2024-01-01 14:30:00"}},
		{"Sunday only", map[string]any{"day_of_week": "sun"}, time.UTC,
			[]string{"2024-01-07 00:00:00"}, []string{"2024-01-01 00:00:00", "2024-01-06 00:00:00", "2024-01-07 00:01:00"}},
		{"numeric 0 is Monday", map[string]any{"day_of_week": 0, "hour": 12}, time.UTC,
			[]string{"2024-01-01 12:00:00"}, []string{"2024-01-07 12:00:00", "2024-01-02 12:00:00"}},
		{"day and day_of_week both hold (not cron's or)", map[string]any{"day": 13, "day_of_week": "fri"}, time.UTC,
			[]string{"2024-09-13 00:00:00"}, []string{"2024-09-20 00:00:00", "2024-08-13 00:00:00"}},
		{"second Friday", map[string]any{"day": "2nd fri", "hour": 17}, time.UTC,
			[]string{"2024-02-09 17:00:00", "2024-03-08 17:00:00"}, []string{"2024-02-02 17:00:00", "2024-02-16 17:00:00"}},
		{"every 15 seconds from 5", map[string]any{"second": "5/15"}, time.UTC,
			[]string{"2024-02-09 17:33:05", "2024-02-09 17:33:50"}, []string{"2024-02-09 17:33:00", "2024-02-09 17:33:55"}},
		{"every other day of month", map[string]any{"day": "*/2"}, time.UTC,
			[]string{"2024-02-01 00:00:00", "2024-02-03 00:00:00", "2024-01-31 00:00:00"}, []string{"2024-02-02 00:00:00"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec, err := Spec(catalog.Trigger{Ref: "core.c", Type: trigger.CronTimer, Parameters: tt.params})
			if err != nil {
				t.Fatalf("Spec: %v", err)
			}
			for _, s := range tt.match {
				if !matches(spec, d(s, tt.loc), tt.loc) {
					t.Errorf("%s should match", s)
				}
			}
			for _, s := range tt.not {
				if matches(spec, d(s, tt.loc), tt.loc) {
					t.Errorf("%s should not match", s)
				}
			}
		})
	}
}

// matches evaluates a calendar spec the way Temporal documents it: every
// field of one calendar holds (year: when given), Sunday = 0.
func matches(spec client.ScheduleSpec, tm time.Time, loc *time.Location) bool {
	if !spec.StartAt.IsZero() && tm.Before(spec.StartAt) || !spec.EndAt.IsZero() && tm.After(spec.EndAt) {
		return false
	}
	w := tm.In(loc)
	in := func(rs []R, v int) bool {
		for _, r := range rs {
			end, step := max(r.End, r.Start), max(r.Step, 1)
			if v >= r.Start && v <= end && (v-r.Start)%step == 0 {
				return true
			}
		}
		return false
	}
	for _, c := range spec.Calendars {
		if in(c.Second, w.Second()) && in(c.Minute, w.Minute()) && in(c.Hour, w.Hour()) &&
			in(c.DayOfMonth, w.Day()) && in(c.Month, int(w.Month())) && in(c.DayOfWeek, int(w.Weekday())) &&
			(c.Year == nil || in(c.Year, w.Year())) {
			return true
		}
	}
	return false
}

func TestValidateErrors(t *testing.T) {
	tests := []struct {
		name   string
		typ    string
		params map[string]any
		field  string
		reason string // substring
	}{
		{"interval without unit", trigger.IntervalTimer, map[string]any{"delta": 5}, "unit", "required"},
		{"interval unit", trigger.IntervalTimer, map[string]any{"unit": "months", "delta": 5}, "unit", "must be one of"},
		{"interval without delta", trigger.IntervalTimer, map[string]any{"unit": "seconds"}, "delta", "required"},
		{"interval delta string", trigger.IntervalTimer, map[string]any{"unit": "seconds", "delta": "5"}, "delta", "integer"},
		{"interval delta fraction", trigger.IntervalTimer, map[string]any{"unit": "seconds", "delta": 1.5}, "delta", "integer"},
		{"interval delta bool", trigger.IntervalTimer, map[string]any{"unit": "seconds", "delta": true}, "delta", "integer"},
		{"interval delta zero", trigger.IntervalTimer, map[string]any{"unit": "seconds", "delta": 0}, "delta", "at least 1"},
		{"interval delta negative", trigger.IntervalTimer, map[string]any{"unit": "minutes", "delta": -5}, "delta", "at least 1"},
		{"interval delta overflow", trigger.IntervalTimer, map[string]any{"unit": "weeks", "delta": 100000}, "delta", "too long"},
		{"unknown parameter", trigger.IntervalTimer, map[string]any{"unit": "seconds", "delta": 1, "delay": 3}, "delay", "unknown parameter"},
		{"unknown zone", trigger.IntervalTimer, map[string]any{"unit": "seconds", "delta": 1, "timezone": "Mars/Olympus"}, "timezone", "unknown time zone"},
		{"empty zone", trigger.IntervalTimer, map[string]any{"unit": "seconds", "delta": 1, "timezone": ""}, "timezone", "IANA"},
		{"local zone", trigger.DateTimer, map[string]any{"date": "2030-01-01", "timezone": "Local"}, "timezone", "IANA"},
		{"zone not a string", trigger.CronTimer, map[string]any{"timezone": 1}, "timezone", "string"},
		{"date missing", trigger.DateTimer, map[string]any{"timezone": "UTC"}, "date", "required"},
		{"date not a string", trigger.DateTimer, map[string]any{"date": 20300101}, "date", "string"},
		{"date unparsable", trigger.DateTimer, map[string]any{"date": "next tuesday"}, "date", "cannot parse"},
		{"date invalid day", trigger.DateTimer, map[string]any{"date": "2030-02-30 10:00:00"}, "date", "cannot parse"},
		{"date beyond Temporal", trigger.DateTimer, map[string]any{"date": "2200-01-01"}, "date", "2100"},
		{"cron week", trigger.CronTimer, map[string]any{"week": 10}, "week", "ISO week"},
		{"cron last day", trigger.CronTimer, map[string]any{"day": "last"}, "day", "last day"},
		{"cron last weekday", trigger.CronTimer, map[string]any{"day": "last fri"}, "day", "last weekday"},
		{"cron position weekday", trigger.CronTimer, map[string]any{"day": "1st xyz"}, "day", "unknown weekday"},
		{"cron hour range", trigger.CronTimer, map[string]any{"hour": 24}, "hour", "maximum 23"},
		{"cron day zero", trigger.CronTimer, map[string]any{"day": 0}, "day", "minimum 1"},
		{"cron zero step", trigger.CronTimer, map[string]any{"minute": "*/0"}, "minute", "higher than 0"},
		{"cron step too large", trigger.CronTimer, map[string]any{"second": "*/60"}, "second", "larger than the range"},
		{"cron range step too large", trigger.CronTimer, map[string]any{"hour": "10-20/15"}, "hour", "larger than the range"},
		{"cron day_of_week 7", trigger.CronTimer, map[string]any{"day_of_week": 7}, "day_of_week", "maximum 6"},
		{"cron weekday name", trigger.CronTimer, map[string]any{"day_of_week": "funday"}, "day_of_week", "unknown name"},
		{"cron weekday reversed", trigger.CronTimer, map[string]any{"day_of_week": "fri-mon"}, "day_of_week", "higher than the last"},
		{"cron month", trigger.CronTimer, map[string]any{"month": "13"}, "month", "maximum 12"},
		{"cron month name", trigger.CronTimer, map[string]any{"month": "janvier"}, "month", "unknown name"},
		{"cron reversed range", trigger.CronTimer, map[string]any{"hour": "5-3"}, "hour", "higher than the last"},
		{"cron garbage", trigger.CronTimer, map[string]any{"minute": "1-2-3"}, "minute", "not a valid expression"},
		{"cron trailing text", trigger.CronTimer, map[string]any{"day_of_week": "mon-fri/2"}, "day_of_week", "not a valid expression"},
		{"cron empty list item", trigger.CronTimer, map[string]any{"minute": "1,,2"}, "minute", "not a valid expression"},
		{"cron bool", trigger.CronTimer, map[string]any{"hour": true}, "hour", "integer or a string"},
		{"cron fraction", trigger.CronTimer, map[string]any{"hour": 1.5}, "hour", "integer or a string"},
		{"cron unknown field", trigger.CronTimer, map[string]any{"minutes": 5}, "minutes", "unknown parameter"},
		{"cron year beyond Temporal", trigger.CronTimer, map[string]any{"year": "2200-2300"}, "year", "2100"},
		{"cron impossible weekday", trigger.CronTimer, map[string]any{"day": "2nd fri", "day_of_week": "mon"}, "day_of_week", "no weekday"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.typ, tt.params)
			var pe *ParamError
			if !errors.As(err, &pe) {
				t.Fatalf("Validate = %v, want a *ParamError", err)
			}
			if pe.Field != tt.field || pe.Type != tt.typ || !strings.Contains(pe.Reason, tt.reason) {
				t.Errorf("error = %q (field %q), want field %q and reason containing %q", err, pe.Field, tt.field, tt.reason)
			}
			if _, err := Spec(catalog.Trigger{Ref: "core.x", Type: tt.typ, Parameters: tt.params}); !errors.As(err, &pe) || !strings.Contains(err.Error(), "core.x") {
				t.Errorf("Spec error = %v, want the ParamError naming the trigger", err)
			}
		})
	}
}

func TestValidateOthers(t *testing.T) {
	if err := Validate(trigger.Webhook, map[string]any{"url": "x"}); err != nil {
		t.Errorf("Validate(webhook) = %v, want nil: only timers are checked", err)
	}
	if err := Validate(trigger.CronTimer, nil); err != nil {
		t.Errorf("Validate(cron, nil) = %v, want nil: a cron without fields fires every second", err)
	}
	if _, err := Spec(catalog.Trigger{Ref: "core.w", Type: trigger.Webhook}); err == nil {
		t.Error("Spec(webhook) succeeded, want an error")
	}
}

func TestRanges(t *testing.T) {
	set := func(vals ...int) []bool {
		s := make([]bool, 60)
		for _, v := range vals {
			s[v] = true
		}
		return s
	}
	tests := []struct {
		name string
		set  []bool
		want []R
	}{
		{"empty", set(), nil},
		{"single", set(7), []R{rng(7, 7, 0)}},
		{"run", set(1, 2, 3), []R{rng(1, 3, 0)}},
		{"two apart", set(0, 30), []R{rng(0, 0, 0), rng(30, 30, 0)}},
		{"progression", set(0, 15, 30, 45), []R{rng(0, 45, 15)}},
		{"run then progression", set(1, 2, 3, 10, 20, 30), []R{rng(1, 3, 0), rng(10, 30, 10)}},
		{"run after a lone value", set(0, 5, 6), []R{rng(0, 0, 0), rng(5, 6, 0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ranges(tt.set, 0, 59); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ranges = %v, want %v", got, tt.want)
			}
		})
	}
}
