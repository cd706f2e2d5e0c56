//! The encrypted local cache of the last fetched secrets.
//!
//! Every successful fetch of `leash run` is written here, so a later run can
//! start while the server is unreachable (`--fallback FILE`, `--offline`).
//!
//! File format (JSON, mode 0600, written to a temporary file and renamed):
//!
//! ```text
//! {"format": "leash-run-cache", "version": 1, "kdf": "hkdf-sha256" | "argon2id",
//!  "salt": base64, "argon2": {"m": KiB, "t": passes, "p": lanes}?, "sealed": base64}
//! ```
//!
//! `sealed` is a `leash_core::crypto` envelope (AES-256-GCM, random nonce)
//! of the JSON [`Snapshot`]; its AAD (`Aad::Internal`) binds the header, so
//! a changed KDF or salt fails to decrypt. The key is derived from the
//! caller's token with HKDF-SHA256 (RFC 5869; tokens are 256-bit random, so
//! no stretching is needed) or from a passphrase with Argon2id (RFC 9106,
//! the `argon2` crate's defaults: 19 MiB, 2 passes, 1 lane), each with a
//! fresh 16-byte salt per file. A cache written with one token cannot be
//! read with another: after a new login, the first online run rewrites it.
//!
//! It must never write a value unencrypted, and never name a value in an error.

use std::fmt;
use std::io::Write as _;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use leash_core::crypto::{self, Aad, Key256};
use rand::Rng as _;
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::Error;

const FORMAT: &str = "leash-run-cache";
const VERSION: u32 = 1;
const SALT_LEN: usize = 16;
const HKDF_INFO: &[u8] = b"leash run cache v1";
/// Refuse Argon2 memory costs above 1 GiB from a file (a planted file must not exhaust memory).
const MAX_ARGON2_KIB: u32 = 1024 * 1024;

/// One fetch of an environment's secrets: what the cache stores.
#[derive(Clone, Serialize, Deserialize)]
pub struct Snapshot {
    pub project: String,
    pub env: String,
    /// The folder the fetch was limited to (`--path`), if any.
    pub prefix: Option<String>,
    /// The environment revision the values are from.
    pub revision: i64,
    /// When the values were fetched, in seconds since the Unix epoch.
    pub fetched_at: u64,
    pub entries: Vec<Entry>,
}

/// One secret: its path, its environment-variable name and its value.
#[derive(Clone, Serialize, Deserialize)]
pub struct Entry {
    pub path: String,
    pub env_var: String,
    pub value: Zeroizing<String>,
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("path", &self.path)
            .field("env_var", &self.env_var)
            .field("value", &"[redacted]")
            .finish()
    }
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("project", &self.project)
            .field("env", &self.env)
            .field("prefix", &self.prefix)
            .field("revision", &self.revision)
            .field("fetched_at", &self.fetched_at)
            .field("entries", &self.entries)
            .finish()
    }
}

impl Snapshot {
    /// How long ago the values were fetched (zero if the clock went back).
    pub fn age(&self) -> Duration {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        now.saturating_sub(Duration::from_secs(self.fetched_at))
    }

    /// The fetch time as RFC 3339 (`2025-01-01T12:00:00Z`).
    pub fn fetched_at_rfc3339(&self) -> String {
        humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(self.fetched_at)).to_string()
    }

    /// `project/env` or `project/env (folder stripe)`: what the snapshot covers.
    pub fn scope(&self) -> String {
        scope(&self.project, &self.env, self.prefix.as_deref())
    }
}

fn scope(project: &str, env: &str, prefix: Option<&str>) -> String {
    match prefix {
        Some(prefix) => format!("{project}/{env} (folder {prefix})"),
        None => format!("{project}/{env}"),
    }
}

/// Now, in seconds since the Unix epoch.
pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// What the cache key is derived from.
pub enum KeySource {
    /// The Leash token (HKDF-SHA256).
    Token(SecretString),
    /// A passphrase (Argon2id).
    Passphrase(Zeroizing<String>),
}

/// The cache file of one project/environment.
pub struct Cache {
    path: PathBuf,
    source: KeySource,
    /// Salt and key used for writing, derived once per process.
    write_key: OnceLock<(Vec<u8>, Key256)>,
}

