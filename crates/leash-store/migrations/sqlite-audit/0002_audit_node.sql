-- The chain a row belongs to: the node that wrote it ('' for the only node of a store), and (node, seq) as the
-- key, as in the PostgreSQL schema. SQLite cannot change a primary key in place, so the table is rebuilt.
CREATE TABLE audit_log_by_node (
    node      TEXT NOT NULL DEFAULT '',
    seq       INTEGER NOT NULL,
    time_ms   INTEGER NOT NULL,
    kind      TEXT NOT NULL,
    identity  TEXT,
    operation TEXT,
    resource  TEXT,
    status    INTEGER,
    hash      TEXT NOT NULL,
    line      TEXT NOT NULL,
    PRIMARY KEY (node, seq)
);
INSERT INTO audit_log_by_node (node, seq, time_ms, kind, identity, operation, resource, status, hash, line)
    SELECT '', seq, time_ms, kind, identity, operation, resource, status, hash, line FROM audit_log;
DROP TABLE audit_log;
ALTER TABLE audit_log_by_node RENAME TO audit_log;
CREATE INDEX audit_log_by_identity ON audit_log (identity, seq);
CREATE INDEX audit_log_by_time ON audit_log (time_ms);
