-- The event pipeline: trigger objects, trigger instances, rule enforcements
-- and the dedup claims of rules with a `dedup:` key.
--
-- Trigger instances and enforcements are written once per event and per
-- matching rule, so their tables carry only the indexes the API's listings
-- and the rules engine's lookups need.

-- trigger_key is the rules engine's canonical name of the trigger a rule
-- listens to: the type ref, plus its parameters as sorted compact JSON when
-- there are any (rules.TriggerKey). SQL cannot produce that JSON (jsonb::text
-- orders keys differently), so existing rows get the type ref here and the
-- catalog recomputes the key of rules with parameters in Go
-- (Store.EnsureBuiltins, and every registration).
ALTER TABLE rules ADD COLUMN trigger_key text;
UPDATE rules SET trigger_key = trigger_type;
ALTER TABLE rules ALTER COLUMN trigger_key SET NOT NULL;
-- 'pack': registered from the pack's directory, replaced or deleted when the
-- pack is registered again. 'api': created through the API, which a
-- registration from disk leaves alone.
ALTER TABLE rules ADD COLUMN source text NOT NULL DEFAULT 'pack' CHECK (source IN ('pack', 'api'));
-- Every event asks "does an enabled rule listen to this trigger?".
CREATE INDEX rules_trigger_key_idx ON rules (trigger_key) WHERE enabled;

-- Trigger objects (st2's TriggerDB): one per distinct (type, parameters)
-- that rules use, and one per trigger type without a parameters schema.
-- No foreign key to packs: a rule may listen to a trigger type of a pack
-- that is not registered (yet); the catalog deletes triggers nothing uses.
CREATE TABLE triggers (
    id          text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{24}$'),
    ref         text NOT NULL UNIQUE,
    name        text NOT NULL,
    pack        text NOT NULL,
    type        text NOT NULL,
    parameters  jsonb NOT NULL DEFAULT '{}',
    trigger_key text NOT NULL UNIQUE,
    description text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);
-- Timers reconcile their schedules from the triggers of their types.
CREATE INDEX triggers_type_idx ON triggers (type);
CREATE INDEX triggers_pack_idx ON triggers (pack);

-- IDs come from the sender's dedupe key or catalog.NewID; no shape check so
-- that other ID schemes (group commit) stay possible.
CREATE TABLE trigger_instances (
    id              text PRIMARY KEY,
    trigger         text NOT NULL,
    trigger_type    text NOT NULL,
    trigger_params  jsonb NOT NULL DEFAULT '{}',
    payload         jsonb NOT NULL DEFAULT '{}',
    occurrence_time timestamptz NOT NULL,
    status          text NOT NULL
        CHECK (status IN ('pending', 'processing', 'processed', 'processing_failed')),
    trace_tag       text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now()
);
-- Listings are newest first, optionally by trigger, type or status; the
-- occurrence_time index also serves purging old instances.
CREATE INDEX trigger_instances_occurrence_idx ON trigger_instances (occurrence_time DESC, id DESC);
CREATE INDEX trigger_instances_trigger_idx ON trigger_instances (trigger, occurrence_time DESC);
CREATE INDEX trigger_instances_trigger_type_idx ON trigger_instances (trigger_type, occurrence_time DESC);
CREATE INDEX trigger_instances_status_idx ON trigger_instances (status, occurrence_time DESC);

-- One row per (trigger instance, rule): the unique constraint is what makes
-- retried processing record an enforcement once.
CREATE TABLE rule_enforcements (
    id                  text PRIMARY KEY,
    rule_id             text NOT NULL DEFAULT '',
    rule_ref            text NOT NULL,
    trigger_instance_id text NOT NULL,
    execution_id        text NOT NULL DEFAULT '',
    status              text NOT NULL CHECK (status IN ('succeeded', 'failed')),
    failure_reason      text NOT NULL DEFAULT '',
    enforced_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (trigger_instance_id, rule_ref)
);
CREATE INDEX rule_enforcements_rule_ref_idx ON rule_enforcements (rule_ref, enforced_at DESC);
CREATE INDEX rule_enforcements_execution_idx ON rule_enforcements (execution_id) WHERE execution_id <> '';
CREATE INDEX rule_enforcements_enforced_at_idx ON rule_enforcements (enforced_at DESC, id DESC);

-- A live claim (expires_at in the future) on (rule, key) suppresses the
-- rule for other trigger instances with the same dedup key.
CREATE TABLE rule_dedup (
    rule_ref            text NOT NULL,
    dedup_key           text NOT NULL,
    trigger_instance_id text NOT NULL,
    expires_at          timestamptz NOT NULL,
    PRIMARY KEY (rule_ref, dedup_key)
);
-- Purging expired claims scans by expiry.
CREATE INDEX rule_dedup_expires_at_idx ON rule_dedup (expires_at);
