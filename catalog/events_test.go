package catalog

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/squall-automation/squall/internal/testenv"
	"github.com/squall-automation/squall/pack"
	"github.com/squall-automation/squall/rules"
	"github.com/squall-automation/squall/trigger"
)

func testRule(packRef, name, typeRef string, params map[string]any, enabled bool) pack.Rule {
	return pack.Rule{
		Name: name, Pack: packRef, Ref: packRef + "." + name, Enabled: enabled,
		Trigger: pack.RuleTrigger{Type: typeRef, Parameters: params},
		Action:  pack.RuleAction{Ref: "core.local", Parameters: map[string]any{"cmd": "echo"}},
	}
}

func hook(url string) map[string]any { return map[string]any{"url": url} }

func triggerRefs(ts []Trigger) []string {
	out := []string{}
	for _, t := range ts {
		out = append(out, t.Ref)
	}
	return out
}

func mustRef(t *testing.T, typeRef string, params map[string]any) string {
	t.Helper()
	ref, err := TriggerRef(typeRef, params)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func TestEnsureBuiltins(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := New(testenv.Pool(t))
	for range 2 { // idempotent
		if err := s.EnsureBuiltins(ctx); err != nil {
			t.Fatalf("EnsureBuiltins: %v", err)
		}
	}
	core, err := s.GetPack(ctx, "core")
	if err != nil || core.Description != "StackStorm core" || core.Path != "" {
		t.Fatalf("core pack = %+v, %v", core, err)
	}
	assertBuiltins := func(when string, except ...string) {
		t.Helper()
		for _, b := range trigger.Builtins() {
			if slices.Contains(except, b.Ref) {
				continue
			}
			tt, err := s.GetTriggerType(ctx, b.Ref)
			if err != nil {
				t.Errorf("%s: built-in %s: %v", when, b.Ref, err)
				continue
			}
			if tt.Pack != "core" || !reflect.DeepEqual(tt.PayloadSchema != nil, b.PayloadSchema != nil) {
				t.Errorf("%s: built-in %s stored as %+v", when, b.Ref, tt.TriggerType)
			}
			// Shadow triggers exist for types without parameters, as st2's.
			_, err = s.GetTrigger(ctx, b.Ref)
			if hasParams := len(b.ParametersSchema) > 0; hasParams == (err == nil) {
				t.Errorf("%s: trigger %s: %v (parameters schema: %v)", when, b.Ref, err, hasParams)
			}
		}
	}
	assertBuiltins("after EnsureBuiltins")
	shadow, err := s.GetTrigger(ctx, trigger.ActionTrigger)
	if err != nil || shadow.Type != trigger.ActionTrigger || shadow.Name != "st2.generic.actiontrigger" ||
		shadow.Pack != "core" || shadow.UID != "trigger:core:st2.generic.actiontrigger:99914b932bd37a50b983c5e7c90ae93b" ||
		shadow.Description == "" || len(shadow.Parameters) != 0 || !IsID(shadow.ID) {
		t.Fatalf("actiontrigger shadow trigger = %+v, %v", shadow, err)
	}

	// The core pack from disk: its own trigger types plus the built-ins; a
	// type it declares itself wins over the built-in of that ref.
	corePack := &pack.Pack{
		Ref: "core", Name: "core", Version: "3.8.0", Path: "/opt/packs/core",
		TriggerTypes: []pack.TriggerType{
			{Name: "mine", Pack: "core", Ref: "core.mine", MetadataFile: "triggers/mine.yaml"},
			{Name: "st2.webhook", Pack: "core", Ref: trigger.Webhook, Description: "from disk", MetadataFile: "triggers/webhook.yaml"},
		},
	}
	res, err := s.RegisterPack(ctx, corePack)
	if err != nil {
		t.Fatalf("register core: %v", err)
	}
	if res.TriggerTypes != 2 {
		t.Errorf("register core reported %d trigger types, want its own 2", res.TriggerTypes)
	}
	if len(corePack.TriggerTypes) != 2 {
		t.Errorf("RegisterPack changed the caller's pack: %d trigger types", len(corePack.TriggerTypes))
	}
	assertBuiltins("after registering core", trigger.Webhook)
	if _, err := s.GetTriggerType(ctx, "core.mine"); err != nil {
		t.Errorf("core's own trigger type: %v", err)
	}
	wh, err := s.GetTriggerType(ctx, trigger.Webhook)
	if err != nil || wh.Description != "from disk" {
		t.Fatalf("declared webhook type = %+v, %v", wh, err)
	}
	// Restarting the server keeps what core's directory declared.
	if err := s.EnsureBuiltins(ctx); err != nil {
		t.Fatal(err)
	}
	if wh, err := s.GetTriggerType(ctx, trigger.Webhook); err != nil || wh.Description != "from disk" {
		t.Fatalf("webhook type after EnsureBuiltins = %+v, %v", wh, err)
	}
	if core, err := s.GetPack(ctx, "core"); err != nil || core.Path != "/opt/packs/core" {
		t.Fatalf("EnsureBuiltins changed the registered core pack: %+v, %v", core, err)
	}
	// Re-registering core without its own webhook type brings back the built-in.
	corePack.TriggerTypes = corePack.TriggerTypes[:1]
	if _, err := s.RegisterPack(ctx, corePack); err != nil {
		t.Fatal(err)
	}
	assertBuiltins("after re-registering core")
	if wh, err := s.GetTriggerType(ctx, trigger.Webhook); err != nil || wh.Description == "from disk" {
		t.Fatalf("webhook type after re-registration = %+v, %v", wh, err)
	}
}

func TestTriggersOfRules(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := New(testenv.Pool(t))
	if err := s.EnsureBuiltins(ctx); err != nil {
		t.Fatal(err)
	}
	p := testPack("demo")
	p.Rules = []pack.Rule{
		testRule("demo", "a", trigger.Webhook, hook("a"), true),
		testRule("demo", "a2", trigger.Webhook, hook("a"), true),
		testRule("demo", "b", trigger.Webhook, hook("b"), false),
		testRule("demo", "tick", trigger.IntervalTimer, map[string]any{"unit": "seconds", "delta": int64(30)}, true),
	}
	if _, err := s.RegisterPack(ctx, p); err != nil {
		t.Fatal(err)
	}
	refA, refB := mustRef(t, trigger.Webhook, hook("a")), mustRef(t, trigger.Webhook, hook("b"))

	hooks, total, err := s.ListTriggers(ctx, TriggerFilter{Type: trigger.Webhook})
	want := []string{refA, refB}
	slices.Sort(want)
	if err != nil || total != 2 || !reflect.DeepEqual(triggerRefs(hooks), want) {
		t.Fatalf("webhook triggers = %v (total %d), %v; want %v", triggerRefs(hooks), total, err, want)
	}
	ta, err := s.TriggerFor(ctx, trigger.Webhook, hook("a"))
	if err != nil || ta.Ref != refA || ta.Pack != "core" || ta.Type != trigger.Webhook ||
		!reflect.DeepEqual(ta.Parameters, map[string]any{"url": "a"}) || ta.UID != "trigger:core:"+ta.Name+":"+md5hex(`{"url": "a"}`) {
		t.Fatalf("TriggerFor(url a) = %+v, %v", ta, err)
	}
	// A rule listens to it (the rule that created it), and TriggerFor says so.
	if ta.Listened == nil || !*ta.Listened {
		t.Fatalf("TriggerFor(url a).Listened = %v, want true", ta.Listened)
	}
	ta.Listened = nil // GetTrigger does not tell
	// Only a disabled rule uses url b.
	if tb, err := s.TriggerFor(ctx, trigger.Webhook, hook("b")); err != nil || tb.Listened == nil || *tb.Listened {
		t.Fatalf("TriggerFor(url b) = %+v, %v; want Listened false", tb, err)
	}
	for _, key := range []string{ta.Ref, ta.ID} {
		if got, err := s.GetTrigger(ctx, key); err != nil || !reflect.DeepEqual(got, ta) {
			t.Fatalf("GetTrigger(%s) = %+v, %v; want %+v", key, got, err, ta)
		}
	}
	if _, err := s.TriggerFor(ctx, trigger.Webhook, hook("nobody")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("TriggerFor an unused url: %v, want ErrNotFound", err)
	}
	if _, err := s.GetTrigger(ctx, "core.nothing"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetTrigger(missing): %v, want ErrNotFound", err)
	}
	// The pack's own trigger type has no parameters schema: a shadow trigger.
	if ev, err := s.GetTrigger(ctx, "demo.event"); err != nil || ev.Pack != "demo" || ev.Name != "event" {
		t.Fatalf("shadow trigger of demo.event = %+v, %v", ev, err)
	}
	if ts, total, err := s.ListTriggers(ctx, TriggerFilter{Pack: "demo"}); err != nil || total != 1 || ts[0].Ref != "demo.event" {
		t.Fatalf("triggers of pack demo = %v, %d, %v", triggerRefs(ts), total, err)
	}
	if ts, total, err := s.ListTriggers(ctx, TriggerFilter{Limit: 2, Offset: 1}); err != nil || len(ts) != 2 || total < 5 {
		t.Fatalf("trigger page = %v, %d, %v", triggerRefs(ts), total, err)
	}

	// The rules' trigger keys are rules.TriggerKey's.
	r, err := s.GetRule(ctx, "demo.a")
	if key, _ := rules.TriggerKey(trigger.Webhook, hook("a")); err != nil || r.TriggerKey != key || r.Source != RuleSourcePack || r.UpdatedAt.IsZero() {
		t.Fatalf("rule demo.a = key %q source %q, %v", r.TriggerKey, r.Source, err)
	}

	// Dropping the only rule of url b drops its trigger; url a keeps its
	// trigger object (and ID) while one rule still uses it.
	p.Rules = p.Rules[1:2]
	if _, err := s.RegisterPack(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TriggerFor(ctx, trigger.Webhook, hook("b")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("trigger of a removed rule: %v, want ErrNotFound", err)
	}
	if again, err := s.TriggerFor(ctx, trigger.Webhook, hook("a")); err != nil || again.ID != ta.ID {
		t.Fatalf("trigger of url a after re-registration = %+v, %v; want ID %s", again, err, ta.ID)
	}
	if _, err := s.GetTrigger(ctx, mustRef(t, trigger.IntervalTimer, map[string]any{"unit": "seconds", "delta": int64(30)})); !errors.Is(err, ErrNotFound) {
		t.Fatalf("timer trigger of a removed rule: %v", err)
	}

	// Deleting the pack deletes the triggers only it needed.
	if err := s.DeletePack(ctx, "demo"); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{refA, "demo.event"} {
		if _, err := s.GetTrigger(ctx, ref); !errors.Is(err, ErrNotFound) {
			t.Errorf("trigger %s after DeletePack: %v, want ErrNotFound", ref, err)
		}
	}
	if _, err := s.GetTrigger(ctx, trigger.ActionTrigger); err != nil {
		t.Errorf("built-in shadow trigger after deleting another pack: %v", err)
	}
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestActiveTriggers(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := New(testenv.Pool(t))
	every := func(n int64) map[string]any { return map[string]any{"unit": "seconds", "delta": n} }
	p := testPack("demo")
	p.Rules = []pack.Rule{
		testRule("demo", "t10", trigger.IntervalTimer, every(10), true),
		testRule("demo", "t10b", trigger.IntervalTimer, every(10), false),
		testRule("demo", "t20", trigger.IntervalTimer, every(20), false),
		testRule("demo", "cron", trigger.CronTimer, map[string]any{"minute": "*/5"}, true),
		testRule("demo", "hook", trigger.Webhook, hook("x"), true),
	}
	if _, err := s.RegisterPack(ctx, p); err != nil {
		t.Fatal(err)
	}
	active := func(types ...string) []string {
		t.Helper()
		ts, err := s.ActiveTriggers(ctx, types...)
		if err != nil {
			t.Fatalf("ActiveTriggers(%v): %v", types, err)
		}
		return triggerRefs(ts)
	}
	t10, t20 := mustRef(t, trigger.IntervalTimer, every(10)), mustRef(t, trigger.IntervalTimer, every(20))
	cron := mustRef(t, trigger.CronTimer, map[string]any{"minute": "*/5"})
	if got := active(trigger.IntervalTimer); !reflect.DeepEqual(got, []string{t10}) {
		t.Fatalf("active interval timers = %v, want [%s]", got, t10)
	}
	want := []string{t10, cron}
	slices.Sort(want)
	if got := active(trigger.IntervalTimer, trigger.CronTimer, trigger.DateTimer); !reflect.DeepEqual(got, want) {
		t.Fatalf("active timers = %v, want %v", got, want)
	}
	if got := active(); len(got) != 3 {
		t.Fatalf("active triggers of all types = %v, want 3", got)
	}

	// Enabling t20 and disabling both t10 rules swaps the active triggers.
	if r, err := s.SetRuleEnabled(ctx, "demo.t20", true); err != nil || !r.Enabled {
		t.Fatalf("SetRuleEnabled = %+v, %v", r, err)
	}
	for _, ref := range []string{"demo.t10", "demo.t10b"} {
		if _, err := s.SetRuleEnabled(ctx, ref, false); err != nil {
			t.Fatal(err)
		}
	}
	if got := active(trigger.IntervalTimer); !reflect.DeepEqual(got, []string{t20}) {
		t.Fatalf("active interval timers after toggling = %v, want [%s]", got, t20)
	}
	// The rule as stored (doc) agrees with the column.
	if r, err := s.GetRule(ctx, "demo.t10"); err != nil || r.Enabled {
		t.Fatalf("disabled rule reads back as %+v, %v", r, err)
	}
	if _, err := s.SetRuleEnabled(ctx, "demo.none", true); !errors.Is(err, ErrNotFound) {
		t.Fatalf("SetRuleEnabled(missing): %v, want ErrNotFound", err)
	}
}

func TestRulesThroughTheAPI(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := New(testenv.Pool(t))
	if _, err := s.RegisterPack(ctx, testPack("demo")); err != nil {
		t.Fatal(err)
	}
	v0, err := s.RulesVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}

	api := testRule("demo", "from_api", trigger.Webhook, hook("api"), true)
	api.Ref = ""
	rec, err := s.CreateRule(ctx, api)
	if err != nil {
		t.Fatalf("CreateRule: %v", err)
	}
	if rec.Ref != "demo.from_api" || rec.Source != RuleSourceAPI || !IsID(rec.ID) || !rec.Enabled || rec.UpdatedAt.IsZero() {
		t.Fatalf("CreateRule = %+v", rec)
	}
	if got, err := s.GetRule(ctx, rec.ID); err != nil || got.Ref != rec.Ref || got.Source != RuleSourceAPI {
		t.Fatalf("GetRule(created) = %+v, %v", got, err)
	}
	if _, err := s.TriggerFor(ctx, trigger.Webhook, hook("api")); err != nil {
		t.Fatalf("trigger of the created rule: %v", err)
	}
	if has, err := s.HasEnabledRules(ctx, trigger.Webhook, hook("api")); err != nil || !has {
		t.Fatalf("HasEnabledRules(url api) = %v, %v", has, err)
	}
	if has, err := s.HasEnabledRules(ctx, trigger.Webhook, hook("other")); err != nil || has {
		t.Fatalf("HasEnabledRules(url other) = %v, %v", has, err)
	}
	if v1, err := s.RulesVersion(ctx); err != nil || v1 == v0 {
		t.Fatalf("RulesVersion after CreateRule = %q (before %q), %v", v1, v0, err)
	}

	if _, err := s.CreateRule(ctx, api); !errors.Is(err, ErrConflict) {
		t.Fatalf("CreateRule of a taken ref: %v, want ErrConflict", err)
	}
	if _, err := s.CreateRule(ctx, testRule("demo", "on_hook", trigger.Webhook, nil, true)); !errors.Is(err, ErrConflict) {
		t.Fatalf("CreateRule over a pack's rule: %v, want ErrConflict", err)
	}
	if _, err := s.CreateRule(ctx, testRule("nopack", "r", trigger.Webhook, hook("x"), true)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("CreateRule in an unregistered pack: %v, want ErrNotFound", err)
	}
	bad := api
	bad.Ref = "other.from_api"
	if _, err := s.CreateRule(ctx, bad); err == nil {
		t.Fatal("CreateRule with a ref that does not match pack and name succeeded")
	}

	// Registering the pack from disk again keeps the API's rule and replaces
	// the pack's own.
	p := testPack("demo")
	p.Rules = p.Rules[:1]
	if _, err := s.RegisterPack(ctx, p); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetRule(ctx, "demo.from_api"); err != nil || got.ID != rec.ID {
		t.Fatalf("API rule after re-registration: %+v, %v", got, err)
	}
	if _, err := s.GetRule(ctx, "demo.on_timer"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("stale pack rule after re-registration: %v, want ErrNotFound", err)
	}
	if _, err := s.TriggerFor(ctx, trigger.Webhook, hook("api")); err != nil {
		t.Fatalf("trigger of the API rule after re-registration: %v", err)
	}

	// UpdateRule moves the rule to another url: the old trigger goes.
	api.Trigger.Parameters = hook("api2")
	api.Description = "moved"
	upd, err := s.UpdateRule(ctx, rec.ID, api)
	if err != nil {
		t.Fatalf("UpdateRule: %v", err)
	}
	key2, _ := rules.TriggerKey(trigger.Webhook, hook("api2"))
	if upd.ID != rec.ID || upd.Description != "moved" || upd.TriggerKey != key2 || upd.Source != RuleSourceAPI || !upd.UpdatedAt.After(rec.UpdatedAt) {
		t.Fatalf("UpdateRule = %+v", upd)
	}
	if _, err := s.TriggerFor(ctx, trigger.Webhook, hook("api")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("old trigger after UpdateRule: %v, want ErrNotFound", err)
	}
	if got, err := s.EnabledRulesFor(ctx, key2); err != nil || len(got) != 1 || got[0].ID != rec.ID {
		t.Fatalf("EnabledRulesFor(api2) = %v, %v", got, err)
	}
	if _, err := s.UpdateRule(ctx, "demo.missing", testRule("demo", "missing", trigger.Webhook, nil, true)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("UpdateRule(missing): %v, want ErrNotFound", err)
	}
	if _, err := s.UpdateRule(ctx, rec.ID, testRule("demo", "on_hook", trigger.Webhook, nil, true)); !errors.Is(err, ErrConflict) {
		t.Fatalf("UpdateRule renaming onto a taken ref: %v, want ErrConflict", err)
	}

	// A rule the pack declares later takes the API rule over.
	p.Rules = append(p.Rules, testRule("demo", "from_api", trigger.Webhook, hook("disk"), true))
	if _, err := s.RegisterPack(ctx, p); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetRule(ctx, "demo.from_api"); err != nil || got.Source != RuleSourcePack || got.ID != rec.ID {
		t.Fatalf("rule taken over by the pack = %+v, %v", got, err)
	}

	if err := s.DeleteRule(ctx, "demo.from_api"); err != nil {
		t.Fatalf("DeleteRule: %v", err)
	}
	if err := s.DeleteRule(ctx, "demo.from_api"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("DeleteRule again: %v, want ErrNotFound", err)
	}
	if _, err := s.TriggerFor(ctx, trigger.Webhook, hook("disk")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("trigger of a deleted rule: %v, want ErrNotFound", err)
	}
}

// Rules stored before migration 002 have the bare type as trigger key;
// EnsureBuiltins recomputes it and creates their triggers.
func TestEnsureBuiltinsFixesTriggerKeys(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := testenv.Pool(t)
	s := New(pool)
	if _, err := s.RegisterPack(ctx, testPack("demo")); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "UPDATE rules SET trigger_key = trigger_type; DELETE FROM triggers"); err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureBuiltins(ctx); err != nil {
		t.Fatal(err)
	}
	r, err := s.GetRule(ctx, "demo.on_hook")
	key, _ := rules.TriggerKey(trigger.Webhook, hook("demo"))
	if err != nil || r.TriggerKey != key {
		t.Fatalf("trigger key after EnsureBuiltins = %q, %v; want %q", r.TriggerKey, err, key)
	}
	if _, err := s.TriggerFor(ctx, trigger.Webhook, hook("demo")); err != nil {
		t.Fatalf("trigger after EnsureBuiltins: %v", err)
	}
	if has, err := s.HasEnabledRules(ctx, trigger.Webhook, hook("demo")); err != nil || !has {
		t.Fatalf("HasEnabledRules after EnsureBuiltins = %v, %v", has, err)
	}
}

func TestTriggerInstances(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := New(testenv.Pool(t))
	base := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

	ti := TriggerInstance{
		ID: NewID(), TriggerType: trigger.Webhook, TriggerParams: hook("a"),
		Payload: map[string]any{"body": map[string]any{"n": 1.0}}, OccurrenceTime: base, TraceTag: "tag-1",
	}
	ins, err := s.RecordTriggerInstance(ctx, ti)
	if err != nil || !ins {
		t.Fatalf("RecordTriggerInstance = %v, %v", ins, err)
	}
	ti2 := ti
	ti2.Payload = map[string]any{"other": true}
	if ins, err := s.RecordTriggerInstance(ctx, ti2); err != nil || ins {
		t.Fatalf("RecordTriggerInstance of a known ID = %v, %v; want false", ins, err)
	}
	got, err := s.GetTriggerInstance(ctx, ti.ID)
	want := ti
	want.Trigger = mustRef(t, trigger.Webhook, hook("a"))
	want.Status = TriggerInstancePending
	if err != nil || !got.OccurrenceTime.Equal(base) {
		t.Fatalf("GetTriggerInstance = %+v, %v", got, err)
	}
	got.OccurrenceTime = base
	if !reflect.DeepEqual(*got, want) {
		t.Fatalf("GetTriggerInstance = %+v, want %+v", *got, want)
	}
	if err := s.SetTriggerInstanceStatus(ctx, ti.ID, TriggerInstanceProcessed); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetTriggerInstance(ctx, ti.ID); got.Status != TriggerInstanceProcessed {
		t.Fatalf("status after SetTriggerInstanceStatus = %q", got.Status)
	}
	if err := s.SetTriggerInstanceStatus(ctx, ti.ID, "done"); err == nil {
		t.Fatal("unknown status accepted")
	}
	if err := s.SetTriggerInstanceStatus(ctx, "nope", TriggerInstanceProcessed); !errors.Is(err, ErrNotFound) {
		t.Fatalf("SetTriggerInstanceStatus(missing): %v, want ErrNotFound", err)
	}
	if _, err := s.GetTriggerInstance(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetTriggerInstance(missing): %v, want ErrNotFound", err)
	}
	for _, bad := range []TriggerInstance{{TriggerType: "x.y"}, {ID: "x"}, {ID: "x", TriggerType: "x.y", Status: "weird"}} {
		if _, err := s.RecordTriggerInstance(ctx, bad); err == nil {
			t.Errorf("RecordTriggerInstance(%+v) succeeded", bad)
		}
	}

	// A batch: a known ID, an ID twice, and new ones of several types.
	var batch []TriggerInstance
	for i := range 6 {
		typ := trigger.IntervalTimer
		if i%2 == 1 {
			typ = trigger.ActionTrigger
		}
		batch = append(batch, TriggerInstance{
			ID: fmt.Sprintf("ti-%d", i), TriggerType: typ, OccurrenceTime: base.Add(time.Duration(i+1) * time.Minute),
			Payload: map[string]any{"i": int64(i)}, Status: TriggerInstanceProcessing,
		})
	}
	batch = append(batch, ti, batch[2])
	inserted, err := s.RecordTriggerInstances(ctx, batch)
	if wantIns := []bool{true, true, true, true, true, true, false, false}; err != nil || !reflect.DeepEqual(inserted, wantIns) {
		t.Fatalf("RecordTriggerInstances = %v, %v; want %v", inserted, err, wantIns)
	}
	if again, err := s.RecordTriggerInstances(ctx, batch[:2]); err != nil || !reflect.DeepEqual(again, []bool{false, false}) {
		t.Fatalf("RecordTriggerInstances again = %v, %v", again, err)
	}
	if _, err := s.RecordTriggerInstances(ctx, []TriggerInstance{{ID: "ok", TriggerType: "a.b"}, {ID: "bad"}}); err == nil {
		t.Fatal("batch with an invalid instance succeeded")
	}
	if _, err := s.GetTriggerInstance(ctx, "ok"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("part of an invalid batch was stored: %v", err)
	}
	if got, err := s.GetTriggerInstance(ctx, "ti-1"); err != nil || got.Trigger != trigger.ActionTrigger || got.Status != TriggerInstanceProcessing {
		t.Fatalf("batched instance = %+v, %v", got, err)
	}

	ids := func(tis []TriggerInstance) []string {
		out := []string{}
		for _, ti := range tis {
			out = append(out, ti.ID)
		}
		return out
	}
	tests := []struct {
		name      string
		f         TriggerInstanceFilter
		want      []string
		wantTotal int
	}{
		{"all newest first", TriggerInstanceFilter{}, []string{"ti-5", "ti-4", "ti-3", "ti-2", "ti-1", "ti-0", ti.ID}, 7},
		{"by type", TriggerInstanceFilter{TriggerType: trigger.ActionTrigger}, []string{"ti-5", "ti-3", "ti-1"}, 3},
		{"by trigger", TriggerInstanceFilter{Trigger: want.Trigger}, []string{ti.ID}, 1},
		{"by status", TriggerInstanceFilter{Status: TriggerInstanceProcessed}, []string{ti.ID}, 1},
		{"since inclusive", TriggerInstanceFilter{Since: base.Add(5 * time.Minute)}, []string{"ti-5", "ti-4"}, 2},
		{"until exclusive", TriggerInstanceFilter{Until: base.Add(2 * time.Minute)}, []string{"ti-0", ti.ID}, 2},
		{"window and type", TriggerInstanceFilter{TriggerType: trigger.IntervalTimer, Since: base.Add(2 * time.Minute), Until: base.Add(5 * time.Minute)}, []string{"ti-2"}, 1},
		{"page", TriggerInstanceFilter{Limit: 2, Offset: 1}, []string{"ti-4", "ti-3"}, 7},
		{"past the end", TriggerInstanceFilter{Offset: 50}, []string{}, 7},
	}
	for _, tt := range tests {
		got, total, err := s.ListTriggerInstances(ctx, tt.f)
		if err != nil || total != tt.wantTotal || !reflect.DeepEqual(ids(got), tt.want) {
			t.Errorf("%s: ListTriggerInstances = %v (total %d), %v; want %v (total %d)", tt.name, ids(got), total, err, tt.want, tt.wantTotal)
		}
	}

	if n, err := s.PurgeTriggerInstances(ctx, base.Add(3*time.Minute)); err != nil || n != 3 {
		t.Fatalf("PurgeTriggerInstances = %d, %v; want 3", n, err)
	}
	if _, total, _ := s.ListTriggerInstances(ctx, TriggerInstanceFilter{}); total != 4 {
		t.Fatalf("%d instances after purge, want 4", total)
	}
}

func TestRecordEnforcementConcurrently(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := New(testenv.Pool(t))
	const racers = 8
	results := make([]RuleEnforcement, racers)
	inserted := make([]bool, racers)
	errs := make([]error, racers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range racers {
		wg.Go(func() {
			<-start
			results[i], inserted[i], errs[i] = s.RecordEnforcement(ctx, RuleEnforcement{
				Rule:              EnforcementRule{ID: "5f2b7c3e9a1d4e0012345678", Ref: "demo.r"},
				TriggerInstanceID: "ti-1", ExecutionID: fmt.Sprintf("exec-%d", i), Status: EnforcementSucceeded,
			})
		})
	}
	close(start)
	wg.Wait()
	winners := 0
	for i := range racers {
		if errs[i] != nil {
			t.Fatalf("racer %d: %v", i, errs[i])
		}
		if inserted[i] {
			winners++
		}
		if results[i] != results[0] {
			t.Errorf("racer %d got %+v, racer 0 %+v", i, results[i], results[0])
		}
	}
	if winners != 1 {
		t.Fatalf("%d racers inserted, want 1", winners)
	}
	e := results[0]
	if !IsID(e.ID) || e.Rule.UID != "rule:demo:r" || e.EnforcedAt.IsZero() {
		t.Fatalf("enforcement = %+v", e)
	}
	if _, total, err := s.ListRuleEnforcements(ctx, EnforcementFilter{TriggerInstance: "ti-1"}); err != nil || total != 1 {
		t.Fatalf("enforcements of ti-1: %d, %v; want 1", total, err)
	}
	got, err := s.GetRuleEnforcement(ctx, e.ID)
	if err != nil || !got.EnforcedAt.Equal(e.EnforcedAt) {
		t.Fatalf("GetRuleEnforcement = %+v, %v", got, err)
	}
	if _, err := s.GetRuleEnforcement(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetRuleEnforcement(missing): %v", err)
	}
	for _, bad := range []RuleEnforcement{
		{TriggerInstanceID: "x", Status: EnforcementFailed},
		{Rule: EnforcementRule{Ref: "a.b"}, Status: EnforcementFailed},
		{Rule: EnforcementRule{Ref: "a.b"}, TriggerInstanceID: "x", Status: "ok"},
	} {
		if _, _, err := s.RecordEnforcement(ctx, bad); err == nil {
			t.Errorf("RecordEnforcement(%+v) succeeded", bad)
		}
	}
}

func TestListRuleEnforcements(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := New(testenv.Pool(t))
	base := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	ruleID := NewID()
	var ids []string
	for i := range 5 {
		rule := EnforcementRule{ID: ruleID, Ref: "demo.a"}
		if i%2 == 1 {
			rule = EnforcementRule{ID: NewID(), Ref: "demo.b"}
		}
		e, ins, err := s.RecordEnforcement(ctx, RuleEnforcement{
			Rule: rule, TriggerInstanceID: fmt.Sprintf("ti-%d", i), ExecutionID: fmt.Sprintf("ex-%d", i),
			Status: EnforcementFailed, FailureReason: "boom", EnforcedAt: base.Add(time.Duration(i) * time.Second),
		})
		if err != nil || !ins || e.FailureReason != "boom" {
			t.Fatalf("RecordEnforcement %d = %+v, %v, %v", i, e, ins, err)
		}
		ids = append(ids, e.ID)
	}
	refs := func(es []RuleEnforcement) []string {
		out := []string{}
		for _, e := range es {
			out = append(out, e.TriggerInstanceID)
		}
		return out
	}
	tests := []struct {
		name      string
		f         EnforcementFilter
		want      []string
		wantTotal int
	}{
		{"all newest first", EnforcementFilter{}, []string{"ti-4", "ti-3", "ti-2", "ti-1", "ti-0"}, 5},
		{"by rule ref", EnforcementFilter{Rule: "demo.b"}, []string{"ti-3", "ti-1"}, 2},
		{"by rule ID", EnforcementFilter{Rule: ruleID}, []string{"ti-4", "ti-2", "ti-0"}, 3},
		{"by execution", EnforcementFilter{Execution: "ex-2"}, []string{"ti-2"}, 1},
		{"by trigger instance", EnforcementFilter{TriggerInstance: "ti-3"}, []string{"ti-3"}, 1},
		{"page", EnforcementFilter{Rule: "demo.a", Limit: 1, Offset: 1}, []string{"ti-2"}, 3},
		{"no match", EnforcementFilter{Rule: "demo.c"}, []string{}, 0},
	}
	for _, tt := range tests {
		got, total, err := s.ListRuleEnforcements(ctx, tt.f)
		if err != nil || total != tt.wantTotal || !reflect.DeepEqual(refs(got), tt.want) {
			t.Errorf("%s: ListRuleEnforcements = %v (total %d), %v; want %v (total %d)", tt.name, refs(got), total, err, tt.want, tt.wantTotal)
		}
	}
	// A retry with other values returns the stored enforcement unchanged.
	e, ins, err := s.RecordEnforcement(ctx, RuleEnforcement{
		Rule: EnforcementRule{Ref: "demo.a"}, TriggerInstanceID: "ti-0", Status: EnforcementSucceeded, ExecutionID: "other",
	})
	if err != nil || ins || e.ID != ids[0] || e.Status != EnforcementFailed || e.ExecutionID != "ex-0" || e.Rule.ID != ruleID {
		t.Fatalf("retried RecordEnforcement = %+v, %v, %v", e, ins, err)
	}
	if n, err := s.PurgeRuleEnforcements(ctx, base.Add(2*time.Second)); err != nil || n != 2 {
		t.Fatalf("PurgeRuleEnforcements = %d, %v; want 2", n, err)
	}
}

func TestClaimDedup(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := testenv.Pool(t)
	s := New(pool)
	claim := func(ti string) bool {
		t.Helper()
		ok, err := s.ClaimDedup(ctx, "demo.r", "host-1", ti, time.Hour)
		if err != nil {
			t.Fatalf("ClaimDedup(%s): %v", ti, err)
		}
		return ok
	}
	if !claim("ti-1") {
		t.Fatal("first claim refused")
	}
	if !claim("ti-1") {
		t.Fatal("the holder's reclaim (a retry) refused")
	}
	if claim("ti-2") {
		t.Fatal("another trigger instance claimed a live key")
	}
	// Other keys and other rules are independent.
	if ok, err := s.ClaimDedup(ctx, "demo.r", "host-2", "ti-2", time.Hour); err != nil || !ok {
		t.Fatalf("claim of another key = %v, %v", ok, err)
	}
	if ok, err := s.ClaimDedup(ctx, "demo.other", "host-1", "ti-2", time.Hour); err != nil || !ok {
		t.Fatalf("claim of another rule = %v, %v", ok, err)
	}
	// A reclaim does not extend the window.
	var exp1, exp2 time.Time
	if err := pool.QueryRow(ctx, "SELECT expires_at FROM rule_dedup WHERE rule_ref = 'demo.r' AND dedup_key = 'host-1'").Scan(&exp1); err != nil {
		t.Fatal(err)
	}
	claim("ti-1")
	if err := pool.QueryRow(ctx, "SELECT expires_at FROM rule_dedup WHERE rule_ref = 'demo.r' AND dedup_key = 'host-1'").Scan(&exp2); err != nil {
		t.Fatal(err)
	}
	if !exp1.Equal(exp2) {
		t.Fatalf("reclaim moved expiry from %s to %s", exp1, exp2)
	}

	// Once expired, the next trigger instance takes the key over.
	if _, err := pool.Exec(ctx, "UPDATE rule_dedup SET expires_at = now() - interval '1 second' WHERE dedup_key = 'host-1' AND rule_ref = 'demo.r'"); err != nil {
		t.Fatal(err)
	}
	if !claim("ti-2") {
		t.Fatal("claim of an expired key refused")
	}
	if claim("ti-1") {
		t.Fatal("the previous holder reclaimed a key taken over")
	}

	// A short window really expires.
	if ok, err := s.ClaimDedup(ctx, "demo.short", "k", "ti-1", 50*time.Millisecond); err != nil || !ok {
		t.Fatalf("short claim = %v, %v", ok, err)
	}
	time.Sleep(100 * time.Millisecond)
	if ok, err := s.ClaimDedup(ctx, "demo.short", "k", "ti-2", time.Minute); err != nil || !ok {
		t.Fatalf("claim after a short window = %v, %v", ok, err)
	}
	if _, err := s.ClaimDedup(ctx, "demo.r", "k", "ti", 0); err == nil {
		t.Fatal("zero window accepted")
	}

	// Concurrent claims by different trigger instances: exactly one wins.
	const racers = 8
	won := make([]bool, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			ok, err := s.ClaimDedup(ctx, "demo.race", "k", fmt.Sprintf("ti-%d", i), time.Hour)
			if err != nil {
				t.Errorf("racer %d: %v", i, err)
			}
			won[i] = ok
		})
	}
	wg.Wait()
	if n := len(slices.DeleteFunc(won, func(b bool) bool { return !b })); n != 1 {
		t.Fatalf("%d concurrent claims won, want 1", n)
	}

	if _, err := pool.Exec(ctx, "UPDATE rule_dedup SET expires_at = now() - interval '1 second' WHERE rule_ref = 'demo.race'"); err != nil {
		t.Fatal(err)
	}
	if n, err := s.PurgeExpiredDedup(ctx); err != nil || n != 1 {
		t.Fatalf("PurgeExpiredDedup = %d, %v; want 1", n, err)
	}
}

