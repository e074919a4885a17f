package catalog

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/squall-automation/squall/internal/testenv"
	"github.com/squall-automation/squall/pack"
)

// testPack builds a pack with one or more items of every kind, as pack.Load
// would return it.
func testPack(ref string) *pack.Pack {
	raw := func(name string) map[string]any { return map[string]any{"name": name, "written": "as-is"} }
	return &pack.Pack{
		Ref:          ref,
		Name:         ref,
		Description:  "test pack " + ref,
		Version:      "1.0.0",
		Author:       "Squall",
		Email:        "dev@example.com",
		Keywords:     []string{"test", "demo"},
		Dependencies: []string{"core"},
		Path:         "/opt/packs/" + ref,
		Metadata:     map[string]any{"ref": ref, "version": "1.0.0"},
		ConfigSchema: map[string]any{"api_key": map[string]any{"type": "string", "secret": true}},
		Config:       map[string]any{"api_key": "s3cret", "region": "eu"},
		Actions: []pack.Action{
			{
				Name: "echo", Pack: ref, Ref: ref + ".echo", Description: "say it", Enabled: true,
				RunnerType:   "local-shell-cmd",
				Parameters:   pack.ParamSpecs{"cmd": {"type": "string", "default": "echo hi", "immutable": true}},
				Tags:         []any{map[string]any{"name": "x", "value": "y"}},
				MetadataFile: "actions/echo.yaml", Raw: raw("echo"),
			},
			{
				Name: "script", Pack: ref, Ref: ref + ".script", Enabled: false,
				RunnerType: "local-shell-script", EntryPoint: "script.sh",
				Parameters:   pack.ParamSpecs{"count": {"type": "integer", "position": 0}},
				MetadataFile: "actions/script.yaml", Raw: raw("script"),
			},
			{
				Name: "get", Pack: ref, Ref: ref + ".get", Enabled: true, RunnerType: "http-request",
				MetadataFile: "actions/get.yaml",
			},
		},
		Rules: []pack.Rule{
			{
				Name: "on_hook", Pack: ref, Ref: ref + ".on_hook", Enabled: true,
				Trigger:      pack.RuleTrigger{Type: "core.st2.webhook", Parameters: map[string]any{"url": ref}},
				Criteria:     map[string]any{"trigger.body.x": map[string]any{"type": "equals", "pattern": 1}},
				Action:       pack.RuleAction{Ref: ref + ".echo", Parameters: map[string]any{"cmd": "{{ trigger.body }}"}},
				MetadataFile: "rules/on_hook.yaml", Raw: raw("on_hook"),
			},
			{
				Name: "on_timer", Pack: ref, Ref: ref + ".on_timer", Enabled: false,
				Trigger: pack.RuleTrigger{Type: "core.st2.IntervalTimer"},
				Action:  pack.RuleAction{Ref: "core.local"},
			},
		},
		Sensors: []pack.Sensor{{
			Name: "Watcher", Pack: ref, Ref: ref + ".Watcher", Enabled: true, EntryPoint: "watcher.py",
			ClassName: "Watcher", PollInterval: 30, TriggerTypes: []string{ref + ".event"},
		}},
		TriggerTypes: []pack.TriggerType{{
			Name: "event", Pack: ref, Ref: ref + ".event",
			PayloadSchema: map[string]any{"type": "object"},
		}},
		Aliases: []pack.Alias{{
			Name: "say", Pack: ref, Ref: ref + ".say", Enabled: true, ActionRef: ref + ".echo",
			Formats: []any{"say {{ cmd }}"},
		}},
		Policies: []pack.Policy{{
			Name: "echo.concurrency", Pack: ref, Ref: ref + ".echo.concurrency", Enabled: true,
			ResourceRef: ref + ".echo", PolicyType: "action.concurrency",
			Parameters: map[string]any{"threshold": 2},
		}},
	}
}

func TestRegisterPackRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := New(testenv.Pool(t))
	p := testPack("demo")

	res, err := s.RegisterPack(ctx, p)
	if err != nil {
		t.Fatalf("RegisterPack: %v", err)
	}
	want := RegisterResult{Pack: "demo", Actions: 3, Rules: 2, Sensors: 1, TriggerTypes: 1, Aliases: 1, Policies: 1}
	if res != want {
		t.Fatalf("RegisterPack = %+v, want %+v", res, want)
	}

	pr, err := s.GetPack(ctx, "demo")
	if err != nil {
		t.Fatalf("GetPack: %v", err)
	}
	if !IsID(pr.ID) || pr.Version != "1.0.0" || pr.Path != p.Path || pr.Email != p.Email ||
		!reflect.DeepEqual(pr.Keywords, p.Keywords) || !reflect.DeepEqual(pr.Dependencies, p.Dependencies) ||
		pr.PythonVersions == nil || len(pr.PythonVersions) != 0 ||
		!reflect.DeepEqual(pr.Config, p.Config) || pr.RegisteredAt.IsZero() {
		t.Fatalf("GetPack = %+v", pr)
	}
	if byID, err := s.GetPack(ctx, pr.ID); err != nil || byID.Ref != "demo" {
		t.Fatalf("GetPack by ID = %+v, %v", byID, err)
	}

	a, err := s.GetAction(ctx, "demo.echo")
	if err != nil {
		t.Fatalf("GetAction: %v", err)
	}
	if !IsID(a.ID) || a.PackPath != p.Path || !reflect.DeepEqual(a.PackConfig, p.Config) {
		t.Fatalf("GetAction record = id %q path %q config %v", a.ID, a.PackPath, a.PackConfig)
	}
	if a.RunnerType != "local-shell-cmd" || !a.Enabled || a.Description != "say it" ||
		a.Parameters["cmd"]["default"] != "echo hi" || a.Parameters["cmd"]["immutable"] != true ||
		!reflect.DeepEqual(a.Raw, p.Actions[0].Raw) || a.MetadataFile != "actions/echo.yaml" {
		t.Fatalf("GetAction = %+v", a.Action)
	}
	if byID, err := s.GetAction(ctx, a.ID); err != nil || byID.Ref != "demo.echo" {
		t.Fatalf("GetAction by ID = %+v, %v", byID, err)
	}

	r, err := s.GetRule(ctx, "demo.on_hook")
	if err != nil {
		t.Fatalf("GetRule: %v", err)
	}
	if r.Trigger.Type != "core.st2.webhook" || r.Action.Ref != "demo.echo" || r.Trigger.Parameters["url"] != "demo" {
		t.Fatalf("GetRule = %+v", r.Rule)
	}
	sn, err := s.GetSensor(ctx, "demo.Watcher")
	if err != nil || sn.PollInterval != 30 || sn.PackPath != p.Path || !reflect.DeepEqual(sn.TriggerTypes, []string{"demo.event"}) {
		t.Fatalf("GetSensor = %+v, %v", sn, err)
	}
	tt, err := s.GetTriggerType(ctx, "demo.event")
	if err != nil || tt.PayloadSchema["type"] != "object" {
		t.Fatalf("GetTriggerType = %+v, %v", tt, err)
	}
	al, err := s.GetAlias(ctx, "demo.say")
	if err != nil || al.ActionRef != "demo.echo" || len(al.Formats) != 1 {
		t.Fatalf("GetAlias = %+v, %v", al, err)
	}
	po, err := s.GetPolicy(ctx, "demo.echo.concurrency")
	if err != nil || po.PolicyType != "action.concurrency" || po.Parameters["threshold"] != float64(2) {
		t.Fatalf("GetPolicy = %+v, %v", po, err)
	}

	for name, get := range map[string]func(string) error{
		"pack":         func(r string) error { _, err := s.GetPack(ctx, r); return err },
		"action":       func(r string) error { _, err := s.GetAction(ctx, r); return err },
		"rule":         func(r string) error { _, err := s.GetRule(ctx, r); return err },
		"sensor":       func(r string) error { _, err := s.GetSensor(ctx, r); return err },
		"trigger type": func(r string) error { _, err := s.GetTriggerType(ctx, r); return err },
		"alias":        func(r string) error { _, err := s.GetAlias(ctx, r); return err },
		"policy":       func(r string) error { _, err := s.GetPolicy(ctx, r); return err },
	} {
		if err := get("demo.nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("get missing %s: %v, want ErrNotFound", name, err)
		}
	}
}

