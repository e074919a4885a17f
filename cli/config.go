package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"
	"gopkg.in/yaml.v3"
)

// Keys of the CLI config file (~/.squall/config, YAML). The environment
// variables are SQUALL_ + the key in upper case (SQUALL_API_URL, ...).
const (
	keyAPIURL      = "api_url"
	keyAuthToken   = "auth_token"
	keyAPIKey      = "api_key"
	keyUsername    = "username"
	keyTokenExpiry = "token_expiry"
)

// settings is the resolved CLI configuration of one invocation.
type settings struct {
	ConfigFile string
	APIURL     string
	AuthToken  string
	APIKey     string
	Username   string
	// TokenExpiry is when the token saved by `squall login` expires; zero
	// when the token came from a flag or the environment.
	TokenExpiry time.Time
	// expiredToken is set when the saved token had expired and was dropped.
	expiredToken time.Time
}

// addConfigFlags puts the connection flags on a top-level CLI command (not
// on the shared root, whose daemon commands have flags of their own).
func addConfigFlags(c *cobra.Command) {
	f := c.PersistentFlags()
	f.String("config", "", "CLI config file (default $SQUALL_CONFIG or ~/.squall/config)")
	f.String("url", "", "API base URL (default $SQUALL_API_URL or "+DefaultAPIURL+")")
	f.String("token", "", "auth token (default $SQUALL_AUTH_TOKEN or the one saved by squall login)")
	f.String("api-key", "", "API key sent as St2-Api-Key (default $SQUALL_API_KEY)")
}

// configPath: --config, then $SQUALL_CONFIG, then ~/.squall/config.
func configPath(cmd *cobra.Command) (string, error) {
	if f := cmd.Flags().Lookup("config"); f != nil && f.Value.String() != "" {
		return f.Value.String(), nil
	}
	if p := os.Getenv("SQUALL_CONFIG"); p != "" {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("locate CLI config: %w (use --config or SQUALL_CONFIG)", err)
	}
	return filepath.Join(home, ".squall", "config"), nil
}

// loadSettings resolves flag > environment > config file > default.
func loadSettings(cmd *cobra.Command) (*settings, error) {
	path, err := configPath(cmd)
	if err != nil {
		return nil, err
	}
	v := viper.New()
	v.SetConfigFile(path)
	v.SetConfigType("yaml") // the file has no extension to guess from
	v.SetEnvPrefix("SQUALL")
	v.SetDefault(keyAPIURL, DefaultAPIURL)
	for _, k := range []string{keyAPIURL, keyAuthToken, keyAPIKey} {
		if err := v.BindEnv(k); err != nil {
			return nil, fmt.Errorf("bind environment for %s: %w", k, err)
		}
	}
	for key, flag := range map[string]string{keyAPIURL: "url", keyAuthToken: "token", keyAPIKey: "api-key"} {
		if f := cmd.Flags().Lookup(flag); f != nil {
			if err := v.BindPFlag(key, f); err != nil {
				return nil, fmt.Errorf("bind flag --%s: %w", flag, err)
			}
		}
	}
	if err := v.ReadInConfig(); err != nil && !errors.Is(err, fs.ErrNotExist) {
		var notFound viper.ConfigFileNotFoundError
		if !errors.As(err, &notFound) {
			return nil, fmt.Errorf("read CLI config %s: %w", path, err)
		}
	}
	s := &settings{
		ConfigFile: path,
		APIURL:     v.GetString(keyAPIURL),
		AuthToken:  v.GetString(keyAuthToken),
		APIKey:     v.GetString(keyAPIKey),
		Username:   v.GetString(keyUsername),
	}
	if s.APIURL == "" {
		s.APIURL = DefaultAPIURL
	}
	// Only a token saved by `squall login` has a known expiry; an expired one
	// would only earn a 401, so it is dropped and the 401 explains why.
	if tokenFromFile(cmd) && s.AuthToken != "" {
		// GetTime: YAML may hand the timestamp over parsed or as a string.
		if exp := v.GetTime(keyTokenExpiry); !exp.IsZero() {
			s.TokenExpiry = exp
			if !exp.After(time.Now()) {
				s.expiredToken = exp
				s.AuthToken = ""
			}
		}
	}
	return s, nil
}

func tokenFromFile(cmd *cobra.Command) bool {
	if f := cmd.Flags().Lookup("token"); f != nil && f.Changed {
		return false
	}
	// viper treats an empty variable as unset; so do we.
	return os.Getenv("SQUALL_AUTH_TOKEN") == ""
}

func (s *settings) client() *Client {
	return NewClient(Config{APIURL: s.APIURL, AuthToken: s.AuthToken, APIKey: s.APIKey})
}

// saveLogin writes the user, token and expiry into the config file, keeping
// whatever else the file holds. The file holds a credential: 0600 in a
// 0700 directory.
func saveLogin(path string, tok *Token) error {
	doc := map[string]any{}
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := yaml.Unmarshal(b, &doc); err != nil {
			return fmt.Errorf("read CLI config %s: %w", path, err)
		}
		if doc == nil {
			doc = map[string]any{}
		}
	case errors.Is(err, fs.ErrNotExist):
	default:
		return fmt.Errorf("read CLI config: %w", err)
	}
	doc[keyUsername] = tok.User
	doc[keyAuthToken] = tok.Token
	if tok.Expiry != "" {
		doc[keyTokenExpiry] = tok.Expiry
	} else {
		delete(doc, keyTokenExpiry)
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		return fmt.Errorf("encode CLI config: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create CLI config directory: %w", err)
	}
	// Write a sibling and rename so a crash never leaves a truncated config.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".config-*")
	if err != nil {
		return fmt.Errorf("write CLI config: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write CLI config: %w", err)
	}
	if _, err := tmp.Write(out); err != nil {
		tmp.Close()
		return fmt.Errorf("write CLI config: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write CLI config: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write CLI config: %w", err)
	}
	return nil
}
