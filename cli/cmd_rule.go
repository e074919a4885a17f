package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/squall-automation/squall/pack"
	"github.com/squall-automation/squall/rules"
)

func newRuleCmd() *cobra.Command {
	c := &cobra.Command{
		Use:     "rule",
		Aliases: []string{"rules"},
		Short:   "Rules: list, get, create, delete, enable, disable, test",
	}
	c.AddCommand(newRuleListCmd(), newRuleGetCmd(), newRuleCreateCmd(), newRuleDeleteCmd(),
		newRuleEnableCmd(true), newRuleEnableCmd(false), newRuleTestCmd())
	return c
}

func newRuleListCmd() *cobra.Command {
	var f RuleFilter
	var asJSON bool
	c := &cobra.Command{
		Use:   "list",
		Short: "List rules",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, s, err := apiClient(cmd)
			if err != nil {
				return err
			}
			rs, _, err := cl.ListRules(cmd.Context(), f)
			if err != nil {
				return s.explain(err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSONList(out, rawsOf(rs, func(r *Rule) json.RawMessage { return r.Raw }))
			}
			rows := make([][]string, len(rs))
			for i, r := range rs {
				rows[i] = []string{r.Ref, r.Pack, r.Description, fmt.Sprint(r.Enabled)}
			}
			return printTable(out, []string{"ref", "pack", "description", "enabled"}, rows)
		},
	}
	fl := c.Flags()
	fl.StringVarP(&f.Pack, "pack", "p", "", "only the rules of this pack")
	fl.StringVarP(&f.Trigger, "trigger", "t", "", "only the rules of this trigger type (ref)")
	fl.StringVarP(&f.Action, "action", "a", "", "only the rules that run this action (ref)")
	fl.StringVar(&f.Enabled, "enabled", "", "only enabled (true) or disabled (false) rules")
	fl.BoolVarP(&asJSON, "json", "j", false, "print the API's JSON")
	return c
}

// ruleProps is the detail view of a rule.
func ruleProps(r *Rule) []prop {
	props := []prop{
		{"id", r.ID}, {"uid", r.UID}, {"ref", r.Ref}, {"pack", r.Pack}, {"name", r.Name},
		{"description", r.Description}, {"enabled", r.Enabled}, {"trigger", nonNil(r.Trigger)},
		{"criteria", nonNil(r.Criteria)},
	}
	if r.When != "" {
		props = append(props, prop{"when", r.When})
	}
	return append(props, prop{"action", nonNil(r.Action)})
}

func newRuleGetCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "get <ref>",
		Short: "Show a rule",
		Args:  exactArgs(1, "a rule reference (pack.name) or ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, s, err := apiClient(cmd)
			if err != nil {
				return err
			}
			r, err := cl.GetRule(cmd.Context(), args[0])
			if err != nil {
				return s.explain(err)
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), r.Raw)
			}
			return printProps(cmd.OutOrStdout(), ruleProps(r))
		},
	}
	c.Flags().BoolVarP(&asJSON, "json", "j", false, "print the API's JSON")
	return c
}

func newRuleCreateCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "create <file.yaml|file.json>",
		Short: "Create a rule from its metadata file (st2's format)",
		Long: "Sends the rule in the file to the server, which validates it (trigger type, parameters,\n" +
			"criteria, Jinja, CEL `when`) and answers with what is wrong. Without `pack:` the rule goes\n" +
			"to the \"default\" pack; without `enabled: true` it is created disabled, as in st2.",
		Args: exactArgs(1, "a rule file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			doc, err := readDocFile(args[0])
			if err != nil {
				return err
			}
			cl, s, err := apiClient(cmd)
			if err != nil {
				return err
			}
			r, err := cl.CreateRule(cmd.Context(), doc)
			if err != nil {
				return s.explain(err)
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), r.Raw)
			}
			return printProps(cmd.OutOrStdout(), ruleProps(r))
		},
	}
	c.Flags().BoolVarP(&asJSON, "json", "j", false, "print the API's JSON")
	return c
}

func newRuleDeleteCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "delete <ref>",
		Short: "Delete a rule",
		Args:  exactArgs(1, "a rule reference (pack.name) or ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, s, err := apiClient(cmd)
			if err != nil {
				return err
			}
			if err := cl.DeleteRule(cmd.Context(), args[0]); err != nil {
				return s.explain(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Rule %q has been deleted.\n", args[0])
			return nil
		},
	}
}

func newRuleEnableCmd(enable bool) *cobra.Command {
	use, short := "enable", "Enable a rule"
	if !enable {
		use, short = "disable", "Disable a rule"
	}
	var asJSON bool
	c := &cobra.Command{
		Use:   use + " <ref>",
		Short: short,
		Args:  exactArgs(1, "a rule reference (pack.name) or ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, s, err := apiClient(cmd)
			if err != nil {
				return err
			}
			r, err := cl.SetRuleEnabled(cmd.Context(), args[0], enable)
			if err != nil {
				return s.explain(err)
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), r.Raw)
			}
			return printProps(cmd.OutOrStdout(), ruleProps(r))
		},
	}
	c.Flags().BoolVarP(&asJSON, "json", "j", false, "print the API's JSON")
	return c
}

