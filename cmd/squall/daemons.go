package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"golang.org/x/sync/errgroup"

	"github.com/squall-automation/squall/activities"
	"github.com/squall-automation/squall/auth"
	"github.com/squall-automation/squall/catalog"
	"github.com/squall-automation/squall/config"
	"github.com/squall-automation/squall/devserver"
	"github.com/squall-automation/squall/execution"
	"github.com/squall-automation/squall/ingest"
	"github.com/squall-automation/squall/localpg"
	"github.com/squall-automation/squall/migrations"
	"github.com/squall-automation/squall/pack"
	"github.com/squall-automation/squall/rules"
	"github.com/squall-automation/squall/rules/engine"
	"github.com/squall-automation/squall/sensors"
	"github.com/squall-automation/squall/server"
	"github.com/squall-automation/squall/timers"
	"github.com/squall-automation/squall/workers"
	"github.com/squall-automation/squall/workflows"
)

// roles says which parts of Squall one process runs.
type roles struct {
	server, worker bool
	// embedded lets the process start a private Postgres and the embedded
	// Temporal server when no external ones are configured (`squall up`).
	embedded bool
}

func upCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run the whole stack in one process: private Postgres (unless SQUALL_DATABASE_URL), embedded Temporal and Web UI (unless SQUALL_TEMPORAL_ADDRESS), API and worker",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRoles(cmd, roles{server: true, worker: true, embedded: true})
		},
	}
	daemonFlags(cmd)
	return cmd
}

func serverCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the REST API (needs SQUALL_DATABASE_URL and SQUALL_TEMPORAL_ADDRESS)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRoles(cmd, roles{server: true})
		},
	}
	daemonFlags(cmd)
	return cmd
}

func workerCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run a worker that executes actions (needs SQUALL_DATABASE_URL and SQUALL_TEMPORAL_ADDRESS)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRoles(cmd, roles{worker: true})
		},
	}
	daemonFlags(cmd)
	return cmd
}

func migrateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply the database migrations and exit",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			if cfg.DatabaseURL == "" {
				return errors.New("database_url (SQUALL_DATABASE_URL) is required")
			}
			pool, err := pgxpool.New(cmd.Context(), cfg.DatabaseURL)
			if err != nil {
				return fmt.Errorf("connect to Postgres: %w", err)
			}
			defer pool.Close()
			return migrations.Migrate(cmd.Context(), pool)
		},
	}
	daemonFlags(cmd)
	return cmd
}

// signalContext ends on SIGINT or SIGTERM.
func signalContext(parent context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
}

