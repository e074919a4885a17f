package cli

import (
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"
)

func newActionCmd() *cobra.Command {
	c := &cobra.Command{
		Use:     "action",
		Aliases: []string{"actions"},
		Short:   "Actions: list, get",
	}
	var pack string
	var listJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List actions",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, s, err := apiClient(cmd)
			if err != nil {
				return err
			}
			actions, err := cl.ListActions(cmd.Context(), pack)
			if err != nil {
				return s.explain(err)
			}
			out := cmd.OutOrStdout()
			if listJSON {
				raws := make([]json.RawMessage, len(actions))
				for i, a := range actions {
					raws[i] = a.Raw
				}
				return printJSONList(out, raws)
			}
			rows := make([][]string, len(actions))
			for i, a := range actions {
				rows[i] = []string{a.Ref, a.Pack, a.Description}
			}
			return printTable(out, []string{"ref", "pack", "description"}, rows)
		},
	}
	list.Flags().StringVarP(&pack, "pack", "p", "", "only the actions of this pack")
	list.Flags().BoolVarP(&listJSON, "json", "j", false, "print the API's JSON")

	var getJSON bool
	get := &cobra.Command{
		Use:   "get <ref>",
		Short: "Show an action and its parameters",
		Args:  exactArgs(1, "an action reference (pack.action)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, s, err := apiClient(cmd)
			if err != nil {
				return err
			}
			a, err := cl.GetAction(cmd.Context(), args[0])
			if err != nil {
				return s.explain(err)
			}
			out := cmd.OutOrStdout()
			if getJSON {
				return printJSON(out, a.Raw)
			}
			return printProps(out, []prop{
				{"id", a.ID}, {"uid", a.UID}, {"ref", a.Ref}, {"pack", a.Pack}, {"name", a.Name},
				{"description", a.Description}, {"enabled", a.Enabled}, {"entry_point", a.EntryPoint},
				{"runner_type", a.RunnerType}, {"parameters", a.Parameters},
			})
		},
	}
	get.Flags().BoolVarP(&getJSON, "json", "j", false, "print the API's JSON")
	c.AddCommand(list, get)
	return c
}

func newPackCmd() *cobra.Command {
	c := &cobra.Command{
		Use:     "pack",
		Aliases: []string{"packs"},
		Short:   "Packs: list, get, register",
	}
	var listJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List registered packs",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, s, err := apiClient(cmd)
			if err != nil {
				return err
			}
			packs, err := cl.ListPacks(cmd.Context())
			if err != nil {
				return s.explain(err)
			}
			out := cmd.OutOrStdout()
			if listJSON {
				raws := make([]json.RawMessage, len(packs))
				for i, p := range packs {
					raws[i] = p.Raw
				}
				return printJSONList(out, raws)
			}
			rows := make([][]string, len(packs))
			for i, p := range packs {
				rows[i] = []string{p.Ref, p.Name, p.Description, p.Version, p.Author}
			}
			return printTable(out, []string{"ref", "name", "description", "version", "author"}, rows)
		},
	}
	list.Flags().BoolVarP(&listJSON, "json", "j", false, "print the API's JSON")

	var getJSON bool
	get := &cobra.Command{
		Use:   "get <ref>",
		Short: "Show a registered pack",
		Args:  exactArgs(1, "a pack reference"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, s, err := apiClient(cmd)
			if err != nil {
				return err
			}
			p, err := cl.GetPack(cmd.Context(), args[0])
			if err != nil {
				return s.explain(err)
			}
			out := cmd.OutOrStdout()
			if getJSON {
				return printJSON(out, p.Raw)
			}
			kw := make([]any, len(p.Keywords))
			for i, k := range p.Keywords {
				kw[i] = k
			}
			return printProps(out, []prop{
				{"ref", p.Ref}, {"name", p.Name}, {"version", p.Version}, {"author", p.Author},
				{"email", p.Email}, {"keywords", kw}, {"description", p.Description}, {"path", p.Path},
			})
		},
	}
	get.Flags().BoolVarP(&getJSON, "json", "j", false, "print the API's JSON")

	var types []string
	var regJSON bool
	register := &cobra.Command{
		Use:   "register [dir ...]",
		Short: "Register (or reload) packs from directories the server can read",
		Long: "Asks the server to load packs from the given directories, made absolute here; the\n" +
			"server, not this machine, reads them. Without directories the server reloads the packs\n" +
			"under its configured packs paths.",
		RunE: func(cmd *cobra.Command, args []string) error {
			dirs := make([]string, len(args))
			for i, d := range args {
				abs, err := filepath.Abs(d)
				if err != nil {
					return fmt.Errorf("pack directory %q: %w", d, err)
				}
				dirs[i] = abs
			}
			cl, s, err := apiClient(cmd)
			if err != nil {
				return err
			}
			counts, err := cl.RegisterPacks(cmd.Context(), dirs, types)
			if err != nil {
				return s.explain(err)
			}
			out := cmd.OutOrStdout()
			if regJSON {
				return printValueJSON(out, counts)
			}
			rows := make([][]string, 0, len(counts))
			for _, k := range sortedKeys(counts) {
				rows = append(rows, []string{k, fmt.Sprint(counts[k])})
			}
			return printTable(out, []string{"property", "value"}, rows)
		},
	}
	register.Flags().StringSliceVar(&types, "types", nil, "only these content types (actions, rules, sensors, triggers, aliases, policies)")
	register.Flags().BoolVarP(&regJSON, "json", "j", false, "print the API's JSON")

	c.AddCommand(list, get, register)
	return c
}
