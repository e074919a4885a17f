package activities

import (
	"sync"
	"time"
)

// Fast-path policy: an action whose last fastPathRuns runs on this worker
// all ended (succeeded or failed) within FastPathMaxDuration is run as a
// local activity, in the workflow task (see workflows.NewExecution).
const (
	fastPathRuns = 5
	// FastPathMaxDuration is the longest recent run that still qualifies.
	FastPathMaxDuration = time.Second
	// maxTrackedActions bounds the memory of RecentDurations.
	maxTrackedActions = 10000
)

// RecentDurations remembers how each action's last runs on this worker
// went: the evidence that decides whether the next run may take the fast
// path. Safe for concurrent use; the zero value is ready.
type RecentDurations struct {
	// MaxInFlight bounds the fast-path runs in flight (zero: no bound):
	// past it, Short says no and actions run as regular activities. Local
	// activities share one pool of slots with trigger instance processing,
	// so a burst of fast-path actions that turn out slow must not take
	// them all.
	MaxInFlight int

	mu       sync.Mutex
	byAction map[string]*runRing
	inFlight int
}

// runRing holds the outcome of an action's last fastPathRuns runs.
type runRing struct {
	short [fastPathRuns]bool
	n     int // runs recorded, capped at fastPathRuns
	next  int
}

// Record notes one finished run of action. Only a run that ended by itself
// (succeeded or failed) within FastPathMaxDuration counts as short; a
// timeout, a cancellation or an error counts against the fast path.
func (d *RecentDurations) Record(action string, took time.Duration, status string) {
	short := took <= FastPathMaxDuration && (status == StatusSucceeded || status == StatusFailed)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.byAction == nil || len(d.byAction) >= maxTrackedActions && d.byAction[action] == nil {
		d.byAction = map[string]*runRing{}
	}
	r := d.byAction[action]
	if r == nil {
		r = &runRing{}
		d.byAction[action] = r
	}
	r.short[r.next] = short
	r.next = (r.next + 1) % fastPathRuns
	r.n = min(r.n+1, fastPathRuns)
}

// Short reports whether action's recent runs were all short: at least
// fastPathRuns of them, every one ended within FastPathMaxDuration; and
// whether a fast-path run may start (MaxInFlight).
func (d *RecentDurations) Short(action string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.MaxInFlight > 0 && d.inFlight >= d.MaxInFlight {
		return false
	}
	r := d.byAction[action]
	if r == nil || r.n < fastPathRuns {
		return false
	}
	for _, s := range r.short {
		if !s {
			return false
		}
	}
	return true
}

// begin and end count the fast-path runs in flight.
func (d *RecentDurations) begin() {
	d.mu.Lock()
	d.inFlight++
	d.mu.Unlock()
}

func (d *RecentDurations) end() {
	d.mu.Lock()
	d.inFlight--
	d.mu.Unlock()
}
