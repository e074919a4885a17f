package config

import (
	"strings"
	"testing"
	"time"
)

func TestDefaultsValidate(t *testing.T) {
	t.Parallel()
	c := Defaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	if c.APIURL != "http://127.0.0.1:9101" || c.HtpasswdFile != ".squall/htpasswd" {
		t.Fatalf("derived values: %q %q", c.APIURL, c.HtpasswdFile)
	}
}

func TestValidateMessages(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"api addr", func(c *Config) { c.APIAddr = "9101" }, `api_addr (SQUALL_API_ADDR): "9101" is not host:port`},
		{"retention", func(c *Config) { c.TemporalRetention = time.Hour }, "below Temporal's minimum of 24h"},
		{"log level", func(c *Config) { c.LogLevel = "loud" }, `log_level (SQUALL_LOG_LEVEL): "loud" is not one of`},
		{"attempts", func(c *Config) { c.RunnerMaxAttempts = 0 }, "runner_max_attempts (SQUALL_RUNNER_MAX_ATTEMPTS): must be at least 1"},
		{"temporal", func(c *Config) { c.TemporalAddress = "nohost" }, "temporal_address"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := Defaults()
			tc.mutate(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
