// Package server is Squall's REST API: StackStorm's v1 paths and JSON shapes
// (/api/v1, /auth/v1, /stream/v1) on one port, plus /healthz and Prometheus
// /metrics. It authenticates every request but /healthz and token issuing,
// reads content from the catalog and edits rules in it, takes events in
// (webhooks, re-emitted trigger instances) through the ingest door, starts
// and reads executions through the execution service, and streams execution
// output as server-sent events.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/squall-automation/squall/auth"
	"github.com/squall-automation/squall/catalog"
	"github.com/squall-automation/squall/execution"
	"github.com/squall-automation/squall/pack"
)

// Catalog is what the API reads and writes in the catalog (*catalog.Store).
type Catalog interface {
	RegisterPack(ctx context.Context, p *pack.Pack) (catalog.RegisterResult, error)
	ListPacks(ctx context.Context) ([]catalog.PackRecord, error)
	GetPack(ctx context.Context, refOrID string) (*catalog.PackRecord, error)
	DeletePack(ctx context.Context, ref string) error

	ListActions(ctx context.Context, f catalog.ActionFilter) ([]catalog.ActionRecord, int, error)
	GetAction(ctx context.Context, refOrID string) (*catalog.ActionRecord, error)
	ListRules(ctx context.Context, f catalog.RuleFilter) ([]catalog.RuleRecord, int, error)
	GetRule(ctx context.Context, refOrID string) (*catalog.RuleRecord, error)
	CreateRule(ctx context.Context, r pack.Rule) (*catalog.RuleRecord, error)
	UpdateRule(ctx context.Context, refOrID string, r pack.Rule) (*catalog.RuleRecord, error)
	DeleteRule(ctx context.Context, refOrID string) error
	ListSensors(ctx context.Context, f catalog.ListFilter) ([]catalog.SensorRecord, int, error)
	GetSensor(ctx context.Context, refOrID string) (*catalog.SensorRecord, error)
	SetSensorEnabled(ctx context.Context, refOrID string, enabled bool) (*catalog.SensorRecord, error)
	ListTriggerTypes(ctx context.Context, f catalog.ListFilter) ([]catalog.TriggerTypeRecord, int, error)
	GetTriggerType(ctx context.Context, refOrID string) (*catalog.TriggerTypeRecord, error)
	ListTriggers(ctx context.Context, f catalog.TriggerFilter) ([]catalog.Trigger, int, error)
	GetTrigger(ctx context.Context, refOrID string) (*catalog.Trigger, error)
	TriggerFor(ctx context.Context, typeRef string, params map[string]any) (*catalog.Trigger, error)
	ListTriggerInstances(ctx context.Context, f catalog.TriggerInstanceFilter) ([]catalog.TriggerInstance, int, error)
	GetTriggerInstance(ctx context.Context, id string) (*catalog.TriggerInstance, error)
	ListRuleEnforcements(ctx context.Context, f catalog.EnforcementFilter) ([]catalog.RuleEnforcement, int, error)
	GetRuleEnforcement(ctx context.Context, id string) (*catalog.RuleEnforcement, error)
	ListAliases(ctx context.Context, f catalog.ListFilter) ([]catalog.AliasRecord, int, error)
	GetAlias(ctx context.Context, refOrID string) (*catalog.AliasRecord, error)
	ListPolicies(ctx context.Context, f catalog.PolicyFilter) ([]catalog.PolicyRecord, int, error)
	GetPolicy(ctx context.Context, refOrID string) (*catalog.PolicyRecord, error)

	CreateToken(ctx context.Context, user string, ttl time.Duration, metadata map[string]any) (catalog.Token, error)
	LookupToken(ctx context.Context, plaintext string) (*catalog.Token, error)
	CreateAPIKey(ctx context.Context, user string, metadata map[string]any) (catalog.APIKey, error)
	LookupAPIKey(ctx context.Context, plaintext string) (*catalog.APIKey, error)
	ListAPIKeys(ctx context.Context) ([]catalog.APIKey, error)
	GetAPIKey(ctx context.Context, id string) (*catalog.APIKey, error)
	UpdateAPIKey(ctx context.Context, id string, enabled bool, metadata map[string]any) (*catalog.APIKey, error)
	DeleteAPIKey(ctx context.Context, id string) error

	ReadOutput(ctx context.Context, executionID string, afterID int64, stream string, limit int) ([]catalog.OutputChunk, error)
}

// Executions is what the API needs from the execution service
// (*execution.Service).
type Executions interface {
	Run(ctx context.Context, req execution.RunRequest) (*execution.Execution, error)
	Get(ctx context.Context, id string) (*execution.Execution, error)
	List(ctx context.Context, f execution.Filter) ([]*execution.Execution, int, error)
	Cancel(ctx context.Context, id, user string) (*execution.Execution, error)
	ReRun(ctx context.Context, id string, params map[string]any, user string) (*execution.Execution, error)
}

