package sensors

import (
	"bufio"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/squall-automation/squall/catalog"
	"github.com/squall-automation/squall/pack"
)

func TestBuiltinFor(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "sensors"), 0o755)
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, "sensors", name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("marker", "#!squall-builtin file_watch\n")
	write("spaced", "  #!squall-builtin   file_watch  \nrest")
	write("script.sh", "#!/bin/sh\nexit 0\n")
	write("s.py", "from st2reactor.sensor.base import Sensor\n")
	for _, tc := range []struct {
		pack, class, entry string
		want               string
		ok                 bool
	}{
		{"linux", "FileWatchSensor", "file_watch_sensor.py", "file_watch", true},
		{"other", "FileWatchSensor", "s.py", "", false},
		{"p", "X", "marker", "file_watch", true},
		{"p", "X", "spaced", "file_watch", true},
		{"p", "X", "script.sh", "", false},
		{"p", "X", "missing", "", false},
	} {
		rec := &catalog.SensorRecord{Sensor: pack.Sensor{Pack: tc.pack, ClassName: tc.class, EntryPoint: tc.entry}, PackPath: dir}
		got, ok := builtinFor(rec)
		if got != tc.want || ok != tc.ok {
			t.Errorf("builtinFor(%s.%s, %s) = %q, %v; want %q, %v", tc.pack, tc.class, tc.entry, got, ok, tc.want, tc.ok)
		}
	}
}

func TestSensorHash(t *testing.T) {
	base := func() *catalog.SensorRecord {
		return &catalog.SensorRecord{
			ID:         "0123456789abcdef01234567",
			Sensor:     pack.Sensor{Ref: "p.S", Pack: "p", ClassName: "S", EntryPoint: "s.py", Enabled: true, Raw: map[string]any{"a": 1}},
			PackPath:   "/packs/p",
			PackConfig: map[string]any{"k": "v"},
		}
	}
	h0, err := SensorHash(base())
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := SensorHash(base()); again != h0 {
		t.Errorf("hash is not stable: %s vs %s", again, h0)
	}
	for name, change := range map[string]func(*catalog.SensorRecord){
		"config":        func(r *catalog.SensorRecord) { r.PackConfig["k"] = "w" },
		"pack path":     func(r *catalog.SensorRecord) { r.PackPath = "/elsewhere" },
		"poll interval": func(r *catalog.SensorRecord) { r.PollInterval = 5 },
		"raw metadata":  func(r *catalog.SensorRecord) { r.Raw["a"] = 2 },
		"entry point":   func(r *catalog.SensorRecord) { r.EntryPoint = "t.py" },
	} {
		r := base()
		change(r)
		if h, _ := SensorHash(r); h == h0 {
			t.Errorf("changing the %s keeps the hash", name)
		}
	}
}

func TestReadLine(t *testing.T) {
	in := "short\n" + strings.Repeat("x", 100) + "\nafter\nlast"
	br := bufio.NewReaderSize(strings.NewReader(in), 16)
	var got []string
	var long int
	for {
		line, tooLong, err := readLine(br, 50)
		if tooLong {
			long++
		} else if err == nil || len(line) > 0 {
			got = append(got, string(line))
		}
		if err != nil {
			break
		}
	}
	if strings.Join(got, "|") != "short|after|last" || long != 1 {
		t.Errorf("lines = %q, too long = %d", got, long)
	}
}

func TestEventFor(t *testing.T) {
	r := &run{rec: &catalog.SensorRecord{}, triggers: []catalog.Trigger{
		{ID: "aaaaaaaaaaaaaaaaaaaaaaaa", Ref: "linux.1234", UID: "trigger:linux:1234", Type: "linux.file_watch.line",
			Parameters: map[string]any{"file_path": "/var/log/x"}},
	}}
	for _, ref := range []string{"linux.1234", "aaaaaaaaaaaaaaaaaaaaaaaa", "trigger:linux:1234"} {
		ev := r.eventFor(ref, map[string]any{"line": "l"})
		if ev.TriggerType != "linux.file_watch.line" || ev.TriggerParams["file_path"] != "/var/log/x" {
			t.Errorf("eventFor(%q) = %+v", ref, ev)
		}
	}
	if ev := r.eventFor("pack.event", nil); ev.TriggerType != "pack.event" || ev.TriggerParams != nil {
		t.Errorf("eventFor(type ref) = %+v", ev)
	}
}

func workflowOptions() workflow.RegisterOptions {
	return workflow.RegisterOptions{Name: SensorWorkflowName}
}

func activityOptions() activity.RegisterOptions {
	return activity.RegisterOptions{Name: RunSensorActivityName}
}