#[derive(Serialize, Deserialize)]
struct FileHeader {
    format: String,
    version: u32,
    kdf: String,
    salt: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    argon2: Option<Argon2Params>,
    sealed: String,
}

#[derive(Serialize, Deserialize, Clone, Copy)]
struct Argon2Params {
    m: u32,
    t: u32,
    p: u32,
}

impl Default for Argon2Params {
    fn default() -> Self {
        let d = argon2::Params::DEFAULT;
        Self {
            m: d.m_cost(),
            t: d.t_cost(),
            p: d.p_cost(),
        }
    }
}

/// The default cache file for an address, project, environment and folder:
/// `$XDG_CACHE_HOME/leash/run/<project>-<env>-<hash>.json`, where the hash
/// covers all four, so two servers or folders never share a file.
pub fn default_path(addr: &str, project: &str, env: &str, prefix: Option<&str>) -> Option<PathBuf> {
    let mut hash = Sha256::new();
    for part in [addr, project, env, prefix.unwrap_or("")] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    let digest = hex::encode(&hash.finalize()[..8]);
    Some(
        dirs::cache_dir()?
            .join("leash")
            .join("run")
            .join(format!("{project}-{env}-{digest}.json")),
    )
}

impl Cache {
    pub fn new(path: PathBuf, source: KeySource) -> Self {
        Self {
            path,
            source,
            write_key: OnceLock::new(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn kdf_name(&self) -> &'static str {
        match self.source {
            KeySource::Token(_) => "hkdf-sha256",
            KeySource::Passphrase(_) => "argon2id",
        }
    }

    /// Encrypts `snapshot` and replaces the cache file with it (mode 0600,
    /// via a temporary file and a rename, so readers never see half a file).
    pub fn store(&self, snapshot: &Snapshot) -> Result<(), Error> {
        let (salt, key) = match self.write_key.get() {
            Some(pair) => pair,
            None => {
                let mut salt = vec![0u8; SALT_LEN];
                rand::rng().fill_bytes(&mut salt);
                let key = derive(&self.source, &salt, Argon2Params::default(), &self.path)?;
                let _ = self.write_key.set((salt, key));
                self.write_key.get().expect("set just above")
            }
        };
        let kdf = self.kdf_name();
        let salt_b64 = B64.encode(salt);
        let plaintext = Zeroizing::new(serde_json::to_vec(snapshot).expect("a snapshot is plain strings and numbers"));
        let purpose = aad_purpose(kdf, &salt_b64);
        let sealed = crypto::seal(key, 0, &Aad::Internal(&purpose), &plaintext);
        let header = FileHeader {
            format: FORMAT.to_owned(),
            version: VERSION,
            kdf: kdf.to_owned(),
            salt: salt_b64,
            argon2: matches!(self.source, KeySource::Passphrase(_)).then(Argon2Params::default),
            sealed: B64.encode(sealed),
        };
        let text = serde_json::to_vec(&header).expect("the cache header is plain strings and numbers");

        let dir = match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
            _ => PathBuf::from("."),
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| Error::io("cannot create the cache directory", &dir, e))?;
        // tempfile creates the file with mode 0600.
        let mut file = tempfile::NamedTempFile::new_in(&dir)
            .map_err(|e| Error::io("cannot create a temporary file in", &dir, e))?;
        file.write_all(&text)
            .map_err(|e| Error::io("cannot write the cache file", file.path().to_owned(), e))?;
        file.persist(&self.path)
            .map_err(|e| Error::io("cannot write the cache file", &self.path, e.error))?;
        Ok(())
    }

    /// Reads and decrypts the cache file.
    pub fn load(&self) -> Result<Snapshot, Error> {
        let text = match std::fs::read(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NoCache {
                    path: self.path.clone(),
                });
            }
            Err(e) => return Err(Error::io("cannot read the cache file", &self.path, e)),
        };
        let format_error = |reason: &str| Error::CacheFormat {
            path: self.path.clone(),
            reason: reason.to_owned(),
        };
        let header: FileHeader = serde_json::from_slice(&text).map_err(|_| format_error("not a cache file"))?;
        if header.format != FORMAT {
            return Err(format_error("not a cache file"));
        }
        if header.version != VERSION {
            return Err(format_error(&format!("unknown version {}", header.version)));
        }
        if header.kdf != self.kdf_name() {
            return Err(format_error(match header.kdf.as_str() {
                "argon2id" => "it was written with a passphrase: pass --cache-passphrase-env VAR",
                "hkdf-sha256" => "it was written with a token, not a passphrase: drop --cache-passphrase-env",
                _ => "unknown key derivation",
            }));
        }
        let salt = B64.decode(&header.salt).map_err(|_| format_error("bad salt"))?;
        let sealed = B64
            .decode(&header.sealed)
            .map_err(|_| format_error("bad ciphertext encoding"))?;
        let params = header.argon2.unwrap_or_default();
        if params.m > MAX_ARGON2_KIB {
            return Err(format_error("Argon2 memory cost too large"));
        }
        let key = derive(&self.source, &salt, params, &self.path)?;
        let purpose = aad_purpose(&header.kdf, &header.salt);
        let plaintext = crypto::open(&key, &Aad::Internal(&purpose), &sealed).map_err(|_| Error::CacheDecrypt {
            path: self.path.clone(),
        })?;
        serde_json::from_slice(&plaintext).map_err(|_| format_error("the decrypted contents are malformed"))
    }

    /// [`Cache::load`], checked to cover `project/env` and `prefix` (a
    /// snapshot of a whole environment serves any folder of it).
    pub fn load_for(&self, project: &str, env: &str, prefix: Option<&str>) -> Result<Snapshot, Error> {
        let mut snapshot = self.load()?;
        let covers = snapshot.project == project
            && snapshot.env == env
            && match (snapshot.prefix.as_deref(), prefix) {
                (None, _) => true,
                (Some(held), Some(wanted)) => in_folder(wanted, held),
                (Some(_), None) => false,
            };
        if !covers {
            return Err(Error::CacheMismatch {
                path: self.path.clone(),
                held: snapshot.scope(),
                wanted: scope(project, env, prefix),
            });
        }
        if let Some(wanted) = prefix {
            snapshot.entries.retain(|e| in_folder(&e.path, wanted));
            snapshot.prefix = Some(wanted.to_owned());
        }
        Ok(snapshot)
    }
}

