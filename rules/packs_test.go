package rules

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/squall-automation/squall/internal/testenv"

	"gopkg.in/yaml.v3"

	"github.com/squall-automation/squall/pack"
)

// corpusRules reads the corpus' rules with the pack loader, or by hand when
// the loader refuses a pack for reasons that are not about rules.
func corpusRules(t *testing.T) []pack.Rule {
	t.Helper()
	corpus := testenv.ST2Packs(t)
	dirs, _ := filepath.Glob(filepath.Join(corpus, "*", "rules"))
	var out []pack.Rule
	for _, rd := range dirs {
		dir := filepath.Dir(rd)
		p, err := pack.Load(dir, pack.LoadOptions{SkipEntryPointCheck: true})
		if err == nil {
			out = append(out, p.Rules...)
			continue
		}
		t.Logf("pack loader refused %s (%v); reading its rules by hand", dir, err)
		files, _ := filepath.Glob(filepath.Join(rd, "*.yaml"))
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var raw struct {
				Name     string         `yaml:"name"`
				Pack     string         `yaml:"pack"`
				Enabled  bool           `yaml:"enabled"`
				Trigger  map[string]any `yaml:"trigger"`
				Criteria map[string]any `yaml:"criteria"`
				Action   map[string]any `yaml:"action"`
			}
			if err := yaml.Unmarshal(data, &raw); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			r := pack.Rule{Name: raw.Name, Pack: raw.Pack, Ref: raw.Pack + "." + raw.Name, Enabled: raw.Enabled, Criteria: raw.Criteria}
			r.Trigger.Type, _ = raw.Trigger["type"].(string)
			r.Trigger.Parameters, _ = raw.Trigger["parameters"].(map[string]any)
			r.Action.Ref, _ = raw.Action["ref"].(string)
			r.Action.Parameters, _ = raw.Action["parameters"].(map[string]any)
			out = append(out, r)
		}
	}
	return out
}

func TestCorpusRulesCompile(t *testing.T) {
	rules := corpusRules(t)
	if len(rules) < 9 {
		t.Fatalf("read %d rules from the corpus, want at least 9", len(rules))
	}
	compiled := map[string]*Rule{}
	for _, r := range rules {
		cr, err := Compile(r)
		if err != nil {
			t.Errorf("%s: %v", r.Ref, err)
			continue
		}
		compiled[cr.Ref] = cr
	}
	for _, ref := range []string{"examples.sample_rule_with_webhook", "hello_st2.on_hello_event1", "chatops.notify", "chatops.notify-errbot"} {
		if compiled[ref] == nil {
			t.Errorf("rule %s missing from the corpus", ref)
		}
	}

	// The webhook sample behaves as documented on an event.
	if r := compiled["examples.sample_rule_with_webhook"]; r != nil {
		ix := NewIndex([]*Rule{r})
		got := ix.Match("core.st2.webhook", map[string]any{"url": "sample"}, map[string]any{"body": map[string]any{"name": "st2"}}, nil)
		if len(got) != 1 || !got[0].Matched {
			t.Errorf("sample webhook: %+v", got)
		}
		if got := ix.Match("core.st2.webhook", map[string]any{"url": "sample"}, map[string]any{"body": map[string]any{"name": "x"}}, nil); len(got) != 0 {
			t.Errorf("sample webhook with another name matched")
		}
	}
	if r := compiled["chatops.notify-errbot"]; r != nil {
		payload := map[string]any{"route": "errbot", "execution_id": "e1", "data": map[string]any{"source_channel": "#ops", "user": "u", "source_context": map[string]any{}}}
		if res := r.Match(payload, nil); !res.Matched {
			t.Errorf("notify-errbot: %+v", res)
		}
		params, err := r.RenderActionParams(payload, nil)
		if err != nil || params["channel"] != "#ops" || params["route"] != "errbot" {
			t.Errorf("notify-errbot params: %v, %v", params, err)
		}
	}
}
