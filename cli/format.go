package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"gopkg.in/yaml.v3"
)

// printJSON pretty-prints raw JSON as the server sent it (field order kept).
func printJSON(w io.Writer, raw json.RawMessage) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return fmt.Errorf("format JSON: %w", err)
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

// printJSONList prints a list of raw objects as one pretty JSON array.
func printJSONList(w io.Writer, raws []json.RawMessage) error {
	if raws == nil {
		raws = []json.RawMessage{}
	}
	b, err := json.Marshal(raws)
	if err != nil {
		return fmt.Errorf("format JSON: %w", err)
	}
	return printJSON(w, b)
}

// printValueJSON pretty-prints a Go value.
func printValueJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("format JSON: %w", err)
	}
	return printJSON(w, b)
}

// printTable prints rows under a header with aligned columns, the st2
// attribute names as column titles.
func printTable(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		cells := make([]string, len(r))
		for i, c := range r {
			// A tab or newline inside a cell would break the alignment.
			cells[i] = strings.NewReplacer("\t", " ", "\r\n", " ", "\n", " ").Replace(c)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// prop is one "name: value" line of a detail view.
type prop struct {
	name  string
	value any
}

// printProps prints a detail view the way st2 prints an execution: scalars
// on the line, maps and lists as indented YAML below their name.
func printProps(w io.Writer, props []prop) error {
	var b strings.Builder
	for _, p := range props {
		b.WriteString(p.name)
		b.WriteString(":")
		b.WriteString(formatPropValue(p.value))
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func formatPropValue(v any) string {
	switch x := v.(type) {
	case nil:
		return " "
	case string:
		if strings.Contains(x, "\n") {
			return "\n" + indent(strings.TrimRight(x, "\n"), "  ")
		}
		return " " + x
	case map[string]any:
		if len(x) == 0 {
			return " {}"
		}
		return "\n" + indent(toYAML(x), "  ")
	case []any:
		if len(x) == 0 {
			return " []"
		}
		return "\n" + indent(toYAML(x), "  ")
	case []string:
		if len(x) == 0 {
			return " []"
		}
		return "\n" + indent(toYAML(x), "  ")
	case map[string]map[string]any:
		if len(x) == 0 {
			return " {}"
		}
		return "\n" + indent(toYAML(x), "  ")
	default:
		return " " + strings.TrimRight(toYAML(x), "\n")
	}
}

func toYAML(v any) string {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		// Every value here came out of encoding/json, which yaml can encode;
		// fall back to JSON rather than hide data if that ever changes.
		b, _ := json.Marshal(v)
		return string(b)
	}
	_ = enc.Close()
	return strings.TrimRight(buf.String(), "\n")
}

func indent(s, pre string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = pre + l
		}
	}
	return strings.Join(lines, "\n")
}

// formatTimestamp shows an API timestamp like st2 does (UTC, RFC 1123
// style); unparsable values are shown as they are.
func formatTimestamp(s string) string {
	if s == "" {
		return ""
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return s
	}
	return t.UTC().Format("Mon, 02 Jan 2006 15:04:05 MST")
}

// formatStatus adds the elapsed seconds to running and completed statuses,
// as st2 shows them ("succeeded (3s elapsed)").
func formatStatus(e *Execution, now time.Time) string {
	start, err := time.Parse(time.RFC3339Nano, e.StartTimestamp)
	if err != nil {
		return e.Status
	}
	switch {
	case e.Status == "running":
		return fmt.Sprintf("%s (%ds elapsed)", e.Status, int(now.Sub(start).Seconds()))
	case e.Completed():
		if e.ElapsedSeconds > 0 {
			return fmt.Sprintf("%s (%ds elapsed)", e.Status, int(e.ElapsedSeconds))
		}
		end, err := time.Parse(time.RFC3339Nano, e.EndTimestamp)
		if err != nil {
			return e.Status
		}
		return fmt.Sprintf("%s (%ds elapsed)", e.Status, int(end.Sub(start).Seconds()))
	}
	return e.Status
}

// Parameters whose values the CLI never prints (st2's list).
var maskedParameters = map[string]bool{"password": true, "private_key": true}

func maskParameters(p map[string]any) map[string]any {
	if p == nil {
		return nil
	}
	out := make(map[string]any, len(p))
	for k, v := range p {
		if maskedParameters[k] {
			v = "********"
		}
		out[k] = v
	}
	return out
}

// executionProps is the detail view of an execution (st2 run / execution
// get): identity, who ran what with which parameters, status, times, result.
func executionProps(e *Execution, now time.Time) []prop {
	props := []prop{
		{"id", e.ID},
		{"action.ref", e.ActionRef()},
		{"context.user", e.User()},
		{"parameters", maskParameters(e.Parameters)},
		{"status", formatStatus(e, now)},
		{"start_timestamp", formatTimestamp(e.StartTimestamp)},
		{"end_timestamp", formatTimestamp(e.EndTimestamp)},
	}
	if e.WebURL != "" {
		props = append(props, prop{"web_url", e.WebURL})
	}
	return append(props, prop{"result", e.Result})
}

// compactJSON renders a small value on one line for a table cell.
func compactJSON(v any) string {
	if v == nil {
		return ""
	}
	if m, ok := v.(map[string]any); ok && len(m) == 0 {
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