/// Whether `path` is `folder` or inside it (`stripe/KEY` is in `stripe`, `stripe2/KEY` is not).
fn in_folder(path: &str, folder: &str) -> bool {
    let folder = folder.trim_end_matches('/');
    folder.is_empty() || path == folder || path.strip_prefix(folder).is_some_and(|rest| rest.starts_with('/'))
}

fn aad_purpose(kdf: &str, salt_b64: &str) -> String {
    format!("run-cache/v{VERSION}/{kdf}/{salt_b64}")
}

/// HKDF-SHA256 (token) or Argon2id (passphrase) to a 256-bit key.
fn derive(source: &KeySource, salt: &[u8], params: Argon2Params, path: &Path) -> Result<Key256, Error> {
    let mut okm = Zeroizing::new([0u8; 32]);
    match source {
        KeySource::Token(token) => {
            let hk = hkdf::Hkdf::<Sha256>::new(Some(salt), token.expose_secret().as_bytes());
            hk.expand(HKDF_INFO, &mut okm[..])
                .expect("32 bytes is a valid HKDF-SHA256 output length");
        }
        KeySource::Passphrase(passphrase) => {
            let params =
                argon2::Params::new(params.m, params.t, params.p, Some(32)).map_err(|_| Error::CacheFormat {
                    path: path.to_owned(),
                    reason: "invalid Argon2 parameters".to_owned(),
                })?;
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
                .hash_password_into(passphrase.as_bytes(), salt, &mut okm[..])
                .map_err(|_| Error::CacheFormat {
                    path: path.to_owned(),
                    reason: "invalid Argon2 parameters".to_owned(),
                })?;
        }
    }
    Ok(Key256::from_slice(&okm[..]).expect("32 bytes make a key"))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn snapshot(prefix: Option<&str>) -> Snapshot {
        Snapshot {
            project: "payment".into(),
            env: "prod".into(),
            prefix: prefix.map(Into::into),
            revision: 7,
            fetched_at: now_unix() - 90,
            entries: vec![
                Entry {
                    path: "DATABASE_URL".into(),
                    env_var: "DATABASE_URL".into(),
                    value: Zeroizing::new("postgres://planted-Qx9".into()),
                },
                Entry {
                    path: "stripe/API_KEY".into(),
                    env_var: "STRIPE_API_KEY".into(),
                    value: Zeroizing::new("sk_planted".into()),
                },
            ],
        }
    }

    fn token(t: &str) -> KeySource {
        KeySource::Token(SecretString::from(t.to_owned()))
    }

    #[test]
    fn round_trip_with_a_token_mode_0600_and_no_plaintext() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/cache.json");
        let cache = Cache::new(path.clone(), token("lsh_one"));
        cache.store(&snapshot(None)).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("planted") && !text.contains("DATABASE_URL"), "{text}");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let back = cache.load_for("payment", "prod", None).unwrap();
        assert_eq!(back.revision, 7);
        assert_eq!(back.entries.len(), 2);
        assert_eq!(back.entries[0].value.as_str(), "postgres://planted-Qx9");
        assert!(back.age() >= Duration::from_secs(90));
        // Written twice by one process: still readable (same key, fresh nonce).
        cache.store(&snapshot(None)).unwrap();
        assert_eq!(Cache::new(path, token("lsh_one")).load().unwrap().revision, 7);
    }

    #[test]
    fn another_token_or_a_moved_header_fails_opaquely() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.json");
        Cache::new(path.clone(), token("lsh_one"))
            .store(&snapshot(None))
            .unwrap();
        let err = Cache::new(path.clone(), token("lsh_two")).load().unwrap_err();
        assert!(matches!(err, Error::CacheDecrypt { .. }), "{err}");
        // A changed salt in the header fails too.
        let mut header: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        header["salt"] = B64.encode([1u8; SALT_LEN]).into();
        std::fs::write(&path, serde_json::to_vec(&header).unwrap()).unwrap();
        let err = Cache::new(path, token("lsh_one")).load().unwrap_err();
        assert!(matches!(err, Error::CacheDecrypt { .. }), "{err}");
    }

    #[test]
    fn passphrase_caches_need_the_passphrase() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.json");
        let pass = |p: &str| KeySource::Passphrase(Zeroizing::new(p.to_owned()));
        Cache::new(path.clone(), pass("correct horse"))
            .store(&snapshot(None))
            .unwrap();
        assert_eq!(
            Cache::new(path.clone(), pass("correct horse")).load().unwrap().revision,
            7
        );
        assert!(matches!(
            Cache::new(path.clone(), pass("wrong")).load().unwrap_err(),
            Error::CacheDecrypt { .. }
        ));
        let err = Cache::new(path, token("lsh_one")).load().unwrap_err().to_string();
        assert!(err.contains("--cache-passphrase-env"), "{err}");
    }

    #[test]
    fn scope_checks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.json");
        let cache = Cache::new(path.clone(), token("t"));
        assert!(matches!(cache.load().unwrap_err(), Error::NoCache { .. }));
        cache.store(&snapshot(None)).unwrap();
        let sub = cache.load_for("payment", "prod", Some("stripe")).unwrap();
        assert_eq!(sub.entries.len(), 1);
        assert_eq!(sub.entries[0].path, "stripe/API_KEY");
        let err = cache.load_for("payment", "dev", None).unwrap_err().to_string();
        assert!(err.contains("holds payment/prod, not payment/dev"), "{err}");

        let cache = Cache::new(path, token("t"));
        cache.store(&snapshot(Some("stripe"))).unwrap();
        assert!(cache.load_for("payment", "prod", None).is_err());
        assert!(cache.load_for("payment", "prod", Some("stripe")).is_ok());
    }

    #[test]
    fn folders() {
        assert!(in_folder("stripe/KEY", "stripe"));
        assert!(in_folder("stripe/KEY", "stripe/"));
        assert!(!in_folder("stripe2/KEY", "stripe"));
        assert!(in_folder("anything", ""));
    }

    #[test]
    fn default_paths_differ_by_server_and_folder() {
        let a = default_path("http://a", "p", "e", None);
        let Some(a) = a else { return };
        assert_ne!(Some(&a), default_path("http://b", "p", "e", None).as_ref());
        assert_ne!(Some(&a), default_path("http://a", "p", "e", Some("x")).as_ref());
        assert!(a.to_string_lossy().contains("p-e-"));
    }
}