func TestActionRecordJSONHidesConfig(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := New(testenv.Pool(t))
	if _, err := s.RegisterPack(ctx, testPack("demo")); err != nil {
		t.Fatal(err)
	}
	a, err := s.GetAction(ctx, "demo.echo")
	if err != nil {
		t.Fatal(err)
	}
	b, err := jsonMarshal(a)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b, "s3cret") || !strings.Contains(b, `"id":"`+a.ID+`"`) || !strings.Contains(b, `"ref":"demo.echo"`) {
		t.Fatalf("ActionRecord JSON = %s", b)
	}
}

func TestReregisterPack(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := New(testenv.Pool(t))
	p := testPack("demo")
	if _, err := s.RegisterPack(ctx, p); err != nil {
		t.Fatal(err)
	}
	before, err := s.GetPack(ctx, "demo")
	if err != nil {
		t.Fatal(err)
	}
	ids := actionIDs(t, s, "demo")

	// v2: "script" removed, "echo" changed, "new" added, rules dropped.
	p2 := testPack("demo")
	p2.Version = "2.0.0"
	p2.Actions = []pack.Action{p2.Actions[0], p2.Actions[2], {
		Name: "new", Pack: "demo", Ref: "demo.new", Enabled: true, RunnerType: "noop",
	}}
	p2.Actions[0].Description = "say it louder"
	p2.Actions[0].Enabled = false
	p2.Rules = nil
	res, err := s.RegisterPack(ctx, p2)
	if err != nil {
		t.Fatalf("re-register: %v", err)
	}
	if res.Actions != 3 || res.Rules != 0 {
		t.Fatalf("re-register result = %+v", res)
	}

	after, err := s.GetPack(ctx, "demo")
	if err != nil {
		t.Fatal(err)
	}
	if after.ID != before.ID || after.Version != "2.0.0" || !after.RegisteredAt.Equal(before.RegisteredAt) {
		t.Fatalf("pack after re-register = id %s version %s registered %s; before id %s registered %s",
			after.ID, after.Version, after.RegisteredAt, before.ID, before.RegisteredAt)
	}
	if _, err := s.GetAction(ctx, "demo.script"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removed action: %v, want ErrNotFound", err)
	}
	now := actionIDs(t, s, "demo")
	for _, ref := range []string{"demo.echo", "demo.get"} {
		if now[ref] != ids[ref] {
			t.Errorf("%s ID changed from %s to %s", ref, ids[ref], now[ref])
		}
	}
	if !IsID(now["demo.new"]) || len(now) != 3 {
		t.Errorf("actions after re-register = %v", now)
	}
	echo, err := s.GetAction(ctx, "demo.echo")
	if err != nil || echo.Description != "say it louder" || echo.Enabled {
		t.Fatalf("updated action = %+v, %v", echo, err)
	}
	if rules, total, err := s.ListRules(ctx, RuleFilter{Pack: "demo"}); err != nil || total != 0 || len(rules) != 0 {
		t.Fatalf("rules after re-register = %v, %d, %v", rules, total, err)
	}
}

func TestRegisterPackFailureChangesNothing(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := New(testenv.Pool(t))
	if _, err := s.RegisterPack(ctx, testPack("demo")); err != nil {
		t.Fatal(err)
	}
	ids := actionIDs(t, s, "demo")

	// The action changes and removal would be stored before the policies;
	// the policy's NUL byte, which Postgres text refuses, fails the
	// transaction after that work was done.
	p2 := testPack("demo")
	p2.Version = "9.9.9"
	p2.Actions = p2.Actions[:1]
	p2.Actions[0].Description = "changed"
	p2.Policies[0].Name = "bad\x00name"
	if _, err := s.RegisterPack(ctx, p2); err == nil {
		t.Fatal("RegisterPack with a NUL in a name succeeded")
	} else if !strings.Contains(err.Error(), `register pack "demo"`) {
		t.Errorf("error lacks context: %v", err)
	}

	pr, err := s.GetPack(ctx, "demo")
	if err != nil || pr.Version != "1.0.0" {
		t.Fatalf("pack after failed registration = %+v, %v", pr, err)
	}
	if got := actionIDs(t, s, "demo"); !reflect.DeepEqual(got, ids) {
		t.Fatalf("actions after failed registration = %v, want %v", got, ids)
	}
	echo, err := s.GetAction(ctx, "demo.echo")
	if err != nil || echo.Description != "say it" {
		t.Fatalf("action after failed registration = %+v, %v", echo, err)
	}

	// A failed first registration leaves no pack behind either.
	p3 := testPack("other")
	p3.Policies[0].Name = "bad\x00name"
	if _, err := s.RegisterPack(ctx, p3); err == nil {
		t.Fatal("RegisterPack with a NUL in a name succeeded")
	}
	if _, err := s.GetPack(ctx, "other"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetPack after failed first registration: %v, want ErrNotFound", err)
	}
}

