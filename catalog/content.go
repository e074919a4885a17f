package catalog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/squall-automation/squall/pack"
)

// ActionRecord is a registered action with what running it needs besides its
// metadata: the pack's directory and config. In JSON it is StackStorm's action
// shape plus "id"; the pack config stays out because it may hold secrets.
type ActionRecord struct {
	ID string `json:"id"`
	pack.Action
	PackPath   string         `json:"-"`
	PackConfig map[string]any `json:"-"`
}

// RuleRecord is a registered rule. The fields after the rule are the
// catalog's bookkeeping, kept out of JSON so the API answers st2's shape.
type RuleRecord struct {
	ID string `json:"id"`
	pack.Rule
	// TriggerKey is rules.TriggerKey of the rule's trigger type and
	// parameters: the rules engine's index key.
	TriggerKey string `json:"-"`
	// Source is RuleSourcePack or RuleSourceAPI.
	Source    string    `json:"-"`
	UpdatedAt time.Time `json:"-"`
}

// SensorRecord is a registered sensor with its pack's directory and config,
// which the sensor container needs to start it.
type SensorRecord struct {
	ID string `json:"id"`
	pack.Sensor
	PackPath   string         `json:"-"`
	PackConfig map[string]any `json:"-"`
}

// TriggerTypeRecord is a registered trigger type.
type TriggerTypeRecord struct {
	ID string `json:"id"`
	pack.TriggerType
}

// AliasRecord is a registered action alias.
type AliasRecord struct {
	ID string `json:"id"`
	pack.Alias
}

// PolicyRecord is a registered action policy.
type PolicyRecord struct {
	ID string `json:"id"`
	pack.Policy
}

// ListFilter selects content of one kind; zero values mean "any". Limit 0
// means no limit. Results are ordered by ref.
type ListFilter struct {
	Pack   string
	Limit  int
	Offset int
}

// ActionFilter selects actions.
type ActionFilter struct {
	Pack   string
	Name   string
	Limit  int
	Offset int
}

// RuleFilter selects rules. The rules engine asks for the enabled rules of a
// trigger type.
type RuleFilter struct {
	Pack        string
	TriggerType string
	Enabled     *bool
	Limit       int
	Offset      int
}

// PolicyFilter selects policies; ResourceRef is the action they apply to.
type PolicyFilter struct {
	Pack        string
	ResourceRef string
	Limit       int
	Offset      int
}

// where accumulates conditions and their arguments.
type where struct {
	conds []string
	args  []any
}

func (w *where) eq(col string, v any) {
	w.args = append(w.args, v)
	w.conds = append(w.conds, fmt.Sprintf("%s = $%d", col, len(w.args)))
}

func (w *where) eqIf(col, v string) {
	if v != "" {
		w.eq(col, v)
	}
}

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// listContent runs a filtered, paged query ordered by ref and the matching
// count. from is "<table> c [JOIN ...]"; cols are selected and handed to scan.
func listContent[T any](ctx context.Context, s *Store, noun, from, cols string, w where, limit, offset int, scan pgx.RowToFunc[T]) ([]T, int, error) {
	return listOrdered(ctx, s, noun, from, cols, w, "c.ref", limit, offset, scan)
}

// listOrdered is listContent with the order given.
func listOrdered[T any](ctx context.Context, s *Store, noun, from, cols string, w where, order string, limit, offset int, scan pgx.RowToFunc[T]) ([]T, int, error) {
	if limit < 0 || offset < 0 {
		return nil, 0, fmt.Errorf("list %s: negative limit or offset", noun)
	}
	var total int
	if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM "+from+w.sql(), w.args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count %s: %w", noun, err)
	}
	args := append(w.args, limit, offset)
	q := fmt.Sprintf("SELECT %s FROM %s%s ORDER BY %s LIMIT NULLIF($%d::bigint, 0) OFFSET $%d",
		cols, from, w.sql(), order, len(args)-1, len(args))
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list %s: %w", noun, err)
	}
	items, err := pgx.CollectRows(rows, scan)
	if err != nil {
		return nil, 0, fmt.Errorf("list %s: %w", noun, err)
	}
	return items, total, nil
}

// getContent returns the one row whose ref or ID is refOrID.
func getContent[T any](ctx context.Context, s *Store, noun, from, cols, refOrID string, scan pgx.RowToFunc[T]) (*T, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+cols+" FROM "+from+" WHERE c.ref = $1 OR c.id = $1", refOrID)
	if err != nil {
		return nil, fmt.Errorf("get %s %q: %w", noun, refOrID, err)
	}
	item, err := pgx.CollectExactlyOneRow(rows, scan)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%s %q: %w", noun, refOrID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get %s %q: %w", noun, refOrID, err)
	}
	return &item, nil
}

// Content rows are read back from doc (the model as stored) and raw (the
// metadata file); pgx decodes jsonb straight into the model structs.

const (
	withPackFrom = "%s c JOIN packs p ON p.ref = c.pack"
	withPackCols = "c.id, c.doc, c.raw, p.path, p.config"
	plainCols    = "c.id, c.doc, c.raw"
)

var (
	actionsFrom = fmt.Sprintf(withPackFrom, "actions")
	sensorsFrom = fmt.Sprintf(withPackFrom, "sensors")
)

func scanAction(row pgx.CollectableRow) (ActionRecord, error) {
	var r ActionRecord
	err := row.Scan(&r.ID, &r.Action, &r.Action.Raw, &r.PackPath, &r.PackConfig)
	return r, err
}

