//! The barrier: the only place where stored data is encrypted or decrypted,
//! and the seal state that guards it.
//!
//! Key hierarchy: an *unseal key* (never stored; split into Shamir shares at
//! init) encrypts the *root key*; the root key encrypts the *keyring*; keyring
//! keys encrypt secret versions. While sealed, the server holds none of them,
//! and every operation that needs the keyring fails with "sealed". Sealing
//! drops (and so zeroizes) the root key and keyring.
//!
//! It must never hand plaintext to storage or to a log, and never hold key
//! material outside types that zeroize on drop.

use std::sync::{Arc, RwLock};

use leash_core::api::{GenerateRootStatus, InitResponse, KeyInfo, KeyringStatus, SealStatus};
use leash_core::crypto::{Aad, Key256, Keyring, Sealed};
use leash_core::{shamir, token};
use leash_store::{KeyHierarchy, SealParams as SealConfig, Storage, TokenRecord};
use zeroize::Zeroizing;

use crate::error::{ApiError, ErrorKind};
use crate::time::{now_millis, rfc3339};

/// What the audit keys are bound to when sealed under the keyring (the
/// stored form's name, kept so older data directories still open).
const AUDIT_KEYS_AAD: &str = "audit_keys";

enum State {
    Uninitialized,
    Sealed {
        config: SealConfig,
        shares: Vec<Zeroizing<String>>,
    },
    Unsealed {
        config: SealConfig,
        root_key: Key256,
        keyring: Arc<Keyring>,
        audit: Arc<AuditKeys>,
    },
}

/// The unsealed data keys, lent to a request. Its methods are the only code
/// that encrypts data for storage or decrypts it again (the `Keyring` inside
/// is private to this module): a [`Sealed`] value always comes from here.
#[derive(Clone)]
pub struct Keys(Arc<Keyring>);

/// The secret version a stored value belongs to: what its ciphertext is bound to.
#[derive(Debug, Clone, Copy)]
pub struct VersionAddress<'a> {
    pub project: &'a str,
    pub env: &'a str,
    pub path: &'a str,
    pub version: i64,
}

impl VersionAddress<'_> {
    fn aad(&self) -> Aad<'_> {
        Aad::SecretVersion {
            project: self.project,
            env: self.env,
            path: self.path,
            version: self.version,
        }
    }
}

/// What a rotation's pending value is bound to (its secret; it is not a
/// version yet): moved to another secret, it does not decrypt.
fn pending_aad(project: &str, env: &str, path: &str) -> String {
    format!("rotation-pending\0{project}\0{env}\0{path}")
}

impl Keys {
    /// Seals the value of a secret version under the active key, bound to its address.
    pub fn seal_version(&self, at: VersionAddress<'_>, value: &str) -> Sealed {
        self.0.seal(&at.aad(), value.as_bytes())
    }

    /// Opens a secret version's value, checking it was sealed for this address.
    pub fn open_version(
        &self,
        at: VersionAddress<'_>,
        sealed: &Sealed,
    ) -> Result<Zeroizing<String>, leash_core::Error> {
        self.open_text(&at.aad(), sealed)
    }

    /// Seals a rotation's pending value for `project/env/path`.
    pub fn seal_pending(&self, project: &str, env: &str, path: &str, value: &str) -> Sealed {
        self.0
            .seal(&Aad::Internal(&pending_aad(project, env, path)), value.as_bytes())
    }

    /// Opens a rotation's pending value kept for `project/env/path`.
    pub fn open_pending(
        &self,
        project: &str,
        env: &str,
        path: &str,
        sealed: &Sealed,
    ) -> Result<Zeroizing<String>, leash_core::Error> {
        self.open_text(&Aad::Internal(&pending_aad(project, env, path)), sealed)
    }

    /// Opens `sealed` as text, checking it was bound to `aad`. Every failure
    /// is one opaque error (no oracle); the plaintext stays zeroizing.
    fn open_text(&self, aad: &Aad<'_>, sealed: &Sealed) -> Result<Zeroizing<String>, leash_core::Error> {
        let plain = self.0.open(aad, sealed)?;
        match std::str::from_utf8(&plain) {
            Ok(text) => Ok(Zeroizing::new(text.to_owned())),
            Err(_) => Err(leash_core::Error::Decrypt),
        }
    }

    /// The id of the key new data is sealed with.
    pub fn active_id(&self) -> u32 {
        self.0.active_id()
    }
}

/// The audit log's keys: HMAC for tokens and values in records, Ed25519 for
/// checkpoints. Stored encrypted under the keyring; held only while unsealed.
pub struct AuditKeys {
    pub hmac: Zeroizing<[u8; 32]>,
    /// Zeroized on drop (ed25519-dalek's `zeroize` feature).
    pub signing: ed25519_dalek::SigningKey,
}