func TestRegisterPackValidation(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := New(testenv.Pool(t))
	tests := []struct {
		name   string
		mutate func(p *pack.Pack)
		want   string
	}{
		{"no ref", func(p *pack.Pack) { p.Ref = "" }, "no ref"},
		{"item without ref", func(p *pack.Pack) { p.Actions[1].Ref = "" }, `action "script" has no ref`},
		{"item of another pack", func(p *pack.Pack) { p.Rules[0].Pack = "core" }, `belongs to pack "core"`},
		{"ref outside the pack", func(p *pack.Pack) { p.Sensors[0].Ref = "core.Watcher" }, `does not start with "demo."`},
		{"duplicate ref", func(p *pack.Pack) { p.Aliases = append(p.Aliases, p.Aliases[0]) }, "defined twice"},
		{"unencodable", func(p *pack.Pack) { p.Policies[0].Parameters["f"] = func() {} }, "encode"},
	}
	for _, tt := range tests {
		p := testPack("demo")
		tt.mutate(p)
		_, err := s.RegisterPack(ctx, p)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: RegisterPack error = %v, want it to contain %q", tt.name, err, tt.want)
		}
	}
	if _, err := s.RegisterPack(ctx, nil); err == nil {
		t.Error("RegisterPack(nil) succeeded")
	}
	if packs, err := s.ListPacks(ctx); err != nil || len(packs) != 0 {
		t.Fatalf("packs after invalid registrations = %v, %v", packs, err)
	}
}

