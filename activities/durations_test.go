package activities

import (
	"testing"
	"time"
)

func TestRecentDurationsNeedsEnoughShortRuns(t *testing.T) {
	var d RecentDurations
	for i := range fastPathRuns {
		if d.Short("p.a") {
			t.Fatalf("short after %d runs, want %d first", i, fastPathRuns)
		}
		d.Record("p.a", 10*time.Millisecond, StatusSucceeded)
	}
	if !d.Short("p.a") {
		t.Fatal("not short after enough quick runs")
	}
	if d.Short("p.other") {
		t.Fatal("an action never run is short")
	}
	// Failures that end quickly still count as short runs.
	d.Record("p.a", 5*time.Millisecond, StatusFailed)
	if !d.Short("p.a") {
		t.Fatal("a quick failure disqualified the action")
	}
}

func TestRecentDurationsOneSlowRunDisqualifies(t *testing.T) {
	for _, bad := range []struct {
		took   time.Duration
		status string
	}{
		{2 * FastPathMaxDuration, StatusSucceeded},
		{time.Millisecond, StatusTimeout},
		{time.Millisecond, StatusCanceled},
		{time.Millisecond, ""}, // the run ended in an error
	} {
		var d RecentDurations
		for range fastPathRuns {
			d.Record("p.a", time.Millisecond, StatusSucceeded)
		}
		d.Record("p.a", bad.took, bad.status)
		if d.Short("p.a") {
			t.Fatalf("still short after a run of %s ending %q", bad.took, bad.status)
		}
		// It stays out until fastPathRuns quick runs have pushed it out.
		for i := range fastPathRuns - 1 {
			d.Record("p.a", time.Millisecond, StatusSucceeded)
			if d.Short("p.a") {
				t.Fatalf("short again after %d quick runs", i+1)
			}
		}
		d.Record("p.a", time.Millisecond, StatusSucceeded)
		if !d.Short("p.a") {
			t.Fatal("not short after the slow run was pushed out")
		}
	}
}

func TestRecentDurationsBoundsRunsInFlight(t *testing.T) {
	d := RecentDurations{MaxInFlight: 2}
	for range fastPathRuns {
		d.Record("p.a", time.Millisecond, StatusSucceeded)
	}
	d.begin()
	if !d.Short("p.a") {
		t.Fatal("one run in flight of two allowed: not short")
	}
	d.begin()
	if d.Short("p.a") {
		t.Fatal("short with the fast path full")
	}
	d.end()
	if !d.Short("p.a") {
		t.Fatal("not short after a run ended")
	}
}
