-- The queryable audit sink, in its own database file (leash-audit.db). `line` is the exact hash-chained JSON line; the
-- other columns are copies of its fields for filtering.
CREATE TABLE audit_log (
    seq       INTEGER PRIMARY KEY,
    time_ms   INTEGER NOT NULL,
    kind      TEXT NOT NULL,
    identity  TEXT,
    operation TEXT,
    resource  TEXT,
    status    INTEGER,
    hash      TEXT NOT NULL,
    line      TEXT NOT NULL
);
CREATE INDEX audit_log_by_identity ON audit_log (identity, seq);
CREATE INDEX audit_log_by_time ON audit_log (time_ms);
