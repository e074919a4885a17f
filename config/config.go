// Package config is the configuration of Squall's daemons (up, server,
// worker). It is a plain struct: cmd/squall fills it from the config file,
// SQUALL_* environment variables and flags (viper), then calls Validate.
package config

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"time"
)

// Config holds every daemon setting. Zero values are replaced by Defaults.
type Config struct {
	// DataDir holds local state: the private Postgres cluster, the embedded
	// Temporal's SQLite file, the htpasswd file, the admin password.
	DataDir string `mapstructure:"data_dir"`
	// DatabaseURL points at Postgres. Empty in `squall up`: a private cluster
	// is started under DataDir.
	DatabaseURL string `mapstructure:"database_url"`
	// PostgresPort is the port of the private cluster `squall up` starts.
	PostgresPort int `mapstructure:"postgres_port"`
	// TemporalAddress is host:port of a Temporal frontend. Empty in
	// `squall up`: the embedded server is started.
	TemporalAddress   string `mapstructure:"temporal_address"`
	TemporalNamespace string `mapstructure:"temporal_namespace"`
	// TemporalRetention is the namespace retention set when Squall creates
	// the namespace (embedded server); executions are kept this long.
	TemporalRetention time.Duration `mapstructure:"temporal_retention"`
	TaskQueue         string        `mapstructure:"task_queue"`
	// TemporalPort and UIPort are the embedded server's ports.
	TemporalPort int `mapstructure:"temporal_port"`
	UIPort       int `mapstructure:"ui_port"`
	// TemporalPostgres makes `squall up` run its embedded Temporal server on
	// Postgres (the server of DatabaseURL, databases temporal and
	// temporal_visibility) instead of SQLite: the production topology on one
	// host, what `make run-prod` starts.
	TemporalPostgres bool `mapstructure:"temporal_postgres"`
	// WebUIURL is the Temporal Web UI base URL shown in executions' web_url.
	WebUIURL string `mapstructure:"web_ui_url"`

	// APIAddr is where the REST API listens.
	APIAddr string `mapstructure:"api_addr"`
	// APIURL is how actions and sensors reach the API (ST2_ACTION_API_URL).
	APIURL       string        `mapstructure:"api_url"`
	HtpasswdFile string        `mapstructure:"htpasswd_file"`
	TokenTTL     time.Duration `mapstructure:"token_ttl"`
	MaxBodyBytes int64         `mapstructure:"max_body_bytes"`

	// AdminUser and AdminPassword create (or update) an htpasswd user at
	// start in `squall up`; an empty password is generated and saved.
	AdminUser     string `mapstructure:"admin_user"`
	AdminPassword string `mapstructure:"admin_password"`

	// PacksPaths are directories searched for packs by name; the first one
	// also holds the bundled packs registered at start.
	PacksPaths []string `mapstructure:"packs_paths"`
	// ConfigsDir holds pack configs (<pack>.yaml), as st2's /opt/stackstorm/configs.
	ConfigsDir string `mapstructure:"configs_dir"`
	// RegisterPacks registers every pack under PacksPaths at start.
	RegisterPacks bool `mapstructure:"register_packs"`

	// Python is the interpreter for python-script actions.
	Python string `mapstructure:"python"`
	// MaxConcurrentActions bounds the actions one worker runs at once as
	// regular activities; fast-path runs (RunnerFastPath) are bounded
	// separately, to half as many.
	MaxConcurrentActions int `mapstructure:"max_concurrent_actions"`
	// RunnerMaxAttempts and RunnerHeartbeatTimeout are the worker-loss
	// policy: a runner silent for the heartbeat timeout is declared lost and
	// started again, at most RunnerMaxAttempts times in all; then the
	// execution is "abandoned".
	RunnerMaxAttempts      int32         `mapstructure:"runner_max_attempts"`
	RunnerHeartbeatTimeout time.Duration `mapstructure:"runner_heartbeat_timeout"`
	// RunnerFastPath runs an action whose last runs on the worker all
	// ended within a second as a local activity, in the workflow task
	// (see workflows.NewExecution for what that changes).
	RunnerFastPath bool `mapstructure:"runner_fast_path"`

	// IngestBatchWindow is how long ingest gathers events that need rule
	// processing before making them durable with one Temporal workflow
	// start (group commit); 0 starts one workflow per event.
	// IngestBatchMax caps the events of one batch.
	IngestBatchWindow time.Duration `mapstructure:"ingest_batch_window"`
	IngestBatchMax    int           `mapstructure:"ingest_batch_max"`

	// DebugAddr, when set, serves Go's profiler (net/http/pprof) there,
	// without auth: bind it to localhost only.
	DebugAddr string `mapstructure:"debug_addr"`

	LogLevel  string `mapstructure:"log_level"`
	LogFormat string `mapstructure:"log_format"` // text | json
}

