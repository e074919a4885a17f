package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/squall-automation/squall/pack"
	"github.com/squall-automation/squall/rules"
)

// PackRecord is a registered pack without its content, in the shape of
// StackStorm's pack API. Config is left out of JSON: it may hold secrets.
type PackRecord struct {
	ID             string         `json:"id"`
	Ref            string         `json:"ref"`
	Name           string         `json:"name"`
	Description    string         `json:"description"`
	Version        string         `json:"version"`
	Author         string         `json:"author"`
	Email          string         `json:"email"`
	Keywords       []string       `json:"keywords"`
	Dependencies   []string       `json:"dependencies"`
	PythonVersions []string       `json:"python_versions"`
	Path           string         `json:"path"`
	Metadata       map[string]any `json:"-"`
	ConfigSchema   map[string]any `json:"-"`
	Config         map[string]any `json:"-"`
	RegisteredAt   time.Time      `json:"registered_at"`
	UpdatedAt      time.Time      `json:"updated_at"`
}

// RegisterResult counts what a registration stored for the pack.
type RegisterResult struct {
	Pack         string `json:"pack"`
	Actions      int    `json:"actions"`
	Rules        int    `json:"rules"`
	Sensors      int    `json:"sensors"`
	TriggerTypes int    `json:"trigger_types"`
	Aliases      int    `json:"aliases"`
	Policies     int    `json:"policies"`
}

// RegisterPack stores p and its content in one transaction: the pack row and
// each item are upserted by ref (an item keeps its ID across registrations)
// and the pack's items that p no longer has are deleted. Either all of it
// happens or nothing does. Registrations of the same pack are serialised.
//
// Rules created through the API (CreateRule) in the pack are kept, unless
// the pack now declares a rule of the same ref, which takes it over. The
// core pack always gets the built-in trigger types (trigger.Builtins) in
// addition to its own. Trigger objects are reconciled with the new rules
// and trigger types in the same transaction.
func (s *Store) RegisterPack(ctx context.Context, p *pack.Pack) (RegisterResult, error) {
	if p == nil {
		return RegisterResult{}, errors.New("register pack: nil pack")
	}
	own := p
	p = withBuiltins(p)
	items, err := contentRows(p)
	if err != nil {
		return RegisterResult{}, fmt.Errorf("register pack %q: %w", p.Ref, err)
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockPack(ctx, tx, p.Ref); err != nil {
			return err
		}
		if err := lockTriggerSet(ctx, tx); err != nil {
			return err
		}
		if err := upsertPack(ctx, tx, p); err != nil {
			return err
		}
		for _, k := range contentKinds {
			if err := syncContent(ctx, tx, k, p.Ref, items[k.table]); err != nil {
				return err
			}
		}
		return reconcileTriggers(ctx, tx)
	})
	if err != nil {
		return RegisterResult{}, fmt.Errorf("register pack %q: %w", p.Ref, err)
	}
	return RegisterResult{
		Pack:         p.Ref,
		Actions:      len(p.Actions),
		Rules:        len(p.Rules),
		Sensors:      len(p.Sensors),
		TriggerTypes: len(own.TriggerTypes), // the pack's own, as on disk; not the built-ins
		Aliases:      len(p.Aliases),
		Policies:     len(p.Policies),
	}, nil
}

// lockPack serialises registration and deletion of one pack until the end of
// tx, before any row is touched. The pack row's upsert would also make a
// second registration wait, but only once it got there; taking the lock first
// keeps the guarantee independent of statement order, so two registrations
// never interleave their upserts and deletes, and never deadlock.
func lockPack(ctx context.Context, tx pgx.Tx, ref string) error {
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, hashtext($2))", lockPackRegistration, ref); err != nil {
		return fmt.Errorf("lock pack: %w", err)
	}
	return nil
}

func upsertPack(ctx context.Context, tx pgx.Tx, p *pack.Pack) error {
	_, err := tx.Exec(ctx, `
INSERT INTO packs (ref, id, name, description, version, author, email, keywords,
                   dependencies, python_versions, path, metadata, config_schema, config)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
ON CONFLICT (ref) DO UPDATE SET
    name = EXCLUDED.name,
    description = EXCLUDED.description,
    version = EXCLUDED.version,
    author = EXCLUDED.author,
    email = EXCLUDED.email,
    keywords = EXCLUDED.keywords,
    dependencies = EXCLUDED.dependencies,
    python_versions = EXCLUDED.python_versions,
    path = EXCLUDED.path,
    metadata = EXCLUDED.metadata,
    config_schema = EXCLUDED.config_schema,
    config = EXCLUDED.config,
    updated_at = now()`,
		p.Ref, NewID(), p.Name, p.Description, p.Version, p.Author, p.Email,
		emptySlice(p.Keywords), emptySlice(p.Dependencies), emptySlice(p.PythonVersions),
		p.Path, emptyMap(p.Metadata), emptyMap(p.ConfigSchema), emptyMap(p.Config))
	if err != nil {
		return fmt.Errorf("upsert pack row: %w", err)
	}
	return nil
}

