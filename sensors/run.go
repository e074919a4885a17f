package sensors

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/squall-automation/squall/catalog"
	"github.com/squall-automation/squall/ingest"
	"github.com/squall-automation/squall/sensors/filewatch"
)

// BuiltinMarker starts the first line of a sensor entry point that names a
// built-in Go sensor instead of code: "#!squall-builtin file_watch".
const BuiltinMarker = "#!squall-builtin"

// builtinFunc runs a built-in sensor until ctx ends. triggers delivers the
// sensor's active triggers at the start and on every change.
type builtinFunc func(ctx context.Context, triggers <-chan []catalog.Trigger,
	dispatch func(context.Context, ingest.Event) error, r *run) error

// builtins are the sensors implemented in Go, by the name used after
// BuiltinMarker.
var builtins = map[string]builtinFunc{
	"file_watch": func(ctx context.Context, triggers <-chan []catalog.Trigger,
		dispatch func(context.Context, ingest.Event) error, r *run) error {
		return filewatch.Run(ctx, filewatch.Options{Triggers: triggers, Dispatch: dispatch, Logger: r.log})
	},
}

// drainGrace is how long a sensor's output is still read after the process
// exited: children left behind holding the pipe must not hold up the run.
const drainGrace = 2 * time.Second

// builtinFor reports which built-in Go sensor, if any, stands in for rec:
// st2's linux.FileWatchSensor (whose Python code needs st2's own tailer
// library) or a sensor whose entry point starts with BuiltinMarker.
func builtinFor(rec *catalog.SensorRecord) (string, bool) {
	if rec.Pack == "linux" && rec.ClassName == "FileWatchSensor" {
		return "file_watch", true
	}
	f, err := os.Open(entryPointPath(rec))
	if err != nil {
		return "", false
	}
	defer f.Close()
	first, _ := bufio.NewReader(io.LimitReader(f, 256)).ReadString('\n')
	rest, ok := strings.CutPrefix(strings.TrimSpace(first), BuiltinMarker)
	if !ok {
		return "", false
	}
	return strings.TrimSpace(rest), true
}

func entryPointPath(rec *catalog.SensorRecord) string {
	return filepath.Join(rec.PackPath, "sensors", filepath.FromSlash(rec.EntryPoint))
}

// runBuiltin runs a Go sensor in this process. It has no process of its own;
// spawn/exit events carry the worker's PID so rules that watch sensor
// lifecycles still see it start and stop.
func (r *run) runBuiltin(ctx context.Context, name string) (int, error) {
	fn, ok := builtins[name]
	if !ok {
		return 0, fmt.Errorf("no built-in sensor named %q (known: file_watch)", name)
	}
	triggers := make(chan []catalog.Trigger, 1)
	stopWatch, err := r.watchTriggers(ctx, func(ts []catalog.Trigger) {
		// Only the latest list matters: replace an unread one.
		select {
		case <-triggers:
		default:
		}
		triggers <- ts
	})
	if err != nil {
		return 0, err
	}
	defer stopWatch()
	r.spawned(ctx, os.Getpid(), BuiltinMarker+" "+name)
	r.log.Info("built-in sensor started", "builtin", name)
	err = fn(ctx, triggers, r.dispatch, r)
	code := 0
	if err != nil && ctx.Err() == nil {
		r.log.Error("built-in sensor failed", "builtin", name, "error", err)
		code = 1
	}
	r.exited(ctx, code)
	return code, nil
}

// command returns how to start rec as a process: StackStorm Python sensors
// (*.py) through the wrapper, anything else as an executable speaking the
// protocol directly.
func (r *run) command() (path string, args, env []string, err error) {
	file := entryPointPath(r.rec)
	if _, err := os.Stat(file); err != nil {
		return "", nil, nil, fmt.Errorf("entry point: %w", err)
	}
	env = append(os.Environ(), "SQUALL_SENSOR_REF="+r.rec.Ref, "ST2_SENSOR_PACK_NAME="+r.rec.Pack)
	if !strings.HasSuffix(file, ".py") {
		return file, nil, env, nil
	}
	if err := r.a.InstallShim(); err != nil {
		return "", nil, nil, err
	}
	r.a.shimMu.Lock()
	shim := r.a.shimInstalled
	r.a.shimMu.Unlock()
	python := r.a.deps.Python
	if python == "" {
		python = "python3"
	}
	// The wrapper puts the pack's lib/ and the sensor's directory on
	// sys.path itself; PYTHONPATH only finds the shim (st2 does not let
	// users extend it either). -u: messages leave at once, not when a
	// buffer fills.
	env = append(env, "PYTHONPATH="+shim)
	return python, []string{"-u", filepath.Join(shim, shimWrapper)}, env, nil
}

