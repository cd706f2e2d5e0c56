//! The encryption envelope, keys and the keyring.
//!
//! Construction: AES-256-GCM (NIST SP 800-38D) from the RustCrypto `aes-gcm`
//! crate, 96-bit random nonces, 128-bit tags. Nothing here is hand-written
//! crypto: this module only lays out bytes around the AEAD.
//!
//! Envelope layout (what storage sees for every encrypted blob):
//!
//! ```text
//! format version (1 byte, = 1) | key id (4 bytes, big endian) | nonce (12) | AES-256-GCM ciphertext + tag
//! ```
//!
//! The AAD is never stored; the reader rebuilds it from where it found the
//! blob ([`Aad`]), so bytes moved to another row fail to decrypt. Every
//! decryption failure is the same opaque [`Error::Decrypt`].
//!
//! Keys are [`Key256`]: zeroized on drop, no `Debug`, `Display` or `Serialize`,
//! read only through [`Key256::expose_secret`].

use std::collections::BTreeMap;
use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::Rng;
use zeroize::{ZeroizeOnDrop, Zeroizing};

use crate::Error;

/// Envelope format version written by this build; any other is rejected.
pub const ENVELOPE_VERSION: u8 = 1;
const HEADER_LEN: usize = 1 + 4 + NONCE_LEN;
const NONCE_LEN: usize = 12;
const KEY_LEN: usize = 32;

/// A 256-bit symmetric key. Zeroized when dropped.
#[derive(Clone, ZeroizeOnDrop)]
pub struct Key256([u8; KEY_LEN]);

impl Key256 {
    /// A fresh key from the operating system's CSPRNG.
    pub fn generate() -> Self {
        let mut bytes = [0u8; KEY_LEN];
        rand::rng().fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// Takes a key from exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, Error> {
        let arr: [u8; KEY_LEN] = bytes.try_into().map_err(|_| Error::Malformed {
            what: "key",
            reason: format!("expected {KEY_LEN} bytes, got {}", bytes.len()),
        })?;
        Ok(Self(arr))
    }

    /// The raw key bytes. Callers must not log or persist them unencrypted.
    pub fn expose_secret(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

/// What a ciphertext is bound to. Rebuilt by the reader, never stored.
#[derive(Debug, Clone, Copy)]
pub enum Aad<'a> {
    /// One version of one secret.
    SecretVersion {
        project: &'a str,
        env: &'a str,
        path: &'a str,
        version: i64,
    },
    /// The keyring, encrypted under the root key.
    Keyring,
    /// The root key, encrypted under the unseal key.
    RootKey,
    /// Any other server-internal blob, named by purpose (e.g. `audit-signing-key`).
    Internal(&'a str),
}

impl Aad<'_> {
    /// The AAD bytes. Fields are separated by NUL, which no name may contain.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Aad::SecretVersion {
                project,
                env,
                path,
                version,
            } => format!("leash:secret:v1\0{project}\0{env}\0{path}\0{version}").into_bytes(),
            Aad::Keyring => b"leash:keyring:v1".to_vec(),
            Aad::RootKey => b"leash:root-key:v1".to_vec(),
            Aad::Internal(purpose) => format!("leash:internal:v1\0{purpose}").into_bytes(),
        }
    }
}

/// AES-256-GCM encryption of `plaintext` with an explicit nonce.
/// Exposed for known-answer tests; callers use [`seal`].
pub fn aes256gcm_encrypt(key: &Key256, nonce: &[u8; NONCE_LEN], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let cipher = Aes256Gcm::new(key.expose_secret().into());
    cipher
        .encrypt(Nonce::from_slice(nonce), Payload { msg: plaintext, aad })
        // aes-gcm only fails for plaintexts over 64 GiB; values are capped far below.
        .expect("AES-GCM encryption cannot fail for inputs under 64 GiB")
}

/// AES-256-GCM decryption; any failure is the opaque [`Error::Decrypt`].
pub fn aes256gcm_decrypt(
    key: &Key256,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let cipher = Aes256Gcm::new(key.expose_secret().into());
    cipher
        .decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad })
        .map(Zeroizing::new)
        .map_err(|_| Error::Decrypt)
}

/// Encrypts `plaintext` under `key` (known to readers as `key_id`), bound to `aad`.
pub fn seal(key: &Key256, key_id: u32, aad: &Aad<'_>, plaintext: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut nonce);
    let sealed = aes256gcm_encrypt(key, &nonce, &aad.to_bytes(), plaintext);
    let mut out = Vec::with_capacity(HEADER_LEN + sealed.len());
    out.push(ENVELOPE_VERSION);
    out.extend_from_slice(&key_id.to_be_bytes());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    out
}

/// The key id an envelope was sealed with, after checking its format version.
pub fn envelope_key_id(envelope: &[u8]) -> Result<u32, Error> {
    if envelope.len() < HEADER_LEN + 16 {
        return Err(Error::Malformed {
            what: "ciphertext envelope",
            reason: format!("{} bytes is shorter than the smallest envelope", envelope.len()),
        });
    }
    if envelope[0] != ENVELOPE_VERSION {
        return Err(Error::Malformed {
            what: "ciphertext envelope",
            reason: format!("unknown format version {}", envelope[0]),
        });
    }
    let id: [u8; 4] = envelope[1..5].try_into().expect("slice of length 4 after length check");
    Ok(u32::from_be_bytes(id))
}

