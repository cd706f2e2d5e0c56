-- Settings of the Vault-compatible API (docs/vault-compat.md): a mount's KV configuration and a Vault secret's
-- metadata, as JSON documents named `mount/<project>@<created>` and `secret/<project>/<env>@<created>/<folder>`.
-- Never a secret value.
CREATE TABLE vault_settings (
    name       TEXT PRIMARY KEY,
    body       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
