package catalog

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/squall-automation/squall/pack"
	"github.com/squall-automation/squall/pyfmt"
	"github.com/squall-automation/squall/rules"
	"github.com/squall-automation/squall/trigger"
)

// Trigger objects are derived data: the catalog keeps exactly one per
// trigger key that a rule uses, plus a "shadow" trigger for every trigger
// type without a parameters schema (st2 creates those when it registers the
// type, so that sensors can dispatch to them). reconcileTriggers restores
// that invariant after anything that changes rules or trigger types.

// TriggerFilter selects trigger objects; zero values mean "any". Results are
// ordered by ref.
type TriggerFilter struct {
	Type   string
	Pack   string
	Limit  int
	Offset int
}

// TriggerRef is the ref of the trigger object for a trigger type and
// parameters, computed without a lookup: the type ref itself when there are
// no parameters, else "<type's pack>.<24 hex of sha256(trigger key)>". It is
// deterministic, so a trigger instance names its trigger even when no rule
// (and so no trigger object) exists.
func TriggerRef(typeRef string, params map[string]any) (string, error) {
	key, err := rules.TriggerKey(typeRef, params)
	if err != nil {
		return "", err
	}
	return triggerRefForKey(typeRef, key), nil
}

func triggerRefForKey(typeRef, key string) string {
	if key == typeRef {
		return typeRef
	}
	sum := sha256.Sum256([]byte(key))
	return typePack(typeRef) + "." + hex.EncodeToString(sum[:12])
}

// typePack is the pack part of a trigger type ref (pack refs have no dots).
func typePack(typeRef string) string {
	if i := strings.IndexByte(typeRef, '.'); i > 0 {
		return typeRef[:i]
	}
	return typeRef
}

// triggerUID is st2's TriggerDB uid: "trigger:<pack>:<name>:" plus the MD5
// of the parameters as Python's json.dumps(sort_keys=True) writes them.
func triggerUID(packRef, name string, params map[string]any) string {
	doc, err := pyfmt.JSON(emptyMap(params), pyfmt.JSONOptions{})
	if err != nil {
		// Unreachable: parameters come from JSON (the database, or a rule
		// that TriggerKey encoded already). Hash something deterministic
		// rather than fail a listing over a uid.
		doc = fmt.Sprint(params)
	}
	sum := md5.Sum([]byte(doc))
	return "trigger:" + packRef + ":" + name + ":" + hex.EncodeToString(sum[:])
}

// newTrigger builds the trigger object for a type and parameters.
func newTrigger(typeRef string, params map[string]any, key, description string) Trigger {
	ref := triggerRefForKey(typeRef, key)
	packRef := typePack(typeRef)
	name := strings.TrimPrefix(ref, packRef+".")
	return Trigger{
		Ref: ref, Name: name, Pack: packRef, Type: typeRef,
		Parameters: emptyMap(params), Description: description,
		UID: triggerUID(packRef, name, params),
	}
}

const triggerColumns = "id, ref, name, pack, type, parameters, description"

func scanTrigger(row pgx.CollectableRow) (Trigger, error) {
	var t Trigger
	err := row.Scan(&t.ID, &t.Ref, &t.Name, &t.Pack, &t.Type, &t.Parameters, &t.Description)
	t.UID = triggerUID(t.Pack, t.Name, t.Parameters)
	return t, err
}

// ListTriggers returns the trigger objects matching f and how many match.
func (s *Store) ListTriggers(ctx context.Context, f TriggerFilter) ([]Trigger, int, error) {
	var w where
	w.eqIf("c.type", f.Type)
	w.eqIf("c.pack", f.Pack)
	return listContent(ctx, s, "triggers", "triggers c", prefixed("c.", triggerColumns), w, f.Limit, f.Offset, scanTrigger)
}

// GetTrigger returns the trigger object with the given ref or ID.
func (s *Store) GetTrigger(ctx context.Context, refOrID string) (*Trigger, error) {
	return getContent(ctx, s, "trigger", "triggers c", prefixed("c.", triggerColumns), refOrID, scanTrigger)
}

