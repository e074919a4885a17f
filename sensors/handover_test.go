package sensors_test

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/squall-automation/squall/sensors"
	"github.com/squall-automation/squall/trigger"
)

// A graceful stop of a worker (SIGTERM to squall worker, Ctrl-C of squall
// up) hands its sensors over: before Stop returns, each sensor got SIGTERM,
// ran its cleanup and had its exit dispatched, and Temporal knows it ended,
// so another worker starts it at once, not after the heartbeat timeout as
// when a host dies.
//
// Worker A has a Temporal client of its own, closed as soon as A's Stop
// returns, as when its process exits: whatever A has not done or told
// Temporal by then never happens. Without the handover (no
// WorkerStopTimeout, so Stop returns at once) the cleanup, which takes half
// a second, has not run when Stop returns, no exit event was dispatched,
// and the sensor moves only once the 15 s heartbeat timeout expires, so
// every check below fails.
func TestWorkerStopHandsSensorsOver(t *testing.T) {
	h := newHarnessWithoutWorker(t, "HandoverSensor")
	ref := h.ref("HandoverSensor")
	cA := h.dial()
	wA := h.startWorker(cA)
	h.runReconciler()
	typ := h.pack + ".handover_event"
	eventually(t, 60*time.Second, "the sensor to run on worker A", func() bool { return len(h.rec.of(typ)) == 1 })
	pidA := asInt(t, h.rec.of(typ)[0].Payload["pid"])

	h.startWorker(h.c) // worker B
	stopping := time.Now()
	wA.Stop()
	stopTook := time.Since(stopping)
	cA.Close()
	t.Logf("worker A stopped in %v", stopTook.Round(time.Millisecond))

	// The sensor got SIGTERM, not SIGKILL: its cleanup ran, and the wrapper
	// exited 0 (SIGKILL would be -9).
	cleanup, _ := os.ReadFile(h.logFile + ".cleanup")
	if want := fmt.Sprintf("cleanup %d\n", pidA); string(cleanup) != want {
		t.Errorf("when Stop returned, the cleanup file held %q, want %q", cleanup, want)
	}
	if !errors.Is(syscall.Kill(pidA, 0), syscall.ESRCH) {
		t.Errorf("sensor process %d still runs after Stop returned", pidA)
	}
	exits := h.rec.of(trigger.SensorExit)
	if len(exits) != 1 {
		t.Errorf("when Stop returned, exit events = %d, want 1", len(exits))
	} else if obj := payloadObject(t, exits[0]); asInt(t, obj["exit_code"]) != 0 || obj["ref"] != ref {
		t.Errorf("exit event = %v, want exit code 0 for %s", obj, ref)
	}

	// Worker B takes it over well within the heartbeat timeout.
	const within = 8 * time.Second
	eventually(t, within-time.Since(stopping), "worker B to start the sensor", func() bool { return len(h.rec.of(typ)) == 2 })
	t.Logf("worker B started the sensor %v after the stop began", time.Since(stopping).Round(time.Millisecond))
	if pidB := asInt(t, h.rec.of(typ)[1].Payload["pid"]); pidB == pidA {
		t.Errorf("the sensor runs as pid %d again", pidB)
	}
	if n := len(h.rec.of(trigger.SensorSpawn)); n != 2 {
		t.Errorf("spawn events = %d, want 2", n)
	}
	// A fresh run, not a retry: a handover is no crash and does not grow
	// the crash backoff.
	desc, err := h.c.DescribeWorkflowExecution(h.ctx, sensors.WorkflowID(ref), "")
	if err != nil {
		t.Fatal(err)
	}
	if st := desc.GetWorkflowExecutionInfo().GetStatus(); st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Fatalf("workflow status = %v, want running", st)
	}
	if pas := desc.GetPendingActivities(); len(pas) != 1 || pas[0].GetAttempt() != 1 {
		t.Errorf("pending activities = %v, want one at attempt 1", pas)
	}

	// Disabling still stops it for good.
	h.enable("HandoverSensor", false)
	eventually(t, 30*time.Second, "the workflow to end", func() bool {
		desc, err := h.c.DescribeWorkflowExecution(h.ctx, sensors.WorkflowID(ref), "")
		return err == nil && desc.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED
	})
	eventually(t, 10*time.Second, "the second exit event", func() bool { return len(h.rec.of(trigger.SensorExit)) == 2 })
}
