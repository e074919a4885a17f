package sensors_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/squall-automation/squall/catalog"
	"github.com/squall-automation/squall/ingest"
	"github.com/squall-automation/squall/internal/testenv"
	"github.com/squall-automation/squall/pack"
	"github.com/squall-automation/squall/sensors"
)

// recorder is the tests' Dispatcher: it keeps every event. failNext makes
// that many calls fail first, like an ingest that is briefly unavailable.
type recorder struct {
	mu       sync.Mutex
	events   []ingest.Event
	failNext int
	failed   int
}

func (r *recorder) Dispatch(ctx context.Context, ev ingest.Event) (ingest.Accepted, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failNext > 0 {
		r.failNext--
		r.failed++
		return ingest.Accepted{}, io.ErrUnexpectedEOF
	}
	r.events = append(r.events, ev)
	return ingest.Accepted{TriggerInstanceID: catalog.NewID(), Processing: true}, nil
}

// of returns the recorded events of a trigger type.
func (r *recorder) of(typ string) []ingest.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []ingest.Event
	for _, ev := range r.events {
		if ev.TriggerType == typ {
			out = append(out, ev)
		}
	}
	return out
}

type harness struct {
	t       *testing.T
	ctx     context.Context
	c       client.Client
	store   *catalog.Store
	rec     *recorder
	pack    string
	packDir string
	logFile string
	queue   string
	log     *slog.Logger
}

// newHarness registers a copy of testdata/sensortest under a fresh pack name
// in a fresh database, with the sensors of the given classes enabled, and
// runs a sensors worker on a task queue of its own, so tests share the
// Temporal server without seeing each other.
func newHarness(t *testing.T, enabled ...string) *harness {
	t.Helper()
	h := newHarnessWithoutWorker(t, enabled...)
	h.startWorker(h.c)
	return h
}

// newHarnessWithoutWorker is newHarness without the worker: the test
// starts its own (startWorker).
func newHarnessWithoutWorker(t *testing.T, enabled ...string) *harness {
	t.Helper()
	pool := testenv.Pool(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	h := &harness{t: t, ctx: ctx, store: catalog.New(pool), rec: &recorder{}, log: testLogger(t)}
	h.pack = "st_" + randomHex(t, 4)
	h.queue = "sensors-test-" + h.pack
	h.logFile = filepath.Join(t.TempDir(), "app.log")
	h.packDir = filepath.Join(t.TempDir(), h.pack)
	h.copyPack()
	for _, class := range enabled {
		h.edit(h.metadataFile(class), "enabled: false", "enabled: true")
	}
	h.register()
	h.c = h.dial()
	return h
}

// dial returns a new Temporal client, closed when the test ends.
func (h *harness) dial() client.Client {
	h.t.Helper()
	addr := testenv.TemporalAddress(h.t)
	ns := testenv.TemporalNamespace()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	c, err := client.Dial(client.Options{HostPort: addr, Namespace: ns, Logger: sdklog.NewStructuredLogger(quiet)})
	if err != nil {
		h.t.Fatalf("dial Temporal at %s: %v", addr, err)
	}
	h.t.Cleanup(c.Close)
	return c
}

func (h *harness) deps() sensors.Deps {
	return sensors.Deps{
		Store: h.store, Dispatcher: h.rec, Temporal: h.c, Logger: h.log,
		ShimDir: h.t.TempDir(), TaskQueue: h.queue,
		HeartbeatInterval: time.Second, TriggerPollInterval: 300 * time.Millisecond,
		KillGracePeriod: 2 * time.Second, LeaseCheckInterval: time.Second,
		HealthyRun: time.Hour,
	}
}

// startWorker starts a sensors worker on the test's queue over c; it is
// stopped when the test ends (stopping it earlier is fine).
func (h *harness) startWorker(c client.Client) worker.Worker {
	h.t.Helper()
	w := sensors.NewWorker(c, h.deps())
	if err := w.Start(); err != nil {
		h.t.Fatalf("start worker: %v", err)
	}
	h.t.Cleanup(w.Stop)
	// Runs before w.Stop (cleanups are LIFO): no workflow of this test
	// outlives it on the shared server.
	h.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		ss, _, err := h.store.ListSensors(ctx, catalog.ListFilter{Pack: h.pack})
		if err != nil {
			return
		}
		for _, s := range ss {
			// h.c: c may be closed already (a worker's "process" that
			// exited).
			_ = h.c.TerminateWorkflow(ctx, sensors.WorkflowID(s.Ref), "", "test over")
		}
	})
	return w
}

