package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// pollInterval is how often a waiting `run` asks for the execution.
var pollInterval = 200 * time.Millisecond

// startOptions are the flags shared by run and re-run.
type startOptions struct {
	async      bool
	asJSON     bool
	tail       bool
	key        string
	delay      int
	user       string
	inheritEnv bool
}

func (o *startOptions) addFlags(c *cobra.Command) {
	f := c.Flags()
	f.BoolVarP(&o.async, "async", "a", false, "do not wait for the action to finish")
	f.BoolVarP(&o.asJSON, "json", "j", false, "print the execution's JSON")
	f.BoolVar(&o.tail, "tail", false, "print the action's stdout and stderr live while waiting")
	f.StringVarP(&o.key, "key", "k", "", "print only this key of the result (dot notation for nested keys)")
	f.IntVar(&o.delay, "delay", 0, "delay in milliseconds before the execution is scheduled")
	f.StringVarP(&o.user, "user", "u", "", "user to run the action as (admins only)")
	f.BoolVarP(&o.inheritEnv, "inherit-env", "e", false, `pass the CLI's environment as the "env" parameter (local, remote and python runners)`)
}

func newRunCmd() *cobra.Command {
	var o startOptions
	var traceTag, traceID string
	c := &cobra.Command{
		Use:   "run <action-ref> [name=value ...] [@name=file ...] [-- cmd ...]",
		Short: "Run an action and wait for its result",
		Long: "Runs an action. Parameters are name=value (the server casts values to the declared types),\n" +
			"@name=path for a file's content; the first argument without '=' and all after it form the\n" +
			"\"cmd\" parameter. Without -a the command waits and exits 1 if the execution failed.\n" +
			"`squall run <action-ref> -h` lists the action's parameters.",
		Args: minArgs(1, "the action reference (pack.action)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref := args[0]
			params, err := parseParams(args[1:], ref)
			if err != nil {
				return err
			}
			if o.inheritEnv {
				params["env"] = inheritedEnv(os.Environ())
			}
			req := RunRequest{Action: ref, Parameters: params, User: o.user, Delay: o.delay}
			switch {
			case traceID != "":
				req.Context = map[string]any{"trace_context": map[string]any{"id_": traceID}}
			case traceTag != "":
				req.Context = map[string]any{"trace_context": map[string]any{"trace_tag": traceTag}}
			}
			cl, s, err := apiClient(cmd)
			if err != nil {
				return err
			}
			e, err := cl.Run(cmd.Context(), req)
			if err != nil {
				return s.explain(err)
			}
			return followExecution(cmd, cl, e, &o)
		},
	}
	o.addFlags(c)
	c.Flags().StringVar(&traceTag, "trace-tag", "", "trace tag to find this execution by later")
	c.Flags().StringVar(&traceID, "trace-id", "", "existing trace to add this execution to")

	// st2 habit: `st2 run <ref> -h` describes the action's parameters.
	defaultHelp := c.HelpFunc()
	c.SetHelpFunc(func(cmd *cobra.Command, args []string) {
		if pos := cmd.Flags().Args(); cmd == c && len(pos) > 0 {
			err := printActionHelp(cmd, pos[0])
			if err == nil {
				return
			}
			printError(cmd.ErrOrStderr(), err)
		}
		// Whatever help the root uses (cmd/squall may customize it).
		if p := cmd.Parent(); p != nil {
			p.HelpFunc()(cmd, args)
			return
		}
		defaultHelp(cmd, args)
	})
	return c
}

// followExecution does what run and re-run do after the start: report the
// ID (-a), or wait (following the output with --tail) and print the
// outcome; a failed execution makes the command exit 1, as st2 run does.
func followExecution(cmd *cobra.Command, cl *Client, e *Execution, o *startOptions) error {
	out, errw := cmd.OutOrStdout(), cmd.ErrOrStderr()
	ctx := cmd.Context()
	if o.async {
		if o.asJSON {
			return printJSON(out, e.Raw)
		}
		fmt.Fprintf(out, "To get the results, execute:\n squall execution get %s\n", e.ID)
		return nil
	}
	if o.tail && !e.Completed() {
		fmt.Fprintf(errw, "Tailing execution %s\n", e.ID)
		err := cl.StreamOutput(ctx, e.ID, "", writeOutput(out, errw))
		if err != nil && ctx.Err() == nil {
			// The result is still worth waiting for; polling needs no stream.
			fmt.Fprintf(errw, "WARNING: %v; waiting for the result without output\n", err)
		}
	}
	final, err := waitExecution(ctx, cl, e)
	if err != nil {
		return err
	}
	if err := printExecution(out, final, o.asJSON, o.key); err != nil {
		return err
	}
	if final.Status == "failed" {
		return &exitError{ExitError}
	}
	return nil
}

