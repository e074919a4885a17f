-- The catalog: packs and their content as registered from disk, plus users'
-- tokens and API keys and the output of executions.
--
-- Content rows keep the whole pack model as `doc` (and the metadata file as
-- written as `raw`); only the fields that queries filter on are columns.
-- IDs are 24 lowercase hex characters generated in Go (catalog.NewID), shaped
-- like StackStorm's Mongo ObjectIds so clients that parse them keep working.

CREATE TABLE packs (
    ref             text PRIMARY KEY,
    id              text NOT NULL UNIQUE CHECK (id ~ '^[0-9a-f]{24}$'),
    name            text NOT NULL,
    description     text NOT NULL DEFAULT '',
    version         text NOT NULL DEFAULT '',
    author          text NOT NULL DEFAULT '',
    email           text NOT NULL DEFAULT '',
    keywords        jsonb NOT NULL DEFAULT '[]',
    dependencies    jsonb NOT NULL DEFAULT '[]',
    python_versions jsonb NOT NULL DEFAULT '[]',
    path            text NOT NULL DEFAULT '',
    metadata        jsonb NOT NULL DEFAULT '{}',
    config_schema   jsonb NOT NULL DEFAULT '{}',
    config          jsonb NOT NULL DEFAULT '{}',
    registered_at   timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE actions (
    id          text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{24}$'),
    ref         text NOT NULL UNIQUE,
    pack        text NOT NULL REFERENCES packs (ref) ON DELETE CASCADE ON UPDATE CASCADE,
    name        text NOT NULL,
    enabled     boolean NOT NULL,
    runner_type text NOT NULL,
    doc         jsonb NOT NULL,
    raw         jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX actions_pack_idx ON actions (pack);

CREATE TABLE rules (
    id           text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{24}$'),
    ref          text NOT NULL UNIQUE,
    pack         text NOT NULL REFERENCES packs (ref) ON DELETE CASCADE ON UPDATE CASCADE,
    name         text NOT NULL,
    enabled      boolean NOT NULL,
    trigger_type text NOT NULL,
    action_ref   text NOT NULL,
    doc          jsonb NOT NULL,
    raw          jsonb NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rules_pack_idx ON rules (pack);
-- The rules engine asks "which enabled rules listen to this trigger type?"
-- for every trigger instance.
CREATE INDEX rules_trigger_type_idx ON rules (trigger_type, enabled);

CREATE TABLE sensors (
    id         text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{24}$'),
    ref        text NOT NULL UNIQUE,
    pack       text NOT NULL REFERENCES packs (ref) ON DELETE CASCADE ON UPDATE CASCADE,
    name       text NOT NULL,
    enabled    boolean NOT NULL,
    doc        jsonb NOT NULL,
    raw        jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sensors_pack_idx ON sensors (pack);

CREATE TABLE trigger_types (
    id         text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{24}$'),
    ref        text NOT NULL UNIQUE,
    pack       text NOT NULL REFERENCES packs (ref) ON DELETE CASCADE ON UPDATE CASCADE,
    name       text NOT NULL,
    doc        jsonb NOT NULL,
    raw        jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX trigger_types_pack_idx ON trigger_types (pack);

CREATE TABLE aliases (
    id         text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{24}$'),
    ref        text NOT NULL UNIQUE,
    pack       text NOT NULL REFERENCES packs (ref) ON DELETE CASCADE ON UPDATE CASCADE,
    name       text NOT NULL,
    enabled    boolean NOT NULL,
    action_ref text NOT NULL,
    doc        jsonb NOT NULL,
    raw        jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX aliases_pack_idx ON aliases (pack);

CREATE TABLE policies (
    id           text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{24}$'),
    ref          text NOT NULL UNIQUE,
    pack         text NOT NULL REFERENCES packs (ref) ON DELETE CASCADE ON UPDATE CASCADE,
    name         text NOT NULL,
    enabled      boolean NOT NULL,
    resource_ref text NOT NULL,
    policy_type  text NOT NULL,
    doc          jsonb NOT NULL,
    raw          jsonb NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX policies_pack_idx ON policies (pack);
-- Scheduling an execution looks up the policies that apply to its action.
CREATE INDEX policies_resource_ref_idx ON policies (resource_ref);

-- Only hashes are stored: a database dump must not hand out credentials.
CREATE TABLE api_keys (
    id         text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{24}$'),
    key_hash   text NOT NULL UNIQUE,
    user_name  text NOT NULL,
    metadata   jsonb NOT NULL DEFAULT '{}',
    enabled    boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_keys_user_name_idx ON api_keys (user_name);

CREATE TABLE tokens (
    id         text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{24}$'),
    token_hash text NOT NULL UNIQUE,
    user_name  text NOT NULL,
    expiry     timestamptz NOT NULL,
    metadata   jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
);
-- Purging expired tokens scans by expiry.
CREATE INDEX tokens_expiry_idx ON tokens (expiry);

-- Bulk stdout/stderr of executions stays out of Temporal payloads. Readers
-- tail an execution by (execution_id, id > last seen id).
CREATE TABLE execution_output (
    id           bigserial PRIMARY KEY,
    execution_id text NOT NULL,
    attempt      integer NOT NULL,
    stream       text NOT NULL CHECK (stream IN ('stdout', 'stderr')),
    data         text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX execution_output_execution_idx ON execution_output (execution_id, id);
