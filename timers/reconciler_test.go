package timers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/squall-automation/squall/catalog"
	"github.com/squall-automation/squall/internal/testenv"
	"github.com/squall-automation/squall/trigger"
	"github.com/squall-automation/squall/workflows"
)

// memStore is the test's implementation of Store: the enabled rules' timer
// triggers, with a version bumped on every change.
type memStore struct {
	mu       sync.Mutex
	triggers []catalog.Trigger
	version  int
}

func (s *memStore) set(ts ...catalog.Trigger) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.triggers = ts
	s.version++
}

func (s *memStore) ActiveTriggers(_ context.Context, typeRefs ...string) ([]catalog.Trigger, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []catalog.Trigger
	for _, t := range s.triggers {
		if len(typeRefs) == 0 || slices.Contains(typeRefs, t.Type) {
			out = append(out, t)
		}
	}
	return out, nil
}

func (s *memStore) RulesVersion(context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strconv.Itoa(s.version), nil
}

// firing is one TriggerInstance workflow a schedule started.
type firing struct {
	workflowID string
	in         workflows.TriggerInstanceInput
	attr       string
}

// recorder stands in for the TriggerInstance workflow under its real name
// and records each distinct execution (replays record nothing new).
type recorder struct {
	mu    sync.Mutex
	byID  map[string]firing
	order []string
}

func (r *recorder) workflow(ctx workflow.Context, in workflows.TriggerInstanceInput) (workflows.TriggerInstanceResult, error) {
	id := workflow.GetInfo(ctx).WorkflowExecution.ID
	attr, _ := workflow.GetTypedSearchAttributes(ctx).GetKeyword(workflows.AttrTrigger)
	r.mu.Lock()
	if _, seen := r.byID[id]; !seen {
		r.byID[id] = firing{workflowID: id, in: in, attr: attr}
		r.order = append(r.order, id)
	}
	r.mu.Unlock()
	return workflows.TriggerInstanceResult{TriggerInstanceID: workflows.TriggerInstanceIDFor(id)}, nil
}

// of returns the firings of a trigger, in arrival order.
func (r *recorder) of(ref string) []firing {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []firing
	for _, id := range r.order {
		if f := r.byID[id]; f.attr == ref {
			out = append(out, f)
		}
	}
	return out
}