// TriggerFor returns the trigger object of a type and parameters; it exists
// only while a rule uses it (or, without parameters, while the type has no
// parameters schema).
func (s *Store) TriggerFor(ctx context.Context, typeRef string, params map[string]any) (*Trigger, error) {
	key, err := rules.TriggerKey(typeRef, params)
	if err != nil {
		return nil, fmt.Errorf("trigger for %s: %w", typeRef, err)
	}
	// One round trip also tells whether enabled rules listen: a webhook
	// needs both for every event.
	rows, err := s.pool.Query(ctx, "SELECT "+prefixed("t.", triggerColumns)+`,
    EXISTS (SELECT 1 FROM rules r WHERE r.enabled AND r.trigger_key = t.trigger_key)
FROM triggers t WHERE t.trigger_key = $1`, key)
	if err != nil {
		return nil, fmt.Errorf("trigger for %s: %w", typeRef, err)
	}
	t, err := pgx.CollectExactlyOneRow(rows, func(row pgx.CollectableRow) (Trigger, error) {
		var t Trigger
		var listened bool
		err := row.Scan(&t.ID, &t.Ref, &t.Name, &t.Pack, &t.Type, &t.Parameters, &t.Description, &listened)
		t.UID = triggerUID(t.Pack, t.Name, t.Parameters)
		t.Listened = &listened
		return t, err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("trigger %q: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("trigger for %s: %w", typeRef, err)
	}
	return &t, nil
}

// ActiveTriggers returns the trigger objects of the given types (of every
// type when none is given) that at least one enabled rule listens to,
// ordered by ref. Timers reconcile their schedules from it.
func (s *Store) ActiveTriggers(ctx context.Context, typeRefs ...string) ([]Trigger, error) {
	q := "SELECT " + prefixed("t.", triggerColumns) + ` FROM triggers t
WHERE (cardinality($1::text[]) = 0 OR t.type = ANY($1))
  AND EXISTS (SELECT 1 FROM rules r WHERE r.enabled AND r.trigger_key = t.trigger_key)
ORDER BY t.ref`
	rows, err := s.pool.Query(ctx, q, emptySlice(typeRefs))
	if err != nil {
		return nil, fmt.Errorf("active triggers: %w", err)
	}
	ts, err := pgx.CollectRows(rows, scanTrigger)
	if err != nil {
		return nil, fmt.Errorf("active triggers: %w", err)
	}
	return ts, nil
}

// lockTriggerSet takes lockTriggers until the end of tx.
func lockTriggerSet(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, 0)", lockTriggers); err != nil {
		return fmt.Errorf("lock triggers: %w", err)
	}
	return nil
}

// reconcileTriggers creates the trigger objects that rules and trigger types
// need and deletes those nothing needs any more. The caller holds
// lockTriggers, so no other transaction changes rules or trigger types
// between the two statements and the next reconciliation sees this one's
// result. The anti-joins read whole tables, which hold thousands of rows at
// most; this runs on registration and rule changes, never per event.
func reconcileTriggers(ctx context.Context, tx pgx.Tx) error {
	// Shadow triggers are st2's: trigger types whose parameters_schema is
	// empty (pack.TriggerType omits it from doc then).
	rows, err := tx.Query(ctx, `
SELECT r.trigger_key, r.trigger_type, coalesce(r.doc->'trigger'->'parameters', '{}'), ''
FROM rules r
WHERE NOT EXISTS (SELECT 1 FROM triggers t WHERE t.trigger_key = r.trigger_key)
UNION
SELECT tt.ref, tt.ref, '{}'::jsonb, coalesce(tt.doc->>'description', '')
FROM trigger_types tt
WHERE coalesce(tt.doc->'parameters_schema', '{}') = '{}'
  AND NOT EXISTS (SELECT 1 FROM triggers t WHERE t.trigger_key = tt.ref)`)
	if err != nil {
		return fmt.Errorf("find missing triggers: %w", err)
	}
	type missing struct {
		key, typeRef, desc string
		params             map[string]any
	}
	need, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (missing, error) {
		var m missing
		err := row.Scan(&m.key, &m.typeRef, &m.params, &m.desc)
		return m, err
	})
	if err != nil {
		return fmt.Errorf("find missing triggers: %w", err)
	}
	// The union can name a key twice (a shadow trigger that a rule also
	// uses); the description of the type wins.
	byKey := map[string]missing{}
	for _, m := range need {
		if prev, ok := byKey[m.key]; !ok || prev.desc == "" {
			byKey[m.key] = m
		}
	}
	if len(byKey) > 0 {
		var ids, refs, names, packs, types, params, keys, descs []string
		for _, m := range byKey {
			t := newTrigger(m.typeRef, m.params, m.key, m.desc)
			p, err := json.Marshal(t.Parameters)
			if err != nil {
				return fmt.Errorf("trigger %s: encode parameters: %w", t.Ref, err)
			}
			ids = append(ids, NewID())
			refs = append(refs, t.Ref)
			names = append(names, t.Name)
			packs = append(packs, t.Pack)
			types = append(types, t.Type)
			params = append(params, string(p))
			keys = append(keys, m.key)
			descs = append(descs, t.Description)
		}
		if _, err := tx.Exec(ctx, `
INSERT INTO triggers (id, ref, name, pack, type, parameters, trigger_key, description)
SELECT id, ref, name, pack, type, parameters::jsonb, trigger_key, description
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
    AS u (id, ref, name, pack, type, parameters, trigger_key, description)
ON CONFLICT (trigger_key) DO NOTHING`, ids, refs, names, packs, types, params, keys, descs); err != nil {
			return fmt.Errorf("create triggers: %w", err)
		}
	}
	if _, err := tx.Exec(ctx, `
DELETE FROM triggers t
WHERE NOT EXISTS (SELECT 1 FROM rules r WHERE r.trigger_key = t.trigger_key)
  AND NOT (t.parameters = '{}' AND EXISTS (
      SELECT 1 FROM trigger_types tt
      WHERE tt.ref = t.type AND coalesce(tt.doc->'parameters_schema', '{}') = '{}'))`); err != nil {
		return fmt.Errorf("delete unused triggers: %w", err)
	}
	return nil
}

