package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

func validTriggerInstanceStatus(s string) bool {
	switch s {
	case TriggerInstancePending, TriggerInstanceProcessing, TriggerInstanceProcessed, TriggerInstanceProcessingFailed:
		return true
	}
	return false
}

// triggerInstanceRow is a trigger instance with its defaults filled in and
// its maps encoded, ready for INSERT.
type triggerInstanceRow struct {
	id, trigger, triggerType, status, traceTag string
	params, payload                            string
	occurred                                   time.Time
}

// newTriggerInstanceRow checks ti and fills in what may be left out: the
// trigger (computed like TriggerRef, without a lookup), the status
// (pending), the occurrence time (now) and an empty payload.
func newTriggerInstanceRow(ti TriggerInstance) (triggerInstanceRow, error) {
	if ti.ID == "" {
		return triggerInstanceRow{}, errors.New("trigger instance has no ID")
	}
	if ti.TriggerType == "" {
		return triggerInstanceRow{}, fmt.Errorf("trigger instance %s has no trigger type", ti.ID)
	}
	r := triggerInstanceRow{id: ti.ID, trigger: ti.Trigger, triggerType: ti.TriggerType,
		status: ti.Status, traceTag: ti.TraceTag, occurred: ti.OccurrenceTime}
	if r.trigger == "" {
		ref, err := TriggerRef(ti.TriggerType, ti.TriggerParams)
		if err != nil {
			return triggerInstanceRow{}, fmt.Errorf("trigger instance %s: %w", ti.ID, err)
		}
		r.trigger = ref
	}
	if r.status == "" {
		r.status = TriggerInstancePending
	}
	if !validTriggerInstanceStatus(r.status) {
		return triggerInstanceRow{}, fmt.Errorf("trigger instance %s: unknown status %q", ti.ID, r.status)
	}
	if r.occurred.IsZero() {
		r.occurred = time.Now()
	}
	params, err := json.Marshal(emptyMap(ti.TriggerParams))
	if err != nil {
		return triggerInstanceRow{}, fmt.Errorf("trigger instance %s: encode trigger parameters: %w", ti.ID, err)
	}
	payload, err := json.Marshal(emptyMap(ti.Payload))
	if err != nil {
		return triggerInstanceRow{}, fmt.Errorf("trigger instance %s: encode payload: %w", ti.ID, err)
	}
	r.params, r.payload = string(params), string(payload)
	return r, nil
}

// RecordTriggerInstance stores a trigger instance; inserted is false when
// one with its ID exists already (a retried or duplicate event), which is
// then left as it was. ID and TriggerType are required; Trigger, Status
// (pending), OccurrenceTime (now) and Payload may be left out.
func (s *Store) RecordTriggerInstance(ctx context.Context, ti TriggerInstance) (inserted bool, err error) {
	r, err := newTriggerInstanceRow(ti)
	if err != nil {
		return false, fmt.Errorf("record trigger instance: %w", err)
	}
	tag, err := s.pool.Exec(ctx, `
INSERT INTO trigger_instances (id, trigger, trigger_type, trigger_params, payload, occurrence_time, status, trace_tag)
VALUES ($1, $2, $3, $4::text::jsonb, $5::text::jsonb, $6, $7, $8)
ON CONFLICT (id) DO NOTHING`,
		r.id, r.trigger, r.triggerType, r.params, r.payload, r.occurred, r.status, r.traceTag)
	if err != nil {
		return false, fmt.Errorf("record trigger instance %s: %w", r.id, err)
	}
	return tag.RowsAffected() == 1, nil
}

// RecordTriggerInstances stores many trigger instances in one statement
// (group commit). inserted[i] tells whether tis[i] was stored, false when
// its ID existed already or repeats an earlier one of tis. Nothing is stored
// when one of them is invalid.
func (s *Store) RecordTriggerInstances(ctx context.Context, tis []TriggerInstance) (inserted []bool, err error) {
	if len(tis) == 0 {
		return []bool{}, nil
	}
	n := len(tis)
	ids, triggers, types, params, payloads, statuses, tags := make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	occurred := make([]time.Time, n)
	for i, ti := range tis {
		r, err := newTriggerInstanceRow(ti)
		if err != nil {
			return nil, fmt.Errorf("record trigger instances: %w", err)
		}
		ids[i], triggers[i], types[i], params[i], payloads[i], statuses[i], tags[i], occurred[i] =
			r.id, r.trigger, r.triggerType, r.params, r.payload, r.status, r.traceTag, r.occurred
	}
	// Arrays keep the statement's size independent of the batch (no limit
	// on bind parameters); ON CONFLICT DO NOTHING also skips an ID repeated
	// within the batch.
	rows, err := s.pool.Query(ctx, `
INSERT INTO trigger_instances (id, trigger, trigger_type, trigger_params, payload, occurrence_time, status, trace_tag)
SELECT id, trigger, trigger_type, trigger_params::jsonb, payload::jsonb, occurrence_time, status, trace_tag
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::text[], $8::text[])
    WITH ORDINALITY AS u (id, trigger, trigger_type, trigger_params, payload, occurrence_time, status, trace_tag, n)
ORDER BY n
ON CONFLICT (id) DO NOTHING
RETURNING id`, ids, triggers, types, params, payloads, occurred, statuses, tags)
	if err != nil {
		return nil, fmt.Errorf("record %d trigger instances: %w", n, err)
	}
	stored, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("record %d trigger instances: %w", n, err)
	}
	fresh := make(map[string]bool, len(stored))
	for _, id := range stored {
		fresh[id] = true
	}
	inserted = make([]bool, n)
	for i, id := range ids {
		// The first occurrence of a repeated ID is the one inserted.
		inserted[i] = fresh[id]
		delete(fresh, id)
	}
	return inserted, nil
}

