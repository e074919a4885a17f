-- The key-value datastore (StackStorm's st2kv): sensors keep state in it
-- through sensor_service.get_value/set_value, and workflows and templates
-- read it as st2kv.system.* / st2kv.user.*.
--
-- Keys are unique per scope and, in the user scope, per user; system-scoped
-- keys have user_name ''. Secret values are stored as given for now (no
-- encryption at rest yet); the flag only tells readers to mask them.
-- An expired key is treated as absent by every read and removed by
-- catalog.Store.PurgeExpiredKV.
--
-- name uses the "C" collation so that listing by prefix (LIKE 'prefix%')
-- can use the primary key index whatever the database's locale.

CREATE TABLE kv (
    scope      text NOT NULL CHECK (scope IN ('st2kv.system', 'st2kv.user')),
    user_name  text NOT NULL DEFAULT '',
    name       text COLLATE "C" NOT NULL CHECK (name <> ''),
    value      text NOT NULL,
    secret     boolean NOT NULL DEFAULT false,
    expire_at  timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, user_name, name),
    CHECK ((scope = 'st2kv.user') = (user_name <> ''))
);
-- Purging expired keys scans by expiry.
CREATE INDEX kv_expire_at_idx ON kv (expire_at) WHERE expire_at IS NOT NULL;
