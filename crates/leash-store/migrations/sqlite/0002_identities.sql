-- Identities, groups, policies, JWT issuers; tokens tied to identities.
-- Secrets of identities are stored only as hashes (Argon2id PHC strings for
-- passwords, SHA-256 for high-entropy client secrets).
CREATE TABLE identities (
    id                       INTEGER PRIMARY KEY,
    name                     TEXT NOT NULL UNIQUE,
    kind                     TEXT NOT NULL,
    policies                 TEXT NOT NULL,
    metadata                 TEXT NOT NULL,
    password_hash            TEXT,
    client_id                TEXT UNIQUE,
    client_secret_hash       TEXT,
    client_secret_expires_at INTEGER,
    client_secret_uses_left  INTEGER,
    allowed_cidrs            TEXT NOT NULL,
    jwt_binding              TEXT,
    token_ttl_ms             INTEGER NOT NULL,
    token_max_ttl_ms         INTEGER NOT NULL,
    created_at               INTEGER NOT NULL
);

CREATE TABLE groups (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    policies   TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE group_members (
    group_id    INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    identity_id INTEGER NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, identity_id)
);

CREATE TABLE policies (
    name       TEXT PRIMARY KEY,
    source     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE jwt_issuers (
    name       TEXT PRIMARY KEY,
    config     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

ALTER TABLE tokens ADD COLUMN identity_id INTEGER REFERENCES identities(id) ON DELETE CASCADE;
ALTER TABLE tokens ADD COLUMN auth_method TEXT NOT NULL DEFAULT 'token';
ALTER TABLE tokens ADD COLUMN ttl_ms INTEGER;
ALTER TABLE tokens ADD COLUMN max_expires_at INTEGER;
CREATE INDEX tokens_by_identity ON tokens (identity_id);