// readDocFile reads a YAML or JSON metadata file into JSON-shaped data.
func readDocFile(path string) (map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var doc any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	m, ok := rules.PlainData(doc).(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: must hold a mapping (a rule document)", path)
	}
	return m, nil
}

// ruleFromDoc reads a rule document (a file or the API's JSON) into the
// pack model the rules engine compiles.
func ruleFromDoc(doc map[string]any, where string) (pack.Rule, error) {
	data, err := json.Marshal(doc)
	if err != nil {
		return pack.Rule{}, fmt.Errorf("%s: %w", where, err)
	}
	var r pack.Rule
	if err := json.Unmarshal(data, &r); err != nil {
		return pack.Rule{}, fmt.Errorf("%s: not a rule: %w", where, err)
	}
	if r.Pack == "" {
		r.Pack = "default"
	}
	if r.Ref == "" {
		r.Ref = r.Pack + "." + r.Name
	}
	return r, nil
}

func newRuleTestCmd() *cobra.Command {
	var ruleFile, ruleRef, tiFile, tiID string
	c := &cobra.Command{
		Use:   "test --rule <file> | --rule-ref <ref>  --trigger-instance <file> | --trigger-instance-id <id>",
		Short: "Tell whether a trigger instance matches a rule (st2-rule-tester)",
		Long: "Evaluates the rule's criteria and `when` condition against the trigger instance and renders\n" +
			"the action parameters, without running anything. Files are st2-rule-tester's: a rule in\n" +
			"st2's metadata format and a trigger instance {trigger: <trigger type ref>, payload: {...}},\n" +
			"YAML or JSON; with files only, no server is needed. --rule-ref and --trigger-instance-id\n" +
			"read them from the API instead.\n" +
			"Exits 0 when the rule matches, 1 when it does not (or on an error).",
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (ruleFile == "") == (ruleRef == "") {
				return usageErrorf("give one of --rule and --rule-ref")
			}
			if (tiFile == "") == (tiID == "") {
				return usageErrorf("give one of --trigger-instance and --trigger-instance-id")
			}
			var cl *Client
			var st *settings
			if ruleRef != "" || tiID != "" {
				var err error
				if cl, st, err = apiClient(cmd); err != nil {
					return err
				}
			}
			var rule pack.Rule
			if ruleFile != "" {
				doc, err := readDocFile(ruleFile)
				if err != nil {
					return err
				}
				if rule, err = ruleFromDoc(doc, ruleFile); err != nil {
					return err
				}
			} else {
				r, err := cl.GetRule(cmd.Context(), ruleRef)
				if err != nil {
					return st.explain(err)
				}
				var doc map[string]any
				if err := json.Unmarshal(r.Raw, &doc); err != nil {
					return fmt.Errorf("decode rule %s: %w", ruleRef, err)
				}
				if rule, err = ruleFromDoc(doc, "rule "+ruleRef); err != nil {
					return err
				}
			}
			var ti map[string]any
			var tiParams map[string]any
			if tiFile != "" {
				data, err := os.ReadFile(tiFile)
				if err != nil {
					return fmt.Errorf("read %s: %w", tiFile, err)
				}
				if ti, err = rules.ReadTriggerInstance(data); err != nil {
					return fmt.Errorf("%s: %w", tiFile, err)
				}
			} else {
				t, err := cl.GetTriggerInstance(cmd.Context(), tiID)
				if err != nil {
					return st.explain(err)
				}
				// The rules engine matches on the trigger type; the API's
				// "trigger" is the trigger object's ref.
				ref := t.TriggerType
				if ref == "" {
					ref = t.Trigger
				}
				ti = map[string]any{"id": t.ID, "trigger": ref, "payload": nonNil(t.Payload)}
				tiParams = t.TriggerParams
			}
			res, err := rules.Test(rule, ti)
			if err != nil {
				return err
			}
			// A recorded instance knows its trigger's parameters too (a
			// webhook's url): another url is another trigger.
			if res.Matched && tiParams != nil {
				rk, err1 := rules.TriggerKey(rule.Trigger.Type, rule.Trigger.Parameters)
				tk, err2 := rules.TriggerKey(rule.Trigger.Type, tiParams)
				if err1 == nil && err2 == nil && rk != tk {
					res = rules.Result{Reason: fmt.Sprintf("the rule's trigger parameters %s are not the trigger instance's %s",
						compactJSON(nonNil(rule.Trigger.Parameters)), compactJSON(tiParams))}
				}
			}
			printTestResult(cmd, rule, res)
			if !res.Matched {
				return &exitError{ExitError}
			}
			return nil
		},
	}
	fl := c.Flags()
	fl.StringVar(&ruleFile, "rule", "", "rule file (YAML or JSON)")
	fl.StringVar(&ruleRef, "rule-ref", "", "registered rule to test (ref or ID)")
	fl.StringVar(&tiFile, "trigger-instance", "", "trigger instance file (YAML or JSON)")
	fl.StringVar(&tiID, "trigger-instance-id", "", "recorded trigger instance to test against (ID)")
	return c
}

