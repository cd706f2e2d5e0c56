//! End-to-end (client-side) encryption of secret values with [age](https://age-encryption.org/v1).
//!
//! It owns the three things Leash does with age, all through the `age` crate:
//! - [`Recipients`]: parsing an environment's recipient list (X25519 `age1…`
//!   keys, `ssh-ed25519` and `ssh-rsa` public keys, one per line in a
//!   recipients file), and encrypting a value to all of them as an ASCII-armored
//!   age file ([`Recipients::encrypt`]).
//! - [`Recipients::check_ciphertext`]: what the *server* can verify about a
//!   value it cannot read: it is one armored age file, not passphrase-encrypted,
//!   whose header holds exactly one recipient stanza per recipient of the
//!   environment, of the matching type, and for SSH recipients with the
//!   matching key tag (the random "grease" stanza the age crate adds is
//!   ignored). X25519 stanzas are unlinkable to their recipient by
//!   design, so which X25519 keys a file is for cannot be checked by anyone
//!   without an identity.
//! - [`Identities`]: parsing an age identity file (or an unencrypted OpenSSH
//!   private key) and decrypting with it ([`Identities::decrypt`]).
//!
//! It does no IO (callers pass bytes) and never puts a value, a decrypted
//! byte or identity material into an error: errors name recipients (public
//! keys), the identity's source name and what is wrong. Decryption failures
//! are coarse on purpose (no oracle).

use std::collections::BTreeSet;
use std::fmt;
use std::io::{Read, Write};

use age::armor::{ArmoredReader, ArmoredWriter, Format};
use age_core::format::{FileKey, Stanza};
use zeroize::Zeroizing;

use crate::Error;

/// The first line of an ASCII-armored age file.
pub const ARMOR_BEGIN: &str = "-----BEGIN AGE ENCRYPTED FILE-----";

/// The largest recipient list an environment may have.
pub const MAX_RECIPIENTS: usize = 64;

/// Header room allowed per recipient on top of a value's size limit (an
/// `ssh-rsa` 4096-bit stanza is about 750 bytes once encoded).
const HEADER_BYTES_PER_RECIPIENT: usize = 1024;

/// One recipient key Leash can encrypt to.
#[derive(Clone)]
enum Key {
    X25519(age::x25519::Recipient),
    Ssh(age::ssh::Recipient),
}

impl Key {
    fn as_recipient(&self) -> &dyn age::Recipient {
        match self {
            Key::X25519(k) => k,
            Key::Ssh(k) => k,
        }
    }
}

/// A parsed recipient with its canonical spelling.
#[derive(Clone)]
struct Recipient {
    /// `age1…` in lower case, or `ssh-ed25519 AAAA…` / `ssh-rsa AAAA…` without a comment.
    canonical: String,
    key: Key,
}

fn parse_one(text: &str) -> Result<Recipient, Error> {
    let text = text.trim();
    let invalid = |reason: &str| Error::InvalidRecipient {
        recipient: shorten(text),
        reason: reason.to_owned(),
    };
    if text.is_empty() {
        return Err(invalid("it is empty"));
    }
    if text.starts_with("age1") || text.starts_with("AGE1") {
        // The bech32 prefix ends at the last `1` (the data never holds one): `age` for X25519,
        // `age1tag`, `age1pq`... for the others. A prefix test on the text would also catch
        // X25519 keys whose data happens to begin with `pq` or `tag`.
        let prefix = text
            .rsplit_once('1')
            .map_or("", |(prefix, _)| prefix)
            .to_ascii_lowercase();
        if prefix != "age" {
            return Err(invalid(
                "tagged and post-quantum age recipients are not supported; use an X25519 (age1…) or SSH key",
            ));
        }
        let key: age::x25519::Recipient = text
            .parse()
            .map_err(|_| invalid("not a valid X25519 age recipient (age1…)"))?;
        return Ok(Recipient {
            canonical: key.to_string(),
            key: Key::X25519(key),
        });
    }
    if text.starts_with("ssh-") {
        use age::ssh::ParseRecipientKeyError as E;
        let key: age::ssh::Recipient = text.parse().map_err(|e| match e {
            E::RsaModulusTooSmall => invalid("the ssh-rsa key is shorter than 2048 bits"),
            E::RsaModulusTooLarge => invalid("the ssh-rsa key is longer than age supports"),
            E::Unsupported(kind) => invalid(&format!(
                "SSH keys of type {kind} are not supported; use ssh-ed25519 or ssh-rsa"
            )),
            _ => invalid("not a valid ssh-ed25519 or ssh-rsa public key"),
        })?;
        return Ok(Recipient {
            canonical: key.to_string(),
            key: Key::Ssh(key),
        });
    }
    Err(invalid(
        "expected an age X25519 recipient (age1…) or an SSH public key (ssh-ed25519 …, ssh-rsa …)",
    ))
}