// waitExecution polls until the execution completes.
func waitExecution(ctx context.Context, cl *Client, e *Execution) (*Execution, error) {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for !e.Completed() {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("stopped waiting for execution %s (still %s); see `squall execution get %s`: %w",
				e.ID, e.Status, e.ID, ctx.Err())
		case <-t.C:
		}
		next, err := cl.GetExecution(ctx, e.ID)
		if err != nil {
			if ctx.Err() != nil {
				continue // reported by the select
			}
			return nil, fmt.Errorf("wait for execution %s: %w", e.ID, err)
		}
		e = next
	}
	return e, nil
}

// writeOutput prints output events as they are, stdout to out, stderr to
// errw, so that redirections work as they would for the command itself.
func writeOutput(out, errw io.Writer) func(OutputEvent) error {
	return func(ev OutputEvent) error {
		w := out
		if ev.OutputType == "stderr" {
			w = errw
		}
		_, err := io.WriteString(w, ev.Data)
		return err
	}
}

// printExecution prints an execution as JSON, one result key, or st2's
// detail view.
func printExecution(out io.Writer, e *Execution, asJSON bool, key string) error {
	switch {
	case asJSON:
		return printJSON(out, e.Raw)
	case key != "":
		v, err := lookupKey(e.Result, key)
		if err != nil {
			return err
		}
		if s, ok := v.(string); ok {
			_, err = fmt.Fprintln(out, s)
			return err
		}
		return printValueJSON(out, v)
	}
	return printProps(out, executionProps(e, time.Now()))
}

// lookupKey follows a dot path (a.b.0.c) through maps and lists.
func lookupKey(v any, path string) (any, error) {
	cur := v
	for _, part := range strings.Split(path, ".") {
		switch x := cur.(type) {
		case map[string]any:
			next, ok := x[part]
			if !ok {
				return nil, fmt.Errorf("result has no key %q", path)
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(x) {
				return nil, fmt.Errorf("result has no key %q", path)
			}
			cur = x[i]
		default:
			return nil, fmt.Errorf("result has no key %q", path)
		}
	}
	return cur, nil
}

func newExecutionCmd() *cobra.Command {
	c := &cobra.Command{
		Use:     "execution",
		Aliases: []string{"executions"},
		Short:   "Action executions: list, get, cancel, re-run, tail",
	}
	c.AddCommand(newExecutionListCmd(), newExecutionGetCmd(), newExecutionCancelCmd(),
		newExecutionReRunCmd(), newExecutionTailCmd())
	return c
}

func newExecutionListCmd() *cobra.Command {
	var f ExecutionFilter
	var showAll, asJSON bool
	c := &cobra.Command{
		Use:   "list",
		Short: "List the most recent executions (50 by default), oldest first",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !showAll {
				f.Parent = "null" // top-level executions only, like st2
			}
			cl, s, err := apiClient(cmd)
			if err != nil {
				return err
			}
			execs, total, err := cl.ListExecutions(cmd.Context(), f)
			if err != nil {
				return s.explain(err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				raws := make([]json.RawMessage, len(execs))
				for i := range execs {
					raws[i] = execs[i].Raw
				}
				return printJSONList(out, raws)
			}
			now := time.Now()
			rows := make([][]string, 0, len(execs))
			// The API answers newest first; people read a log top-down.
			for i := len(execs) - 1; i >= 0; i-- {
				e := &execs[i]
				rows = append(rows, []string{e.ID, e.ActionRef(), e.User(), formatStatus(e, now),
					formatTimestamp(e.StartTimestamp), formatTimestamp(e.EndTimestamp)})
			}
			if err := printTable(out, []string{"id", "action.ref", "context.user", "status", "start_timestamp", "end_timestamp"}, rows); err != nil {
				return err
			}
			if total > len(execs) && f.Limit > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "Note: only the %d most recent of %d executions are shown; use -n/--last for more.\n", len(execs), total)
			}
			return nil
		},
	}
	fl := c.Flags()
	fl.StringVarP(&f.Action, "action", "a", "", "only executions of this action (ref)")
	fl.StringVarP(&f.Status, "status", "s", "", "only executions with this status (succeeded, failed, running, ...)")
	fl.StringVarP(&f.User, "user", "u", "", "only executions started by this user")
	fl.IntVarP(&f.Limit, "last", "n", 50, "how many of the most recent executions")
	fl.BoolVarP(&showAll, "showall", "l", false, "include the child executions of workflows")
	fl.BoolVarP(&asJSON, "json", "j", false, "print the API's JSON")
	return c
}

