-- The node serving this store (SQLite has one), refreshing its row with its seal state (the PostgreSQL schema
-- keeps one row per node of a cluster).
CREATE TABLE cluster_nodes (
    node       TEXT PRIMARY KEY,
    address    TEXT NOT NULL,
    sealed     INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    seen_at    INTEGER NOT NULL
);