// The real implementations must keep satisfying the interfaces above.
var (
	_ Catalog    = (*catalog.Store)(nil)
	_ Executions = (*execution.Service)(nil)
)

// Config configures the API server.
type Config struct {
	// Addr is the listen address, e.g. ":9101".
	Addr string
	// HtpasswdFile holds the users allowed to obtain tokens (bcrypt entries).
	HtpasswdFile string
	// TokenTTL is the lifetime of issued tokens and the most a client may ask
	// for (st2's auth.token_ttl). Zero means 24 hours.
	TokenTTL time.Duration
	// MaxBodyBytes caps request bodies; larger ones get 413. Zero means 10 MiB.
	MaxBodyBytes int64
	// PacksPaths are the directories where POST /api/v1/packs/register looks
	// up packs given by name (st2's content.packs_base_paths).
	PacksPaths []string
	// ConfigsDir is where pack configs (<pack>.yaml) are read from when packs
	// are registered; empty means configs inside the packs only.
	ConfigsDir string
	Logger     *slog.Logger
}

// Defaults for zero Config fields.
const (
	DefaultTokenTTL     = 24 * time.Hour
	DefaultMaxBodyBytes = 10 << 20
)

// Deps are the services the API is built on.
type Deps struct {
	Catalog    Catalog
	Executions Executions
	// Events takes webhook and re-emitted events in (*ingest.Dispatcher);
	// nil answers event routes with 503.
	Events Events
	// RuleChanged, when set, is called after a rule is created, updated
	// (enabled and disabled included) or deleted through the API, so that
	// timers and sensors reconcile at once rather than at their next poll.
	// It runs in the request and must not block.
	RuleChanged func()
	// SensorChanged, when set, is called after a sensor is enabled or
	// disabled through the API, so the sensor container reconciles at once.
	SensorChanged func()
	// Metrics, when set, receives the API's collectors (the daemon shares one
	// registry between components); nil creates a private registry with the
	// Go and process collectors.
	Metrics *prometheus.Registry
}

// Server is the API server.
type Server struct {
	cfg     Config
	log     *slog.Logger
	catalog Catalog
	execs   Executions
	events  Events
	// sensorChanged is Deps.SensorChanged (may be nil).
	sensorChanged func()
	// ruleChanged is Deps.RuleChanged (may be nil).
	ruleChanged func()
	echo        *echo.Echo
	metrics     *metrics

	usersMu sync.Mutex
	users   *auth.Htpasswd

	// streamPoll and statusPoll pace the output stream; tests shorten them.
	streamPoll, statusPoll, keepalive time.Duration
}

// New builds the server and its routes. It does not touch the network or
// the htpasswd file; Start checks the file before listening.
func New(cfg Config, deps Deps) *Server {
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = DefaultTokenTTL
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{
		cfg:           cfg,
		log:           cfg.Logger,
		catalog:       deps.Catalog,
		execs:         deps.Executions,
		events:        deps.Events,
		ruleChanged:   deps.RuleChanged,
		sensorChanged: deps.SensorChanged,
		metrics:       newMetrics(deps.Metrics),
		streamPoll:    200 * time.Millisecond,
		statusPoll:    time.Second,
		keepalive:     15 * time.Second,
	}
	s.echo = s.routes()
	return s
}

// Handler returns the API as an http.Handler (for tests and embedding).
func (s *Server) Handler() http.Handler { return s.echo }