func printTestResult(cmd *cobra.Command, rule pack.Rule, res rules.Result) {
	out := cmd.OutOrStdout()
	if res.Matched {
		fmt.Fprintln(out, "=== RULE MATCHES ===")
		_ = printProps(out, []prop{
			{"rule", rule.Ref}, {"action.ref", rule.Action.Ref}, {"action.parameters", nonNil(res.ActionParams)},
		})
		return
	}
	fmt.Fprintln(out, "=== RULE DOES NOT MATCH ===")
	props := []prop{{"rule", rule.Ref}}
	if res.FailedCriterion != "" {
		props = append(props, prop{"failed criterion", res.FailedCriterion})
	}
	if res.Reason != "" {
		props = append(props, prop{"reason", res.Reason})
	}
	if res.Err != nil && !strings.Contains(res.Reason, res.Err.Error()) {
		props = append(props, prop{"error", res.Err.Error()})
	}
	_ = printProps(out, props)
}

func newRuleEnforcementCmd() *cobra.Command {
	c := &cobra.Command{
		Use:     "rule-enforcement",
		Aliases: []string{"rule-enforcements"},
		Short:   "Rule enforcements (what rules did with trigger instances): list, get",
	}
	var f EnforcementFilter
	var listJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List the most recent rule enforcements (50 by default), oldest first",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, s, err := apiClient(cmd)
			if err != nil {
				return err
			}
			res, total, err := cl.ListRuleEnforcements(cmd.Context(), f)
			if err != nil {
				return s.explain(err)
			}
			out := cmd.OutOrStdout()
			if listJSON {
				return printJSONList(out, rawsOf(res, func(r *RuleEnforcement) json.RawMessage { return r.Raw }))
			}
			rows := make([][]string, 0, len(res))
			for i := len(res) - 1; i >= 0; i-- {
				r := res[i]
				rows = append(rows, []string{r.ID, r.Rule.Ref, r.TriggerInstanceID, r.ExecutionID, r.Status, formatTimestamp(r.EnforcedAt)})
			}
			if err := printTable(out, []string{"id", "rule.ref", "trigger_instance_id", "execution_id", "status", "enforced_at"}, rows); err != nil {
				return err
			}
			noteMore(cmd, len(res), total, "rule enforcements")
			return nil
		},
	}
	fl := list.Flags()
	fl.StringVarP(&f.Rule, "rule", "r", "", "only enforcements of this rule (ref or ID)")
	fl.StringVar(&f.TriggerInstance, "trigger-instance", "", "only enforcements for this trigger instance (ID)")
	fl.StringVarP(&f.Execution, "execution", "e", "", "only the enforcement that started this execution (ID)")
	fl.StringVar(&f.EnforcedAtGT, "enforced-at-gt", "", "only enforcements after this time (ISO 8601)")
	fl.StringVar(&f.EnforcedAtLT, "enforced-at-lt", "", "only enforcements before this time (ISO 8601)")
	fl.IntVarP(&f.Limit, "last", "n", 50, "how many of the most recent enforcements")
	fl.BoolVarP(&listJSON, "json", "j", false, "print the API's JSON")

	var getJSON bool
	get := &cobra.Command{
		Use:   "get <id>",
		Short: "Show a rule enforcement",
		Args:  exactArgs(1, "a rule enforcement ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, s, err := apiClient(cmd)
			if err != nil {
				return err
			}
			r, err := cl.GetRuleEnforcement(cmd.Context(), args[0])
			if err != nil {
				return s.explain(err)
			}
			if getJSON {
				return printJSON(cmd.OutOrStdout(), r.Raw)
			}
			return printProps(cmd.OutOrStdout(), []prop{
				{"id", r.ID}, {"rule.ref", r.Rule.Ref}, {"rule.id", r.Rule.ID},
				{"trigger_instance_id", r.TriggerInstanceID}, {"execution_id", r.ExecutionID},
				{"status", r.Status}, {"failure_reason", r.FailureReason}, {"enforced_at", formatTimestamp(r.EnforcedAt)},
			})
		},
	}
	get.Flags().BoolVarP(&getJSON, "json", "j", false, "print the API's JSON")
	c.AddCommand(list, get)
	return c
}
