-- Several nodes on one database.
--
-- access_generation moves, in the same transaction, with every change of who may do what: a token revoked or
-- renewed, an identity (name, kind, policies, metadata), a group or its members, a policy, a JWT issuer, or the
-- key hierarchy (a rotated keyring). A node compares it with the last value it saw before it trusts its token
-- cache, its directory of identities and policies, and its keyring, so a change acknowledged by one node is in
-- force on every node from the next request on. Token creation does not move it (a new token is not cached).
CREATE TABLE access_generation (
    one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
    n   BIGINT NOT NULL
);
INSERT INTO access_generation (one, n) VALUES (TRUE, 0);

CREATE FUNCTION leash_bump_access_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE access_generation SET n = n + 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER tokens_access AFTER UPDATE OR DELETE ON tokens
    FOR EACH STATEMENT EXECUTE FUNCTION leash_bump_access_generation();
CREATE TRIGGER identities_access AFTER INSERT OR DELETE OR UPDATE OF name, kind, policies, metadata ON identities
    FOR EACH STATEMENT EXECUTE FUNCTION leash_bump_access_generation();
CREATE TRIGGER groups_access AFTER INSERT OR UPDATE OR DELETE ON groups
    FOR EACH STATEMENT EXECUTE FUNCTION leash_bump_access_generation();
CREATE TRIGGER group_members_access AFTER INSERT OR UPDATE OR DELETE ON group_members
    FOR EACH STATEMENT EXECUTE FUNCTION leash_bump_access_generation();
CREATE TRIGGER policies_access AFTER INSERT OR UPDATE OR DELETE ON policies
    FOR EACH STATEMENT EXECUTE FUNCTION leash_bump_access_generation();
CREATE TRIGGER jwt_issuers_access AFTER INSERT OR UPDATE OR DELETE ON jwt_issuers
    FOR EACH STATEMENT EXECUTE FUNCTION leash_bump_access_generation();
CREATE TRIGGER meta_access AFTER INSERT OR UPDATE OR DELETE ON meta
    FOR EACH STATEMENT EXECUTE FUNCTION leash_bump_access_generation();

-- The nodes serving this database, each refreshing its own row (heartbeat) with its seal state.
CREATE TABLE cluster_nodes (
    node       TEXT PRIMARY KEY,
    address    TEXT NOT NULL,
    sealed     BOOLEAN NOT NULL,
    started_at BIGINT NOT NULL,
    seen_at    BIGINT NOT NULL
);

-- One audit chain per node: the table names the chain of every row.
ALTER TABLE audit_log ADD COLUMN node TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_log DROP CONSTRAINT audit_log_pkey;
ALTER TABLE audit_log ADD PRIMARY KEY (node, seq);
