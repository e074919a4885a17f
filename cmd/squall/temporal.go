package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/spf13/cobra"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/squall-automation/squall/config"
	"github.com/squall-automation/squall/devserver"
	"github.com/squall-automation/squall/localpg"
	"github.com/squall-automation/squall/workflows"
)

// ensureNamespace makes sure Squall's namespace and search attributes exist
// on the Temporal it talks to. On a shared cluster operators may prefer to
// create them themselves; then this only checks.
func ensureNamespace(ctx context.Context, tc client.Client, cfg config.Config) error {
	// A namespace just registered (by us or by a Temporal starting next to
	// us) takes a moment to be visible everywhere: retry for a while.
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := ensureNamespaceOnce(ctx, tc, cfg)
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func ensureNamespaceOnce(ctx context.Context, tc client.Client, cfg config.Config) error {
	ws := tc.WorkflowService()
	_, err := ws.DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: cfg.TemporalNamespace})
	var nf *serviceerror.NamespaceNotFound
	if errors.As(err, &nf) {
		_, err = ws.RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
			Namespace:                        cfg.TemporalNamespace,
			Description:                      "Squall action executions",
			WorkflowExecutionRetentionPeriod: durationpb.New(cfg.TemporalRetention),
		})
		var exists *serviceerror.NamespaceAlreadyExists
		if err != nil && !errors.As(err, &exists) {
			return fmt.Errorf("register Temporal namespace %q: %w", cfg.TemporalNamespace, err)
		}
	} else if err != nil {
		return fmt.Errorf("describe Temporal namespace %q: %w", cfg.TemporalNamespace, err)
	}
	ops := tc.OperatorService()
	have, err := ops.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: cfg.TemporalNamespace})
	if err != nil {
		return fmt.Errorf("list search attributes of %q: %w", cfg.TemporalNamespace, err)
	}
	missing := workflows.SearchAttributes()
	for name := range have.GetCustomAttributes() {
		delete(missing, name)
	}
	if len(missing) == 0 {
		return nil
	}
	if _, err := ops.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace: cfg.TemporalNamespace, SearchAttributes: missing,
	}); err != nil {
		return fmt.Errorf("add search attributes %v to %q: %w", keys(missing), cfg.TemporalNamespace, err)
	}
	return nil
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// temporalPostgres turns a Postgres URL into the embedded server's Postgres
// options: the same server, Temporal's own databases (temporal and
// temporal_visibility, created when missing).
func temporalPostgres(dbURL string) (*devserver.PostgresOptions, error) {
	pc, err := pgconn.ParseConfig(dbURL)
	if err != nil {
		return nil, fmt.Errorf("parse Postgres URL: %w", err)
	}
	return &devserver.PostgresOptions{Host: pc.Host, Port: int(pc.Port), User: pc.User, Password: pc.Password}, nil
}

func temporalCmd() *cobra.Command {
	var dataDir, namespace, ip, postgresURL string
	var port, uiPort int
	cmd := &cobra.Command{
		Use:   "temporal",
		Short: "Run only the embedded Temporal server and Web UI (SQLite under --data-dir)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			cfg := config.Defaults()
			log := newLogger(cfg, os.Stderr)
			opts := devserver.Options{
				FrontendIP: ip, FrontendPort: port, UIPort: uiPort,
				Namespaces: []string{namespace}, Retention: cfg.TemporalRetention,
				SearchAttributes: workflows.SearchAttributes(), Logger: log,
			}
			if postgresURL == "" {
				postgresURL = os.Getenv("SQUALL_TEMPORAL_POSTGRES_URL")
			}
			switch {
			case postgresURL != "":
				pg, err := temporalPostgres(postgresURL)
				if err != nil {
					return err
				}
				opts.Postgres = pg
			case dataDir != "":
				opts.DataDir = filepath.Join(dataDir, "temporal")
			}
			srv, err := devserver.Start(ctx, opts)
			if err != nil {
				return err
			}
			defer srv.Stop()
			fmt.Printf("Temporal frontend %s, namespace %s", srv.FrontendHostPort(), namespace)
			if srv.UIAddress() != "" {
				fmt.Printf(", Web UI %s", srv.UIAddress())
			}
			fmt.Println()
			<-ctx.Done()
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", ".squall", "state directory for SQLite; empty keeps history in memory")
	cmd.Flags().StringVar(&postgresURL, "postgres-url", "", "store state in this Postgres instead of SQLite (databases temporal, temporal_visibility); env SQUALL_TEMPORAL_POSTGRES_URL")
	cmd.Flags().StringVar(&namespace, "namespace", "squall", "namespace to create")
	cmd.Flags().StringVar(&ip, "ip", "127.0.0.1", "frontend IP")
	cmd.Flags().IntVar(&port, "port", 7233, "frontend port")
	cmd.Flags().IntVar(&uiPort, "ui-port", 8233, "Web UI port (0: no UI)")
	return cmd
}

// testServicesCmd is the test harness's service starter: a private Postgres
// and an in-memory embedded Temporal on free ports. It writes their
// addresses as shell variable assignments to --env-file once both are ready,
// then runs until it is signalled.
func testServicesCmd() *cobra.Command {
	var dir, envFile string
	cmd := &cobra.Command{
		Use:    "test-services",
		Short:  "Start Postgres and Temporal for the test suite",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			cfg := config.Defaults()
			cfg.LogLevel = "warn"
			log := newLogger(cfg, os.Stderr)
			pgPort, err := freePort()
			if err != nil {
				return err
			}
			cluster, err := localpg.Start(ctx, localpg.Options{Dir: filepath.Join(dir, "postgres"), Port: pgPort, Logger: log})
			if err != nil {
				return err
			}
			defer func() {
				sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				_ = cluster.Stop(sctx)
			}()
			tport, err := freePort()
			if err != nil {
				return err
			}
			srv, err := devserver.Start(ctx, devserver.Options{
				FrontendIP: "127.0.0.1", FrontendPort: tport,
				Namespaces: []string{cfg.TemporalNamespace}, Retention: cfg.TemporalRetention,
				SearchAttributes: workflows.SearchAttributes(), Logger: log,
			})
			if err != nil {
				return err
			}
			defer srv.Stop()
			env := fmt.Sprintf("export TEST_DATABASE_URL=%q\nexport SQUALL_TEST_TEMPORAL_ADDRESS=%q\nexport SQUALL_TEST_TEMPORAL_NAMESPACE=%q\n",
				cluster.URL("postgres"), srv.FrontendHostPort(), cfg.TemporalNamespace)
			tmp := envFile + ".tmp"
			if err := os.WriteFile(tmp, []byte(env), 0o644); err != nil {
				return err
			}
			if err := os.Rename(tmp, envFile); err != nil {
				return err
			}
			<-ctx.Done()
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", ".squall-test", "directory for the test Postgres cluster")
	cmd.Flags().StringVar(&envFile, "env-file", ".squall-test/env", "where to write the services' addresses")
	return cmd
}
