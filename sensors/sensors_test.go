package sensors_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/squall-automation/squall/catalog"
	"github.com/squall-automation/squall/ingest"
	"github.com/squall-automation/squall/sensors"
	"github.com/squall-automation/squall/trigger"
)

func payloadObject(t *testing.T, ev ingest.Event) map[string]any {
	t.Helper()
	obj, ok := ev.Payload["object"].(map[string]any)
	if !ok {
		t.Fatalf("%s payload has no object: %v", ev.TriggerType, ev.Payload)
	}
	return obj
}

// asInt reads a JSON number decoded with UseNumber (or a Go int).
func asInt(t *testing.T, v any) int {
	t.Helper()
	switch n := v.(type) {
	case json.Number:
		i, err := n.Int64()
		if err != nil {
			t.Fatalf("%v is not an integer", n)
		}
		return int(i)
	case int:
		return n
	case float64:
		return int(n)
	}
	t.Fatalf("%v (%T) is not a number", v, v)
	return 0
}

func TestPythonSensor(t *testing.T) {
	h := newHarness(t, "PollSensor")
	h.runReconciler()
	event := h.pack + ".event"

	var polls []ingest.Event
	eventually(t, 60*time.Second, "two polls", func() bool {
		polls = nil
		for _, ev := range h.rec.of(event) {
			if _, ok := ev.Payload["count"]; ok {
				polls = append(polls, ev)
			}
		}
		return len(polls) >= 2
	})
	last := polls[len(polls)-1]
	n := asInt(t, last.Payload["count"])
	if n < 2 || last.Payload["greeting"] != "hello!" || last.TraceTag != fmt.Sprintf("poll-%d", n) {
		t.Errorf("poll event = %+v", last)
	}
	// local=True keys live under st2's "<pack>.<class>:" prefix.
	key := h.pack + ".PollSensor:count"
	if last.Payload["global"] != fmt.Sprint(n) {
		t.Errorf("get_value(%q, local=False) = %v, want %d", key, last.Payload["global"], n)
	}
	if l, _ := last.Payload["listed"].([]any); len(l) != 1 || l[0] != key {
		t.Errorf("list_values() names = %v, want [%s]", last.Payload["listed"], key)
	}
	kv, err := h.store.GetKV(h.ctx, catalog.KVSystemScope, "", key)
	if err != nil || asIntString(t, kv.Value) < n {
		t.Errorf("stored count = %+v, %v; want >= %d", kv, err, n)
	}

	spawns := h.rec.of(trigger.SensorSpawn)
	if len(spawns) != 1 {
		t.Fatalf("spawn events = %d, want 1", len(spawns))
	}
	if obj := payloadObject(t, spawns[0]); obj["ref"] != h.ref("PollSensor") || obj["id"] != "PollSensor" || asInt(t, obj["pid"]) <= 0 {
		t.Errorf("spawn payload = %v", obj)
	}

	// The rule's trigger reached add_trigger; changing the rule's
	// parameters replaces the trigger: add the new one, remove the old.
	triggerCalls := func(kind string) []any {
		var out []any
		for _, ev := range h.rec.of(event) {
			if p, ok := ev.Payload[kind]; ok {
				out = append(out, p)
			}
		}
		return out
	}
	eventually(t, 30*time.Second, "add_trigger", func() bool { return len(triggerCalls("added")) == 1 })
	if p, _ := triggerCalls("added")[0].(map[string]any); asInt(t, p["x"]) != 1 {
		t.Errorf("add_trigger parameters = %v", triggerCalls("added")[0])
	}
	h.edit("rules/param_rule.yaml", "x: 1", "x: 2")
	h.register()
	eventually(t, 30*time.Second, "add/remove_trigger after the rule changed", func() bool {
		return len(triggerCalls("added")) == 2 && len(triggerCalls("removed")) == 1
	})
	if p, _ := triggerCalls("removed")[0].(map[string]any); asInt(t, p["x"]) != 1 {
		t.Errorf("remove_trigger parameters = %v", triggerCalls("removed")[0])
	}

	// Re-registering with another config restarts the sensor with it.
	h.edit("config.yaml", "hello", "bonjour")
	h.register()
	eventually(t, 60*time.Second, "a poll with the new config", func() bool {
		for _, ev := range h.rec.of(event) {
			if ev.Payload["greeting"] == "bonjour!" {
				return true
			}
		}
		return false
	})
	if n := len(h.rec.of(trigger.SensorSpawn)); n != 2 {
		t.Errorf("spawn events after re-registration = %d, want 2", n)
	}
	if exits := h.rec.of(trigger.SensorExit); len(exits) != 1 {
		t.Errorf("exit events after re-registration = %d, want 1", len(exits))
	}
}