/// Decrypts an envelope made by [`seal`] with `key`, checking it was bound to `aad`.
pub fn open(key: &Key256, aad: &Aad<'_>, envelope: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
    envelope_key_id(envelope)?;
    let nonce: [u8; NONCE_LEN] = envelope[5..HEADER_LEN]
        .try_into()
        .expect("slice of nonce length after length check");
    aes256gcm_decrypt(key, &nonce, &aad.to_bytes(), &envelope[HEADER_LEN..])
}

/// The key id of an envelope sealed under an outer key rather than a keyring
/// key (keyring ids start at 1).
pub const OUTER_KEY_ID: u32 = 0;

/// Data sealed under a [`Keyring`] key (or, for the key hierarchy itself,
/// under one outer key) and bound to its [`Aad`]: the envelope
/// `version | key id | nonce | AES-256-GCM bytes`. The only form in which
/// encrypted data crosses into storage: [`Keyring::seal`] and
/// [`Sealed::seal_under`] are the only ways to make one from plaintext, and
/// [`Keyring::open`] and [`Sealed::open_under`] the only ways back.
/// [`Sealed::from_stored`] re-wraps bytes read back from storage (opening
/// them checks format, key and AAD; a test keeps it out of every crate but
/// the store). No `Display`, and `Debug` shows only the length.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed(Vec<u8>);

impl Sealed {
    /// Bytes a store read back; only storage backends call this.
    pub fn from_stored(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// Encrypts under one key outside any keyring (key id [`OUTER_KEY_ID`]):
    /// the root key under the unseal key, the keyring under the root key.
    pub fn seal_under(key: &Key256, aad: &Aad<'_>, plaintext: &[u8]) -> Self {
        Self(seal(key, OUTER_KEY_ID, aad, plaintext))
    }

    /// Decrypts what [`Sealed::seal_under`] made with the same key and AAD.
    pub fn open_under(&self, key: &Key256, aad: &Aad<'_>) -> Result<Zeroizing<Vec<u8>>, Error> {
        open(key, aad, &self.0)
    }

    /// The envelope bytes, for storage to write.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The id of the key it was sealed with.
    pub fn key_id(&self) -> Result<u32, Error> {
        envelope_key_id(&self.0)
    }
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealed({} bytes)", self.0.len())
    }
}

/// One key of the keyring, with the time (unix milliseconds) it was added.
#[derive(Clone)]
pub struct KeyringEntry {
    pub key: Key256,
    pub created_at: i64,
}

/// The versioned data-encryption keys. New writes use the active (newest)
/// key; older keys stay so older versions remain readable.
#[derive(Clone)]
pub struct Keyring {
    keys: BTreeMap<u32, KeyringEntry>,
}

const KEYRING_FORMAT: u8 = 1;
const KEYRING_ENTRY_LEN: usize = 4 + 8 + KEY_LEN;

impl Keyring {
    /// A keyring with one fresh key, id 1.
    pub fn new(now: i64) -> Self {
        let mut keys = BTreeMap::new();
        keys.insert(
            1,
            KeyringEntry {
                key: Key256::generate(),
                created_at: now,
            },
        );
        Self { keys }
    }

    /// Adds a fresh key that becomes the active one; returns its id.
    pub fn rotate(&mut self, now: i64) -> u32 {
        let id = self.active_id() + 1;
        self.keys.insert(
            id,
            KeyringEntry {
                key: Key256::generate(),
                created_at: now,
            },
        );
        id
    }

    /// The id of the key new writes use.
    pub fn active_id(&self) -> u32 {
        *self
            .keys
            .keys()
            .next_back()
            .expect("a keyring always holds at least one key")
    }

    /// Ids and creation times of every key, oldest first.
    pub fn key_ids(&self) -> Vec<(u32, i64)> {
        self.keys.iter().map(|(id, e)| (*id, e.created_at)).collect()
    }

    /// Encrypts under the active key, bound to `aad`.
    pub fn seal(&self, aad: &Aad<'_>, plaintext: &[u8]) -> Sealed {
        let id = self.active_id();
        Sealed(seal(&self.keys[&id].key, id, aad, plaintext))
    }

    /// Decrypts with whichever key the envelope names, checking it was bound to `aad`.
    pub fn open(&self, aad: &Aad<'_>, sealed: &Sealed) -> Result<Zeroizing<Vec<u8>>, Error> {
        let id = sealed.key_id()?;
        let entry = self.keys.get(&id).ok_or(Error::UnknownKey(id))?;
        open(&entry.key, aad, &sealed.0)
    }

