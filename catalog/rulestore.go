package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/squall-automation/squall/pack"
	"github.com/squall-automation/squall/rules"
)

// Where a rule came from (rules.source).
const (
	// RuleSourcePack rules were registered from the pack's directory; the
	// next registration of the pack replaces or deletes them.
	RuleSourcePack = "pack"
	// RuleSourceAPI rules were created through the API; registering their
	// pack from disk leaves them alone.
	RuleSourceAPI = "api"
)

// Postgres error codes the rule writes translate.
const (
	pgUniqueViolation     = "23505"
	pgForeignKeyViolation = "23503"
)

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// EnabledRulesFor returns the enabled rules listening to the trigger with
// the given key (rules.TriggerKey), ordered by ref.
func (s *Store) EnabledRulesFor(ctx context.Context, triggerKey string) ([]RuleRecord, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+ruleCols+" FROM rules c WHERE c.trigger_key = $1 AND c.enabled ORDER BY c.ref", triggerKey)
	if err != nil {
		return nil, fmt.Errorf("enabled rules of %q: %w", triggerKey, err)
	}
	rs, err := pgx.CollectRows(rows, scanRule)
	if err != nil {
		return nil, fmt.Errorf("enabled rules of %q: %w", triggerKey, err)
	}
	return rs, nil
}

// HasEnabledRules reports whether an enabled rule listens to the trigger
// type with these parameters. Ingest asks it for every event, so it is one
// probe of the partial index on enabled rules' trigger keys.
func (s *Store) HasEnabledRules(ctx context.Context, triggerType string, triggerParams map[string]any) (bool, error) {
	key, err := rules.TriggerKey(triggerType, triggerParams)
	if err != nil {
		return false, fmt.Errorf("rules of %s: %w", triggerType, err)
	}
	var used bool
	if err := s.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM rules WHERE trigger_key = $1 AND enabled)", key).Scan(&used); err != nil {
		return false, fmt.Errorf("rules of %s: %w", triggerType, err)
	}
	return used, nil
}

// ruleRow is a rule ready to store through the API.
type ruleRow struct {
	ref, key  string
	doc, raw  []byte
	rule      pack.Rule
	packRef   string
	name      string
	trigType  string
	actionRef string
}

// newRuleRow completes r's ref from its pack and name, checks that they
// agree and computes the trigger key. Compiling the rule (rules.Compile) is
// the caller's job.
func newRuleRow(r pack.Rule) (ruleRow, error) {
	if r.Pack == "" || r.Name == "" {
		return ruleRow{}, errors.New("rule needs a pack and a name")
	}
	want := r.Pack + "." + r.Name
	if r.Ref == "" {
		r.Ref = want
	}
	if r.Ref != want {
		return ruleRow{}, fmt.Errorf("ref %q does not match pack %q and name %q", r.Ref, r.Pack, r.Name)
	}
	if r.Trigger.Type == "" {
		return ruleRow{}, errors.New("trigger.type is required")
	}
	key, err := rules.TriggerKey(r.Trigger.Type, r.Trigger.Parameters)
	if err != nil {
		return ruleRow{}, err
	}
	doc, err := json.Marshal(r)
	if err != nil {
		return ruleRow{}, fmt.Errorf("encode: %w", err)
	}
	raw, err := json.Marshal(emptyMap(r.Raw))
	if err != nil {
		return ruleRow{}, fmt.Errorf("encode metadata: %w", err)
	}
	return ruleRow{
		ref: r.Ref, key: key, doc: doc, raw: raw, rule: r,
		packRef: r.Pack, name: r.Name, trigType: r.Trigger.Type, actionRef: r.Action.Ref,
	}, nil
}

// ruleWriteError turns constraint violations of a rule write into errors
// callers can branch on.
func ruleWriteError(err error, row ruleRow) error {
	switch pgCode(err) {
	case pgUniqueViolation:
		return fmt.Errorf("rule %q exists already: %w", row.ref, ErrConflict)
	case pgForeignKeyViolation:
		return fmt.Errorf("pack %q is not registered: %w", row.packRef, ErrNotFound)
	}
	return err
}