func asIntString(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatalf("%q is not a number", s)
	}
	return n
}

func TestExecutableSensor(t *testing.T) {
	h := newHarness(t, "ExecSensor")
	h.rec.failNext = 2 // ingest hiccups: the dispatch is retried
	h.runReconciler()

	typ := h.pack + ".exec_event"
	eventually(t, 60*time.Second, "the executable's dispatch", func() bool { return len(h.rec.of(typ)) > 0 })
	ev := h.rec.of(typ)[0]
	if ev.TraceTag != "exec-tag" || ev.DedupeKey != "exec-1" {
		t.Errorf("trace tag, dedupe key = %q, %q", ev.TraceTag, ev.DedupeKey)
	}
	get, _ := ev.Payload["get"].(map[string]any)
	result, _ := get["result"].(map[string]any)
	if asInt(t, get["id"]) != 2 || result["name"] != h.pack+".ExecSensor:greeting" || result["value"] != "hi" {
		t.Errorf("kv get answer = %v", get)
	}
	bad, _ := ev.Payload["bad"].(map[string]any)
	if msg, _ := bad["error"].(string); msg == "" {
		t.Errorf("an unknown kv op was answered with %v, want an error", bad)
	}
	initMsg, _ := ev.Payload["init"].(map[string]any)
	info, _ := initMsg["init"].(map[string]any)
	cfg, _ := info["config"].(map[string]any)
	if info["ref"] != h.ref("ExecSensor") || info["class_name"] != "ExecSensor" || cfg["greeting"] != "hello" {
		t.Errorf("init message = %v", initMsg)
	}
	if len(h.rec.of(trigger.SensorSpawn)) != 1 {
		t.Errorf("spawn events = %d, want 1", len(h.rec.of(trigger.SensorSpawn)))
	}
}