// contentKind describes one content table. Every table has id, ref, pack,
// name, doc and raw; cols are the extra columns that queries filter on.
// owned restricts which of the pack's rows a registration replaces.
type contentKind struct {
	table string
	noun  string
	cols  []string
	owned string
}

var (
	kindActions = contentKind{table: "actions", noun: "action", cols: []string{"enabled", "runner_type"}}
	// Rules created through the API are not the directory's to delete.
	kindRules = contentKind{table: "rules", noun: "rule", owned: "source = 'pack'",
		cols: []string{"enabled", "trigger_type", "action_ref", "trigger_key", "source"}}
	kindSensors      = contentKind{table: "sensors", noun: "sensor", cols: []string{"enabled"}}
	kindTriggerTypes = contentKind{table: "trigger_types", noun: "trigger type"}
	kindAliases      = contentKind{table: "aliases", noun: "alias", cols: []string{"enabled", "action_ref"}}
	kindPolicies     = contentKind{table: "policies", noun: "policy", cols: []string{"enabled", "resource_ref", "policy_type"}}

	// Order matters only for error messages; each table is independent.
	contentKinds = []contentKind{kindActions, kindRules, kindSensors, kindTriggerTypes, kindAliases, kindPolicies}
)

// contentRow is one item ready to store: doc is the pack model (marshalled
// to JSON once here, so a value that cannot be stored fails before any SQL),
// raw the metadata file as written.
type contentRow struct {
	ref, name string
	extra     []any
	doc, raw  []byte
}

