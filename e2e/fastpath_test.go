package e2e

import (
	"context"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/squall-automation/squall/internal/testenv"
)

// TestFastPath: once an action's recent runs were all short, the worker runs
// it as a local activity. Such a run can still be canceled, and one whose
// worker is killed -9 is finished by the next worker as a regular activity.
func TestFastPath(t *testing.T) {
	s := newStack(t)
	s.start("server", "server")
	s.start("worker-1", "worker")
	s.waitHealthy(60 * time.Second)
	a := s.login()
	tc, err := client.Dial(client.Options{HostPort: testenv.TemporalAddress(t), Namespace: testenv.TemporalNamespace()})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	// activityTasks counts the regular activity tasks of an execution.
	activityTasks := func(id string) int {
		n := 0
		it := tc.GetWorkflowHistory(context.Background(), id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			if ev.GetEventType() == enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED {
				n++
			}
		}
		return n
	}
	quick := func(n int) string {
		var last string
		for range n {
			ex := a.wait(a.run("core.local", map[string]any{"cmd": "true"}).ID, 30*time.Second)
			if ex.Status != "succeeded" {
				t.Fatalf("quick run: %+v", ex)
			}
			last = ex.ID
		}
		return last
	}

	first := quick(1)
	if n := activityTasks(first); n != 1 {
		t.Fatalf("an action never seen ran with %d regular activity tasks, want 1", n)
	}
	if n := activityTasks(quick(5)); n != 0 {
		t.Fatalf("after 5 short runs the action still ran as %d regular activity tasks", n)
	}

	t.Run("cancel", func(t *testing.T) {
		ex := a.run("core.local", map[string]any{"cmd": "sleep 60"})
		time.Sleep(time.Second)
		if code := a.do("DELETE", "/api/v1/executions/"+ex.ID, nil, nil); code != 200 {
			t.Fatalf("cancel: %d", code)
		}
		// The cancel reaches a local activity when its workflow task next
		// completes: within 8 s.
		if done := a.wait(ex.ID, 30*time.Second); done.Status != "canceled" {
			t.Fatalf("after cancel: %+v", done)
		}
	})

	t.Run("worker stopped", func(t *testing.T) {
		// A graceful stop cancels what the worker runs; a fast-path run
		// must then be handed over, not reported canceled.
		quick(5) // the canceled run disqualified the action for a while
		ex := a.run("core.local", map[string]any{"cmd": "sleep 3; echo done"})
		time.Sleep(1500 * time.Millisecond)
		s.stop("worker-1")
		s.start("worker-1b", "worker")
		done := a.wait(ex.ID, 90*time.Second)
		if done.Status != "succeeded" || done.Result["stdout"] != "done" {
			t.Fatalf("after a graceful worker stop: %+v", done)
		}
		s.stop("worker-1b")
		s.start("worker-1", "worker")
	})

	t.Run("worker killed", func(t *testing.T) {
		quick(5) // the canceled run disqualified the action for a while
		ex := a.run("core.local", map[string]any{"cmd": "sleep 4; echo done"})
		time.Sleep(1500 * time.Millisecond)
		s.kill("worker-1")
		s.start("worker-2", "worker")
		done := a.wait(ex.ID, 90*time.Second)
		if done.Status != "succeeded" || done.Result["stdout"] != "done" {
			t.Fatalf("after worker kill: %+v", done)
		}
		if n := activityTasks(ex.ID); n != 1 {
			t.Fatalf("the lost run was finished by %d regular activity tasks, want 1", n)
		}
	})
}
