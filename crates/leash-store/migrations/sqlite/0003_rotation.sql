-- Rotation (issue 6). Stages: `current` is a secret's latest live version; `previous` is the version before it, served
-- for a grace period unless withdrawn (previous_withdrawn_for = the current version when it was withdrawn); `pending` is a
-- rotation's value in flight, kept (encrypted by the barrier) in rotation_state until promoted.
ALTER TABLE secrets ADD COLUMN previous_withdrawn_for INTEGER;

-- One row per secret with a rotation policy: the policy (JSON; it names other secrets by path, never holds a value)
-- and where rotation stands. `lease_until` is the claim of the node running an attempt.
CREATE TABLE rotation_state (
    env_id             INTEGER NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    path               TEXT NOT NULL,
    policy             TEXT NOT NULL,
    next_due_at        INTEGER,
    grace_ms           INTEGER NOT NULL,
    attempt            INTEGER NOT NULL DEFAULT 0,
    state              TEXT NOT NULL DEFAULT 'idle',
    step               TEXT,
    pending_key_id     INTEGER,
    pending_ciphertext BLOB,
    failures           INTEGER NOT NULL DEFAULT 0,
    retry_at           INTEGER,
    last_error         TEXT,
    lease_until        INTEGER,
    last_rotated_at    INTEGER,
    retire_at          INTEGER,
    retire_version     INTEGER,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    PRIMARY KEY (env_id, path)
);
CREATE INDEX rotation_state_by_due ON rotation_state (next_due_at);

-- Every rotation attempt (scheduled, manual, one-off, retry, retirement), for `leash rotation history`.
CREATE TABLE rotation_log (
    env_id      INTEGER NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    path        TEXT NOT NULL,
    attempt     INTEGER NOT NULL,
    trigger     TEXT NOT NULL,
    actor       TEXT NOT NULL,
    rotator     TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    outcome     TEXT NOT NULL,
    step        TEXT,
    error       TEXT,
    version     INTEGER,
    PRIMARY KEY (env_id, path, attempt, trigger)
);