// withBuiltins returns p with the built-in trigger types added to the core
// pack's own, so that registering core (again) keeps them. A trigger type
// the pack declares itself wins over the built-in of the same ref.
func withBuiltins(p *pack.Pack) *pack.Pack {
	if p.Ref != "core" {
		return p
	}
	declared := make(map[string]bool, len(p.TriggerTypes))
	for _, tt := range p.TriggerTypes {
		declared[tt.Ref] = true
	}
	cp := *p
	cp.TriggerTypes = append([]pack.TriggerType(nil), p.TriggerTypes...)
	for _, tt := range trigger.Builtins() {
		if !declared[tt.Ref] {
			cp.TriggerTypes = append(cp.TriggerTypes, tt)
		}
	}
	return &cp
}

// EnsureBuiltins makes the built-in trigger types exist without the bundled
// core pack: it creates a minimal "core" pack row when there is none and
// upserts the built-ins into it, leaving alone a trigger type of the same
// ref that core's directory declares. It also recomputes the trigger keys
// that migration 002 could only approximate and reconciles the trigger
// objects. The server calls it at start; it is idempotent.
func (s *Store) EnsureBuiltins(ctx context.Context) error {
	rows, err := contentRows(&pack.Pack{Ref: "core", TriggerTypes: trigger.Builtins()})
	if err != nil {
		return fmt.Errorf("ensure built-in trigger types: %w", err)
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockPack(ctx, tx, "core"); err != nil {
			return err
		}
		if err := lockTriggerSet(ctx, tx); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `
INSERT INTO packs (ref, id, name, description, path) VALUES ('core', $1, 'core', 'StackStorm core', '')
ON CONFLICT (ref) DO NOTHING`, NewID()); err != nil {
			return fmt.Errorf("create core pack: %w", err)
		}
		batch := &pgx.Batch{}
		for _, r := range rows[kindTriggerTypes.table] {
			// A row from core's metadata files (metadata_file set) stays.
			batch.Queue(`
INSERT INTO trigger_types AS t (id, ref, pack, name, doc, raw) VALUES ($1, $2, 'core', $3, $4, $5)
ON CONFLICT (ref) DO UPDATE SET name = EXCLUDED.name, doc = EXCLUDED.doc, raw = EXCLUDED.raw, updated_at = now()
WHERE t.pack = 'core' AND coalesce(t.doc->>'metadata_file', '') = '' AND t.doc IS DISTINCT FROM EXCLUDED.doc`,
				NewID(), r.ref, r.name, r.doc, r.raw)
		}
		if err := tx.SendBatch(ctx, batch).Close(); err != nil {
			return fmt.Errorf("store built-in trigger types: %w", err)
		}
		if err := fixTriggerKeys(ctx, tx); err != nil {
			return err
		}
		return reconcileTriggers(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("ensure built-in trigger types: %w", err)
	}
	return nil
}

// fixTriggerKeys recomputes trigger_key for the rules that migration 002
// gave the bare type ref although they have trigger parameters.
func fixTriggerKeys(ctx context.Context, tx pgx.Tx) error {
	rows, err := tx.Query(ctx, `
SELECT id, trigger_type, doc->'trigger'->'parameters' FROM rules
WHERE trigger_key = trigger_type AND jsonb_typeof(doc->'trigger'->'parameters') = 'object'
  AND doc->'trigger'->'parameters' <> '{}'`)
	if err != nil {
		return fmt.Errorf("find stale trigger keys: %w", err)
	}
	type stale struct {
		id, typeRef string
		params      map[string]any
	}
	found, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (stale, error) {
		var s stale
		err := row.Scan(&s.id, &s.typeRef, &s.params)
		return s, err
	})
	if err != nil {
		return fmt.Errorf("find stale trigger keys: %w", err)
	}
	for _, r := range found {
		key, err := rules.TriggerKey(r.typeRef, r.params)
		if err != nil {
			return fmt.Errorf("rule %s: %w", r.id, err)
		}
		if _, err := tx.Exec(ctx, "UPDATE rules SET trigger_key = $2 WHERE id = $1", r.id, key); err != nil {
			return fmt.Errorf("rule %s: set trigger key: %w", r.id, err)
		}
	}
	return nil
}

// prefixed qualifies each of a comma-separated list of columns.
func prefixed(prefix, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = prefix + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}
