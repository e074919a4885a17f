// Package devserver embeds a single-process Temporal server, and optionally its Web UI, in
// Squall: `squall up` and `squall temporal` run it so that a development or small single-host
// installation needs no separate Temporal deployment. State lives in a SQLite file (WAL mode)
// under a data directory, in memory, or in Postgres. Namespaces, their retention and the
// custom search attributes Squall queries by are created at start, idempotently.
package devserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/membership/static"
	"go.temporal.io/server/common/metrics"
	"go.temporal.io/server/common/primitives"
	"go.temporal.io/server/temporal"

	uiserver "github.com/temporalio/ui-server/v2/server"
)

const (
	// DefaultFrontendPort is used when Options.FrontendPort is zero.
	DefaultFrontendPort = 7233
	// DefaultUIPort is the Web UI's conventional port (that of `temporal server start-dev`).
	// Options.UIPort zero means no UI, so callers put this in their flag defaults.
	DefaultUIPort = 8233
	// DefaultRetention is how long closed workflows are kept when Options.Retention is zero.
	DefaultRetention = 72 * time.Hour
	// DefaultNamespace is registered when Options.Namespaces is empty.
	DefaultNamespace = "default"

	clusterName = "active"
	// namespaceRefresh is how often each service reloads namespaces (and with them the
	// search attribute aliases). Shorter than the server's 2s so that attributes added at
	// start are usable sooner.
	namespaceRefresh = time.Second
)

// Options configures the server. The zero value (plus a Logger, optionally) is an in-memory
// server on 127.0.0.1:7233 with the "default" namespace and no UI.
type Options struct {
	// DataDir holds the SQLite database (DataDir/temporal.db, WAL mode), created on first
	// start. Empty means in-memory: everything is lost on Stop. Ignored with Postgres.
	DataDir string
	// Postgres, when set, stores state in Postgres instead of SQLite.
	Postgres *PostgresOptions

	// FrontendIP is the address the gRPC frontend binds to. Default 127.0.0.1; 0.0.0.0 exposes
	// it on every interface (the other services always stay on 127.0.0.1).
	FrontendIP string
	// FrontendPort defaults to DefaultFrontendPort.
	FrontendPort int
	// UIPort serves the Web UI on FrontendIP. Zero means no UI.
	UIPort int
	// MetricsPort serves the server's Prometheus metrics on FrontendIP at /metrics. Zero means
	// no metrics endpoint.
	MetricsPort int

	// Namespaces are registered if missing; the first is the UI's default. Default: "default".
	Namespaces []string
	// Retention of closed workflows in every namespace in Namespaces, updated on existing
	// namespaces when it differs. Default DefaultRetention; the server refuses less than an
	// hour (dynamic config system.namespaceMinRetentionLocal).
	Retention time.Duration
	// SearchAttributes are created in every namespace in Namespaces if missing.
	SearchAttributes map[string]enumspb.IndexedValueType
	// DynamicConfig overrides the server's dynamic configuration (key → value), on top of
	// the development defaults set here.
	DynamicConfig map[string]any

	// Logger receives the server's logs and ours. Nil means slog.Default().
	Logger *slog.Logger
	// LogLevel filters the server's own logs, which are verbose at info level. Nil means warn.
	LogLevel slog.Leveler
}

// Server is a running embedded Temporal server.
type Server struct {
	server   temporal.Server
	ui       *uiserver.Server
	frontend string
	uiAddr   string
	log      *slog.Logger
	stopOnce sync.Once
	// serverLevel is the threshold for the server's own logs.
	serverLevel *slog.LevelVar
}