// Start listens on cfg.Addr and serves until ctx ends, then shuts down
// gracefully: new connections are refused, requests in flight get up to 10
// seconds, and open output streams are closed.
func (s *Server) Start(ctx context.Context) error {
	if s.cfg.Addr == "" {
		return errors.New("api server: no listen address configured")
	}
	if _, err := s.htpasswd(); err != nil {
		return fmt.Errorf("api server: %w", err)
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("api server: listen on %s: %w", s.cfg.Addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve is Start on a listener the caller opened (tests use port 0).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srvCtx, cancelStreams := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelStreams()
	hs := &http.Server{
		Handler:           s.echo,
		ReadHeaderTimeout: 10 * time.Second,
		// No WriteTimeout: output streams stay open as long as executions
		// run. Bodies are bounded by MaxBodyBytes and ReadTimeout instead.
		ReadTimeout: 60 * time.Second,
		IdleTimeout: 120 * time.Second,
		ErrorLog:    slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext: func(net.Listener) context.Context { return srvCtx },
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	s.log.Info("api server listening", "addr", ln.Addr().String())

	select {
	case err := <-errc:
		return fmt.Errorf("api server: %w", err)
	case <-ctx.Done():
	}
	// Streams never finish on their own while executions run: end them first
	// so that Shutdown only waits for ordinary requests.
	cancelStreams()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil {
		hs.Close()
		return fmt.Errorf("api server: shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("api server: %w", err)
	}
	s.log.Info("api server stopped")
	return nil
}

// htpasswd returns the user file, loading it on first use; a file that is
// missing at startup may appear later without a restart.
func (s *Server) htpasswd() (*auth.Htpasswd, error) {
	s.usersMu.Lock()
	defer s.usersMu.Unlock()
	if s.users != nil {
		return s.users, nil
	}
	if s.cfg.HtpasswdFile == "" {
		return nil, errors.New("no htpasswd file configured")
	}
	h, err := auth.LoadHtpasswd(s.cfg.HtpasswdFile)
	if err != nil {
		return nil, err
	}
	s.users = h
	return h, nil
}

func (s *Server) routes() *echo.Echo {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = s.errorHandler
	e.Logger.SetOutput(discard{})

	// Order matters: metrics see every answer, recovery turns panics into
	// 500s, the body limit applies before any handler reads.
	e.Use(s.metrics.middleware)
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{
		DisableStackAll: true,
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			s.log.Error("panic in handler", "method", c.Request().Method, "route", c.Path(), "error", err, "stack", string(stack))
			return err
		},
	}))
	e.Use(middleware.BodyLimit(strconv.FormatInt(s.cfg.MaxBodyBytes, 10) + "B"))

	e.GET("/healthz", s.healthz)
	e.POST("/auth/v1/tokens", s.createToken)

	authed := e.Group("", s.authenticate)
	authed.GET("/metrics", s.metrics.handler())

	v1 := authed.Group("/api/v1")
	v1.GET("/apikeys", s.listAPIKeys)
	v1.POST("/apikeys", s.createAPIKey)
	v1.GET("/apikeys/:id", s.getAPIKey)
	v1.PUT("/apikeys/:id", s.updateAPIKey)
	v1.DELETE("/apikeys/:id", s.deleteAPIKey)

	v1.GET("/packs", s.listPacks)
	v1.POST("/packs/register", s.registerPacks)
	v1.GET("/packs/:ref", s.getPack)
	v1.DELETE("/packs/:ref", s.deletePack)

	v1.GET("/actions", s.listActions)
	v1.GET("/actions/:ref", s.getAction)
	v1.GET("/runnertypes", s.listRunnerTypes)
	v1.GET("/runnertypes/:name", s.getRunnerType)
	v1.GET("/rules", s.listRules)
	v1.POST("/rules", s.createRule)
	v1.GET("/rules/:ref", s.getRule)
	v1.PUT("/rules/:ref", s.updateRule)
	v1.DELETE("/rules/:ref", s.deleteRule)
	v1.GET("/ruleenforcements", s.listRuleEnforcements)
	v1.GET("/ruleenforcements/:id", s.getRuleEnforcement)
	v1.GET("/sensortypes", s.listSensors)
	v1.GET("/sensortypes/:ref", s.getSensor)
	v1.PUT("/sensortypes/:ref", s.updateSensor)
	v1.GET("/triggertypes", s.listTriggerTypes)
	v1.GET("/triggertypes/:ref", s.getTriggerType)
	v1.GET("/triggers", s.listTriggers)
	v1.GET("/triggers/:ref", s.getTrigger)
	v1.GET("/triggerinstances", s.listTriggerInstances)
	v1.GET("/triggerinstances/:id", s.getTriggerInstance)
	v1.POST("/triggerinstances/:id/re_emit", s.reEmitTriggerInstance)
	v1.GET("/webhooks", s.listWebhooks)
	// Webhook urls may hold slashes: the rest of the path is the url.
	v1.GET("/webhooks/*", s.getWebhook)
	v1.POST("/webhooks/*", s.postWebhook)
	v1.GET("/actionalias", s.listAliases)
	v1.GET("/actionalias/:ref", s.getAlias)
	v1.GET("/policies", s.listPolicies)
	v1.GET("/policies/:ref", s.getPolicy)

	v1.POST("/executions", s.runExecution)
	v1.GET("/executions", s.listExecutions)
	v1.GET("/executions/:id", s.getExecution)
	v1.DELETE("/executions/:id", s.cancelExecution)
	v1.POST("/executions/:id/re_run", s.reRunExecution)
	v1.GET("/executions/:id/output", s.executionOutput)

	authed.GET("/stream/v1/executions/:id/output", s.streamOutput)
	return e
}

func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
