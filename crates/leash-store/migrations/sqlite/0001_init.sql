-- Leash schema v1 (SQLite). Values live only in versions.ciphertext, encrypted by the barrier.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
);

CREATE TABLE tokens (
    hash         TEXT PRIMARY KEY,
    accessor     TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    policies     TEXT NOT NULL,
    is_root      INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER
);

CREATE TABLE projects (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

CREATE TABLE environments (
    id         INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    revision   INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    UNIQUE (project_id, name)
);

CREATE TABLE changes (
    env_id     INTEGER NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    revision   INTEGER NOT NULL,
    actor      TEXT NOT NULL,
    message    TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (env_id, revision)
);

CREATE TABLE secrets (
    id             INTEGER PRIMARY KEY,
    env_id         INTEGER NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    path           TEXT NOT NULL,
    description    TEXT,
    latest_version INTEGER NOT NULL,
    deleted        INTEGER NOT NULL DEFAULT 0,
    updated_at     INTEGER NOT NULL,
    UNIQUE (env_id, path)
);

CREATE TABLE versions (
    secret_id  INTEGER NOT NULL REFERENCES secrets(id) ON DELETE CASCADE,
    version    INTEGER NOT NULL,
    revision   INTEGER NOT NULL,
    key_id     INTEGER NOT NULL,
    ciphertext BLOB,
    destroyed  INTEGER NOT NULL DEFAULT 0,
    actor      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (secret_id, version)
);

CREATE TABLE change_entries (
    env_id    INTEGER NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    revision  INTEGER NOT NULL,
    secret_id INTEGER NOT NULL REFERENCES secrets(id) ON DELETE CASCADE,
    action    TEXT NOT NULL,
    version   INTEGER,
    PRIMARY KEY (env_id, revision, secret_id)
);

CREATE INDEX change_entries_by_secret ON change_entries (secret_id, revision);
