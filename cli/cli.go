// Package cli is the `squall` command line client: StackStorm's st2 CLI
// (login, run, execution, action, pack, apikey, trigger, trigger-instance,
// rule, rule-enforcement) rebuilt on cobra and viper.
// It talks only to Squall's REST API (/api/v1, /auth/v1, /stream/v1), through
// the small typed Client in this package, so it can run on any machine that
// reaches the server. `squall rule test` with files works offline: it runs
// the rules engine itself, as st2-rule-tester does.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit codes: st2's convention of 1 for a failed operation (or a failed
// execution) and argparse's 2 for a wrong command line.
const (
	ExitOK    = 0
	ExitError = 1
	ExitUsage = 2
)

// AddCommands adds the client commands (login, whoami, run, execution,
// action, pack, apikey, trigger, trigger-instance, rule, rule-enforcement)
// to root. The connection flags (--url, --token,
// --api-key, --config) live on these commands, not on root.
func AddCommands(root *cobra.Command) {
	for _, c := range []*cobra.Command{
		newLoginCmd(), newWhoamiCmd(), newRunCmd(), newExecutionCmd(),
		newActionCmd(), newPackCmd(), newAPIKeyCmd(),
		newTriggerCmd(), newTriggerInstanceCmd(), newRuleCmd(), newRuleEnforcementCmd(),
	} {
		addConfigFlags(c)
		root.AddCommand(c)
	}
}

// Execute runs root with os.Args and returns the process exit code; it
// prints errors as st2 does ("ERROR: 404: <faultstring>") on stderr.
// cmd/squall: os.Exit(cli.Execute(root)).
func Execute(root *cobra.Command) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return execute(ctx, root)
}

func execute(ctx context.Context, root *cobra.Command) int {
	root.SilenceErrors = true
	root.SilenceUsage = true
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	var ex *exitError
	if errors.As(err, &ex) {
		return ex.code
	}
	printError(root.ErrOrStderr(), err)
	var ue *usageError
	if errors.As(err, &ue) {
		if cmd != nil {
			fmt.Fprintf(root.ErrOrStderr(), "See '%s --help'.\n", cmd.CommandPath())
		}
		return ExitUsage
	}
	return ExitError
}

// printError shows an API error as "ERROR: <status>: <faultstring>" (the
// context the client wrapped around it adds nothing for a person), anything
// else as "ERROR: <message>"; hints go on their own line.
func printError(w io.Writer, err error) {
	var ae *APIError
	if errors.As(err, &ae) {
		fmt.Fprintf(w, "ERROR: %d: %s\n", ae.StatusCode, ae.Faultstring)
	} else {
		fmt.Fprintf(w, "ERROR: %s\n", err)
	}
	var he *hintError
	if errors.As(err, &he) && ae != nil {
		fmt.Fprintln(w, he.hint)
	}
}

// hintError is an error with advice for the person at the terminal.
type hintError struct {
	err  error
	hint string
}

func (e *hintError) Error() string { return e.err.Error() + " (" + e.hint + ")" }
func (e *hintError) Unwrap() error { return e.err }

// usageError is a wrong command line (exit 2).
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usageErrorf(format string, a ...any) error {
	return &usageError{fmt.Errorf(format, a...)}
}

// exitError ends the command with a code after it printed what it had to
// say, e.g. a failed execution (st2 run exits 1).
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// Argument validators that report usage errors.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErrorf("expected %s, got %d argument(s)", what, len(args))
		}
		return nil
	}
}

func minArgs(n int, what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) < n {
			return usageErrorf("missing %s", what)
		}
		return nil
	}
}

// apiClient resolves the settings and returns a client, and how to explain
// a 401 when the saved token had expired.
func apiClient(cmd *cobra.Command) (*Client, *settings, error) {
	s, err := loadSettings(cmd)
	if err != nil {
		return nil, nil, err
	}
	return s.client(), s, nil
}

// explain adds a hint to a 401 when the token saved by login had expired.
func (s *settings) explain(err error) error {
	var ae *APIError
	if errors.As(err, &ae) && ae.StatusCode == 401 && !s.expiredToken.IsZero() {
		return &hintError{err, fmt.Sprintf("the token saved in %s expired at %s; run `squall login`",
			s.ConfigFile, s.expiredToken.Format("2006-01-02 15:04:05 MST"))}
	}
	return err
}