func TestFileWatchSensor(t *testing.T) {
	h := newHarness(t, "Watch")
	if err := os.WriteFile(h.logFile, []byte("old line, before the sensor\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h.runReconciler()
	eventually(t, 60*time.Second, "the built-in to start", func() bool { return len(h.rec.of(trigger.SensorSpawn)) == 1 })
	typ := h.pack + ".file_watch.line"
	// The watcher reads the triggers right after the spawn event; give it
	// a moment to open the file at its end before appending.
	time.Sleep(time.Second)
	f, err := os.OpenFile(h.logFile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, "first")
	fmt.Fprintln(f, "second")
	f.Close()
	eventually(t, 30*time.Second, "two lines", func() bool { return len(h.rec.of(typ)) >= 2 })
	evs := h.rec.of(typ)
	if len(evs) != 2 || evs[0].Payload["line"] != "first" || evs[1].Payload["line"] != "second" {
		t.Fatalf("line events = %+v", evs)
	}
	if evs[0].Payload["file_path"] != h.logFile || evs[0].Payload["file_name"] != "app.log" ||
		evs[0].TriggerParams["file_path"] != h.logFile {
		t.Errorf("event = %+v", evs[0])
	}
}

func TestCrashingSensorRestartsWithBackoff(t *testing.T) {
	h := newHarness(t, "Crash")
	h.runReconciler()
	eventually(t, 60*time.Second, "four starts", func() bool { return len(h.rec.of(trigger.SensorExit)) >= 4 })
	spawns := h.rec.of(trigger.SensorSpawn)
	exits := h.rec.of(trigger.SensorExit)
	for _, ev := range exits {
		if code := asInt(t, payloadObject(t, ev)["exit_code"]); code != 3 {
			t.Errorf("exit code = %d, want 3", code)
		}
	}
	// Backoff 1s, doubling: the gaps between starts grow.
	var at []time.Time
	for _, ev := range spawns {
		at = append(at, ev.OccurredAt)
	}
	if len(at) < 4 {
		t.Fatalf("spawns = %d", len(at))
	}
	g1, g3 := at[1].Sub(at[0]), at[3].Sub(at[2])
	if g1 < 800*time.Millisecond || g3 < g1+time.Second {
		t.Errorf("gaps between starts %v then %v: want ~1s then ~4s", g1, g3)
	}
}

func TestDisablingStopsSensorAndItsProcesses(t *testing.T) {
	h := newHarness(t, "Sleeper")
	h.runReconciler()
	typ := h.pack + ".sleeper_event"
	eventually(t, 60*time.Second, "the sleeper's pids", func() bool { return len(h.rec.of(typ)) == 1 })
	ev := h.rec.of(typ)[0]
	pid, child := asInt(t, ev.Payload["pid"]), asInt(t, ev.Payload["child"])
	for _, p := range []int{pid, child} {
		if err := syscall.Kill(p, 0); err != nil {
			t.Fatalf("process %d is not running: %v", p, err)
		}
	}

	h.enable("Sleeper", false)
	gone := func(p int) bool { return errors.Is(syscall.Kill(p, 0), syscall.ESRCH) }
	eventually(t, 30*time.Second, "the sensor and its child to die", func() bool { return gone(pid) && gone(child) })
	eventually(t, 30*time.Second, "the workflow to end", func() bool {
		desc, err := h.c.DescribeWorkflowExecution(h.ctx, sensors.WorkflowID(h.ref("Sleeper")), "")
		return err == nil && desc.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED
	})
	eventually(t, 10*time.Second, "the exit event", func() bool { return len(h.rec.of(trigger.SensorExit)) == 1 })
}

func TestCancellingTheActivityKillsTheProcess(t *testing.T) {
	// One reconciler pass starts it; then the workflow is cancelled
	// directly, as an operator would, which cancels the activity.
	h := newHarness(t, "Sleeper")
	ref := h.ref("Sleeper")
	if err := h.reconciler(h.c).Reconcile(h.ctx); err != nil {
		t.Fatal(err)
	}
	typ := h.pack + ".sleeper_event"
	eventually(t, 60*time.Second, "the sleeper's pids", func() bool { return len(h.rec.of(typ)) == 1 })
	pid := asInt(t, h.rec.of(typ)[0].Payload["pid"])
	if err := h.c.CancelWorkflow(h.ctx, sensors.WorkflowID(ref), ""); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the process to die", func() bool {
		return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
	})
}

func TestTwoReconcilersStartOneWorkflow(t *testing.T) {
	h := newHarness(t, "Sleeper")
	r1, r2 := h.reconciler(h.c), h.reconciler(h.c)
	errs := make(chan error, 2)
	for _, r := range []*sensors.Reconciler{r1, r2} {
		go func() { errs <- r.Reconcile(h.ctx) }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	// And again: a second pass of each must not start anything either.
	for _, r := range []*sensors.Reconciler{r2, r1} {
		if err := r.Reconcile(h.ctx); err != nil {
			t.Fatal(err)
		}
	}
	typ := h.pack + ".sleeper_event"
	eventually(t, 60*time.Second, "the sleeper", func() bool { return len(h.rec.of(typ)) >= 1 })
	time.Sleep(2 * time.Second)
	if n := len(h.rec.of(trigger.SensorSpawn)); n != 1 {
		t.Errorf("spawn events = %d, want 1", n)
	}
	resp, err := h.c.ListWorkflow(h.ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Query: fmt.Sprintf("WorkflowId = '%s'", sensors.WorkflowID(h.ref("Sleeper"))),
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(resp.GetExecutions()); n != 1 {
		t.Errorf("workflow executions = %d, want 1", n)
	}
}