// SetTriggerInstanceStatus moves a trigger instance to status.
func (s *Store) SetTriggerInstanceStatus(ctx context.Context, id, status string) error {
	if !validTriggerInstanceStatus(status) {
		return fmt.Errorf("set trigger instance %s status: unknown status %q", id, status)
	}
	tag, err := s.pool.Exec(ctx, "UPDATE trigger_instances SET status = $2 WHERE id = $1", id, status)
	if err != nil {
		return fmt.Errorf("set trigger instance %s status: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("trigger instance %q: %w", id, ErrNotFound)
	}
	return nil
}

// SetTriggerInstancesStatus sets the status of many trigger instances in
// one statement; IDs that do not exist are ignored.
func (s *Store) SetTriggerInstancesStatus(ctx context.Context, ids []string, status string) error {
	if !validTriggerInstanceStatus(status) {
		return fmt.Errorf("set trigger instances status: unknown status %q", status)
	}
	if len(ids) == 0 {
		return nil
	}
	if _, err := s.pool.Exec(ctx, "UPDATE trigger_instances SET status = $2 WHERE id = ANY($1::text[])", ids, status); err != nil {
		return fmt.Errorf("set the status of %d trigger instances: %w", len(ids), err)
	}
	return nil
}

const triggerInstanceCols = "c.id, c.trigger, c.trigger_type, c.trigger_params, c.payload, c.occurrence_time, c.status, c.trace_tag"

func scanTriggerInstance(row pgx.CollectableRow) (TriggerInstance, error) {
	var ti TriggerInstance
	err := row.Scan(&ti.ID, &ti.Trigger, &ti.TriggerType, &ti.TriggerParams, &ti.Payload,
		&ti.OccurrenceTime, &ti.Status, &ti.TraceTag)
	return ti, err
}

// GetTriggerInstance returns the trigger instance with the given ID.
func (s *Store) GetTriggerInstance(ctx context.Context, id string) (*TriggerInstance, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+triggerInstanceCols+" FROM trigger_instances c WHERE c.id = $1", id)
	if err != nil {
		return nil, fmt.Errorf("get trigger instance %q: %w", id, err)
	}
	ti, err := pgx.CollectExactlyOneRow(rows, scanTriggerInstance)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("trigger instance %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get trigger instance %q: %w", id, err)
	}
	return &ti, nil
}

// ListTriggerInstances returns the trigger instances matching f, newest
// first, and how many match in all.
func (s *Store) ListTriggerInstances(ctx context.Context, f TriggerInstanceFilter) ([]TriggerInstance, int, error) {
	var w where
	w.eqIf("c.trigger", f.Trigger)
	w.eqIf("c.trigger_type", f.TriggerType)
	w.eqIf("c.status", f.Status)
	if !f.Since.IsZero() {
		w.args = append(w.args, f.Since)
		w.conds = append(w.conds, fmt.Sprintf("c.occurrence_time >= $%d", len(w.args)))
	}
	if !f.Until.IsZero() {
		w.args = append(w.args, f.Until)
		w.conds = append(w.conds, fmt.Sprintf("c.occurrence_time < $%d", len(w.args)))
	}
	return listOrdered(ctx, s, "trigger instances", "trigger_instances c", triggerInstanceCols, w,
		"c.occurrence_time DESC, c.id DESC", f.Limit, f.Offset, scanTriggerInstance)
}

// PurgeTriggerInstances deletes the trigger instances that occurred before
// the given time (st2's garbage collector) and returns how many.
func (s *Store) PurgeTriggerInstances(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, "DELETE FROM trigger_instances WHERE occurrence_time < $1", before)
	if err != nil {
		return 0, fmt.Errorf("purge trigger instances: %w", err)
	}
	return tag.RowsAffected(), nil
}