func runRoles(cmd *cobra.Command, r roles) error {
	cfg, err := loadConfig(cmd)
	if err != nil {
		return err
	}
	log := newLogger(cfg, os.Stderr)
	slog.SetDefault(log)
	ctx, stop := signalContext(cmd.Context())
	defer stop()

	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	// Shutdown runs in reverse order of start, with its own deadline: the
	// signal context is already done by then.
	var cleanups []func()
	defer func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}()

	if cfg.DebugAddr != "" {
		stopDebug, err := serveDebug(cfg.DebugAddr, log)
		if err != nil {
			return err
		}
		cleanups = append(cleanups, stopDebug)
	}

	// Postgres.
	if cfg.DatabaseURL == "" {
		if !r.embedded {
			return errors.New("database_url (SQUALL_DATABASE_URL) is required; `squall up` starts a private Postgres instead")
		}
		cluster, err := localpg.Start(ctx, localpg.Options{Dir: filepath.Join(cfg.DataDir, "postgres"), Port: cfg.PostgresPort, Logger: log})
		if err != nil {
			return fmt.Errorf("start private Postgres: %w", err)
		}
		cleanups = append(cleanups, func() {
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := cluster.Stop(sctx); err != nil {
				log.Error("stop private Postgres", "error", err)
			}
		})
		if err := cluster.EnsureDatabase(ctx, "squall"); err != nil {
			return err
		}
		cfg.DatabaseURL = cluster.URL("squall")
	}
	pool, err := pgxpool.New(ctx, cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("connect to Postgres: %w", err)
	}
	cleanups = append(cleanups, pool.Close)
	if err := migrations.Migrate(ctx, pool); err != nil {
		return fmt.Errorf("migrate database: %w", err)
	}
	store := catalog.New(pool)

	// Temporal.
	embeddedTemporal := cfg.TemporalAddress == ""
	if embeddedTemporal {
		if !r.embedded {
			return errors.New("temporal_address (SQUALL_TEMPORAL_ADDRESS) is required; `squall up` embeds a Temporal server instead")
		}
		dsOpts := devserver.Options{
			DataDir:          filepath.Join(cfg.DataDir, "temporal"),
			FrontendIP:       "127.0.0.1",
			FrontendPort:     cfg.TemporalPort,
			UIPort:           cfg.UIPort,
			Namespaces:       []string{cfg.TemporalNamespace},
			Retention:        cfg.TemporalRetention,
			SearchAttributes: workflows.SearchAttributes(),
			Logger:           log,
		}
		if cfg.TemporalPostgres {
			// Same Postgres server as Squall's own database, separate databases.
			pg, err := temporalPostgres(cfg.DatabaseURL)
			if err != nil {
				return fmt.Errorf("temporal_postgres: database_url: %w", err)
			}
			dsOpts.DataDir = ""
			dsOpts.Postgres = pg
		}
		srv, err := devserver.Start(ctx, dsOpts)
		if err != nil {
			return fmt.Errorf("start embedded Temporal: %w", err)
		}
		cleanups = append(cleanups, srv.Stop)
		cfg.TemporalAddress = srv.FrontendHostPort()
		if cfg.WebUIURL == "" && srv.UIAddress() != "" {
			cfg.WebUIURL = srv.UIAddress()
		}
	}
	copts := client.Options{
		HostPort:  cfg.TemporalAddress,
		Namespace: cfg.TemporalNamespace,
		Logger:    sdklog.NewStructuredLogger(log.With("component", "temporal-sdk")),
	}
	if embeddedTemporal {
		// The SDK gzips every request by default: worth it across a
		// network, pure CPU on loopback to our own process (about 5% of it
		// under a webhook burst).
		copts.ConnectionOptions.GrpcCompression = &client.GrpcCompressionNone{}
	}
	tc, err := client.DialContext(ctx, copts)
	if err != nil {
		return fmt.Errorf("connect to Temporal at %s: %w", cfg.TemporalAddress, err)
	}
	cleanups = append(cleanups, tc.Close)
	if err := ensureNamespace(ctx, tc, cfg); err != nil {
		return err
	}

	if err := store.EnsureBuiltins(ctx); err != nil {
		return fmt.Errorf("register built-in trigger types: %w", err)
	}
	execs := execution.New(execution.Config{
		Namespace:        cfg.TemporalNamespace,
		TaskQueue:        cfg.TaskQueue,
		WebUIURL:         cfg.WebUIURL,
		MaxAttempts:      cfg.RunnerMaxAttempts,
		HeartbeatTimeout: cfg.RunnerHeartbeatTimeout,
		EagerStart:       r.worker,
		Logger:           log,
	}, tc, store)
	events := ingest.New(ingest.Config{
		TaskQueue: cfg.TaskQueue, EagerStart: r.worker,
		BatchWindow: cfg.IngestBatchWindow, MaxBatch: cfg.IngestBatchMax,
	}, tc, store)

	sensorQueue := cfg.TaskQueue + "-sensors"
	sensorsRec := sensors.NewReconciler(tc, store, sensors.ReconcilerConfig{
		TaskQueue: sensorQueue, Logger: log.With("component", "sensors"),
	})
	timersRec := &timers.Reconciler{
		Client: tc, Store: store, TaskQueue: cfg.TaskQueue, Namespace: cfg.TemporalNamespace,
		Logger: log.With("component", "timers"),
	}
	g, gctx := errgroup.WithContext(ctx)
	if r.worker {
		runners := &activities.Runners{
			Output:     store,
			HTTPClient: &http.Client{},
			Python:     cfg.Python,
			ShimDir:    filepath.Join(cfg.DataDir, "python"),
			Logger:     log.With("component", "runner"),
			APIURL:     cfg.APIURL,
		}
		var fast workflows.FastPath
		if cfg.RunnerFastPath {
			// Half the action slots at most take the fast path (local
			// activity slots are twice the action slots, see workers).
			runners.Durations = &activities.RecentDurations{MaxInFlight: max(1, cfg.MaxConcurrentActions/2)}
			fast = runners.Durations.Short
		}
		if err := runners.InstallShim(); err != nil {
			return fmt.Errorf("install the Python action shim: %w", err)
		}
		eng := &engine.Engine{Store: store, Executions: execs, Logger: log.With("component", "rules")}
		w := workers.New(tc, workers.Options{
			TaskQueue: cfg.TaskQueue, Runners: runners, MaxConcurrentActions: cfg.MaxConcurrentActions,
			Engine: eng, Events: events, FastPath: fast,
		})
		if err := w.Start(); err != nil {
			return fmt.Errorf("start worker: %w", err)
		}
		cleanups = append(cleanups, w.Stop)
		sw := sensors.NewWorker(tc, sensors.Deps{
			Store: store, Dispatcher: events, Python: cfg.Python,
			ShimDir: filepath.Join(cfg.DataDir, "python"), TaskQueue: sensorQueue,
			Logger: log.With("component", "sensors"),
		})
		if err := sw.Start(); err != nil {
			return fmt.Errorf("start sensor worker: %w", err)
		}
		cleanups = append(cleanups, sw.Stop)
		log.Info("worker started", "task_queue", cfg.TaskQueue)
	}
	if r.server {
		if r.embedded {
			if err := ensureAdmin(cfg, log); err != nil {
				return err
			}
		}
		if cfg.RegisterPacks {
			if err := registerPacks(ctx, store, cfg, log); err != nil {
				return err
			}
		}
		api := server.New(server.Config{
			Addr:         cfg.APIAddr,
			HtpasswdFile: cfg.HtpasswdFile,
			TokenTTL:     cfg.TokenTTL,
			MaxBodyBytes: cfg.MaxBodyBytes,
			PacksPaths:   cfg.PacksPaths,
			ConfigsDir:   cfg.ConfigsDir,
			Logger:       log.With("component", "api"),
		}, server.Deps{
			Catalog: store, Executions: execs, Events: events,
			// A rule change can add timers and change the triggers a
			// sensor watches.
			RuleChanged:   func() { timersRec.Trigger(); sensorsRec.Trigger() },
			SensorChanged: sensorsRec.Trigger,
		})
		g.Go(func() error { return api.Start(gctx) })
		// Timers are Temporal Schedules; every server reconciles them, and
		// deterministic schedule IDs make the servers agree.
		g.Go(func() error { return untilDone(gctx, timersRec.Run(gctx, 0)) })
		// Sensors run once across all processes (one workflow each); every
		// server reconciles which of them should run.
		g.Go(func() error { return untilDone(gctx, sensorsRec.Run(gctx)) })
		printBanner(cfg, r)
	}
	g.Go(func() error { <-gctx.Done(); return nil })
	err = g.Wait()
	log.Info("shutting down")
	return err
}