/// A recipient string short enough for an error message.
fn shorten(text: &str) -> String {
    const MAX: usize = 80;
    if text.chars().count() <= MAX {
        text.to_owned()
    } else {
        let head: String = text.chars().take(MAX).collect();
        format!("{head}…")
    }
}

/// What a recipient stanza must look like for one recipient: its type and,
/// for SSH keys, the key tag (the first stanza argument, a hash of the key).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct StanzaShape {
    tag: String,
    key_tag: Option<String>,
}

fn shape_of(stanza: &Stanza) -> StanzaShape {
    let key_tag = if stanza.tag.starts_with("ssh-") {
        stanza.args.first().cloned()
    } else {
        None
    };
    StanzaShape {
        tag: stanza.tag.clone(),
        key_tag,
    }
}

/// The non-empty, duplicate-free set of recipients of an end-to-end encrypted environment.
#[derive(Clone)]
pub struct Recipients {
    list: Vec<Recipient>,
}

impl fmt::Debug for Recipients {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.list.iter().map(|r| &r.canonical)).finish()
    }
}

impl PartialEq for Recipients {
    fn eq(&self, other: &Self) -> bool {
        self.to_strings() == other.to_strings()
    }
}

impl Recipients {
    /// Parses recipient strings; duplicates (after canonicalisation) are dropped,
    /// the first spelling's position is kept. Fails on an empty list.
    pub fn parse<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> Result<Self, Error> {
        let list = items
            .into_iter()
            .map(|item| parse_one(item.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        Self::from_list(list)
    }

    /// Parses a recipients file in age's format: one recipient per line;
    /// empty lines and lines starting with `#` are ignored. `name` is used in errors.
    pub fn parse_file(text: &str, name: &str) -> Result<Self, Error> {
        Self::from_list(Self::lines_of(text, name)?)
    }

    /// The recipients of a recipients file (possibly none), for merging with others.
    pub fn lines_of_file(text: &str, name: &str) -> Result<Vec<String>, Error> {
        Ok(Self::lines_of(text, name)?.into_iter().map(|r| r.canonical).collect())
    }

    fn lines_of(text: &str, name: &str) -> Result<Vec<Recipient>, Error> {
        let mut out = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let recipient = parse_one(line).map_err(|e| match e {
                Error::InvalidRecipient { reason, .. } => Error::InvalidRecipient {
                    recipient: format!("on line {} of {name}", number + 1),
                    reason,
                },
                other => other,
            })?;
            out.push(recipient);
        }
        Ok(out)
    }

    /// Drops duplicates (keeping the first) and checks the size.
    fn from_list(all: Vec<Recipient>) -> Result<Self, Error> {
        let mut list: Vec<Recipient> = Vec::with_capacity(all.len());
        for recipient in all {
            if !list.iter().any(|r| r.canonical == recipient.canonical) {
                list.push(recipient);
            }
        }
        if list.is_empty() {
            return Err(Error::InvalidRecipient {
                recipient: String::new(),
                reason: "an end-to-end encrypted environment needs at least one recipient".to_owned(),
            });
        }
        if list.len() > MAX_RECIPIENTS {
            return Err(Error::InvalidRecipient {
                recipient: String::new(),
                reason: format!("at most {MAX_RECIPIENTS} recipients are supported"),
            });
        }
        Ok(Self { list })
    }

    /// The canonical spellings, in order.
    pub fn to_strings(&self) -> Vec<String> {
        self.list.iter().map(|r| r.canonical.clone()).collect()
    }

    /// How many recipients there are.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Always `false`: a recipient set is never empty.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Whether `recipient` (any spelling) is in the set.
    pub fn contains(&self, recipient: &str) -> bool {
        parse_one(recipient).is_ok_and(|r| self.list.iter().any(|x| x.canonical == r.canonical))
    }

    /// The largest armored age file accepted for a value of at most
    /// `max_plain` bytes encrypted to this set: the armored size of the value
    /// plus room for one header stanza per recipient.
    pub fn max_ciphertext_bytes(&self, max_plain: usize) -> usize {
        // Binary: header + 16-byte nonce + 16-byte tag per 64 KiB chunk.
        let binary = max_plain + 16 * (max_plain / 65536 + 2) + 256 + HEADER_BYTES_PER_RECIPIENT * self.len();
        // Armor: base64 (4/3) in 64-column lines, plus the two marker lines.
        binary.div_ceil(3) * 4 * 65 / 64 + 128
    }

    /// Encrypts `plaintext` to every recipient as one ASCII-armored age file.
    pub fn encrypt(&self, plaintext: &[u8]) -> Result<String, Error> {
        let failed = |e: &dyn fmt::Display| Error::E2eEncrypt(e.to_string());
        let encryptor =
            age::Encryptor::with_recipients(self.list.iter().map(|r| r.key.as_recipient())).map_err(|e| failed(&e))?;
        let mut out = Vec::with_capacity(plaintext.len() * 4 / 3 + 512);
        let armor = ArmoredWriter::wrap_output(&mut out, Format::AsciiArmor).map_err(|e| failed(&e))?;
        let mut writer = encryptor.wrap_output(armor).map_err(|e| failed(&e))?;
        writer.write_all(plaintext).map_err(|e| failed(&e))?;
        writer
            .finish()
            .and_then(|armor| armor.finish())
            .map_err(|e| failed(&e))?;
        String::from_utf8(out).map_err(|_| Error::E2eEncrypt("the armored output is not UTF-8".to_owned()))
    }

    /// The stanza shapes an age file for exactly this set must carry, sorted.
    fn expected_shapes(&self) -> Result<Vec<StanzaShape>, Error> {
        // A throwaway file key: only the stanzas' type and key tag are kept.
        let file_key = FileKey::init_with_mut(|k| k.fill(0));
        let mut shapes = Vec::with_capacity(self.list.len());
        for r in &self.list {
            let (stanzas, _) = r
                .key
                .as_recipient()
                .wrap_file_key(&file_key)
                .map_err(|e| Error::E2eEncrypt(e.to_string()))?;
            shapes.extend(stanzas.iter().filter(|s| !s.tag.ends_with("-grease")).map(shape_of));
        }
        shapes.sort();
        Ok(shapes)
    }

    /// Checks what the server can check of an end-to-end encrypted value: it
    /// is exactly one ASCII-armored age file, not encrypted to a passphrase,
    /// no larger than [`Self::max_ciphertext_bytes`] of `max_plain`, whose
    /// header has one recipient stanza per recipient of this set, with
    /// matching types and (for SSH keys) matching key tags.
    pub fn check_ciphertext(&self, armored: &str, max_plain: usize) -> Result<(), Error> {
        let bad = |reason: &str| Error::InvalidCiphertext(reason.to_owned());
        if !armored.starts_with(ARMOR_BEGIN) {
            return Err(bad(&format!(
                "it is not an ASCII-armored age file (it must start with {ARMOR_BEGIN})"
            )));
        }
        let limit = self.max_ciphertext_bytes(max_plain);
        if armored.len() > limit {
            return Err(bad(&format!(
                "it is {} bytes; an encrypted value of at most {max_plain} bytes for {} recipient(s) is at most {limit} bytes",
                armored.len(),
                self.len()
            )));
        }
        let mut binary = Vec::with_capacity(armored.len());
        ArmoredReader::new(armored.as_bytes())
            .read_to_end(&mut binary)
            .map_err(|e| bad(&format!("its armor is malformed ({e})")))?;
        let decryptor =
            age::Decryptor::new_buffered(&binary[..]).map_err(|e| bad(&format!("its age header is invalid ({e})")))?;
        if decryptor.is_scrypt() {
            return Err(bad(
                "it is encrypted to a passphrase, not to the environment's recipients",
            ));
        }
        let seen = StanzaCollector::default();
        // The collector never unwraps a stanza, so decryption always fails;
        // it is only a way to be handed the header's stanzas.
        let _ = decryptor.decrypt(std::iter::once(&seen as &dyn age::Identity));
        let mut found = seen.shapes.into_inner();
        found.sort();
        let expected = self.expected_shapes()?;
        if found.len() != expected.len() {
            return Err(bad(&format!(
                "it is encrypted to {} recipient(s), but the environment has {}: {}",
                found.len(),
                expected.len(),
                self.to_strings().join(", ")
            )));
        }
        if found != expected {
            let kinds = |shapes: &[StanzaShape]| {
                shapes
                    .iter()
                    .map(|s| s.tag.as_str())
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err(bad(&format!(
                "its recipient stanzas ({}) do not match the environment's recipients ({}): {}",
                kinds(&found),
                kinds(&expected),
                self.to_strings().join(", ")
            )));
        }
        Ok(())
    }
}

/// An [`age::Identity`] that unwraps nothing and remembers the stanzas it was shown.
#[derive(Default)]
struct StanzaCollector {
    shapes: std::cell::RefCell<Vec<StanzaShape>>,
}

impl age::Identity for StanzaCollector {
    fn unwrap_stanza(&self, _stanza: &Stanza) -> Option<Result<FileKey, age::DecryptError>> {
        None
    }

    fn unwrap_stanzas(&self, stanzas: &[Stanza]) -> Option<Result<FileKey, age::DecryptError>> {
        // The age crate adds a random "grease" stanza (tag `…-grease`) to keep
        // parsers honest; it belongs to no recipient.
        *self.shapes.borrow_mut() = stanzas
            .iter()
            .filter(|s| !s.tag.ends_with("-grease"))
            .map(shape_of)
            .collect();
        None
    }
}

/// Age identities (private keys) that can decrypt values. No `Debug`, no `Display`.
pub struct Identities {
    name: String,
    keys: Vec<Box<dyn age::Identity + Send + Sync>>,
}

impl fmt::Debug for Identities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identities")
            .field("name", &self.name)
            .field("keys", &self.keys.len())
            .finish()
    }
}