func TestRegisterPackConcurrently(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := New(testenv.Pool(t))

	// Several registrations of one new pack (all racing to create it) and of
	// other packs at the same time.
	const same = 6
	var wg sync.WaitGroup
	errs := make(chan error, same+3)
	for range same {
		wg.Go(func() {
			_, err := s.RegisterPack(ctx, testPack("demo"))
			errs <- err
		})
	}
	for i := range 3 {
		wg.Go(func() {
			_, err := s.RegisterPack(ctx, testPack(fmt.Sprintf("other%d", i)))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent RegisterPack: %v", err)
		}
	}
	packs, err := s.ListPacks(ctx)
	if err != nil || len(packs) != 4 {
		t.Fatalf("ListPacks = %d packs, %v; want 4", len(packs), err)
	}
	actions, total, err := s.ListActions(ctx, ActionFilter{Pack: "demo"})
	if err != nil || total != 3 || len(actions) != 3 {
		t.Fatalf("ListActions(demo) = %d of %d, %v; want 3", len(actions), total, err)
	}
}

func TestDeletePack(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := New(testenv.Pool(t))
	for _, ref := range []string{"demo", "keep"} {
		if _, err := s.RegisterPack(ctx, testPack(ref)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeletePack(ctx, "demo"); err != nil {
		t.Fatalf("DeletePack: %v", err)
	}
	if _, err := s.GetPack(ctx, "demo"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetPack after delete: %v", err)
	}
	counts := map[string]func() (int, error){
		"actions":       func() (int, error) { _, n, err := s.ListActions(ctx, ActionFilter{Pack: "demo"}); return n, err },
		"rules":         func() (int, error) { _, n, err := s.ListRules(ctx, RuleFilter{Pack: "demo"}); return n, err },
		"sensors":       func() (int, error) { _, n, err := s.ListSensors(ctx, ListFilter{Pack: "demo"}); return n, err },
		"trigger types": func() (int, error) { _, n, err := s.ListTriggerTypes(ctx, ListFilter{Pack: "demo"}); return n, err },
		"aliases":       func() (int, error) { _, n, err := s.ListAliases(ctx, ListFilter{Pack: "demo"}); return n, err },
		"policies":      func() (int, error) { _, n, err := s.ListPolicies(ctx, PolicyFilter{Pack: "demo"}); return n, err },
	}
	for name, count := range counts {
		if n, err := count(); err != nil || n != 0 {
			t.Errorf("%s of deleted pack: %d, %v", name, n, err)
		}
	}
	if _, total, err := s.ListActions(ctx, ActionFilter{}); err != nil || total != 3 {
		t.Fatalf("actions of the other pack: %d, %v; want 3", total, err)
	}
	if err := s.DeletePack(ctx, "demo"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("DeletePack of a missing pack: %v, want ErrNotFound", err)
	}
}

func TestListFilters(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := New(testenv.Pool(t))
	for _, ref := range []string{"alpha", "beta"} {
		if _, err := s.RegisterPack(ctx, testPack(ref)); err != nil {
			t.Fatal(err)
		}
	}
	refs := func(as []ActionRecord) []string {
		out := []string{}
		for _, a := range as {
			out = append(out, a.Ref)
		}
		return out
	}
	tests := []struct {
		name      string
		f         ActionFilter
		wantRefs  []string
		wantTotal int
	}{
		{"all", ActionFilter{}, []string{"alpha.echo", "alpha.get", "alpha.script", "beta.echo", "beta.get", "beta.script"}, 6},
		{"pack", ActionFilter{Pack: "beta"}, []string{"beta.echo", "beta.get", "beta.script"}, 3},
		{"name", ActionFilter{Name: "get"}, []string{"alpha.get", "beta.get"}, 2},
		{"pack and name", ActionFilter{Pack: "alpha", Name: "get"}, []string{"alpha.get"}, 1},
		{"page", ActionFilter{Limit: 2, Offset: 1}, []string{"alpha.get", "alpha.script"}, 6},
		{"past the end", ActionFilter{Offset: 10}, []string{}, 6},
		{"no match", ActionFilter{Pack: "gamma"}, []string{}, 0},
	}
	for _, tt := range tests {
		got, total, err := s.ListActions(ctx, tt.f)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if !reflect.DeepEqual(refs(got), tt.wantRefs) || total != tt.wantTotal {
			t.Errorf("%s: ListActions = %v (total %d), want %v (total %d)", tt.name, refs(got), total, tt.wantRefs, tt.wantTotal)
		}
	}
	if _, _, err := s.ListActions(ctx, ActionFilter{Limit: -1}); err == nil {
		t.Error("negative limit accepted")
	}

	enabled := true
	rules, total, err := s.ListRules(ctx, RuleFilter{TriggerType: "core.st2.webhook", Enabled: &enabled})
	if err != nil || total != 2 || len(rules) != 2 || rules[0].Ref != "alpha.on_hook" || rules[1].Ref != "beta.on_hook" {
		t.Fatalf("enabled webhook rules = %v, %d, %v", rules, total, err)
	}
	disabled := false
	if rules, total, err := s.ListRules(ctx, RuleFilter{Pack: "alpha", Enabled: &disabled}); err != nil || total != 1 || rules[0].Ref != "alpha.on_timer" {
		t.Fatalf("disabled alpha rules = %v, %d, %v", rules, total, err)
	}
	if pols, total, err := s.ListPolicies(ctx, PolicyFilter{ResourceRef: "beta.echo"}); err != nil || total != 1 || pols[0].Ref != "beta.echo.concurrency" {
		t.Fatalf("policies for beta.echo = %v, %d, %v", pols, total, err)
	}
	if sensors, total, err := s.ListSensors(ctx, ListFilter{Limit: 1}); err != nil || total != 2 || len(sensors) != 1 || sensors[0].PackPath != "/opt/packs/alpha" {
		t.Fatalf("sensors page = %v, %d, %v", sensors, total, err)
	}
	if tts, total, err := s.ListTriggerTypes(ctx, ListFilter{Pack: "alpha"}); err != nil || total != 1 || tts[0].Ref != "alpha.event" {
		t.Fatalf("trigger types = %v, %d, %v", tts, total, err)
	}
	if als, total, err := s.ListAliases(ctx, ListFilter{}); err != nil || total != 2 || len(als) != 2 {
		t.Fatalf("aliases = %v, %d, %v", als, total, err)
	}
}

// TestRegisterCorpus registers every pack of StackStorm's contrib packs.
func TestRegisterCorpus(t *testing.T) {
	t.Parallel()
	corpus := testenv.ST2Packs(t)
	results, err := pack.LoadAll(corpus, pack.LoadOptions{SkipEntryPointCheck: true})
	if err != nil {
		t.Skipf("compatibility corpus not available: %v", err)
	}
	ctx := t.Context()
	s := New(testenv.Pool(t))
	registered := 0
	for _, r := range results {
		if r.Err != nil {
			t.Errorf("load %s: %v", r.Dir, r.Err)
			continue
		}
		p := r.Pack
		res, err := s.RegisterPack(ctx, p)
		if err != nil {
			t.Errorf("register %s: %v", p.Ref, err)
			continue
		}
		registered++
		if res.Actions != len(p.Actions) || res.Rules != len(p.Rules) || res.Sensors != len(p.Sensors) ||
			res.TriggerTypes != len(p.TriggerTypes) || res.Aliases != len(p.Aliases) || res.Policies != len(p.Policies) {
			t.Errorf("register %s = %+v, pack has %d/%d/%d/%d/%d/%d", p.Ref, res, len(p.Actions), len(p.Rules),
				len(p.Sensors), len(p.TriggerTypes), len(p.Aliases), len(p.Policies))
		}
		actions, total, err := s.ListActions(ctx, ActionFilter{Pack: p.Ref})
		if err != nil || total != len(p.Actions) {
			t.Errorf("%s: ListActions = %d, %v; want %d", p.Ref, total, err, len(p.Actions))
			continue
		}
		byRef := map[string]ActionRecord{}
		for _, a := range actions {
			byRef[a.Ref] = a
		}
		for _, want := range p.Actions {
			got, ok := byRef[want.Ref]
			if !ok {
				t.Errorf("%s: action %s not listed", p.Ref, want.Ref)
				continue
			}
			if got.RunnerType != want.RunnerType || got.EntryPoint != want.EntryPoint || got.PackPath != p.Path ||
				len(got.Parameters) != len(want.Parameters) || got.Enabled != want.Enabled {
				t.Errorf("%s: stored %+v, loaded %+v", want.Ref, got.Action, want)
			}
		}
		// Registering unchanged content again is a no-op for IDs.
		ids := actionIDs(t, s, p.Ref)
		if _, err := s.RegisterPack(ctx, p); err != nil {
			t.Errorf("re-register %s: %v", p.Ref, err)
		} else if again := actionIDs(t, s, p.Ref); !reflect.DeepEqual(again, ids) {
			t.Errorf("%s: IDs changed on identical re-registration", p.Ref)
		}
	}
	if registered == 0 {
		t.Fatal("no pack of the corpus was registered")
	}
	packs, err := s.ListPacks(ctx)
	if err != nil || len(packs) != registered {
		t.Fatalf("ListPacks = %d, %v; want %d", len(packs), err, registered)
	}
}

func actionIDs(t *testing.T, s *Store, packRef string) map[string]string {
	t.Helper()
	actions, _, err := s.ListActions(t.Context(), ActionFilter{Pack: packRef})
	if err != nil {
		t.Fatalf("ListActions(%s): %v", packRef, err)
	}
	ids := map[string]string{}
	for _, a := range actions {
		ids[a.Ref] = a.ID
	}
	return ids
}

// Registration and deletion wait for the pack's lock; other packs do not.
func TestRegisterPackTakesPackLock(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := testenv.Pool(t)
	s := New(pool)

	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, hashtext($2))", lockPackRegistration, "demo"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.RegisterPack(ctx, testPack("demo"))
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("RegisterPack finished while the pack's lock was held: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	if _, err := s.RegisterPack(ctx, testPack("other")); err != nil {
		t.Fatalf("RegisterPack of another pack: %v", err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("RegisterPack: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("RegisterPack still blocked after the lock was released")
	}
}
