-- End-to-end encrypted environments (docs/e2e.md). Additive only.
-- environments.e2e_recipients: the age recipients (public keys), one per line;
-- NULL for an ordinary environment. versions.e2e: 1 when the version's
-- (barrier-encrypted) data is an age file the server cannot read.
ALTER TABLE environments ADD COLUMN e2e_recipients TEXT;
ALTER TABLE versions ADD COLUMN e2e INTEGER NOT NULL DEFAULT 0;