/// Why a value could not be decrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecryptFailure {
    /// No identity matches any of the value's recipient stanzas.
    NoMatchingIdentity,
    /// The value is not a readable age file, or failed authentication (edited or truncated).
    Damaged,
    /// The value decrypted but is not UTF-8 text.
    NotText,
}

impl fmt::Display for DecryptFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DecryptFailure::NoMatchingIdentity => "none of the given age identities is one of its recipients",
            DecryptFailure::Damaged => "its age ciphertext is damaged or was edited",
            DecryptFailure::NotText => "it decrypts to bytes that are not UTF-8 text",
        })
    }
}

impl Identities {
    /// Parses an age identity file (`AGE-SECRET-KEY-1…` lines, `#` comments)
    /// or an unencrypted OpenSSH private key (ed25519 or RSA). `name` (a file
    /// path, say) names it in errors; its content never appears in one.
    pub fn parse(bytes: &[u8], name: &str) -> Result<Self, Error> {
        let invalid = |reason: &str| Error::InvalidIdentity {
            name: name.to_owned(),
            reason: reason.to_owned(),
        };
        let text = std::str::from_utf8(bytes).map_err(|_| invalid("it is not a text file"))?;
        let keys: Vec<Box<dyn age::Identity + Send + Sync>> = if text.contains("-----BEGIN OPENSSH PRIVATE KEY-----")
            || text.contains("-----BEGIN RSA PRIVATE KEY-----")
        {
            match age::ssh::Identity::from_buffer(bytes, Some(name.to_owned())) {
                Ok(age::ssh::Identity::Unencrypted(key)) => vec![Box::new(age::ssh::Identity::Unencrypted(key))],
                Ok(age::ssh::Identity::Encrypted(_)) => {
                    return Err(invalid(
                        "passphrase-protected SSH keys are not supported; use an age identity file or an unencrypted copy of the key",
                    ));
                }
                Ok(age::ssh::Identity::Unsupported(_)) => {
                    return Err(invalid(
                        "this SSH key type is not supported; use ssh-ed25519 or ssh-rsa",
                    ));
                }
                Err(_) => return Err(invalid("it is not a valid OpenSSH private key")),
            }
        } else {
            age::IdentityFile::from_buffer(bytes)
                .map_err(|_| invalid("it is not an age identity file (lines of AGE-SECRET-KEY-1…)"))?
                .into_identities()
                .map_err(|_| invalid("it holds identities that need an age plugin, which Leash does not run"))?
        };
        if keys.is_empty() {
            return Err(invalid("it holds no identity"));
        }
        Ok(Self {
            name: name.to_owned(),
            keys,
        })
    }

