package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
)

// rawsOf collects the API JSON of a list for -j output.
func rawsOf[T any](items []T, raw func(*T) json.RawMessage) []json.RawMessage {
	out := make([]json.RawMessage, len(items))
	for i := range items {
		out[i] = raw(&items[i])
	}
	return out
}

// noteMore tells on stderr that a list was cut at its limit.
func noteMore(cmd *cobra.Command, shown, total int, what string) {
	if total > shown && shown > 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "Note: only the %d most recent of %d %s are shown; use -n/--last for more.\n", shown, total, what)
	}
}

// newTriggerCmd is `squall trigger`: as in st2, "triggers" on the command
// line are trigger types.
func newTriggerCmd() *cobra.Command {
	c := &cobra.Command{
		Use:     "trigger",
		Aliases: []string{"triggers"},
		Short:   "Trigger types: list, get",
	}
	var pack string
	var listJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List trigger types",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, s, err := apiClient(cmd)
			if err != nil {
				return err
			}
			tts, err := cl.ListTriggerTypes(cmd.Context(), pack)
			if err != nil {
				return s.explain(err)
			}
			out := cmd.OutOrStdout()
			if listJSON {
				return printJSONList(out, rawsOf(tts, func(t *TriggerType) json.RawMessage { return t.Raw }))
			}
			rows := make([][]string, len(tts))
			for i, t := range tts {
				rows[i] = []string{t.Ref, t.Pack, t.Description}
			}
			return printTable(out, []string{"ref", "pack", "description"}, rows)
		},
	}
	list.Flags().StringVarP(&pack, "pack", "p", "", "only the trigger types of this pack")
	list.Flags().BoolVarP(&listJSON, "json", "j", false, "print the API's JSON")

	var getJSON bool
	get := &cobra.Command{
		Use:   "get <ref>",
		Short: "Show a trigger type and its schemas",
		Args:  exactArgs(1, "a trigger type reference (pack.name)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, s, err := apiClient(cmd)
			if err != nil {
				return err
			}
			t, err := cl.GetTriggerType(cmd.Context(), args[0])
			if err != nil {
				return s.explain(err)
			}
			out := cmd.OutOrStdout()
			if getJSON {
				return printJSON(out, t.Raw)
			}
			return printProps(out, []prop{
				{"id", t.ID}, {"ref", t.Ref}, {"pack", t.Pack}, {"name", t.Name}, {"description", t.Description},
				{"parameters_schema", nonNil(t.ParametersSchema)}, {"payload_schema", nonNil(t.PayloadSchema)},
			})
		},
	}
	get.Flags().BoolVarP(&getJSON, "json", "j", false, "print the API's JSON")
	c.AddCommand(list, get)
	return c
}

func nonNil(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

func newTriggerInstanceCmd() *cobra.Command {
	c := &cobra.Command{
		Use:     "trigger-instance",
		Aliases: []string{"trigger-instances"},
		Short:   "Trigger instances (recorded events): list, get, re-emit",
	}
	var f TriggerInstanceFilter
	var listJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List the most recent trigger instances (50 by default), oldest first",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, s, err := apiClient(cmd)
			if err != nil {
				return err
			}
			tis, total, err := cl.ListTriggerInstances(cmd.Context(), f)
			if err != nil {
				return s.explain(err)
			}
			out := cmd.OutOrStdout()
			if listJSON {
				return printJSONList(out, rawsOf(tis, func(t *TriggerInstance) json.RawMessage { return t.Raw }))
			}
			rows := make([][]string, 0, len(tis))
			for i := len(tis) - 1; i >= 0; i-- { // newest last, like execution list
				t := tis[i]
				rows = append(rows, []string{t.ID, t.Trigger, t.TriggerType, formatTimestamp(t.OccurrenceTime), t.Status})
			}
			if err := printTable(out, []string{"id", "trigger", "trigger_type", "occurrence_time", "status"}, rows); err != nil {
				return err
			}
			noteMore(cmd, len(tis), total, "trigger instances")
			return nil
		},
	}
	fl := list.Flags()
	fl.StringVar(&f.Trigger, "trigger", "", "only instances of this trigger (ref)")
	fl.StringVarP(&f.TriggerType, "trigger-type", "t", "", "only instances of this trigger type (ref)")
	fl.StringVarP(&f.Status, "status", "s", "", "only instances with this status (pending, processing, processed, processing_failed)")
	fl.StringVar(&f.TimestampGT, "timestamp-gt", "", "only instances that occurred after this time (ISO 8601)")
	fl.StringVar(&f.TimestampLT, "timestamp-lt", "", "only instances that occurred before this time (ISO 8601)")
	fl.IntVarP(&f.Limit, "last", "n", 50, "how many of the most recent instances")
	fl.BoolVarP(&listJSON, "json", "j", false, "print the API's JSON")

	var getJSON bool
	get := &cobra.Command{
		Use:   "get <id>",
		Short: "Show a trigger instance and its payload",
		Args:  exactArgs(1, "a trigger instance ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, s, err := apiClient(cmd)
			if err != nil {
				return err
			}
			t, err := cl.GetTriggerInstance(cmd.Context(), args[0])
			if err != nil {
				return s.explain(err)
			}
			out := cmd.OutOrStdout()
			if getJSON {
				return printJSON(out, t.Raw)
			}
			props := []prop{{"id", t.ID}, {"trigger", t.Trigger}, {"trigger_type", t.TriggerType}}
			if len(t.TriggerParams) > 0 {
				props = append(props, prop{"trigger_params", t.TriggerParams})
			}
			props = append(props, prop{"occurrence_time", formatTimestamp(t.OccurrenceTime)},
				prop{"status", t.Status}, prop{"trace_tag", t.TraceTag}, prop{"payload", nonNil(t.Payload)})
			return printProps(out, props)
		},
	}
	get.Flags().BoolVarP(&getJSON, "json", "j", false, "print the API's JSON")

	reEmit := &cobra.Command{
		Use:   "re-emit <id>",
		Short: "Send a trigger instance's payload again as a new event",
		Long: "Dispatches a new event of the same trigger with the instance's payload; the payload gains\n" +
			"__context.original_id naming the instance it replays, as in st2.",
		Args: exactArgs(1, "a trigger instance ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, s, err := apiClient(cmd)
			if err != nil {
				return err
			}
			r, err := cl.ReEmitTriggerInstance(cmd.Context(), args[0])
			if err != nil {
				return s.explain(err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), r.Message)
			return nil
		},
	}
	c.AddCommand(list, get, reEmit)
	return c
}
