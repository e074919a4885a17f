package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"reflect"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/squall-automation/squall/config"
)

// daemonFlags adds the flags every daemon command shares.
func daemonFlags(cmd *cobra.Command) {
	cmd.Flags().String("config-file", "", "daemon config file (YAML); env SQUALL_CONFIG_FILE")
	cmd.Flags().String("data-dir", "", "local state directory (default .squall)")
	cmd.Flags().String("database-url", "", "Postgres URL (default: a private cluster under the data dir)")
	cmd.Flags().String("temporal-address", "", "Temporal frontend host:port (default: the embedded server)")
	cmd.Flags().String("api-addr", "", "REST API listen address (default 127.0.0.1:9101)")
	cmd.Flags().String("log-level", "", "debug, info, warn or error")
}

// loadConfig reads defaults, then the config file, then SQUALL_* variables,
// then flags, and validates the result.
func loadConfig(cmd *cobra.Command) (config.Config, error) {
	v := viper.New()
	def := config.Defaults()
	rv := reflect.ValueOf(def)
	rt := rv.Type()
	for i := 0; i < rt.NumField(); i++ {
		// Every key needs a default: viper's Unmarshal only sees environment
		// variables for keys it already knows.
		v.SetDefault(rt.Field(i).Tag.Get("mapstructure"), rv.Field(i).Interface())
	}
	v.SetEnvPrefix("SQUALL")
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
	v.AutomaticEnv()
	for _, name := range []string{"data-dir", "database-url", "temporal-address", "api-addr", "log-level"} {
		if f := cmd.Flags().Lookup(name); f != nil {
			if err := v.BindPFlag(strings.ReplaceAll(name, "-", "_"), f); err != nil {
				return config.Config{}, err
			}
		}
	}
	file, _ := cmd.Flags().GetString("config-file")
	if file == "" {
		file = os.Getenv("SQUALL_CONFIG_FILE")
	}
	if file != "" {
		v.SetConfigFile(file)
		if err := v.ReadInConfig(); err != nil {
			return config.Config{}, fmt.Errorf("read config file %s: %w", file, err)
		}
	}
	var c config.Config
	if err := v.Unmarshal(&c); err != nil {
		return config.Config{}, fmt.Errorf("parse configuration: %w", err)
	}
	// SQUALL_PACKS_PATHS is a colon-separated list, like PATH.
	if s := os.Getenv("SQUALL_PACKS_PATHS"); s != "" {
		c.PacksPaths = strings.Split(s, ":")
	}
	if err := c.Validate(); err != nil {
		return config.Config{}, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return c, nil
}

func newLogger(c config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