    /// Serialises the keyring (key material included) for encryption under the root key.
    /// Layout: format (1) | count (4) | count x (id (4) | created_at (8) | key (32)), big endian.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(5 + self.keys.len() * KEYRING_ENTRY_LEN));
        out.push(KEYRING_FORMAT);
        out.extend_from_slice(&(self.keys.len() as u32).to_be_bytes());
        for (id, entry) in &self.keys {
            out.extend_from_slice(&id.to_be_bytes());
            out.extend_from_slice(&entry.created_at.to_be_bytes());
            out.extend_from_slice(entry.key.expose_secret());
        }
        out
    }

    /// Reads what [`Keyring::to_bytes`] wrote.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let malformed = |reason: &str| Error::Malformed {
            what: "keyring",
            reason: reason.to_owned(),
        };
        let (&format, rest) = bytes.split_first().ok_or_else(|| malformed("empty"))?;
        if format != KEYRING_FORMAT {
            return Err(malformed(&format!("unknown format version {format}")));
        }
        let (count, mut rest) = rest.split_at_checked(4).ok_or_else(|| malformed("truncated header"))?;
        let count = u32::from_be_bytes(count.try_into().expect("4-byte slice")) as usize;
        if count == 0 || rest.len() != count * KEYRING_ENTRY_LEN {
            return Err(malformed("length does not match the key count"));
        }
        let mut keys = BTreeMap::new();
        for _ in 0..count {
            let (entry, tail) = rest.split_at(KEYRING_ENTRY_LEN);
            let id = u32::from_be_bytes(entry[0..4].try_into().expect("4-byte slice"));
            let created_at = i64::from_be_bytes(entry[4..12].try_into().expect("8-byte slice"));
            let key = Key256::from_slice(&entry[12..])?;
            keys.insert(id, KeyringEntry { key, created_at });
            rest = tail;
        }
        Ok(Self { keys })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    /// GCM spec (McGrew & Viega), test case 16: AES-256, 96-bit IV, with AAD.
    #[test]
    fn aes256gcm_known_answer() {
        let key = Key256::from_slice(&unhex(
            "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
        ))
        .unwrap();
        let nonce: [u8; 12] = unhex("cafebabefacedbaddecaf888").try_into().unwrap();
        let pt = unhex(
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        );
        let aad = unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
        let expected = [
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
            "76fc6ece0f4e1768cddf8853bb2d551b",
        ]
        .concat();
        let ct = aes256gcm_encrypt(&key, &nonce, &aad, &pt);
        assert_eq!(hex::encode(&ct), expected);
        assert_eq!(&*aes256gcm_decrypt(&key, &nonce, &aad, &ct).unwrap(), &pt);
    }

    fn aad<'a>(path: &'a str, version: i64) -> Aad<'a> {
        Aad::SecretVersion {
            project: "payment",
            env: "prod",
            path,
            version,
        }
    }

    #[test]
    fn envelope_roundtrip_and_binding() {
        let ring = Keyring::new(0);
        let env = ring.seal(&aad("DB", 1), b"hunter2");
        assert_eq!(&*ring.open(&aad("DB", 1), &env).unwrap(), b"hunter2");
        assert_eq!(ring.open(&aad("DB", 2), &env).unwrap_err(), Error::Decrypt);
        assert_eq!(ring.open(&aad("OTHER", 1), &env).unwrap_err(), Error::Decrypt);
        let mut edited = env.as_bytes().to_vec();
        *edited.last_mut().unwrap() ^= 1;
        let edited = Sealed::from_stored(edited);
        assert_eq!(ring.open(&aad("DB", 1), &edited).unwrap_err(), Error::Decrypt);
        let mut future = env.as_bytes().to_vec();
        future[0] = 9;
        let future = Sealed::from_stored(future);
        assert!(matches!(
            ring.open(&aad("DB", 1), &future),
            Err(Error::Malformed { .. })
        ));
        assert!(matches!(
            ring.open(&aad("DB", 1), &Sealed::from_stored(env.as_bytes()[..10].to_vec())),
            Err(Error::Malformed { .. })
        ));
    }

    #[test]
    fn rotation_keeps_old_keys_readable() {
        let mut ring = Keyring::new(0);
        let old = ring.seal(&aad("K", 1), b"one");
        assert_eq!(ring.rotate(5), 2);
        let new = ring.seal(&aad("K", 2), b"two");
        assert_eq!(old.key_id().unwrap(), 1);
        assert_eq!(new.key_id().unwrap(), 2);
        let reloaded = Keyring::from_bytes(&ring.to_bytes()).unwrap();
        assert_eq!(&*reloaded.open(&aad("K", 1), &old).unwrap(), b"one");
        assert_eq!(&*reloaded.open(&aad("K", 2), &new).unwrap(), b"two");
        assert_eq!(reloaded.key_ids(), vec![(1, 0), (2, 5)]);
        let other = Keyring::new(0);
        assert_eq!(other.open(&aad("K", 2), &new).unwrap_err(), Error::UnknownKey(2));
    }

    #[test]
    fn keyring_bytes_reject_garbage() {
        assert!(Keyring::from_bytes(&[]).is_err());
        assert!(Keyring::from_bytes(&[1, 0, 0, 0, 1, 0]).is_err());
        assert!(Keyring::from_bytes(&[2, 0, 0, 0, 0]).is_err());
    }
}
