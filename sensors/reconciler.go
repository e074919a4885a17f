package sensors

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/squall-automation/squall/catalog"
)

// Reconciler defaults.
const (
	DefaultReconcileInterval = 2 * time.Second
	DefaultResyncInterval    = time.Minute
)

// ReconcilerConfig configures a Reconciler. Zero values mean the defaults.
type ReconcilerConfig struct {
	// TaskQueue of the sensor workflows (TaskQueue).
	TaskQueue string
	// Interval between looks at SensorsVersion.
	Interval time.Duration
	// ResyncInterval between full passes, whatever the version says: they
	// restart sensor workflows that ended behind our back (terminated by an
	// operator) and stop ones no process remembers starting.
	ResyncInterval time.Duration
	// InitialBackoff and MaxBackoff go to the workflows (SensorInput).
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	Logger         *slog.Logger
}

// Reconciler keeps the sensor workflows in line with the catalog: one per
// enabled sensor, restarted when its definition changes, cancelled when it is
// disabled or removed. Any number of processes may run one: starting uses
// WorkflowIDConflictPolicy USE_EXISTING, so they never start a sensor twice.
type Reconciler struct {
	temporal client.Client
	store    CatalogStore
	cfg      ReconcilerConfig
	log      *slog.Logger
	nudge    chan struct{}

	// Owned by the Run goroutine (or a direct Reconcile caller).
	version string
	// sent is the configuration hash this reconciler last gave each
	// sensor's workflow; a sensor it has not seen gets one signal, so a
	// workflow started by an older process learns the current hash.
	sent     map[string]string
	lastFull time.Time
}

// NewReconciler returns a Reconciler; call Run.
func NewReconciler(c client.Client, store CatalogStore, cfg ReconcilerConfig) *Reconciler {
	if cfg.TaskQueue == "" {
		cfg.TaskQueue = TaskQueue
	}
	cfg.Interval = orDefault(cfg.Interval, DefaultReconcileInterval)
	cfg.ResyncInterval = orDefault(cfg.ResyncInterval, DefaultResyncInterval)
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Reconciler{
		temporal: c, store: store, cfg: cfg, log: log.With("component", "sensors"),
		nudge: make(chan struct{}, 1), sent: map[string]string{},
	}
}

// Trigger asks for a pass now (after registering a pack, say) instead of at
// the next poll. It never blocks.
func (r *Reconciler) Trigger() {
	select {
	case r.nudge <- struct{}{}:
	default:
	}
}

// Run reconciles until ctx ends: at once, then whenever SensorsVersion
// changes, Trigger is called or ResyncInterval passed. Errors are logged
// and retried at the next tick; Run returns only ctx's error.
func (r *Reconciler) Run(ctx context.Context) error {
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	full := true
	for {
		if err := r.pass(ctx, full); err != nil && ctx.Err() == nil {
			r.log.Warn("reconciling sensors failed; will retry", "error", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-r.nudge:
			full = true
		case <-t.C:
			full = false
		}
	}
}

// pass reconciles when forced, when the version moved or a resync is due.
func (r *Reconciler) pass(ctx context.Context, force bool) error {
	v, err := r.store.SensorsVersion(ctx)
	if err != nil {
		return fmt.Errorf("read sensors version: %w", err)
	}
	resync := time.Since(r.lastFull) >= r.cfg.ResyncInterval
	if !force && !resync && v == r.version {
		return nil
	}
	if err := r.reconcile(ctx, resync || force); err != nil {
		return err
	}
	r.version = v
	return nil
}

// Reconcile makes one full pass now.
func (r *Reconciler) Reconcile(ctx context.Context) error {
	return r.reconcile(ctx, true)
}

func (r *Reconciler) reconcile(ctx context.Context, full bool) error {
	enabled, err := r.store.EnabledSensors(ctx)
	if err != nil {
		return fmt.Errorf("list enabled sensors: %w", err)
	}
	want := make(map[string]string, len(enabled))
	var errs []error
	for i := range enabled {
		rec := &enabled[i]
		h, err := SensorHash(rec)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		want[rec.Ref] = h
		sent, known := r.sent[rec.Ref]
		if full || !known || sent != h {
			if err := r.start(ctx, rec.Ref, h); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		if !known || sent != h {
			if err := r.signal(ctx, rec.Ref, h); err != nil {
				errs = append(errs, err)
				continue
			}
			r.sent[rec.Ref] = h
		}
	}
	// Stop what is no longer wanted: what we started ourselves, and on full
	// passes whatever Temporal says runs (started by other processes).
	stop := map[string]bool{}
	for ref := range r.sent {
		if _, ok := want[ref]; !ok {
			stop[ref] = true
		}
	}
	if full {
		running, err := r.running(ctx)
		if err != nil {
			errs = append(errs, err)
		}
		for _, ref := range running {
			if _, ok := want[ref]; !ok {
				stop[ref] = true
			}
		}
		r.lastFull = time.Now()
	}
	refs := make([]string, 0, len(stop))
	for ref := range stop {
		refs = append(refs, ref)
	}
	sort.Strings(refs)
	for _, ref := range refs {
		if err := r.stop(ctx, ref); err != nil {
			errs = append(errs, err)
			continue
		}
		delete(r.sent, ref)
	}
	return errors.Join(errs...)
}

func (r *Reconciler) start(ctx context.Context, ref, hash string) error {
	_, err := r.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:        WorkflowID(ref),
		TaskQueue: r.cfg.TaskQueue,
		// Running already (started by us or another process): leave it.
		// Closed: start anew (disabled, then enabled again).
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
	}, SensorWorkflowName, SensorInput{
		Ref: ref, Hash: hash, InitialBackoff: r.cfg.InitialBackoff, MaxBackoff: r.cfg.MaxBackoff,
	})
	if err != nil {
		return fmt.Errorf("start the workflow of sensor %s: %w", ref, err)
	}
	return nil
}