// Defaults returns the configuration of `make run`.
func Defaults() Config {
	return Config{
		DataDir:                ".squall",
		PostgresPort:           55439,
		TemporalNamespace:      "squall",
		TemporalRetention:      7 * 24 * time.Hour,
		TaskQueue:              "squall-actions",
		TemporalPort:           7233,
		UIPort:                 8233,
		APIAddr:                "127.0.0.1:9101",
		TokenTTL:               24 * time.Hour,
		MaxBodyBytes:           10 << 20,
		AdminUser:              "st2admin",
		PacksPaths:             []string{"packs"},
		RegisterPacks:          true,
		Python:                 "python3",
		MaxConcurrentActions:   200,
		RunnerMaxAttempts:      3,
		RunnerHeartbeatTimeout: 10 * time.Second,
		RunnerFastPath:         true,
		IngestBatchWindow:      5 * time.Millisecond,
		IngestBatchMax:         200,
		LogLevel:               "info",
		LogFormat:              "text",
	}
}

// Validate checks the configuration and fills derived values. Messages name
// the setting as an operator writes it (SQUALL_<NAME> or the config key).
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s (SQUALL_%s): %s", key, strings.ToUpper(key), fmt.Sprintf(format, args...)))
	}
	if c.DataDir == "" {
		bad("data_dir", "must not be empty")
	}
	if c.TemporalNamespace == "" {
		bad("temporal_namespace", "must not be empty")
	}
	if c.TaskQueue == "" {
		bad("task_queue", "must not be empty")
	}
	if _, _, err := net.SplitHostPort(c.APIAddr); err != nil {
		bad("api_addr", "%q is not host:port: %v", c.APIAddr, err)
	}
	if c.TemporalAddress != "" {
		if _, _, err := net.SplitHostPort(c.TemporalAddress); err != nil {
			bad("temporal_address", "%q is not host:port: %v", c.TemporalAddress, err)
		}
	}
	if c.TemporalPostgres && c.TemporalAddress != "" {
		bad("temporal_postgres", "applies to the embedded Temporal server only; unset temporal_address (%s) or this", c.TemporalAddress)
	}
	if c.TemporalRetention < 24*time.Hour {
		bad("temporal_retention", "%s is below Temporal's minimum of 24h", c.TemporalRetention)
	}
	if c.TokenTTL <= 0 {
		bad("token_ttl", "must be positive, got %s", c.TokenTTL)
	}
	if c.MaxBodyBytes <= 0 {
		bad("max_body_bytes", "must be positive, got %d", c.MaxBodyBytes)
	}
	if c.MaxConcurrentActions <= 0 {
		bad("max_concurrent_actions", "must be positive, got %d", c.MaxConcurrentActions)
	}
	if c.RunnerMaxAttempts <= 0 {
		bad("runner_max_attempts", "must be at least 1, got %d", c.RunnerMaxAttempts)
	}
	if c.RunnerHeartbeatTimeout < time.Second {
		bad("runner_heartbeat_timeout", "must be at least 1s, got %s", c.RunnerHeartbeatTimeout)
	}
	if c.IngestBatchWindow < 0 || c.IngestBatchWindow > time.Second {
		bad("ingest_batch_window", "must be between 0 and 1s, got %s", c.IngestBatchWindow)
	}
	if c.IngestBatchMax <= 0 {
		bad("ingest_batch_max", "must be positive, got %d", c.IngestBatchMax)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log_level", "%q is not one of debug, info, warn, error", c.LogLevel)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		bad("log_format", "%q is not text or json", c.LogFormat)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if c.HtpasswdFile == "" {
		c.HtpasswdFile = filepath.Join(c.DataDir, "htpasswd")
	}
	if c.APIURL == "" {
		host, port, _ := net.SplitHostPort(c.APIAddr)
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "127.0.0.1"
		}
		c.APIURL = "http://" + net.JoinHostPort(host, port)
	}
	if c.ConfigsDir == "" {
		c.ConfigsDir = filepath.Join(c.DataDir, "configs")
	}
	return nil
}