impl AuditKeys {
    fn generate() -> Self {
        let material = Key256::generate();
        let seed = Key256::generate();
        Self {
            hmac: Zeroizing::new(*material.expose_secret()),
            signing: ed25519_dalek::SigningKey::from_bytes(seed.expose_secret()),
        }
    }

    fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(64));
        out.extend_from_slice(&*self.hmac);
        out.extend_from_slice(self.signing.as_bytes());
        out
    }

    fn from_bytes(bytes: &[u8]) -> Result<Self, ApiError> {
        if bytes.len() != 64 {
            return Err(ApiError::internal(
                "loading the audit keys",
                "stored audit keys have the wrong length",
            ));
        }
        let hmac = Key256::from_slice(&bytes[..32])?;
        let seed = Key256::from_slice(&bytes[32..])?;
        Ok(Self {
            hmac: Zeroizing::new(*hmac.expose_secret()),
            signing: ed25519_dalek::SigningKey::from_bytes(seed.expose_secret()),
        })
    }

    /// The public half of the checkpoint key, base64.
    pub fn public_key(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(self.signing.verifying_key().as_bytes())
    }
}

/// The stored form of a new root token.
fn root_token_record(token: &str, now: i64) -> TokenRecord {
    TokenRecord {
        hash: token::token_hash(token),
        accessor: token::generate_accessor(),
        display_name: "root".into(),
        policies: vec!["root".into()],
        is_root: true,
        created_at: now,
        expires_at: None,
        identity_id: None,
        auth_method: "root".into(),
        ttl_ms: None,
        max_expires_at: None,
    }
}

/// Seal state plus encryption; shared by every request.
pub struct Barrier {
    store: Arc<dyn Storage>,
    state: RwLock<State>,
    /// Serialises key rotation (read-modify-write of the keyring).
    rotation: tokio::sync::Mutex<()>,
    /// Unseal shares given so far towards a new root token.
    generate_root: std::sync::Mutex<Vec<Zeroizing<String>>>,
    /// Whether it is sealed, for whoever follows changes (the node list's heartbeat).
    sealed: tokio::sync::watch::Sender<bool>,
}

impl Barrier {
    /// Reads the seal configuration; the barrier starts sealed (or uninitialised).
    pub async fn load(store: Arc<dyn Storage>) -> Result<Self, ApiError> {
        let state = match store.key_hierarchy().await? {
            None => State::Uninitialized,
            Some(stored) => State::Sealed {
                config: stored.params,
                shares: Vec::new(),
            },
        };
        Ok(Self {
            store,
            state: RwLock::new(state),
            rotation: tokio::sync::Mutex::new(()),
            generate_root: std::sync::Mutex::new(Vec::new()),
            sealed: tokio::sync::watch::Sender::new(true),
        })
    }