// contentRows validates p's items and turns them into rows, keyed by table.
func contentRows(p *pack.Pack) (map[string][]contentRow, error) {
	if p.Ref == "" {
		return nil, errors.New("pack has no ref")
	}
	out := make(map[string][]contentRow, len(contentKinds))
	seen := make(map[string]bool)
	add := func(k contentKind, itemPack, ref, name string, extra []any, model any, raw map[string]any) error {
		if ref == "" {
			return fmt.Errorf("%s %q has no ref", k.noun, name)
		}
		if itemPack != p.Ref {
			return fmt.Errorf("%s %q belongs to pack %q, not %q", k.noun, ref, itemPack, p.Ref)
		}
		// Refs are pack.name; the prefix keeps one pack from claiming
		// another's refs.
		if !strings.HasPrefix(ref, p.Ref+".") {
			return fmt.Errorf("%s ref %q does not start with %q", k.noun, ref, p.Ref+".")
		}
		if seen[k.table+"\x00"+ref] {
			return fmt.Errorf("%s %q is defined twice", k.noun, ref)
		}
		seen[k.table+"\x00"+ref] = true
		doc, err := json.Marshal(model)
		if err != nil {
			return fmt.Errorf("%s %q: encode: %w", k.noun, ref, err)
		}
		rawDoc, err := json.Marshal(emptyMap(raw))
		if err != nil {
			return fmt.Errorf("%s %q: encode metadata: %w", k.noun, ref, err)
		}
		out[k.table] = append(out[k.table], contentRow{ref: ref, name: name, extra: extra, doc: doc, raw: rawDoc})
		return nil
	}
	for _, a := range p.Actions {
		if err := add(kindActions, a.Pack, a.Ref, a.Name, []any{a.Enabled, a.RunnerType}, a, a.Raw); err != nil {
			return nil, err
		}
	}
	for _, r := range p.Rules {
		key, err := rules.TriggerKey(r.Trigger.Type, r.Trigger.Parameters)
		if err != nil {
			return nil, fmt.Errorf("rule %q: %w", r.Ref, err)
		}
		if err := add(kindRules, r.Pack, r.Ref, r.Name, []any{r.Enabled, r.Trigger.Type, r.Action.Ref, key, RuleSourcePack}, r, r.Raw); err != nil {
			return nil, err
		}
	}
	for _, sn := range p.Sensors {
		if err := add(kindSensors, sn.Pack, sn.Ref, sn.Name, []any{sn.Enabled}, sn, sn.Raw); err != nil {
			return nil, err
		}
	}
	for _, tt := range p.TriggerTypes {
		if err := add(kindTriggerTypes, tt.Pack, tt.Ref, tt.Name, nil, tt, tt.Raw); err != nil {
			return nil, err
		}
	}
	for _, al := range p.Aliases {
		if err := add(kindAliases, al.Pack, al.Ref, al.Name, []any{al.Enabled, al.ActionRef}, al, al.Raw); err != nil {
			return nil, err
		}
	}
	for _, po := range p.Policies {
		if err := add(kindPolicies, po.Pack, po.Ref, po.Name, []any{po.Enabled, po.ResourceRef, po.PolicyType}, po, po.Raw); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// syncContent upserts rows into k's table and deletes the pack's other rows.
// The upserts go out as one batch: a large pack costs one round trip.
func syncContent(ctx context.Context, tx pgx.Tx, k contentKind, packRef string, rows []contentRow) error {
	cols := append([]string{"id", "ref", "pack", "name"}, k.cols...)
	cols = append(cols, "doc", "raw")
	placeholders := make([]string, len(cols))
	for i := range cols {
		placeholders[i] = fmt.Sprintf("$%d", i+1)
	}
	var set strings.Builder
	for _, c := range cols[3:] { // all but id, ref, pack: an item keeps its ID
		fmt.Fprintf(&set, "%s = EXCLUDED.%s, ", c, c)
	}
	// The WHERE leaves a row of another pack alone; RETURNING then yields
	// nothing, which is reported below.
	upsert := fmt.Sprintf(`INSERT INTO %[1]s AS t (%[2]s) VALUES (%[3]s)
ON CONFLICT (ref) DO UPDATE SET %[4]supdated_at = now()
WHERE t.pack = EXCLUDED.pack
RETURNING id`, k.table, strings.Join(cols, ", "), strings.Join(placeholders, ", "), set.String())

	refs := make([]string, len(rows))
	if len(rows) > 0 {
		batch := &pgx.Batch{}
		for i, r := range rows {
			refs[i] = r.ref
			args := append([]any{NewID(), r.ref, packRef, r.name}, r.extra...)
			args = append(args, r.doc, r.raw)
			batch.Queue(upsert, args...)
		}
		results := tx.SendBatch(ctx, batch)
		for _, r := range rows {
			var id string
			if err := results.QueryRow().Scan(&id); err != nil {
				results.Close()
				if errors.Is(err, pgx.ErrNoRows) {
					return fmt.Errorf("%s %q already belongs to another pack", k.noun, r.ref)
				}
				return fmt.Errorf("store %s %q: %w", k.noun, r.ref, err)
			}
		}
		if err := results.Close(); err != nil {
			return fmt.Errorf("store %s: %w", k.table, err)
		}
	}
	del := "DELETE FROM " + k.table + " WHERE pack = $1 AND ref <> ALL($2::text[])"
	if k.owned != "" {
		del += " AND " + k.owned
	}
	if _, err := tx.Exec(ctx, del, packRef, refs); err != nil {
		return fmt.Errorf("delete removed %s: %w", k.table, err)
	}
	return nil
}

const packColumns = `id, ref, name, description, version, author, email, keywords, dependencies,
python_versions, path, metadata, config_schema, config, registered_at, updated_at`

func scanPack(row pgx.CollectableRow) (PackRecord, error) {
	var p PackRecord
	err := row.Scan(&p.ID, &p.Ref, &p.Name, &p.Description, &p.Version, &p.Author, &p.Email,
		&p.Keywords, &p.Dependencies, &p.PythonVersions, &p.Path, &p.Metadata, &p.ConfigSchema,
		&p.Config, &p.RegisteredAt, &p.UpdatedAt)
	return p, err
}

// ListPacks returns every registered pack, ordered by ref.
func (s *Store) ListPacks(ctx context.Context) ([]PackRecord, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+packColumns+" FROM packs ORDER BY ref")
	if err != nil {
		return nil, fmt.Errorf("list packs: %w", err)
	}
	packs, err := pgx.CollectRows(rows, scanPack)
	if err != nil {
		return nil, fmt.Errorf("list packs: %w", err)
	}
	return packs, nil
}

// GetPack returns the pack with the given ref or ID.
func (s *Store) GetPack(ctx context.Context, refOrID string) (*PackRecord, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+packColumns+" FROM packs WHERE ref = $1 OR id = $1", refOrID)
	if err != nil {
		return nil, fmt.Errorf("get pack %q: %w", refOrID, err)
	}
	p, err := pgx.CollectExactlyOneRow(rows, scanPack)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("pack %q: %w", refOrID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get pack %q: %w", refOrID, err)
	}
	return &p, nil
}

// DeletePack unregisters a pack and, by cascade, all of its content
// (rules created through the API included), and deletes the trigger objects
// only its rules and trigger types needed.
func (s *Store) DeletePack(ctx context.Context, ref string) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockPack(ctx, tx, ref); err != nil {
			return err
		}
		if err := lockTriggerSet(ctx, tx); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, "DELETE FROM packs WHERE ref = $1", ref)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		return reconcileTriggers(ctx, tx)
	})
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("pack %q: %w", ref, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("delete pack %q: %w", ref, err)
	}
	return nil
}