// The workflow's decisions, with the SDK's test environment.
func TestSensorWorkflow(t *testing.T) {
	var s testsuite.WorkflowTestSuite

	t.Run("stopped sensor ends the workflow", func(t *testing.T) {
		env := s.NewTestWorkflowEnvironment()
		env.RegisterWorkflowWithOptions(SensorWorkflow, workflowOptions())
		calls := 0
		env.RegisterActivityWithOptions(func(ctx context.Context, in RunSensorInput) (RunSensorResult, error) {
			calls++
			if calls == 1 {
				return RunSensorResult{Exited: true, ExitCode: 0}, nil // healthy run: again at once
			}
			return RunSensorResult{Stopped: true, Reason: "disabled"}, nil
		}, activityOptions())
		env.ExecuteWorkflow(SensorWorkflow, SensorInput{Ref: "p.S", Hash: "h1"})
		if !env.IsWorkflowCompleted() || env.GetWorkflowError() != nil || calls != 2 {
			t.Fatalf("completed=%v err=%v calls=%d", env.IsWorkflowCompleted(), env.GetWorkflowError(), calls)
		}
	})

	t.Run("a new hash restarts the activity, the same hash does not", func(t *testing.T) {
		env := s.NewTestWorkflowEnvironment()
		env.RegisterWorkflowWithOptions(SensorWorkflow, workflowOptions())
		starts := 0
		env.RegisterActivityWithOptions(func(ctx context.Context, in RunSensorInput) (RunSensorResult, error) {
			starts++
			if starts == 3 {
				return RunSensorResult{Stopped: true}, nil
			}
			<-ctx.Done() // runs until cancelled
			return RunSensorResult{}, ctx.Err()
		}, activityOptions())
		env.RegisterDelayedCallback(func() { env.SignalWorkflow(ConfigSignal, "h1") }, 100*time.Millisecond)
		env.RegisterDelayedCallback(func() { env.SignalWorkflow(ConfigSignal, "h2") }, 300*time.Millisecond)
		env.RegisterDelayedCallback(func() { env.SignalWorkflow(ConfigSignal, "h3") }, 600*time.Millisecond)
		env.ExecuteWorkflow(SensorWorkflow, SensorInput{Ref: "p.S", Hash: "h1"})
		if err := env.GetWorkflowError(); err != nil || starts != 3 {
			t.Fatalf("err=%v starts=%d, want 3 (h1 ignored, h2 and h3 restart)", err, starts)
		}
	})

	t.Run("crashes are retried with backoff", func(t *testing.T) {
		env := s.NewTestWorkflowEnvironment()
		env.RegisterWorkflowWithOptions(SensorWorkflow, workflowOptions())
		var at []time.Time
		env.RegisterActivityWithOptions(func(ctx context.Context, in RunSensorInput) (RunSensorResult, error) {
			at = append(at, env.Now())
			if len(at) < 4 {
				return RunSensorResult{}, temporal.NewApplicationError("exited", ErrTypeSensorExited)
			}
			return RunSensorResult{Stopped: true}, nil
		}, activityOptions())
		env.ExecuteWorkflow(SensorWorkflow, SensorInput{Ref: "p.S", InitialBackoff: time.Second, MaxBackoff: time.Minute})
		if err := env.GetWorkflowError(); err != nil || len(at) != 4 {
			t.Fatalf("err=%v attempts=%d", err, len(at))
		}
		if g1, g3 := at[1].Sub(at[0]), at[3].Sub(at[2]); g1 < time.Second || g3 < 4*time.Second {
			t.Errorf("backoff gaps %v ... %v, want 1s ... 4s", g1, g3)
		}
	})

	t.Run("a handover starts the sensor again at once, as a fresh run", func(t *testing.T) {
		env := s.NewTestWorkflowEnvironment()
		env.RegisterWorkflowWithOptions(SensorWorkflow, workflowOptions())
		var at []time.Time
		var attempts []int32
		env.RegisterActivityWithOptions(func(ctx context.Context, in RunSensorInput) (RunSensorResult, error) {
			at = append(at, env.Now())
			attempts = append(attempts, activity.GetInfo(ctx).Attempt)
			switch len(at) {
			case 1:
				// A crash first: the next attempt is a retry (attempt 2).
				return RunSensorResult{}, temporal.NewApplicationError("exited", ErrTypeSensorExited)
			case 2, 3:
				return RunSensorResult{Handover: true, Reason: "worker stopping"}, nil
			}
			return RunSensorResult{Stopped: true}, nil
		}, activityOptions())
		env.ExecuteWorkflow(SensorWorkflow, SensorInput{Ref: "p.S", InitialBackoff: time.Minute, MaxBackoff: time.Hour})
		if err := env.GetWorkflowError(); err != nil || len(at) != 4 {
			t.Fatalf("err=%v runs=%d", err, len(at))
		}
		if g := at[3].Sub(at[1]); g != 0 {
			t.Errorf("handovers took %v, want no delay", g)
		}
		if attempts[1] != 2 || attempts[2] != 1 || attempts[3] != 1 {
			t.Errorf("attempts = %v, want [1 2 1 1]: a handover starts a fresh run", attempts)
		}
	})

	t.Run("cancellation ends the workflow as cancelled", func(t *testing.T) {
		env := s.NewTestWorkflowEnvironment()
		env.RegisterWorkflowWithOptions(SensorWorkflow, workflowOptions())
		env.RegisterActivityWithOptions(func(ctx context.Context, in RunSensorInput) (RunSensorResult, error) {
			<-ctx.Done()
			return RunSensorResult{}, ctx.Err()
		}, activityOptions())
		env.RegisterDelayedCallback(env.CancelWorkflow, 100*time.Millisecond)
		env.ExecuteWorkflow(SensorWorkflow, SensorInput{Ref: "p.S"})
		var canceled *temporal.CanceledError
		if err := env.GetWorkflowError(); !errors.As(err, &canceled) {
			t.Fatalf("workflow error = %v, want cancelled", err)
		}
	})
}