func newExecutionGetCmd() *cobra.Command {
	var asJSON bool
	var key string
	c := &cobra.Command{
		Use:   "get <id>",
		Short: "Show an execution and its result",
		Args:  exactArgs(1, "an execution ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, s, err := apiClient(cmd)
			if err != nil {
				return err
			}
			e, err := cl.GetExecution(cmd.Context(), args[0])
			if err != nil {
				return s.explain(err)
			}
			return printExecution(cmd.OutOrStdout(), e, asJSON, key)
		},
	}
	c.Flags().BoolVarP(&asJSON, "json", "j", false, "print the API's JSON")
	c.Flags().StringVarP(&key, "key", "k", "", "print only this key of the result (dot notation for nested keys)")
	return c
}

func newExecutionCancelCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "cancel <id>...",
		Short: "Cancel executions",
		Args:  minArgs(1, "at least one execution ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, s, err := apiClient(cmd)
			if err != nil {
				return err
			}
			out, errw := cmd.OutOrStdout(), cmd.ErrOrStderr()
			failed := false
			// One bad ID must not keep the others running.
			for _, id := range args {
				e, err := cl.Cancel(cmd.Context(), id)
				if err != nil {
					failed = true
					fmt.Fprintf(errw, "Cannot cancel action execution with id %s:\n", id)
					printError(errw, s.explain(err))
					continue
				}
				if e.Status == "canceled" {
					fmt.Fprintf(out, "action execution with id %s canceled.\n", id)
				} else {
					fmt.Fprintf(out, "action execution with id %s: cancellation requested (status %s).\n", id, e.Status)
				}
			}
			if failed {
				return &exitError{ExitError}
			}
			return nil
		},
	}
}

func newExecutionReRunCmd() *cobra.Command {
	var o startOptions
	var tasks []string
	c := &cobra.Command{
		Use:   "re-run <id> [name=value ...]",
		Short: "Run an execution's action again with the same parameters, optionally overridden",
		Args:  minArgs(1, "an execution ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, s, err := apiClient(cmd)
			if err != nil {
				return err
			}
			id := args[0]
			ref := ""
			if hasFileParam(args[1:]) {
				// @file parameters are shaped by action (core.http).
				orig, err := cl.GetExecution(cmd.Context(), id)
				if err != nil {
					return s.explain(err)
				}
				ref = orig.ActionRef()
			}
			params, err := parseParams(args[1:], ref)
			if err != nil {
				return err
			}
			if o.inheritEnv {
				params["env"] = inheritedEnv(os.Environ())
			}
			e, err := cl.ReRun(cmd.Context(), id, ReRunRequest{Parameters: params, Tasks: tasks, User: o.user, Delay: o.delay})
			if err != nil {
				return s.explain(err)
			}
			return followExecution(cmd, cl, e, &o)
		},
	}
	o.addFlags(c)
	c.Flags().StringSliceVar(&tasks, "tasks", nil, "workflow tasks to re-run")
	return c
}

func hasFileParam(args []string) bool {
	for _, a := range args {
		if !strings.Contains(a, "=") {
			return false
		}
		if strings.HasPrefix(a, "@") {
			return true
		}
	}
	return false
}

func newExecutionTailCmd() *cobra.Command {
	var outputType string
	c := &cobra.Command{
		Use:   "tail <id|last>",
		Short: "Print an execution's output as it is produced, until it completes",
		Long: "Prints what the execution wrote so far and then follows it live: stdout to stdout,\n" +
			"stderr to stderr. \"last\" is the most recent execution.",
		Args: exactArgs(1, "an execution ID or \"last\""),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch outputType {
			case "", "all", "stdout", "stderr":
			default:
				return usageErrorf("--type must be stdout, stderr or all, not %q", outputType)
			}
			if outputType == "all" {
				outputType = ""
			}
			cl, s, err := apiClient(cmd)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			id := args[0]
			if id == "last" {
				execs, _, err := cl.ListExecutions(ctx, ExecutionFilter{Limit: 1})
				if err != nil {
					return s.explain(err)
				}
				if len(execs) == 0 {
					return errors.New("no executions yet")
				}
				id = execs[0].ID
			}
			out, errw := cmd.OutOrStdout(), cmd.ErrOrStderr()
			if err := cl.StreamOutput(ctx, id, outputType, writeOutput(out, errw)); err != nil {
				return s.explain(err)
			}
			e, err := cl.GetExecution(ctx, id)
			if err != nil {
				return s.explain(err)
			}
			fmt.Fprintf(errw, "Execution %s has completed (status=%s).\n", e.ID, e.Status)
			return nil
		},
	}
	c.Flags().StringVar(&outputType, "type", "", "only this output: stdout or stderr (default both)")
	return c
}

