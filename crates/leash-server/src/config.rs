//! Server configuration: defaults, then the config file (`--config leash.toml`),
//! then `LEASH_*` environment variables, then command-line flags (applied by
//! the binary). Every key of the file can be set by `LEASH_<KEY>` (upper case).

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// Everything `leash server` can be told.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on (`127.0.0.1:8270`).
    pub listen: String,
    /// A second, plain-HTTP address that serves only `GET /metrics`, without a token
    /// (`127.0.0.1:9270`); none = metrics only on the main port, with a `sys/metrics` token.
    pub metrics_listen: Option<String>,
    /// Where the embedded store keeps its files.
    pub data_dir: PathBuf,
    /// A storage URL overriding the store in `data_dir` (`sqlite:///var/lib/leash/leash.db`,
    /// `postgres://leash@db.internal/leash`).
    pub storage: Option<String>,
    /// This node's name among the nodes on one PostgreSQL `storage`, which names its audit chain [default:
    /// an id made at first start and kept in DATA_DIR/node-id].
    pub node_name: Option<String>,
    /// Where clients reach this node, shown by `leash operator status`
    /// [default: the address it listens on].
    pub advertise_address: Option<String>,
    /// PEM certificate chain; with `tls_key`, serve HTTPS.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// PEM certificates of the CAs that sign client certificates: when set,
    /// every client must present a certificate signed by one of them (mutual
    /// TLS, Vault's `tls_require_and_verify_client_cert`); tokens are still required.
    pub tls_client_ca: Option<PathBuf>,
    /// A file holding unseal shares (one per line, at least the threshold):
    /// the server unseals itself at start. Convenient, but whoever can read
    /// the file can decrypt the store.
    pub unseal_key_file: Option<PathBuf>,
    /// Largest secret value in bytes.
    pub max_value_bytes: usize,
    /// Largest request body in bytes.
    pub max_request_bytes: usize,
    /// Most operations in one change set (an import, a rollback, `POST .../changes`).
    pub max_change_ops: usize,
    /// Browser origins (`https://admin.example.com`) allowed to call the API
    /// besides the server's own; a request with any other `Origin` is refused.
    pub allowed_origins: Vec<String>,
    /// Log format: `text` or `json`.
    pub log_format: String,
    /// The audit JSON-lines file [default: DATA_DIR/audit.jsonl].
    pub audit_file: Option<PathBuf>,
    /// Answer requests even when their audit record cannot be written.
    pub audit_fail_open: bool,
    /// How long a rotated secret's previous value stays readable, unless its policy says otherwise.
    pub rotation_grace: String,
    /// How often the rotation scheduler looks for due rotations.
    pub rotation_interval: String,
    /// The only directory whose executables `command` rotators may run; none = command rotators refused.
    pub rotation_commands_dir: Option<PathBuf>,
    /// Where webhook rotators may send values: host names (`hooks.example.com`), wildcards
    /// (`*.example.com`), either with `:port`, or CIDR networks (`10.1.0.0/16`); empty = webhook
    /// rotators refused. The syntax and address rules: `leash_rotate::webhook::allow`. In
    /// `LEASH_ROTATION_WEBHOOK_ALLOW`, entries are separated by commas.
    #[serde(deserialize_with = "list_or_commas")]
    pub rotation_webhook_allow: Vec<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8270".into(),
            metrics_listen: None,
            data_dir: PathBuf::from("./leash-data"),
            storage: None,
            node_name: None,
            advertise_address: None,
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
            unseal_key_file: None,
            max_value_bytes: 64 * 1024,
            max_request_bytes: 8 * 1024 * 1024,
            max_change_ops: 10_000,
            allowed_origins: Vec::new(),
            log_format: "text".into(),
            audit_file: None,
            audit_fail_open: false,
            rotation_grace: "24h".into(),
            rotation_interval: "5s".into(),
            rotation_commands_dir: None,
            rotation_webhook_allow: Vec::new(),
        }
    }
}

/// The keys `LEASH_*` variables may set (others, like `LEASH_TOKEN`, belong to the CLI).
const ENV_KEYS: &[&str] = &[
    "listen",
    "metrics_listen",
    "data_dir",
    "storage",
    "node_name",
    "advertise_address",
    "tls_cert",
    "tls_key",
    "tls_client_ca",
    "unseal_key_file",
    "max_value_bytes",
    "max_request_bytes",
    "max_change_ops",
    "allowed_origins",
    "log_format",
    "audit_file",
    "audit_fail_open",
    "rotation_grace",
    "rotation_interval",
    "rotation_commands_dir",
    "rotation_webhook_allow",
];

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("invalid server configuration: {0}")]
pub struct ConfigError(String);