func scanSensor(row pgx.CollectableRow) (SensorRecord, error) {
	var r SensorRecord
	err := row.Scan(&r.ID, &r.Sensor, &r.Sensor.Raw, &r.PackPath, &r.PackConfig)
	return r, err
}

const ruleCols = plainCols + ", c.trigger_key, c.source, c.updated_at"

func scanRule(row pgx.CollectableRow) (RuleRecord, error) {
	var r RuleRecord
	err := row.Scan(&r.ID, &r.Rule, &r.Rule.Raw, &r.TriggerKey, &r.Source, &r.UpdatedAt)
	return r, err
}

func scanTriggerType(row pgx.CollectableRow) (TriggerTypeRecord, error) {
	var r TriggerTypeRecord
	err := row.Scan(&r.ID, &r.TriggerType, &r.TriggerType.Raw)
	return r, err
}

func scanAlias(row pgx.CollectableRow) (AliasRecord, error) {
	var r AliasRecord
	err := row.Scan(&r.ID, &r.Alias, &r.Alias.Raw)
	return r, err
}

func scanPolicy(row pgx.CollectableRow) (PolicyRecord, error) {
	var r PolicyRecord
	err := row.Scan(&r.ID, &r.Policy, &r.Policy.Raw)
	return r, err
}

// ListActions returns the actions matching f and how many match in all.
func (s *Store) ListActions(ctx context.Context, f ActionFilter) ([]ActionRecord, int, error) {
	var w where
	w.eqIf("c.pack", f.Pack)
	w.eqIf("c.name", f.Name)
	return listContent(ctx, s, "actions", actionsFrom, withPackCols, w, f.Limit, f.Offset, scanAction)
}

// GetAction returns the action with the given ref or ID.
func (s *Store) GetAction(ctx context.Context, refOrID string) (*ActionRecord, error) {
	return getContent(ctx, s, "action", actionsFrom, withPackCols, refOrID, scanAction)
}

// ListRules returns the rules matching f and how many match in all.
func (s *Store) ListRules(ctx context.Context, f RuleFilter) ([]RuleRecord, int, error) {
	var w where
	w.eqIf("c.pack", f.Pack)
	w.eqIf("c.trigger_type", f.TriggerType)
	if f.Enabled != nil {
		w.eq("c.enabled", *f.Enabled)
	}
	return listContent(ctx, s, "rules", "rules c", ruleCols, w, f.Limit, f.Offset, scanRule)
}

// GetRule returns the rule with the given ref or ID.
func (s *Store) GetRule(ctx context.Context, refOrID string) (*RuleRecord, error) {
	return getContent(ctx, s, "rule", "rules c", ruleCols, refOrID, scanRule)
}

// ListSensors returns the sensors matching f and how many match in all.
func (s *Store) ListSensors(ctx context.Context, f ListFilter) ([]SensorRecord, int, error) {
	var w where
	w.eqIf("c.pack", f.Pack)
	return listContent(ctx, s, "sensors", sensorsFrom, withPackCols, w, f.Limit, f.Offset, scanSensor)
}

// GetSensor returns the sensor with the given ref or ID.
func (s *Store) GetSensor(ctx context.Context, refOrID string) (*SensorRecord, error) {
	return getContent(ctx, s, "sensor", sensorsFrom, withPackCols, refOrID, scanSensor)
}

// ListTriggerTypes returns the trigger types matching f and how many match.
func (s *Store) ListTriggerTypes(ctx context.Context, f ListFilter) ([]TriggerTypeRecord, int, error) {
	var w where
	w.eqIf("c.pack", f.Pack)
	return listContent(ctx, s, "trigger types", "trigger_types c", plainCols, w, f.Limit, f.Offset, scanTriggerType)
}

// GetTriggerType returns the trigger type with the given ref or ID.
func (s *Store) GetTriggerType(ctx context.Context, refOrID string) (*TriggerTypeRecord, error) {
	return getContent(ctx, s, "trigger type", "trigger_types c", plainCols, refOrID, scanTriggerType)
}

// ListAliases returns the action aliases matching f and how many match.
func (s *Store) ListAliases(ctx context.Context, f ListFilter) ([]AliasRecord, int, error) {
	var w where
	w.eqIf("c.pack", f.Pack)
	return listContent(ctx, s, "aliases", "aliases c", plainCols, w, f.Limit, f.Offset, scanAlias)
}

// GetAlias returns the action alias with the given ref or ID.
func (s *Store) GetAlias(ctx context.Context, refOrID string) (*AliasRecord, error) {
	return getContent(ctx, s, "alias", "aliases c", plainCols, refOrID, scanAlias)
}

// ListPolicies returns the policies matching f and how many match in all.
func (s *Store) ListPolicies(ctx context.Context, f PolicyFilter) ([]PolicyRecord, int, error) {
	var w where
	w.eqIf("c.pack", f.Pack)
	w.eqIf("c.resource_ref", f.ResourceRef)
	return listContent(ctx, s, "policies", "policies c", plainCols, w, f.Limit, f.Offset, scanPolicy)
}

// GetPolicy returns the policy with the given ref or ID.
func (s *Store) GetPolicy(ctx context.Context, refOrID string) (*PolicyRecord, error) {
	return getContent(ctx, s, "policy", "policies c", plainCols, refOrID, scanPolicy)
}