func (o *Options) applyDefaults() {
	if o.FrontendIP == "" {
		o.FrontendIP = "127.0.0.1"
	}
	if o.FrontendPort == 0 {
		o.FrontendPort = DefaultFrontendPort
	}
	if len(o.Namespaces) == 0 {
		o.Namespaces = []string{DefaultNamespace}
	}
	if o.Retention == 0 {
		o.Retention = DefaultRetention
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.LogLevel == nil {
		o.LogLevel = slog.LevelWarn
	}
	if o.Postgres != nil {
		o.Postgres.applyDefaults()
	}
}

func (o *Options) validate() error {
	if ip := net.ParseIP(o.FrontendIP); ip == nil {
		return fmt.Errorf("devserver: FrontendIP %q is not an IP address", o.FrontendIP)
	}
	for name, p := range map[string]int{"FrontendPort": o.FrontendPort, "UIPort": o.UIPort, "MetricsPort": o.MetricsPort} {
		if p < 0 || p > 65535 {
			return fmt.Errorf("devserver: %s %d out of range", name, p)
		}
	}
	if o.Postgres != nil && o.DataDir != "" {
		return errors.New("devserver: set either DataDir (SQLite) or Postgres, not both")
	}
	if o.Retention < 0 {
		return fmt.Errorf("devserver: negative Retention %s", o.Retention)
	}
	seen := map[string]bool{}
	for _, ns := range o.Namespaces {
		if ns == "" || seen[ns] {
			return fmt.Errorf("devserver: namespace %q is empty or listed twice", ns)
		}
		seen[ns] = true
	}
	for name, typ := range o.SearchAttributes {
		if name == "" || typ == enumspb.INDEXED_VALUE_TYPE_UNSPECIFIED {
			return fmt.Errorf("devserver: search attribute %q needs a name and a type", name)
		}
	}
	if o.Postgres != nil {
		return o.Postgres.validate()
	}
	return nil
}

// Start prepares persistence, starts the server, registers the namespaces and search
// attributes, and starts the UI. ctx bounds the start-up (schema creation, namespace
// registration), not the server's life: call Stop.
func Start(ctx context.Context, opts Options) (*Server, error) {
	opts.applyDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	logger := opts.Logger.With("component", "devserver")
	// A LevelVar so Stop can silence the server: its components log every connection they
	// lose while shutting down, which reads like a failure and is not one.
	serverLevel := new(slog.LevelVar)
	serverLevel.Set(opts.LogLevel.Level())
	tlog := newServerLogger(opts.Logger, serverLevel)

	// The server and the UI report a taken port badly (the UI exits the process), so check
	// up front and say what to change.
	if err := checkPortFree(opts.FrontendIP, opts.FrontendPort, "frontend", "FrontendPort"); err != nil {
		return nil, err
	}
	if opts.UIPort != 0 {
		if err := checkPortFree(opts.FrontendIP, opts.UIPort, "UI", "UIPort"); err != nil {
			return nil, err
		}
	}

	cfg, err := buildConfig(ctx, &opts, tlog)
	if err != nil {
		return nil, err
	}
	authorizer, err := authorization.GetAuthorizerFromConfig(&cfg.Global.Authorization)
	if err != nil {
		return nil, fmt.Errorf("devserver: authorizer: %w", err)
	}
	claimMapper, err := authorization.GetClaimMapperFromConfig(&cfg.Global.Authorization, tlog)
	if err != nil {
		return nil, fmt.Errorf("devserver: claim mapper: %w", err)
	}
	hosts := make(map[primitives.ServiceName]static.Hosts, len(cfg.Services))
	for name, svc := range cfg.Services {
		hosts[primitives.ServiceName(name)] = static.SingleLocalHost(net.JoinHostPort(dialHost(svc.RPC.BindOnIP), strconv.Itoa(svc.RPC.GRPCPort)))
	}
	srv, err := temporal.NewServer(
		temporal.WithConfig(cfg),
		temporal.ForServices(temporal.DefaultServices),
		// One process, fixed addresses: no gossip membership (ringpop) needed.
		temporal.WithStaticHosts(hosts),
		temporal.WithLogger(tlog),
		temporal.WithAuthorizer(authorizer),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return claimMapper }),
		temporal.WithDynamicConfigClient(dynamicConfig(opts.DynamicConfig)),
	)
	if err != nil {
		return nil, fmt.Errorf("devserver: create Temporal server: %w", err)
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("devserver: start Temporal server: %w", err)
	}
	s := &Server{
		server:      srv,
		frontend:    cfg.PublicClient.HostPort,
		log:         logger,
		serverLevel: serverLevel,
	}
	if err := s.setupNamespaces(ctx, &opts); err != nil {
		s.Stop()
		return nil, err
	}
	if opts.UIPort != 0 {
		if err := s.startUI(ctx, &opts); err != nil {
			s.Stop()
			return nil, err
		}
	}
	logger.Info("temporal server started", "frontend", s.frontend, "ui", s.uiAddr, "namespaces", opts.Namespaces)
	return s, nil
}