func TestSensors(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := New(testenv.Pool(t))
	v0, err := s.SensorsVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"alpha", "beta"} {
		if _, err := s.RegisterPack(ctx, testPack(ref)); err != nil {
			t.Fatal(err)
		}
	}
	v1, err := s.SensorsVersion(ctx)
	if err != nil || v1 == v0 {
		t.Fatalf("SensorsVersion after registering = %q (before %q), %v", v1, v0, err)
	}
	if again, _ := s.SensorsVersion(ctx); again != v1 {
		t.Fatalf("SensorsVersion not stable: %q then %q", v1, again)
	}
	enabled := func() []string {
		t.Helper()
		ss, err := s.EnabledSensors(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out := []string{}
		for _, sn := range ss {
			if sn.PackPath == "" || sn.PackConfig == nil {
				t.Errorf("enabled sensor %s without pack path or config", sn.Ref)
			}
			out = append(out, sn.Ref)
		}
		return out
	}
	if got := enabled(); !reflect.DeepEqual(got, []string{"alpha.Watcher", "beta.Watcher"}) {
		t.Fatalf("EnabledSensors = %v", got)
	}
	rec, err := s.SetSensorEnabled(ctx, "alpha.Watcher", false)
	if err != nil || rec.Enabled || rec.PackPath != "/opt/packs/alpha" {
		t.Fatalf("SetSensorEnabled = %+v, %v", rec, err)
	}
	if got := enabled(); !reflect.DeepEqual(got, []string{"beta.Watcher"}) {
		t.Fatalf("EnabledSensors after disabling = %v", got)
	}
	if got, err := s.GetSensor(ctx, rec.ID); err != nil || got.Enabled {
		t.Fatalf("disabled sensor reads back as %+v, %v", got, err)
	}
	v2, err := s.SensorsVersion(ctx)
	if err != nil || v2 == v1 {
		t.Fatalf("SensorsVersion after disabling = %q (before %q), %v", v2, v1, err)
	}
	if _, err := s.SetSensorEnabled(ctx, "alpha.none", true); !errors.Is(err, ErrNotFound) {
		t.Fatalf("SetSensorEnabled(missing): %v, want ErrNotFound", err)
	}
	if err := s.DeletePack(ctx, "beta"); err != nil {
		t.Fatal(err)
	}
	if v3, err := s.SensorsVersion(ctx); err != nil || v3 == v2 {
		t.Fatalf("SensorsVersion after deleting a pack = %q (before %q), %v", v3, v2, err)
	}
}