// ensureAdmin creates or updates the admin user in the htpasswd file. Without
// SQUALL_ADMIN_PASSWORD the password saved in <data dir>/admin-password is
// used, or a new one is generated, saved there and printed.
func ensureAdmin(cfg config.Config, log *slog.Logger) error {
	password := cfg.AdminPassword
	saved := filepath.Join(cfg.DataDir, "admin-password")
	if password == "" {
		if b, err := os.ReadFile(saved); err == nil && strings.TrimSpace(string(b)) != "" {
			password = strings.TrimSpace(string(b))
		} else {
			password = auth.GeneratePassword()
			if err := os.WriteFile(saved, []byte(password+"\n"), 0o600); err != nil {
				return fmt.Errorf("save the generated admin password: %w", err)
			}
			fmt.Printf("Generated a password for %s; saved in %s: %s\n", cfg.AdminUser, saved, password)
		}
	}
	if err := auth.EnsureUser(cfg.HtpasswdFile, cfg.AdminUser, password); err != nil {
		return fmt.Errorf("create admin user %q: %w", cfg.AdminUser, err)
	}
	log.Info("admin user ready", "user", cfg.AdminUser, "htpasswd", cfg.HtpasswdFile)
	return nil
}

// registerPacks registers every pack found under the configured packs paths.
// Each pack is all-or-nothing; any failure stops the start, since a stack
// whose bundled packs are half there is worse than one that says why not.
func registerPacks(ctx context.Context, store *catalog.Store, cfg config.Config, log *slog.Logger) error {
	for _, dir := range cfg.PacksPaths {
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			log.Warn("packs path does not exist", "path", dir)
			continue
		}
		packs, err := pack.LoadAll(dir, pack.LoadOptions{ConfigsDir: cfg.ConfigsDir})
		if err != nil {
			return fmt.Errorf("load packs under %s: %w", dir, err)
		}
		// Load everything first: one broken pack registers nothing.
		for _, r := range packs {
			if r.Err != nil {
				return fmt.Errorf("load pack %s: %w", r.Dir, r.Err)
			}
			if err := rules.CheckPack(r.Pack, ruleChecks...); err != nil {
				return fmt.Errorf("load pack %s: %w", r.Dir, err)
			}
		}
		for _, r := range packs {
			res, err := store.RegisterPack(ctx, r.Pack)
			if err != nil {
				return fmt.Errorf("register pack %q: %w", r.Pack.Ref, err)
			}
			log.Info("pack registered", "pack", r.Pack.Ref, "actions", res.Actions, "rules", res.Rules, "sensors", res.Sensors)
		}
	}
	return nil
}

func printBanner(cfg config.Config, r roles) {
	fmt.Printf("\nSquall is up.\n  API:          %s\n", cfg.APIURL)
	if cfg.WebUIURL != "" {
		fmt.Printf("  Temporal UI:  %s\n", cfg.WebUIURL)
	}
	fmt.Printf("  Temporal:     %s (namespace %s)\n", cfg.TemporalAddress, cfg.TemporalNamespace)
	if r.embedded {
		fmt.Printf("  Log in:       bin/squall login %s   (password: %s/admin-password unless SQUALL_ADMIN_PASSWORD)\n", cfg.AdminUser, cfg.DataDir)
	}
	fmt.Println("  Stop:         Ctrl-C")
	fmt.Println()
}

// freePort asks the kernel for an unused TCP port on loopback.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ruleChecks are the registration checks of rules beyond compiling them.
var ruleChecks = []func(pack.Rule) error{
	func(r pack.Rule) error { return timers.Validate(r.Trigger.Type, r.Trigger.Parameters) },
}

// untilDone drops the error a loop returns because its context ended: a
// signal is a clean stop, not a failure.
func untilDone(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}