impl ServerConfig {
    /// Whether `storage` is a PostgreSQL database, which several nodes may share.
    pub fn on_postgres(&self) -> bool {
        self.storage
            .as_deref()
            .is_some_and(|url| url.starts_with("postgres://") || url.starts_with("postgresql://"))
    }

    /// `rotation_grace` as a duration (checked by [`ServerConfig::validate`]).
    pub fn rotation_grace(&self) -> std::time::Duration {
        humantime::parse_duration(&self.rotation_grace).unwrap_or(std::time::Duration::from_secs(86_400))
    }

    /// `rotation_interval` as a duration (checked by [`ServerConfig::validate`]).
    pub fn rotation_interval(&self) -> std::time::Duration {
        humantime::parse_duration(&self.rotation_interval).unwrap_or(std::time::Duration::from_secs(5))
    }

    /// `rotation_webhook_allow`, parsed (the error names the first invalid entry).
    pub fn rotation_webhook_allow(&self) -> Result<leash_rotate::webhook::Allowlist, ConfigError> {
        leash_rotate::webhook::Allowlist::parse(&self.rotation_webhook_allow).map_err(|e| match e {
            leash_rotate::Error::Config(message) => ConfigError(message),
            other => ConfigError(other.to_string()),
        })
    }

    /// Defaults, then `file` (if given), then `LEASH_*` variables.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(ServerConfig::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(ConfigError(format!("config file {} does not exist", file.display())));
            }
            figment = figment.merge(Toml::file(file));
        }
        figment = figment.merge(Env::prefixed("LEASH_").only(ENV_KEYS));
        let config: ServerConfig = figment.extract().map_err(|e| ConfigError(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks combinations that a type cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(ConfigError("tls_cert and tls_key must be given together".into()));
        }
        if self.tls_client_ca.is_some() && self.tls_cert.is_none() {
            return Err(ConfigError(
                "tls_client_ca needs tls_cert and tls_key (client certificates are a TLS feature)".into(),
            ));
        }
        if self.max_value_bytes == 0 || self.max_value_bytes > self.max_request_bytes {
            return Err(ConfigError(
                "max_value_bytes must be more than 0 and at most max_request_bytes".into(),
            ));
        }
        if self.max_change_ops == 0 {
            return Err(ConfigError("max_change_ops must be more than 0".into()));
        }
        for origin in &self.allowed_origins {
            let ok = (origin.starts_with("https://") || origin.starts_with("http://"))
                && !origin.ends_with('/')
                && origin
                    .split("://")
                    .nth(1)
                    .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'));
            if !ok {
                return Err(ConfigError(format!(
                    "allowed_origins entry {origin:?} is not an origin like https://admin.example.com (scheme and host, optional port, no path)"
                )));
            }
        }
        for (field, text) in [
            ("rotation_grace", &self.rotation_grace),
            ("rotation_interval", &self.rotation_interval),
        ] {
            humantime::parse_duration(text)
                .map_err(|e| ConfigError(format!("{field} {text:?} is not a duration like 24h or 5s: {e}")))?;
        }
        self.rotation_webhook_allow()?;
        if let Some(name) = &self.node_name {
            let ok = !name.is_empty()
                && name.len() <= 64
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !ok {
                return Err(ConfigError(format!(
                    "node_name {name:?} must be 1-64 letters, digits, `-`, `_` or `.`"
                )));
            }
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            return Err(ConfigError(format!(
                "log_format must be text or json, got {:?}",
                self.log_format
            )));
        }
        Ok(())
    }
}

/// A list from the config file (`["a", "b"]`), or one string of
/// comma-separated entries from an environment variable (`a,b`).
fn list_or_commas<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrCommas {
        List(Vec<String>),
        Commas(String),
    }
    Ok(match ListOrCommas::deserialize(deserializer)? {
        ListOrCommas::List(list) => list,
        ListOrCommas::Commas(text) => text
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

#[cfg(test)]
#[allow(
    clippy::result_large_err,
    reason = "figment::Jail closures must return figment::Error"
)]
mod tests {
    use super::*;

