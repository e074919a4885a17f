-- A counter bumped by every change to the rules table, in the changing
-- transaction. The rules engine caches each trigger's compiled rules and
-- reads this one row per event instead of the rules themselves: a rule
-- created, changed, disabled or deleted (also by a pack's deletion
-- cascading) is seen by the next event, in every process.
CREATE TABLE rules_version (
    id      boolean PRIMARY KEY DEFAULT true CHECK (id),
    version bigint NOT NULL
);
INSERT INTO rules_version (id, version) VALUES (true, 1);

CREATE FUNCTION bump_rules_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE rules_version SET version = version + 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER rules_version_bump
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rules
    FOR EACH STATEMENT EXECUTE FUNCTION bump_rules_version();