func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func randomHex(t *testing.T) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func dial(t *testing.T) (client.Client, string) {
	t.Helper()
	addr := testenv.TemporalAddress(t)
	ns := testenv.TemporalNamespace()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	c, err := client.Dial(client.Options{HostPort: addr, Namespace: ns, Logger: sdklog.NewStructuredLogger(quiet)})
	if err != nil {
		t.Fatalf("dial Temporal at %s: %v", addr, err)
	}
	t.Cleanup(c.Close)
	return c, ns
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func decode[T any](t *testing.T, p any) T {
	t.Helper()
	var v T
	payload, ok := p.(*commonpb.Payload)
	if !ok {
		t.Fatalf("want a *commonpb.Payload, got %T", p)
	}
	if err := converter.GetDefaultDataConverter().FromPayload(payload, &v); err != nil {
		t.Fatalf("decode payload: %v", err)
	}
	return v
}

func TestReconcilerWithTemporal(t *testing.T) {
	c, ns := dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	run := randomHex(t)
	// Not under DefaultIDPrefix: a Squall running against the same server
	// must neither see these schedules nor have its own deleted by them.
	prefix := "squalltest-" + run + "-timer-"
	taskQueue := "timers-test-" + run
	store := &memStore{}
	newReconciler := func(c client.Client) *Reconciler {
		return &Reconciler{Client: c, Store: store, TaskQueue: taskQueue, Namespace: ns, IDPrefix: prefix, Logger: testLogger(t)}
	}
	r := newReconciler(c)
	t.Cleanup(func() {
		// Leave nothing firing on the server, whatever failed.
		store.set()
		if err := r.Reconcile(context.Background()); err != nil {
			t.Logf("cleanup: %v", err)
		}
	})

	rec := &recorder{byID: map[string]firing{}}
	w := worker.New(c, taskQueue, worker.Options{})
	w.RegisterWorkflowWithOptions(rec.workflow, workflow.RegisterOptions{Name: workflows.TriggerInstanceWorkflow})
	if err := w.Start(); err != nil {
		t.Fatalf("start worker: %v", err)
	}
	t.Cleanup(w.Stop)

	describe := func(ref string) (*client.ScheduleDescription, error) {
		return c.ScheduleClient().GetHandle(ctx, r.ScheduleID(ref)).Describe(ctx)
	}
	mustDescribe := func(ref string) *client.ScheduleDescription {
		t.Helper()
		d, err := describe(ref)
		if err != nil {
			t.Fatalf("describe schedule of %s: %v", ref, err)
		}
		return d
	}
	gone := func(ref string) bool {
		_, err := describe(ref)
		var nf *serviceerror.NotFound
		return errors.As(err, &nf)
	}
	interval := func(ref string, delta int) catalog.Trigger {
		return catalog.Trigger{Ref: ref, Type: trigger.IntervalTimer, Parameters: map[string]any{"unit": "seconds", "delta": float64(delta)}}
	}

	everySecond := interval("tests.every_second", 1)

	t.Run("creates a schedule that fires TriggerInstance workflows", func(t *testing.T) {
		store.set(everySecond)
		if err := r.Reconcile(ctx); err != nil {
			t.Fatalf("Reconcile: %v", err)
		}
		d := mustDescribe(everySecond.Ref)
		if got := decode[string](t, d.Memo.GetFields()[MemoTrigger]); got != everySecond.Ref {
			t.Errorf("memo trigger = %q", got)
		}
		if got := decode[string](t, d.Memo.GetFields()[MemoTriggerType]); got != trigger.IntervalTimer {
			t.Errorf("memo trigger type = %q", got)
		}
		if p := d.Schedule.Policy; p.Overlap != enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL || p.CatchupWindow != time.Minute {
			t.Errorf("policy = %+v, want ALLOW_ALL and a one-minute catch-up window", p)
		}
		if iv := d.Schedule.Spec.Intervals; len(iv) != 1 || iv[0].Every != time.Second {
			t.Errorf("intervals = %+v, want every second", iv)
		}
		a := d.Schedule.Action.(*client.ScheduleWorkflowAction)
		if a.Workflow != workflows.TriggerInstanceWorkflow || a.TaskQueue != taskQueue || !strings.HasPrefix(a.ID, WorkflowIDPrefix) {
			t.Errorf("action = %s on %s with ID %s", a.Workflow, a.TaskQueue, a.ID)
		}

		eventually(t, 20*time.Second, "two firings", func() bool { return len(rec.of(everySecond.Ref)) >= 2 })
		for _, f := range rec.of(everySecond.Ref) {
			if !strings.HasPrefix(f.workflowID, a.ID+"-") {
				t.Errorf("workflow ID %s does not extend the schedule's %s", f.workflowID, a.ID)
			}
			if f.in.TriggerType != trigger.IntervalTimer || f.in.TriggerParams["delta"] != float64(1) || f.in.TriggerParams["unit"] != "seconds" {
				t.Errorf("input = %+v", f.in)
			}
			if f.in.ID != "" || f.in.Payload != nil || !f.in.OccurredAt.IsZero() {
				t.Errorf("a timer firing leaves ID, payload and time to the workflow, got %+v", f.in)
			}
		}

		// Nothing changed: the schedule is not rewritten.
		before := d.Info.LastUpdateAt
		if err := r.Reconcile(ctx); err != nil {
			t.Fatalf("second Reconcile: %v", err)
		}
		if after := mustDescribe(everySecond.Ref).Info.LastUpdateAt; !after.Equal(before) {
			t.Errorf("unchanged timer was updated (%v -> %v)", before, after)
		}
	})

	raced := interval("tests.raced", 1)

	t.Run("racing reconcilers create one schedule", func(t *testing.T) {
		store.set(everySecond, raced)
		const n = 4
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			ci, err := client.NewClientFromExisting(c, client.Options{Namespace: ns})
			if err != nil {
				t.Fatalf("client: %v", err)
			}
			defer ci.Close()
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = newReconciler(ci).Reconcile(ctx)
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("reconciler %d: %v", i, err)
			}
		}
		var ids []string
		eventually(t, 10*time.Second, "both schedules listed", func() bool {
			listed, err := r.list(ctx)
			if err != nil {
				t.Fatalf("list: %v", err)
			}
			ids = ids[:0]
			for id := range listed {
				ids = append(ids, id)
			}
			return len(ids) >= 2
		})
		slices.Sort(ids)
		if want := []string{r.ScheduleID(everySecond.Ref), r.ScheduleID(raced.Ref)}; !slices.Equal(ids, want) {
			t.Errorf("schedules = %v, want %v", ids, want)
		}
		eventually(t, 20*time.Second, "three firings of the raced timer", func() bool { return len(rec.of(raced.Ref)) >= 3 })
		// One schedule means one workflow per second: the IDs (schedule
		// prefix plus firing time) never repeat a second.
		seen := map[string]bool{}
		for _, f := range rec.of(raced.Ref) {
			at := f.workflowID[strings.LastIndex(f.workflowID, "-20"):]
			if seen[at] {
				t.Errorf("two firings at %s", at)
			}
			seen[at] = true
		}
	})

	t.Run("changed parameters update the schedule", func(t *testing.T) {
		before := mustDescribe(raced.Ref).Info.LastUpdateAt
		slower := interval(raced.Ref, 2)
		store.set(everySecond, slower)
		if err := r.Reconcile(ctx); err != nil {
			t.Fatalf("Reconcile: %v", err)
		}
		d := mustDescribe(raced.Ref)
		if iv := d.Schedule.Spec.Intervals; len(iv) != 1 || iv[0].Every != 2*time.Second {
			t.Errorf("intervals = %+v, want every 2s", iv)
		}
		if !d.Info.LastUpdateAt.After(before) {
			t.Errorf("LastUpdateAt %v did not move from %v", d.Info.LastUpdateAt, before)
		}
		in := decode[workflows.TriggerInstanceInput](t, d.Schedule.Action.(*client.ScheduleWorkflowAction).Args[0])
		if in.TriggerParams["delta"] != float64(2) {
			t.Errorf("action input = %+v, want delta 2", in)
		}
		eventually(t, 20*time.Second, "a firing with the new parameters", func() bool {
			for _, f := range rec.of(raced.Ref) {
				if f.in.TriggerParams["delta"] == float64(2) {
					return true
				}
			}
			return false
		})
	})

	t.Run("a trigger no rule uses loses its schedule", func(t *testing.T) {
		store.set(everySecond)
		if err := r.Reconcile(ctx); err != nil {
			t.Fatalf("Reconcile: %v", err)
		}
		if !gone(raced.Ref) {
			t.Fatalf("schedule of %s still exists", raced.Ref)
		}
		time.Sleep(time.Second) // firings already started may still land
		n := len(rec.of(raced.Ref))
		time.Sleep(3 * time.Second)
		if m := len(rec.of(raced.Ref)); m != n {
			t.Errorf("%d firings after the schedule was deleted", m-n)
		}
		if mustDescribe(everySecond.Ref) == nil {
			t.Error("the other schedule went too")
		}
	})

	t.Run("date and cron timers on the real scheduler", func(t *testing.T) {
		at := time.Now().UTC().Add(3 * time.Second).Truncate(time.Second)
		date := catalog.Trigger{Ref: "tests.once", Type: trigger.DateTimer, Parameters: map[string]any{"date": at.Format("2006-01-02 15:04:05")}}
		cron := catalog.Trigger{Ref: "tests.weekdays", Type: trigger.CronTimer, Parameters: map[string]any{
			"day_of_week": "mon-fri", "hour": 9, "minute": 30, "timezone": "America/New_York",
		}}
		bad := catalog.Trigger{Ref: "tests.bad", Type: trigger.CronTimer, Parameters: map[string]any{"week": 3}}
		store.set(everySecond, date, cron, bad)
		if err := r.Reconcile(ctx); err != nil {
			t.Fatalf("Reconcile: %v (a trigger with bad parameters is logged, not an error)", err)
		}
		if !gone(bad.Ref) {
			t.Error("a schedule was created for invalid parameters")
		}

		ny, _ := time.LoadLocation("America/New_York")
		next := mustDescribe(cron.Ref).Info.NextActionTimes
		if len(next) == 0 {
			t.Fatal("cron schedule has no next action times")
		}
		for _, n := range next {
			l := n.In(ny)
			if wd := l.Weekday(); wd == time.Saturday || wd == time.Sunday || l.Hour() != 9 || l.Minute() != 30 || l.Second() != 0 {
				t.Errorf("cron fires at %v (%s), want weekdays 09:30 New York time", l, l.Weekday())
			}
		}

		d := mustDescribe(date.Ref)
		if s := d.Schedule.State; !s.LimitedActions || s.RemainingActions != 1 {
			t.Errorf("date schedule state = %+v, want one remaining action", s)
		}
		if next := d.Info.NextActionTimes; len(next) != 1 || !next[0].Equal(at) {
			t.Errorf("date schedule next actions = %v, want only %v", next, at)
		}
		eventually(t, 20*time.Second, "the date timer firing", func() bool { return len(rec.of(date.Ref)) == 1 })
		time.Sleep(2 * time.Second)
		if n := len(rec.of(date.Ref)); n != 1 {
			t.Errorf("date timer fired %d times", n)
		}
		if s := mustDescribe(date.Ref).Schedule.State; s.RemainingActions != 0 {
			t.Errorf("remaining actions after firing = %d", s.RemainingActions)
		}
		// Reconciling again does not re-arm the fired one-shot.
		if err := r.Reconcile(ctx); err != nil {
			t.Fatalf("Reconcile: %v", err)
		}
		if s := mustDescribe(date.Ref).Schedule.State; s.RemainingActions != 0 {
			t.Errorf("reconcile re-armed the date timer: %+v", s)
		}
	})

	t.Run("Run follows rule changes and Trigger", func(t *testing.T) {
		store.set(everySecond)
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		slow := newReconciler(c)
		go func() { done <- slow.Run(runCtx, time.Hour) }() // polls only at start
		eventually(t, 10*time.Second, "date and cron schedules deleted at start", func() bool {
			return gone("tests.once") && gone("tests.weekdays")
		})
		kicked := interval("tests.kicked", 60)
		store.set(everySecond, kicked)
		slow.Trigger()
		eventually(t, 10*time.Second, "schedule created after Trigger", func() bool { return !gone(kicked.Ref) })
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}

		runCtx, stop = context.WithCancel(ctx)
		defer stop()
		go func() { done <- newReconciler(c).Run(runCtx, 100*time.Millisecond) }()
		store.set(everySecond)
		eventually(t, 10*time.Second, "schedule deleted after the rules changed", func() bool { return gone(kicked.Ref) })
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	})
}
