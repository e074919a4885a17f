package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func newLoginCmd() *cobra.Command {
	var password string
	var ttl int
	c := &cobra.Command{
		Use:   "login <user>",
		Short: "Log in: get an auth token and save it in the CLI config",
		Long: "Authenticates the user with a password, acquires an auth token and saves it, with its\n" +
			"expiry, in the CLI config file (~/.squall/config, mode 0600). The password is never saved.",
		Args: exactArgs(1, "a user name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := loadSettings(cmd)
			if err != nil {
				return err
			}
			user := args[0]
			if !cmd.Flags().Changed("password") {
				if password, err = readPassword(cmd); err != nil {
					return err
				}
			}
			tok, err := NewClient(Config{APIURL: s.APIURL}).Login(cmd.Context(), user, password, ttl)
			if err != nil {
				return err
			}
			if tok.User == "" {
				tok.User = user
			}
			if err := saveLogin(s.ConfigFile, tok); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Logged in as %s\n", tok.User)
			if tok.Expiry != "" {
				fmt.Fprintf(out, "Token saved in %s, expires %s\n", s.ConfigFile, formatTimestamp(tok.Expiry))
			}
			return nil
		},
	}
	c.Flags().StringVarP(&password, "password", "p", "", "password (prompted for when omitted; read from stdin when it is not a terminal)")
	c.Flags().IntVarP(&ttl, "ttl", "l", 0, "token life span in seconds (the server's maximum wins)")
	return c
}

// readPassword prompts without echo on a terminal and otherwise reads one
// line from stdin, so that scripts can pipe the password in.
func readPassword(cmd *cobra.Command) (string, error) {
	in := cmd.InOrStdin()
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(cmd.ErrOrStderr(), "Password: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(cmd.ErrOrStderr())
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		return string(b), nil
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	if err != nil && line == "" {
		return "", usageErrorf("no password: pass -p or write it on stdin")
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func newWhoamiCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "whoami",
		Short: "Show the user the current credentials belong to",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, s, err := apiClient(cmd)
			if err != nil {
				return err
			}
			u, err := cl.WhoAmI(cmd.Context())
			out := cmd.OutOrStdout()
			var ae *APIError
			if errors.As(err, &ae) && ae.StatusCode == 401 {
				fmt.Fprintln(out, "Not authenticated")
				if !s.expiredToken.IsZero() {
					fmt.Fprintf(out, "The token saved in %s expired at %s.\n", s.ConfigFile, s.expiredToken.Format("2006-01-02 15:04:05 MST"))
				}
				return &exitError{ExitError}
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "Currently logged in as %q.\n\n", u.Username)
			fmt.Fprintf(out, "Authentication method: %s\n", u.Authentication.Method)
			if u.Authentication.TokenExpire != "" {
				fmt.Fprintf(out, "Authentication token expire time: %s\n", formatTimestamp(u.Authentication.TokenExpire))
			}
			if u.RBAC.Enabled {
				fmt.Fprintf(out, "\nRBAC:\n - Enabled: true\n - Roles: %s\n", strings.Join(u.RBAC.Roles, ", "))
			}
			return nil
		},
	}
}

func newAPIKeyCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "apikey",
		Short: "API keys: long-lived credentials for scripts and webhooks",
	}
	var (
		user     string
		metadata string
		onlyKey  bool
		asJSON   bool
	)
	create := &cobra.Command{
		Use:   "create",
		Short: "Create an API key (its secret is shown only now)",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var md map[string]any
			if metadata != "" {
				if err := json.Unmarshal([]byte(metadata), &md); err != nil {
					return usageErrorf("--metadata must be a JSON object: %v", err)
				}
			}
			cl, s, err := apiClient(cmd)
			if err != nil {
				return err
			}
			k, err := cl.CreateAPIKey(cmd.Context(), user, md)
			if err != nil {
				return s.explain(err)
			}
			out := cmd.OutOrStdout()
			switch {
			case onlyKey:
				fmt.Fprintln(out, k.Key)
				return nil
			case asJSON:
				return printJSON(out, k.Raw)
			}
			return printProps(out, []prop{
				{"id", k.ID}, {"user", k.User}, {"key", k.Key}, {"metadata", k.Metadata},
				{"created_at", formatTimestamp(k.CreatedAt)}, {"enabled", k.Enabled},
			})
		},
	}
	create.Flags().StringVarP(&user, "user", "u", "", "user the key belongs to (default: you)")
	create.Flags().StringVarP(&metadata, "metadata", "m", "", `metadata as a JSON object, e.g. '{"purpose": "ci"}'`)
	create.Flags().BoolVarP(&onlyKey, "only-key", "k", false, "print only the key")
	create.Flags().BoolVarP(&asJSON, "json", "j", false, "print the API's JSON")

	var listUser string
	var listJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List API keys",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, s, err := apiClient(cmd)
			if err != nil {
				return err
			}
			keys, err := cl.ListAPIKeys(cmd.Context(), listUser)
			if err != nil {
				return s.explain(err)
			}
			out := cmd.OutOrStdout()
			if listJSON {
				raws := make([]json.RawMessage, len(keys))
				for i, k := range keys {
					raws[i] = k.Raw
				}
				return printJSONList(out, raws)
			}
			rows := make([][]string, len(keys))
			for i, k := range keys {
				rows[i] = []string{k.ID, k.User, compactJSON(k.Metadata)}
			}
			return printTable(out, []string{"id", "user", "metadata"}, rows)
		},
	}
	list.Flags().StringVarP(&listUser, "user", "u", "", "only the keys of this user")
	list.Flags().BoolVarP(&listJSON, "json", "j", false, "print the API's JSON")

	c.AddCommand(create, list)
	return c
}