// runProcess runs a process sensor: start it, send init and triggers, serve
// its messages until it exits or ctx ends, and kill its process group in
// every case.
func (r *run) runProcess(ctx context.Context) (int, error) {
	path, args, env, err := r.command()
	if err != nil {
		return 0, err
	}
	p, err := startProc(path, args, r.rec.PackPath, env)
	if err != nil {
		return 0, fmt.Errorf("start %s: %w", path, err)
	}
	defer p.closePipes()
	log := r.log.With("pid", p.Pid)
	r.log = log
	log.Info("sensor process started", "command", path)

	spawnDone := make(chan struct{})
	go func() {
		defer close(spawnDone)
		r.spawned(ctx, p.Pid, strings.Join(append([]string{path}, args...), " "))
	}()

	s := &session{r: r, w: p.stdin}
	served := make(chan struct{})
	stderrDone := make(chan struct{})
	go func() { defer close(served); s.serve(ctx, p.stdout) }()
	go func() { defer close(stderrDone); r.logStderr(p.stderr) }()

	cfg := r.rec.PackConfig
	if cfg == nil {
		cfg = map[string]any{}
	}
	types := r.rec.TriggerTypes
	if types == nil {
		types = []string{}
	}
	initErr := s.send(initMessage{Init: sensorInfo{
		Ref: r.rec.Ref, Pack: r.rec.Pack, Name: r.rec.Name, ClassName: r.rec.ClassName,
		EntryPoint: entryPointPath(r.rec), PackPath: r.rec.PackPath, PollInterval: r.rec.PollInterval,
		TriggerTypes: types, Config: cfg,
	}})
	var stopWatch func()
	if initErr == nil {
		stopWatch, initErr = r.watchTriggers(ctx, func(ts []catalog.Trigger) {
			if err := s.send(triggersMessage{Triggers: ts}); err != nil {
				log.Debug("sending triggers to the sensor failed", "error", err)
			}
		})
	}
	if initErr != nil {
		// Without its triggers the sensor would run blind; start over.
		p.Kill(r.killGrace())
		<-spawnDone
		r.exited(ctx, p.ExitCode())
		return 0, fmt.Errorf("start the sensor: %w", initErr)
	}
	defer stopWatch()

	select {
	case <-p.Exited():
	case <-ctx.Done():
		log.Info("stopping the sensor", "reason", context.Cause(ctx))
		p.Kill(r.killGrace())
	}
	// Finish reading what it wrote; then cut off whatever still holds the
	// pipes open so the readers return.
	waitOrClose(drainGrace, p, served, stderrDone)
	code := p.ExitCode()
	log.Info("sensor process exited", "exit_code", code)
	<-spawnDone
	r.exited(ctx, code)
	return code, nil
}

func (r *run) killGrace() time.Duration {
	return orDefault(r.a.deps.KillGracePeriod, DefaultKillGracePeriod)
}

func waitOrClose(grace time.Duration, p *proc, done ...<-chan struct{}) {
	t := time.NewTimer(grace)
	defer t.Stop()
	for _, d := range done {
		select {
		case <-d:
		case <-t.C:
			p.closePipes()
			for _, d := range done {
				<-d
			}
			return
		}
	}
}

// logStderr logs what the sensor writes on stderr, line by line: Python
// tracebacks, prints (the wrapper sends stdout there) and anything else.
func (r *run) logStderr(rd io.Reader) {
	br := bufio.NewReaderSize(rd, 16<<10)
	for {
		line, _, err := readLine(br, 64<<10)
		if s := strings.TrimRight(string(line), "\r"); s != "" {
			r.log.Info("sensor stderr", "line", s)
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				r.log.Debug("reading the sensor's stderr stopped", "error", err)
			}
			return
		}
	}
}