// FrontendHostPort is the address clients dial (host:port).
func (s *Server) FrontendHostPort() string { return s.frontend }

// UIAddress is the Web UI's base URL, or "" when the UI is off.
func (s *Server) UIAddress() string { return s.uiAddr }

// Stop stops the UI and the server. It is safe to call more than once.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		if s.ui != nil {
			s.ui.Stop()
		}
		s.serverLevel.Set(slog.LevelError + 1)
		if err := s.server.Stop(); err != nil {
			s.log.Warn("temporal server stopped with an error", "error", err)
		}
	})
}

// buildConfig assembles the static server configuration, preparing persistence on the way.
func buildConfig(ctx context.Context, opts *Options, tlog serverLogger) (*config.Config, error) {
	var cfg config.Config
	frontendAddr := net.JoinHostPort(dialHost(opts.FrontendIP), strconv.Itoa(opts.FrontendPort))
	// The frontend's HTTP API (JSON over HTTP, Nexus endpoints) gets a port of its own, like
	// `temporal server start-dev` does; without it the server warns at every start.
	httpPort, err := freePortOn(opts.FrontendIP)
	if err != nil {
		return nil, fmt.Errorf("devserver: port for the frontend HTTP API: %w", err)
	}
	httpAddr := net.JoinHostPort(dialHost(opts.FrontendIP), strconv.Itoa(httpPort))

	switch {
	case opts.Postgres != nil:
		def, vis, err := preparePostgres(ctx, opts.Postgres, tlog)
		if err != nil {
			return nil, err
		}
		cfg.Persistence = config.Persistence{
			DefaultStore:    "postgres-default",
			VisibilityStore: "postgres-visibility",
			// Shards are fixed for the life of the database; a few let history work proceed
			// in parallel on a server that Postgres can keep up with.
			NumHistoryShards: 4,
			DataStores: map[string]config.DataStore{
				"postgres-default":    {SQL: def},
				"postgres-visibility": {SQL: vis},
			},
		}
	default:
		sqlCfg, err := prepareSQLite(opts.DataDir)
		if err != nil {
			return nil, err
		}
		cfg.Persistence = config.Persistence{
			DefaultStore:     "sqlite-default",
			VisibilityStore:  "sqlite-default",
			NumHistoryShards: 1, // SQLite has one writer anyway
			DataStores:       map[string]config.DataStore{"sqlite-default": {SQL: sqlCfg}},
		}
	}

	cfg.Global.Membership = config.Membership{MaxJoinDuration: 30 * time.Second, BroadcastAddress: "127.0.0.1"}
	if opts.MetricsPort != 0 {
		cfg.Global.Metrics = &metrics.Config{Prometheus: &metrics.PrometheusConfig{
			ListenAddress: net.JoinHostPort(opts.FrontendIP, strconv.Itoa(opts.MetricsPort)),
			HandlerPath:   "/metrics",
		}}
	}
	cfg.ClusterMetadata = &cluster.Config{
		EnableGlobalNamespace:    false,
		FailoverVersionIncrement: 10,
		MasterClusterName:        clusterName,
		CurrentClusterName:       clusterName,
		ClusterInformation: map[string]cluster.ClusterInformation{
			clusterName: {Enabled: true, InitialFailoverVersion: 1, RPCAddress: frontendAddr, HTTPAddress: httpAddr},
		},
	}
	cfg.DCRedirectionPolicy.Policy = "noop"

	cfg.Services = map[string]config.Service{
		string(primitives.FrontendService): {RPC: config.RPC{GRPCPort: opts.FrontendPort, HTTPPort: httpPort, BindOnIP: opts.FrontendIP}},
	}
	for _, name := range []primitives.ServiceName{primitives.HistoryService, primitives.MatchingService, primitives.WorkerService} {
		port, err := freePortOn("127.0.0.1")
		if err != nil {
			return nil, fmt.Errorf("devserver: port for the %s service: %w", name, err)
		}
		cfg.Services[string(name)] = config.Service{RPC: config.RPC{GRPCPort: port, BindOnIP: "127.0.0.1"}}
	}

	cfg.Archival.History.State = "disabled"
	cfg.Archival.Visibility.State = "disabled"
	cfg.NamespaceDefaults.Archival.History.State = "disabled"
	cfg.NamespaceDefaults.Archival.Visibility.State = "disabled"
	// The server's internal worker (system workflows) dials the frontend through this.
	cfg.PublicClient.HostPort = frontendAddr
	return &cfg, nil
}