    fn read_state(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write_state(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn status(&self) -> SealStatus {
        match &*self.read_state() {
            State::Uninitialized => SealStatus {
                initialized: false,
                sealed: true,
                shares: 0,
                threshold: 0,
                progress: 0,
            },
            State::Sealed { config, shares } => SealStatus {
                initialized: true,
                sealed: true,
                shares: config.shares,
                threshold: config.threshold,
                progress: shares.len() as u8,
            },
            State::Unsealed { config, .. } => SealStatus {
                initialized: true,
                sealed: false,
                shares: config.shares,
                threshold: config.threshold,
                progress: 0,
            },
        }
    }

    /// Follows the seal state (`true`: sealed).
    pub fn seal_changes(&self) -> tokio::sync::watch::Receiver<bool> {
        self.sealed.subscribe()
    }

    /// The audit keys, while unsealed.
    pub fn audit_keys(&self) -> Option<Arc<AuditKeys>> {
        match &*self.read_state() {
            State::Unsealed { audit, .. } => Some(audit.clone()),
            _ => None,
        }
    }

    /// The keyring, or the error a sealed or uninitialised server answers with.
    pub fn keyring(&self) -> Result<Keys, ApiError> {
        match &*self.read_state() {
            State::Unsealed { keyring, .. } => Ok(Keys(keyring.clone())),
            State::Sealed { .. } => Err(ApiError::sealed()),
            State::Uninitialized => Err(ApiError::not_initialized()),
        }
    }

    /// Creates the key hierarchy and the root token. The server stays sealed.
    pub async fn initialize(&self, shares: u8, threshold: u8) -> Result<InitResponse, ApiError> {
        shamir::check_params(shares, threshold)?;
        if !matches!(*self.read_state(), State::Uninitialized) {
            return Err(ApiError::from(leash_store::StoreError::AlreadyInitialized));
        }
        let now = now_millis();
        let unseal_key = Key256::generate();
        let root_key = Key256::generate();
        let keyring = Keyring::new(now);
        let printed_shares = shamir::split(&unseal_key, shares, threshold)?;
        let config = SealConfig { shares, threshold };
        let root_token = token::generate_token();
        let hierarchy = KeyHierarchy {
            params: config,
            root_key: Sealed::seal_under(&unseal_key, &Aad::RootKey, root_key.expose_secret()),
            keyring: Sealed::seal_under(&root_key, &Aad::Keyring, &keyring.to_bytes()),
        };
        let record = root_token_record(&root_token, now);
        self.store.initialize(&hierarchy, &record).await?;
        *self.write_state() = State::Sealed {
            config,
            shares: Vec::new(),
        };
        tracing::info!(shares, threshold, "server initialised; it stays sealed until unsealed");
        Ok(InitResponse {
            unseal_shares: printed_shares.iter().map(|s| s.to_string()).collect(),
            threshold,
            root_token: root_token.to_string(),
        })
    }

    /// Adds one share; unseals once the threshold is reached.
    pub async fn submit_share(&self, share: &str) -> Result<SealStatus, ApiError> {
        let id = shamir::share_identifier(share)?;
        let ready = {
            let mut state = self.write_state();
            match &mut *state {
                State::Uninitialized => return Err(ApiError::not_initialized()),
                State::Unsealed { .. } => None,
                State::Sealed { config, shares } => {
                    if shares.iter().any(|s| shamir::share_identifier(s).ok() == Some(id)) {
                        return Err(ApiError::bad_request(
                            "this unseal share was already given; give a different one",
                        ));
                    }
                    shares.push(Zeroizing::new(share.trim().to_owned()));
                    (shares.len() >= config.threshold as usize).then(|| (*config, std::mem::take(shares)))
                }
            }
        };
        if let Some((config, shares)) = ready {
            self.unseal_with(config, &shares).await?;
        }
        Ok(self.status())
    }

    /// Forgets the shares given so far.
    pub fn reset_progress(&self) -> SealStatus {
        if let State::Sealed { shares, .. } = &mut *self.write_state() {
            shares.clear();
        }
        self.status()
    }

    /// Unseals with a full set of shares at once (the `--unseal-key-file` path).
    pub async fn unseal_with_shares(&self, shares: &[Zeroizing<String>]) -> Result<(), ApiError> {
        let config = match &*self.read_state() {
            State::Sealed { config, .. } => *config,
            State::Unsealed { .. } => return Ok(()),
            State::Uninitialized => return Err(ApiError::not_initialized()),
        };
        self.unseal_with(config, shares).await
    }

    /// Adds one unseal share towards a new root token; once the threshold is
    /// reached (and the shares open the root key) a root token is created and returned.
    pub async fn generate_root(&self, share: Option<&str>, reset: bool) -> Result<GenerateRootStatus, ApiError> {
        let config = match &*self.read_state() {
            State::Unsealed { config, .. } => *config,
            State::Sealed { .. } => return Err(ApiError::sealed()),
            State::Uninitialized => return Err(ApiError::not_initialized()),
        };
        let ready = {
            let mut given = self.generate_root.lock().unwrap_or_else(|p| p.into_inner());
            if reset {
                given.clear();
            }
            if let Some(share) = share {
                let id = shamir::share_identifier(share)?;
                if given.iter().any(|s| shamir::share_identifier(s).ok() == Some(id)) {
                    return Err(ApiError::bad_request(
                        "this unseal share was already given; give a different one",
                    ));
                }
                given.push(Zeroizing::new(share.trim().to_owned()));
            }
            if given.len() >= config.threshold as usize {
                Some(std::mem::take(&mut *given))
            } else {
                return Ok(GenerateRootStatus {
                    progress: given.len() as u8,
                    threshold: config.threshold,
                    root_token: None,
                });
            }
        };
        let shares = ready.unwrap_or_default();
        self.open_root_key(config, &shares).await?;
        let root_token = token::generate_token();
        self.store
            .token_create(&root_token_record(&root_token, now_millis()))
            .await?;
        tracing::warn!("a new root token was generated with unseal shares");
        Ok(GenerateRootStatus {
            progress: 0,
            threshold: config.threshold,
            root_token: Some(root_token.to_string()),
        })
    }

    /// Rebuilds the unseal key from `shares` and opens the root key with it.
    async fn open_root_key(&self, config: SealConfig, shares: &[Zeroizing<String>]) -> Result<Key256, ApiError> {
        let failed = || {
            ApiError::new(
                ErrorKind::InvalidInput,
                "unseal_failed",
                "these unseal shares do not open this server's root key (wrong, mixed or mistyped shares); \
                 progress was reset, start again",
            )
        };
        let unseal_key = shamir::combine(shares, config.threshold).map_err(|_| failed())?;
        let stored = self.stored_hierarchy().await?;
        let root_bytes = stored
            .root_key
            .open_under(&unseal_key, &Aad::RootKey)
            .map_err(|_| failed())?;
        Ok(Key256::from_slice(&root_bytes)?)
    }

    async fn unseal_with(&self, config: SealConfig, shares: &[Zeroizing<String>]) -> Result<(), ApiError> {
        let root_key = self.open_root_key(config, shares).await?;
        let sealed_ring = self.stored_hierarchy().await?.keyring;
        let keyring = Keyring::from_bytes(&sealed_ring.open_under(&root_key, &Aad::Keyring)?)?;
        let audit = self.load_audit_keys(&keyring).await?;
        *self.write_state() = State::Unsealed {
            config,
            root_key,
            keyring: Arc::new(keyring),
            audit: Arc::new(audit),
        };
        self.sealed.send_replace(false);
        tracing::info!("server unsealed");
        Ok(())
    }

    /// Reads the audit keys, creating them the first time.
    async fn load_audit_keys(&self, keyring: &Keyring) -> Result<AuditKeys, ApiError> {
        let aad = Aad::Internal(AUDIT_KEYS_AAD);
        let candidate = keyring.seal(&aad, &AuditKeys::generate().to_bytes());
        // On a shared store another node may have created them first: use the stored ones.
        let stored = self.store.audit_keys_get_or_put(&candidate).await?;
        AuditKeys::from_bytes(&keyring.open(&aad, &stored)?)
    }

    async fn stored_hierarchy(&self) -> Result<KeyHierarchy, ApiError> {
        self.store
            .key_hierarchy()
            .await?
            .ok_or_else(|| ApiError::internal("unsealing", "the key hierarchy is missing from storage"))
    }

    /// Drops all key material; every secret route answers 503 until unsealed.
    pub fn seal(&self) {
        let mut state = self.write_state();
        let config = match &*state {
            State::Unsealed { config, .. } | State::Sealed { config, .. } => *config,
            State::Uninitialized => return,
        };
        *state = State::Sealed {
            config,
            shares: Vec::new(),
        };
        self.sealed.send_replace(true);
        tracing::info!("server sealed");
    }

    /// Adds a keyring key that new writes use; older versions stay readable.
    pub async fn rotate_key(&self) -> Result<KeyringStatus, ApiError> {
        let _serial = self.rotation.lock().await;
        let root_key = match &*self.read_state() {
            State::Unsealed { root_key, .. } => root_key.clone(),
            State::Sealed { .. } => return Err(ApiError::sealed()),
            State::Uninitialized => return Err(ApiError::not_initialized()),
        };
        // Rotate the stored keyring, not this node's copy: on a shared store another node
        // may have added a key since this one unsealed.
        let stored = self.stored_hierarchy().await?.keyring;
        let mut keyring = Keyring::from_bytes(&stored.open_under(&root_key, &Aad::Keyring)?)?;
        let id = keyring.rotate(now_millis());
        let sealed = Sealed::seal_under(&root_key, &Aad::Keyring, &keyring.to_bytes());
        if !self.store.keyring_replace(&stored, &sealed).await? {
            return Err(ApiError::conflict(
                "the keyring changed while this rotation ran (another node rotated it); rotate again",
            ));
        }
        if let State::Unsealed { keyring: live, .. } = &mut *self.write_state() {
            *live = Arc::new(keyring);
        }
        tracing::info!(key_id = id, "keyring rotated");
        self.keyring_status()
    }

    /// Re-reads the stored keyring (another node may have rotated it), while
    /// unsealed; a sealed barrier has nothing to refresh.
    pub async fn refresh_keyring(&self) -> Result<(), ApiError> {
        let root_key = match &*self.read_state() {
            State::Unsealed { root_key, .. } => root_key.clone(),
            State::Sealed { .. } | State::Uninitialized => return Ok(()),
        };
        let stored = self.stored_hierarchy().await?.keyring;
        let keyring = Keyring::from_bytes(&stored.open_under(&root_key, &Aad::Keyring)?)?;
        if let State::Unsealed { keyring: live, .. } = &mut *self.write_state() {
            *live = Arc::new(keyring);
        }
        Ok(())
    }

    pub fn keyring_status(&self) -> Result<KeyringStatus, ApiError> {
        let keyring = match &*self.read_state() {
            State::Unsealed { keyring, .. } => keyring.clone(),
            State::Sealed { .. } => return Err(ApiError::sealed()),
            State::Uninitialized => return Err(ApiError::not_initialized()),
        };
        Ok(KeyringStatus {
            active_key_id: keyring.active_id(),
            keys: keyring
                .key_ids()
                .into_iter()
                .map(|(id, created_at)| KeyInfo {
                    id,
                    created_at: rfc3339(created_at),
                })
                .collect(),
        })
    }
}
