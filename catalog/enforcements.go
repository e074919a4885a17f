package catalog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// ruleUID is st2's rule uid, "rule:<pack>:<name>", from a rule ref.
func ruleUID(ref string) string {
	packRef, name, _ := strings.Cut(ref, ".")
	return "rule:" + packRef + ":" + name
}

const enforcementCols = "c.id, c.rule_id, c.rule_ref, c.trigger_instance_id, c.execution_id, c.status, c.failure_reason, c.enforced_at"

func scanEnforcement(row pgx.CollectableRow) (RuleEnforcement, error) {
	var e RuleEnforcement
	err := row.Scan(&e.ID, &e.Rule.ID, &e.Rule.Ref, &e.TriggerInstanceID, &e.ExecutionID,
		&e.Status, &e.FailureReason, &e.EnforcedAt)
	e.Rule.UID = ruleUID(e.Rule.Ref)
	return e, err
}

// RecordEnforcement stores what a rule did with a trigger instance, once per
// (trigger instance, rule ref): when processing is retried, or two workers
// race, the enforcement already stored is returned unchanged with inserted
// false. Rule.Ref, TriggerInstanceID and Status are required; ID (new) and
// EnforcedAt (now) may be left out.
func (s *Store) RecordEnforcement(ctx context.Context, e RuleEnforcement) (RuleEnforcement, bool, error) {
	if e.Rule.Ref == "" || e.TriggerInstanceID == "" {
		return RuleEnforcement{}, false, errors.New("record enforcement: rule ref and trigger instance ID are required")
	}
	if e.Status != EnforcementSucceeded && e.Status != EnforcementFailed {
		return RuleEnforcement{}, false, fmt.Errorf("record enforcement of %s for %s: unknown status %q", e.Rule.Ref, e.TriggerInstanceID, e.Status)
	}
	if e.ID == "" {
		e.ID = NewID()
	}
	if e.EnforcedAt.IsZero() {
		e.EnforcedAt = time.Now()
	}
	// DO UPDATE (a no-op) rather than DO NOTHING: it waits for a concurrent
	// insert of the same pair to commit and then returns that row, in this
	// one statement. xmax is 0 only on a row this statement inserted.
	rows, err := s.pool.Query(ctx, `
INSERT INTO rule_enforcements AS c (id, rule_id, rule_ref, trigger_instance_id, execution_id, status, failure_reason, enforced_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (trigger_instance_id, rule_ref) DO UPDATE SET rule_ref = c.rule_ref
RETURNING `+enforcementCols+`, c.xmax = 0`,
		e.ID, e.Rule.ID, e.Rule.Ref, e.TriggerInstanceID, e.ExecutionID, e.Status, e.FailureReason, e.EnforcedAt)
	if err != nil {
		return RuleEnforcement{}, false, fmt.Errorf("record enforcement of %s for %s: %w", e.Rule.Ref, e.TriggerInstanceID, err)
	}
	var inserted bool
	got, err := pgx.CollectExactlyOneRow(rows, func(row pgx.CollectableRow) (RuleEnforcement, error) {
		var r RuleEnforcement
		err := row.Scan(&r.ID, &r.Rule.ID, &r.Rule.Ref, &r.TriggerInstanceID, &r.ExecutionID,
			&r.Status, &r.FailureReason, &r.EnforcedAt, &inserted)
		r.Rule.UID = ruleUID(r.Rule.Ref)
		return r, err
	})
	if err != nil {
		return RuleEnforcement{}, false, fmt.Errorf("record enforcement of %s for %s: %w", e.Rule.Ref, e.TriggerInstanceID, err)
	}
	return got, inserted, nil
}

// GetRuleEnforcement returns the rule enforcement with the given ID.
func (s *Store) GetRuleEnforcement(ctx context.Context, id string) (*RuleEnforcement, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+enforcementCols+" FROM rule_enforcements c WHERE c.id = $1", id)
	if err != nil {
		return nil, fmt.Errorf("get rule enforcement %q: %w", id, err)
	}
	e, err := pgx.CollectExactlyOneRow(rows, scanEnforcement)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("rule enforcement %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get rule enforcement %q: %w", id, err)
	}
	return &e, nil
}

// ListRuleEnforcements returns the rule enforcements matching f, newest
// first, and how many match in all.
func (s *Store) ListRuleEnforcements(ctx context.Context, f EnforcementFilter) ([]RuleEnforcement, int, error) {
	var w where
	if IsID(f.Rule) {
		w.eq("c.rule_id", f.Rule)
	} else {
		w.eqIf("c.rule_ref", f.Rule)
	}
	w.eqIf("c.trigger_instance_id", f.TriggerInstance)
	w.eqIf("c.execution_id", f.Execution)
	return listOrdered(ctx, s, "rule enforcements", "rule_enforcements c", enforcementCols, w,
		"c.enforced_at DESC, c.id DESC", f.Limit, f.Offset, scanEnforcement)
}

// PurgeRuleEnforcements deletes the rule enforcements made before the given
// time and returns how many.
func (s *Store) PurgeRuleEnforcements(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, "DELETE FROM rule_enforcements WHERE enforced_at < $1", before)
	if err != nil {
		return 0, fmt.Errorf("purge rule enforcements: %w", err)
	}
	return tag.RowsAffected(), nil
}

// ClaimDedup claims the dedup key of a rule for a trigger instance for
// window. It reports true when no live claim on (rule, key) exists (an
// expired one is taken over) or the live claim is this trigger instance's
// own, so retried processing gets the same answer; false when another
// trigger instance holds it, and the rule must not fire. A reclaim by the
// holder does not extend the window.
func (s *Store) ClaimDedup(ctx context.Context, ruleRef, key, triggerInstanceID string, window time.Duration) (claimed bool, err error) {
	if window <= 0 {
		return false, fmt.Errorf("claim dedup key of %s: window %s is not positive", ruleRef, window)
	}
	// A concurrent claim of the same pair waits for the other to commit,
	// then sees its row in the WHERE: exactly one of them wins.
	rows, err := s.pool.Query(ctx, `
INSERT INTO rule_dedup AS d (rule_ref, dedup_key, trigger_instance_id, expires_at)
VALUES ($1, $2, $3, now() + make_interval(secs => $4))
ON CONFLICT (rule_ref, dedup_key) DO UPDATE
    SET trigger_instance_id = EXCLUDED.trigger_instance_id,
        expires_at = CASE WHEN d.expires_at > now() THEN d.expires_at ELSE EXCLUDED.expires_at END
    WHERE d.expires_at <= now() OR d.trigger_instance_id = EXCLUDED.trigger_instance_id
RETURNING true`, ruleRef, key, triggerInstanceID, window.Seconds())
	if err != nil {
		return false, fmt.Errorf("claim dedup key of %s: %w", ruleRef, err)
	}
	claimed, err = pgx.CollectExactlyOneRow(rows, pgx.RowTo[bool])
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("claim dedup key of %s: %w", ruleRef, err)
	}
	return claimed, nil
}

// PurgeExpiredDedup deletes expired dedup claims and returns how many.
func (s *Store) PurgeExpiredDedup(ctx context.Context) (int64, error) {
	tag, err := s.pool.Exec(ctx, "DELETE FROM rule_dedup WHERE expires_at <= now()")
	if err != nil {
		return 0, fmt.Errorf("purge expired dedup claims: %w", err)
	}
	return tag.RowsAffected(), nil
}