// dynamicConfig returns development defaults overlaid with the caller's overrides.
func dynamicConfig(overrides map[string]any) dynamicconfig.StaticClient {
	dc := dynamicconfig.StaticClient{
		dynamicconfig.FrontendEnableUpdateWorkflowExecution.Key(): true,
		// New search attributes are usable as soon as they are added, not after a cache TTL.
		dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key(): true,
		dynamicconfig.NamespaceCacheRefreshInterval.Key():           namespaceRefresh,
		// The production defaults (2400 rps per namespace, 10 rps for visibility) throttle
		// benchmarks and a busy UI long before a single host runs out of steam.
		dynamicconfig.FrontendRPS.Key():                                  100000,
		dynamicconfig.FrontendMaxNamespaceRPSPerInstance.Key():           100000,
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 1000,
		dynamicconfig.HistoryRPS.Key():                                   100000,
		dynamicconfig.MatchingRPS.Key():                                  100000,
		dynamicconfig.FrontendPersistenceMaxQPS.Key():                    20000,
		dynamicconfig.MatchingPersistenceMaxQPS.Key():                    20000,
		dynamicconfig.HistoryPersistenceMaxQPS.Key():                     20000,
		// Keep more workflows' mutable state in memory, as `temporal server start-dev` does.
		dynamicconfig.HistoryCacheHostLevelMaxSize.Key(): 8192,
		// History's queues load new tasks at most MaxPollRPS times a second per shard (20
		// by default). A cluster spreads work over hundreds of shards; this server has one
		// (SQLite) or four, so at the default every workflow or activity task waits for the
		// next of those 50 ms ticks before it is dispatched. Visibility keeps the default:
		// its records may trail by 50 ms, and a start or upsert record still queued when
		// the workflow closes is skipped, which saves most of the visibility writes of
		// short executions.
		dynamicconfig.TransferProcessorMaxPollRPS.Key(): 1000,
		dynamicconfig.TimerProcessorMaxPollRPS.Key():    1000,
		dynamicconfig.OutboundProcessorMaxPollRPS.Key(): 1000,
		// One host serves every task queue: partitions only add forwarding hops between
		// a task and a waiting poller.
		dynamicconfig.MatchingNumTaskqueueReadPartitions.Key():  1,
		dynamicconfig.MatchingNumTaskqueueWritePartitions.Key(): 1,
	}
	for k, v := range overrides {
		dc[dynamicconfig.MakeKey(k)] = v
	}
	return dc
}

// dialHost turns a bind address into one a local client can dial.
func dialHost(bindIP string) string {
	if ip := net.ParseIP(bindIP); ip == nil || ip.IsUnspecified() {
		return "127.0.0.1"
	}
	return bindIP
}

func checkPortFree(ip string, port int, what, option string) error {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("devserver: %s port %s:%d is taken (another Temporal server or `squall up` running?): stop it or set %s: %w",
			what, ip, port, option, err)
	}
	return l.Close()
}

func freePortOn(ip string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