// CreateRule stores a rule created through the API (source "api") and the
// trigger object it needs. Its pack must be registered (else the error
// wraps ErrNotFound); a taken ref is an error wrapping ErrConflict.
func (s *Store) CreateRule(ctx context.Context, r pack.Rule) (*RuleRecord, error) {
	row, err := newRuleRow(r)
	if err != nil {
		return nil, fmt.Errorf("create rule %q: %w", r.Ref, err)
	}
	var rec RuleRecord
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockTriggerSet(ctx, tx); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `
INSERT INTO rules AS c (id, ref, pack, name, enabled, trigger_type, action_ref, trigger_key, source, doc, raw)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'api', $9, $10)
ON CONFLICT (ref) DO NOTHING
RETURNING `+ruleCols,
			NewID(), row.ref, row.packRef, row.name, row.rule.Enabled, row.trigType, row.actionRef, row.key, row.doc, row.raw)
		if err != nil {
			return err
		}
		rec, err = pgx.CollectExactlyOneRow(rows, scanRule)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("rule %q exists already: %w", row.ref, ErrConflict)
		}
		if err != nil {
			return ruleWriteError(err, row)
		}
		return reconcileTriggers(ctx, tx)
	})
	if err != nil {
		return nil, fmt.Errorf("create rule %q: %w", row.ref, err)
	}
	return &rec, nil
}

// UpdateRule replaces the rule with the given ref or ID by r (st2's PUT),
// keeping its ID and source. r may rename or move the rule (a taken ref
// wraps ErrConflict, an unregistered pack ErrNotFound). A rule from a pack's
// directory is replaced again when the pack is next registered.
func (s *Store) UpdateRule(ctx context.Context, refOrID string, r pack.Rule) (*RuleRecord, error) {
	row, err := newRuleRow(r)
	if err != nil {
		return nil, fmt.Errorf("update rule %q: %w", refOrID, err)
	}
	var rec RuleRecord
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockTriggerSet(ctx, tx); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `
UPDATE rules AS c SET ref = $2, pack = $3, name = $4, enabled = $5, trigger_type = $6,
    action_ref = $7, trigger_key = $8, doc = $9, raw = $10, updated_at = now()
WHERE c.ref = $1 OR c.id = $1
RETURNING `+ruleCols,
			refOrID, row.ref, row.packRef, row.name, row.rule.Enabled, row.trigType, row.actionRef, row.key, row.doc, row.raw)
		if err != nil {
			return err
		}
		rec, err = pgx.CollectExactlyOneRow(rows, scanRule)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("rule %q: %w", refOrID, ErrNotFound)
		}
		if err != nil {
			return ruleWriteError(err, row)
		}
		return reconcileTriggers(ctx, tx)
	})
	if err != nil {
		return nil, fmt.Errorf("update rule %q: %w", refOrID, err)
	}
	return &rec, nil
}

// DeleteRule deletes the rule with the given ref or ID, whatever its source,
// and the trigger object only it used.
func (s *Store) DeleteRule(ctx context.Context, refOrID string) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockTriggerSet(ctx, tx); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, "DELETE FROM rules WHERE ref = $1 OR id = $1", refOrID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("rule %q: %w", refOrID, ErrNotFound)
		}
		return reconcileTriggers(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("delete rule %q: %w", refOrID, err)
	}
	return nil
}

// SetRuleEnabled enables or disables the rule with the given ref or ID. The
// set of trigger objects does not change: ActiveTriggers looks at enabled.
func (s *Store) SetRuleEnabled(ctx context.Context, refOrID string, enabled bool) (*RuleRecord, error) {
	rows, err := s.pool.Query(ctx, `
UPDATE rules AS c SET enabled = $2, doc = jsonb_set(c.doc, '{enabled}', to_jsonb($2::boolean)), updated_at = now()
WHERE c.ref = $1 OR c.id = $1
RETURNING `+ruleCols, refOrID, enabled)
	if err != nil {
		return nil, fmt.Errorf("set rule %q enabled: %w", refOrID, err)
	}
	rec, err := pgx.CollectExactlyOneRow(rows, scanRule)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("rule %q: %w", refOrID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("set rule %q enabled: %w", refOrID, err)
	}
	return &rec, nil
}

// versionOf is the SQL of a content version: the row count and a digest of
// every row's ID and update time. Unlike max(updated_at) it changes even
// when a transaction that started earlier commits later, or a row is
// deleted and another updated at once. Reading every row is fine for the
// few thousand rules or sensors an installation has.
const versionOf = `count(*)::text || '-' || md5(coalesce(string_agg(%s, ',' ORDER BY c.id), ''))`

func epochMicros(col string) string {
	return fmt.Sprintf("(extract(epoch FROM %s) * 1000000)::bigint::text", col)
}

// RulesVersion identifies the current state of all rules: it changes
// whenever a rule is created, changed, enabled or disabled, or deleted, in
// the changing transaction (a counter bumped by a trigger on the rules
// table, migration 004). One row read: the rules engine checks it for
// every event, the timers reconciler every few seconds.
func (s *Store) RulesVersion(ctx context.Context) (string, error) {
	var v int64
	if err := s.pool.QueryRow(ctx, "SELECT version FROM rules_version").Scan(&v); err != nil {
		return "", fmt.Errorf("rules version: %w", err)
	}
	return strconv.FormatInt(v, 10), nil
}