    #[test]
    fn file_then_env_layering() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("leash.toml", "listen = \"127.0.0.1:9999\"\nmax_value_bytes = 100\n")?;
            jail.set_env("LEASH_MAX_VALUE_BYTES", "200");
            jail.set_env("LEASH_TOKEN", "ignored-by-the-server");
            let c = ServerConfig::load(Some(Path::new("leash.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(c.listen, "127.0.0.1:9999");
            assert_eq!(c.max_value_bytes, 200);
            Ok(())
        });
    }

    #[test]
    fn the_metrics_listener_is_off_unless_the_file_or_a_variable_sets_it() {
        figment::Jail::expect_with(|jail| {
            assert_eq!(
                ServerConfig::load(None).map_err(|e| e.to_string())?.metrics_listen,
                None
            );
            jail.create_file("leash.toml", "metrics_listen = \"127.0.0.1:9270\"\n")?;
            let c = ServerConfig::load(Some(Path::new("leash.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(c.metrics_listen.as_deref(), Some("127.0.0.1:9270"));
            jail.set_env("LEASH_METRICS_LISTEN", "10.0.0.5:9270");
            let c = ServerConfig::load(Some(Path::new("leash.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(c.metrics_listen.as_deref(), Some("10.0.0.5:9270"));
            Ok(())
        });
    }

    #[test]
    fn the_webhook_allowlist_comes_from_the_file_or_a_comma_separated_variable() {
        figment::Jail::expect_with(|jail| {
            assert!(ServerConfig::default().rotation_webhook_allow.is_empty());
            jail.create_file(
                "leash.toml",
                "rotation_webhook_allow = [\"hooks.example.com\", \"*.corp.example:8443\", \"10.1.0.0/16\"]\n",
            )?;
            let c = ServerConfig::load(Some(Path::new("leash.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(
                c.rotation_webhook_allow,
                ["hooks.example.com", "*.corp.example:8443", "10.1.0.0/16"]
            );
            assert_eq!(
                c.rotation_webhook_allow().map_err(|e| e.to_string())?.entries().len(),
                3
            );
            jail.set_env("LEASH_ROTATION_WEBHOOK_ALLOW", "hooks.example.com, 127.0.0.1/32");
            let c = ServerConfig::load(Some(Path::new("leash.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(c.rotation_webhook_allow, ["hooks.example.com", "127.0.0.1/32"]);
            jail.set_env("LEASH_ROTATION_WEBHOOK_ALLOW", "hooks.example.com");
            let c = ServerConfig::load(None).map_err(|e| e.to_string())?;
            assert_eq!(c.rotation_webhook_allow, ["hooks.example.com"]);
            Ok(())
        });
    }

    #[test]
    fn an_invalid_webhook_allowlist_entry_is_refused_at_start_and_named() {
        figment::Jail::expect_with(|jail| {
            for (entry, words) in [
                ("127.0.0.1", "as a network"),
                ("10.1.2.3/16", "10.1.0.0/16"),
                ("https://hooks.example.com", "CIDR"),
                ("a.*.example.com", "wildcard"),
            ] {
                jail.set_env("LEASH_ROTATION_WEBHOOK_ALLOW", format!("hooks.example.com,{entry}"));
                let e = ServerConfig::load(None).unwrap_err().to_string();
                assert!(e.contains("rotation_webhook_allow"), "{e}");
                assert!(e.contains(&format!("{entry:?}")), "{e}");
                assert!(e.contains(words), "{e}");
            }
            jail.create_file("bad.toml", "rotation_webhook_allow = [\"hooks.example.com:99999\"]\n")?;
            jail.clear_env();
            let e = ServerConfig::load(Some(Path::new("bad.toml"))).unwrap_err().to_string();
            assert!(e.contains("\"hooks.example.com:99999\"") && e.contains("port"), "{e}");
            Ok(())
        });
    }

    #[test]
    fn typos_and_bad_combinations_are_named() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("bad.toml", "lisen = \"x\"\n")?;
            let e = ServerConfig::load(Some(Path::new("bad.toml"))).unwrap_err().to_string();
            assert!(e.contains("lisen"), "{e}");
            jail.create_file("tls.toml", "tls_cert = \"c.pem\"\n")?;
            let e = ServerConfig::load(Some(Path::new("tls.toml"))).unwrap_err().to_string();
            assert!(e.contains("together"), "{e}");
            jail.create_file("mtls.toml", "tls_client_ca = \"ca.pem\"\n")?;
            let e = ServerConfig::load(Some(Path::new("mtls.toml")))
                .unwrap_err()
                .to_string();
            assert!(e.contains("tls_client_ca needs tls_cert"), "{e}");
            Ok(())
        });
    }
}