    /// Where the identities came from (a file path), as given to [`Self::parse`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Decrypts an armored (or binary) age file to UTF-8 text.
    pub fn decrypt(&self, ciphertext: &str) -> Result<Zeroizing<String>, DecryptFailure> {
        let decryptor = age::Decryptor::new_buffered(ArmoredReader::new(ciphertext.as_bytes()))
            .map_err(|_| DecryptFailure::Damaged)?;
        let mut reader = decryptor
            .decrypt(self.keys.iter().map(|k| k.as_ref() as &dyn age::Identity))
            .map_err(|e| match e {
                age::DecryptError::NoMatchingKeys => DecryptFailure::NoMatchingIdentity,
                _ => DecryptFailure::Damaged,
            })?;
        let mut plain = Zeroizing::new(Vec::with_capacity(ciphertext.len()));
        reader.read_to_end(&mut plain).map_err(|_| DecryptFailure::Damaged)?;
        let text = std::str::from_utf8(&plain).map_err(|_| DecryptFailure::NotText)?;
        Ok(Zeroizing::new(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::secrecy::ExposeSecret;

    fn identity() -> (String, Identities) {
        let id = age::x25519::Identity::generate();
        let file = format!("# test\n{}\n", id.to_string().expose_secret());
        (
            id.to_public().to_string(),
            Identities::parse(file.as_bytes(), "id.txt").unwrap(),
        )
    }

    const SSH_ED25519: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAcnvvsY9/iD+l6XE2Z1P3kcpaah1swyoIjIWTv+4BfI alice@rust";

    #[test]
    fn round_trip_to_several_recipients() {
        let (r1, id1) = identity();
        let (r2, id2) = identity();
        let (_, stranger) = identity();
        let recipients = Recipients::parse([r1.as_str(), r2.as_str(), r1.as_str()]).unwrap();
        assert_eq!(recipients.len(), 2, "duplicates are dropped");
        let armored = recipients.encrypt(b"hunter2 \xc3\xa9").unwrap();
        assert!(armored.starts_with(ARMOR_BEGIN), "{armored}");
        assert!(!armored.contains("hunter2"));
        assert_eq!(id1.decrypt(&armored).unwrap().as_str(), "hunter2 é");
        assert_eq!(id2.decrypt(&armored).unwrap().as_str(), "hunter2 é");
        assert_eq!(stranger.decrypt(&armored), Err(DecryptFailure::NoMatchingIdentity));
        recipients.check_ciphertext(&armored, 1024).unwrap();
    }

    #[test]
    fn the_server_check_counts_and_types_stanzas() {
        let (r1, _) = identity();
        let (r2, _) = identity();
        let one = Recipients::parse([r1.as_str()]).unwrap();
        let two = Recipients::parse([r1.as_str(), r2.as_str()]).unwrap();
        let with_ssh = Recipients::parse([r1.as_str(), SSH_ED25519]).unwrap();
        let check = |set: &Recipients, armored: &str, fragment: &str| {
            let err = set.check_ciphertext(armored, 1024).unwrap_err().to_string();
            assert!(err.contains(fragment), "{err}");
        };
        let for_one = one.encrypt(b"v").unwrap();
        let for_two = two.encrypt(b"v").unwrap();
        check(&two, &for_one, "encrypted to 1 recipient(s), but the environment has 2");
        check(&one, &for_two, "encrypted to 2 recipient(s), but the environment has 1");
        check(&with_ssh, &for_two, "do not match");
        with_ssh
            .check_ciphertext(&with_ssh.encrypt(b"v").unwrap(), 1024)
            .unwrap();
        check(&one, "plain-text-attempt", "not an ASCII-armored age file");
        check(&one, &format!(" {for_one}"), "not an ASCII-armored age file");
        check(&one, &format!("{for_one}{for_one}"), "malformed");
        check(
            &one,
            &format!("{ARMOR_BEGIN}\nnot base64!\n-----END AGE ENCRYPTED FILE-----\n"),
            "malformed",
        );
        let passphrase = {
            let e = age::Encryptor::with_user_passphrase("pw".to_owned().into());
            let mut out = Vec::new();
            let armor = ArmoredWriter::wrap_output(&mut out, Format::AsciiArmor).unwrap();
            let mut w = e.wrap_output(armor).unwrap();
            w.write_all(b"v").unwrap();
            w.finish().unwrap().finish().unwrap();
            String::from_utf8(out).unwrap()
        };
        check(&one, &passphrase, "passphrase");
        let big = one.encrypt(&vec![b'x'; 4000]).unwrap();
        check(&one, &big, "at most");
    }

    #[test]
    fn recipients_are_canonical_and_errors_say_why() {
        let (r1, _) = identity();
        let upper = r1.to_uppercase();
        let set = Recipients::parse([upper.as_str(), SSH_ED25519]).unwrap();
        let strings = set.to_strings();
        assert_eq!(strings[0], r1);
        assert!(
            !strings[1].contains("alice@rust"),
            "comments are dropped: {}",
            strings[1]
        );
        assert!(set.contains(SSH_ED25519));
        let check = |input: &str, fragment: &str| {
            let err = Recipients::parse([input]).expect_err(input).to_string();
            assert!(err.contains(fragment), "{input}: {err}");
        };
        check("age1qqqq", "not a valid X25519");
        check("age1pq1qqqqqqqq", "post-quantum");
        check("age1tag1qqqqqqqq", "tagged");
        // an X25519 key whose data begins with `pq` is an X25519 key (found by a CI run)
        let pq_looking = "age1pqrsqegd98cwnh4qvwl40ynckxl9q4nu7xaappdfvjveqljh0cmqj02g4n";
        assert_eq!(Recipients::parse([pq_looking]).unwrap().to_strings(), [pq_looking]);
        check("ssh-dss AAAA", "ssh");
        check("hello", "expected an age X25519 recipient");
        assert!(Recipients::parse(Vec::<String>::new()).is_err());
        let file = format!("# team\n\n{r1}\n{SSH_ED25519}\n");
        assert_eq!(Recipients::parse_file(&file, "team.txt").unwrap().len(), 2);
        let err = Recipients::parse_file("# x\nbogus\n", "team.txt")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("line 2 of team.txt"), "{err}");
    }

    #[test]
    fn identity_errors_never_quote_the_file() {
        let err = Identities::parse(b"AGE-SECRET-KEY-1NOTAKEYATALLXYZ\n", "id.txt").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("id.txt") && !text.contains("NOTAKEY"), "{text}");
        assert!(Identities::parse(b"# only a comment\n", "empty.txt").is_err());
    }

    #[test]
    fn a_damaged_ciphertext_is_reported_as_such() {
        let (r1, id1) = identity();
        let set = Recipients::parse([r1.as_str()]).unwrap();
        let armored = set.encrypt(b"value").unwrap();
        assert_eq!(id1.decrypt("garbage"), Err(DecryptFailure::Damaged));
        let mut lines: Vec<String> = armored.lines().map(str::to_owned).collect();
        let last_body = lines.len() - 2;
        let mut chars: Vec<char> = lines[last_body].chars().collect();
        chars[0] = if chars[0] == 'A' { 'B' } else { 'A' };
        lines[last_body] = chars.into_iter().collect();
        assert!(id1.decrypt(&lines.join("\n")).is_err());
    }
}