// copyPack copies testdata/sensortest to packDir, renaming the pack.
func (h *harness) copyPack() {
	h.t.Helper()
	src := filepath.Join("testdata", "sensortest")
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		dst := filepath.Join(h.packDir, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		st, err := d.Info()
		if err != nil {
			return err
		}
		text := strings.ReplaceAll(string(data), "sensortest", h.pack)
		text = strings.ReplaceAll(text, "@LOGFILE@", h.logFile)
		return os.WriteFile(dst, []byte(text), st.Mode().Perm())
	})
	if err != nil {
		h.t.Fatalf("copy test pack: %v", err)
	}
}

// register (re-)registers the pack from packDir.
func (h *harness) register() {
	h.t.Helper()
	p, err := pack.Load(h.packDir, pack.LoadOptions{})
	if err != nil {
		h.t.Fatalf("load test pack: %v", err)
	}
	if _, err := h.store.RegisterPack(h.ctx, p); err != nil {
		h.t.Fatalf("register test pack: %v", err)
	}
}

// edit rewrites a file of the pack copy.
func (h *harness) edit(rel, old, new string) {
	h.t.Helper()
	path := filepath.Join(h.packDir, rel)
	data, err := os.ReadFile(path)
	if err != nil {
		h.t.Fatal(err)
	}
	if !strings.Contains(string(data), old) {
		h.t.Fatalf("%s does not contain %q", rel, old)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(data), old, new, 1)), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

// metadataFile finds the metadata file of a sensor class in the pack.
func (h *harness) metadataFile(class string) string {
	h.t.Helper()
	files, _ := filepath.Glob(filepath.Join(h.packDir, "sensors", "*.yaml"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err == nil && strings.Contains(string(data), "class_name: "+class+"\n") {
			rel, _ := filepath.Rel(h.packDir, f)
			return rel
		}
	}
	h.t.Fatalf("no metadata file for sensor class %s", class)
	return ""
}

func (h *harness) ref(class string) string { return h.pack + "." + class }

func (h *harness) enable(class string, on bool) {
	h.t.Helper()
	if _, err := h.store.SetSensorEnabled(h.ctx, h.ref(class), on); err != nil {
		h.t.Fatalf("enable %s=%v: %v", class, on, err)
	}
}

func (h *harness) reconciler(c client.Client) *sensors.Reconciler {
	return sensors.NewReconciler(c, h.store, sensors.ReconcilerConfig{
		TaskQueue: h.queue, Interval: 200 * time.Millisecond, ResyncInterval: 5 * time.Second,
		InitialBackoff: time.Second, MaxBackoff: 8 * time.Second, Logger: h.log,
	})
}

// runReconciler runs a reconciler until the test ends.
func (h *harness) runReconciler() *sensors.Reconciler {
	r := h.reconciler(h.c)
	ctx, cancel := context.WithCancel(h.ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(ctx) }()
	h.t.Cleanup(func() { cancel(); <-done })
	return r
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

func randomHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// testLogger logs to the test until it ends (a straggling goroutine must not
// log into a finished test, which panics).
func testLogger(t *testing.T) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() { w.done.Store(true) })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct {
	t    *testing.T
	done atomic.Bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	if !w.done.Load() {
		w.t.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}