// printActionHelp describes an action's parameters like `st2 run <ref> -h`:
// required ones first, then optional; immutable ones are not the caller's
// to set and are left out.
func printActionHelp(cmd *cobra.Command, ref string) error {
	cl, s, err := apiClient(cmd)
	if err != nil {
		return err
	}
	a, err := cl.GetAction(cmd.Context(), ref)
	if err != nil {
		return s.explain(err)
	}
	params := map[string]map[string]any{}
	immutable := map[string]bool{}
	// The runner's parameters are part of the action's interface; a server
	// that cannot describe the runner still lets us show the action's own.
	if rt, err := cl.GetRunnerType(cmd.Context(), a.RunnerType); err == nil {
		for k, v := range rt.RunnerParameters {
			params[k] = v
			if b, _ := v["immutable"].(bool); b {
				immutable[k] = true
			}
		}
	}
	for k, v := range a.Parameters {
		merged := map[string]any{}
		for kk, vv := range params[k] {
			merged[kk] = vv
		}
		for kk, vv := range v {
			merged[kk] = vv
		}
		params[k] = merged
		if b, _ := v["immutable"].(bool); b {
			immutable[k] = true
		}
	}
	var required, optional []string
	for k, v := range params {
		if immutable[k] {
			continue
		}
		if b, _ := v["required"].(bool); b {
			required = append(required, k)
		} else {
			optional = append(optional, k)
		}
	}
	sortParams(required, params)
	sortParams(optional, params)

	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "\n%s\n\n", wrap(a.Description, 78, ""))
	for _, group := range []struct {
		title string
		names []string
	}{{"Required Parameters:", required}, {"Optional Parameters:", optional}} {
		if len(group.names) == 0 {
			continue
		}
		fmt.Fprintln(out, group.title)
		for _, n := range group.names {
			p := params[n]
			fmt.Fprintf(out, "    %s\n", n)
			if d, _ := p["description"].(string); d != "" {
				fmt.Fprintln(out, wrap(d, 78, "        "))
			}
			if t, ok := p["type"]; ok {
				fmt.Fprintf(out, "        Type: %v\n", t)
			}
			if e, ok := p["enum"].([]any); ok && len(e) > 0 {
				vals := make([]string, len(e))
				for i, v := range e {
					vals[i] = fmt.Sprint(v)
				}
				fmt.Fprintln(out, wrap("Enum: "+strings.Join(vals, ", "), 78, "        "))
			}
			if d, ok := p["default"]; ok && d != nil {
				fmt.Fprintln(out, wrap("Default: "+compactDefault(d), 78, "        "))
			}
			fmt.Fprintln(out)
		}
	}
	return nil
}

func compactDefault(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return compactJSON(v)
}

// sortParams orders by the "position" attribute first (positional
// parameters), then by name, as st2 does.
func sortParams(names []string, params map[string]map[string]any) {
	pos := func(n string) (float64, bool) {
		f, ok := params[n]["position"].(float64)
		return f, ok
	}
	sort.Slice(names, func(i, j int) bool {
		pi, oki := pos(names[i])
		pj, okj := pos(names[j])
		switch {
		case oki && okj && pi != pj:
			return pi < pj
		case oki != okj:
			return oki
		}
		return names[i] < names[j]
	})
}

// wrap breaks text into lines of at most width characters, each prefixed.
func wrap(text string, width int, prefix string) string {
	words := strings.Fields(text)
	if len(words) == 0 {
		return prefix
	}
	var lines []string
	line := prefix + words[0]
	for _, w := range words[1:] {
		if len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = prefix + w
			continue
		}
		line += " " + w
	}
	return strings.Join(append(lines, line), "\n")
}