func (r *Reconciler) signal(ctx context.Context, ref, hash string) error {
	err := r.temporal.SignalWorkflow(ctx, WorkflowID(ref), "", ConfigSignal, hash)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		// Ended in between (disabled elsewhere); the next pass decides.
		return nil
	}
	if err != nil {
		return fmt.Errorf("signal the workflow of sensor %s: %w", ref, err)
	}
	return nil
}

func (r *Reconciler) stop(ctx context.Context, ref string) error {
	err := r.temporal.CancelWorkflow(ctx, WorkflowID(ref), "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cancel the workflow of sensor %s: %w", ref, err)
	}
	r.log.Info("stopping sensor", "sensor", ref)
	return nil
}

// running lists the sensor workflows of our task queue that Temporal's
// visibility reports open.
// Visibility lags a little; full passes repeat, so that only delays a stop.
func (r *Reconciler) running(ctx context.Context) ([]string, error) {
	var refs []string
	var token []byte
	for {
		resp, err := r.temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: fmt.Sprintf("WorkflowType = '%s' AND ExecutionStatus = 'Running' AND TaskQueue = '%s'",
				SensorWorkflowName, r.cfg.TaskQueue),
			NextPageToken: token,
		})
		if err != nil {
			return nil, fmt.Errorf("list running sensor workflows: %w", err)
		}
		for _, ex := range resp.GetExecutions() {
			id := ex.GetExecution().GetWorkflowId()
			if len(id) > len(WorkflowIDPrefix) && id[:len(WorkflowIDPrefix)] == WorkflowIDPrefix {
				refs = append(refs, id[len(WorkflowIDPrefix):])
			}
		}
		token = resp.GetNextPageToken()
		if len(token) == 0 {
			return refs, nil
		}
	}
}

// SensorHash identifies what a sensor runs with: its registered definition
// (every field of the record, so an updated_at, if the record carries one,
// counts too), its raw metadata, its pack's path and config. Equal
// definitions hash equally on every host.
func SensorHash(rec *catalog.SensorRecord) (string, error) {
	b, err := json.Marshal(struct {
		Record   *catalog.SensorRecord `json:"record"`
		Raw      map[string]any        `json:"raw"`
		PackPath string                `json:"pack_path"`
		Config   map[string]any        `json:"config"`
	}{rec, rec.Raw, rec.PackPath, rec.PackConfig})
	if err != nil {
		return "", fmt.Errorf("hash sensor %s: %w", rec.Ref, err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16]), nil
}
