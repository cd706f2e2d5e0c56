//! The snapshot file: a store's files exactly as stored (still encrypted:
//! values are sealed by the barrier, the audit log holds none), in one file
//! with its format version and checksums.
//!
//! Layout, every byte covered by a checksum:
//!
//! ```text
//! LEASH-SNAPSHOT\n                        magic
//! {"format_version":1,...,"members":[..]}\n   the manifest, one JSON line
//! <member bytes, in manifest order>       each with its size and SHA-256 in the manifest
//! sha256:<64 hex>\n                       SHA-256 of everything above
//! ```
//!
//! It owns writing and reading that layout and nothing else: which files a
//! backend puts in a snapshot is the backend's (`SqliteStore::snapshot_into`),
//! where they go on restore is the caller's. Reading never trusts the file:
//! member names must be ones the caller accepts (no paths), sizes are bounded
//! by what is read, and nothing a reader extracts counts until the trailer
//! matches.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Result, StoreError};

/// The first bytes of every snapshot.
pub const MAGIC: &[u8] = b"LEASH-SNAPSHOT\n";
/// The layout this version writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;
/// Longest manifest line a reader accepts.
const MAX_MANIFEST_BYTES: u64 = 64 * 1024;
const TRAILER_PREFIX: &[u8] = b"sha256:";

/// What a snapshot holds, written as its second line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    /// The backend whose files these are (`sqlite`).
    pub backend: String,
    /// The Leash version that wrote it.
    pub leash_version: String,
    /// When it was taken (RFC 3339, UTC).
    pub created_at: String,
    pub members: Vec<Member>,
}

/// One file in a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// A plain file name (`leash.db`), never a path.
    pub name: String,
    pub bytes: u64,
    /// Hex SHA-256 of the member's bytes.
    pub sha256: String,
}

/// A file to put in a snapshot under `name`.
#[derive(Debug, Clone)]
pub struct SnapshotPart {
    pub name: String,
    pub path: PathBuf,
}

fn invalid(reason: impl Into<String>) -> StoreError {
    StoreError::Snapshot(reason.into())
}

fn io_error(what: &str) -> impl Fn(io::Error) -> StoreError + '_ {
    move |e| StoreError::Snapshot(format!("{what}: {e}"))
}

/// A writer that hashes what passes through it.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Size and hex SHA-256 of a file.
fn digest_file(path: &Path) -> io::Result<(u64, String)> {
    let mut file = File::open(path)?;
    let mut hash = Sha256::new();
    let bytes = io::copy(&mut file, &mut hash)?;
    Ok((bytes, hex::encode(hash.finalize())))
}

/// Writes a snapshot of `parts` to `out`; returns the hex SHA-256 of the whole file.
///
/// The parts must not change while this runs (they are copies the backend
/// made for the snapshot); a part whose size changed between hashing and
/// copying fails the write.
pub fn write_snapshot(out: impl Write, backend: &str, created_at: &str, parts: &[SnapshotPart]) -> Result<String> {
    let mut members = Vec::with_capacity(parts.len());
    for part in parts {
        check_name(&part.name)?;
        let (bytes, sha256) = digest_file(&part.path).map_err(io_error("reading a file to snapshot"))?;
        members.push(Member {
            name: part.name.clone(),
            bytes,
            sha256,
        });
    }
    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        backend: backend.to_owned(),
        leash_version: env!("CARGO_PKG_VERSION").to_owned(),
        created_at: created_at.to_owned(),
        members,
    };
    let mut out = Hashing {
        inner: out,
        hash: Sha256::new(),
    };
    let write_err = io_error("writing the snapshot");
    out.write_all(MAGIC).map_err(&write_err)?;
    let line = serde_json::to_vec(&manifest).map_err(|e| invalid(format!("encoding the manifest: {e}")))?;
    out.write_all(&line).map_err(&write_err)?;
    out.write_all(b"\n").map_err(&write_err)?;
    for (part, member) in parts.iter().zip(&manifest.members) {
        let file = File::open(&part.path).map_err(io_error("reading a file to snapshot"))?;
        let copied = io::copy(&mut file.take(member.bytes + 1), &mut out).map_err(&write_err)?;
        if copied != member.bytes {
            return Err(invalid(format!("{} changed while the snapshot was written", part.name)));
        }
    }
    let Hashing { mut inner, hash } = out;
    let sha256 = hex::encode(hash.finalize());
    inner.write_all(TRAILER_PREFIX).map_err(&write_err)?;
    inner.write_all(sha256.as_bytes()).map_err(&write_err)?;
    inner.write_all(b"\n").map_err(&write_err)?;
    inner.flush().map_err(&write_err)?;
    Ok(sha256)
}

/// A member name: a plain file name of a few safe characters (no path, no dot file).
fn check_name(name: &str) -> Result<()> {
    let safe = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if safe {
        Ok(())
    } else {
        Err(invalid(format!("member name {name:?} is not a plain file name")))
    }
}

/// What a snapshot was found to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub manifest: Manifest,
    /// Hex SHA-256 of the whole file (its trailer).
    pub sha256: String,
}

/// Reads a whole snapshot and checks every checksum, keeping nothing.
pub fn verify_snapshot(input: impl Read) -> Result<Verified> {
    read_snapshot(input, |_| true, |_| Ok(Box::new(io::sink())))
}

/// Checks a snapshot and writes its members into `dir` (which must exist and
/// should be empty), each as `dir/<name>` created 0600. Only names in
/// `accepted` are allowed, each at most once. On any error the files written
/// so far are removed: the caller finds either every member or none.
pub fn extract_snapshot(input: impl Read, dir: &Path, accepted: &[&str]) -> Result<Verified> {
    let mut written: Vec<PathBuf> = Vec::new();
    let result = read_snapshot(
        input,
        |name| accepted.contains(&name),
        |member| {
            let path = dir.join(&member.name);
            let file = create_private(&path).map_err(io_error("writing a restored file"))?;
            written.push(path);
            Ok(Box::new(SyncedFile(file)))
        },
    );
    if result.is_err() {
        for path in &written {
            let _ = std::fs::remove_file(path);
        }
    }
    result
}

/// A restored file, fsynced (on flush) when its member is complete.
struct SyncedFile(File);

impl Write for SyncedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.sync_all()
    }
}

fn create_private(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

/// A reader that hashes what it reads.
struct HashingReader<R> {
    inner: R,
    hash: Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

/// The one reader: magic, manifest, members (each to the sink `open` gives,
/// hashed on the way), trailer, end of file.
fn read_snapshot(
    input: impl Read,
    accept: impl Fn(&str) -> bool,
    mut open: impl FnMut(&Member) -> Result<Box<dyn Write + '_>>,
) -> Result<Verified> {
    let read_err = io_error("reading the snapshot");
    let mut input = BufReader::new(input);
    let mut reader = HashingReader {
        inner: &mut input,
        hash: Sha256::new(),
    };
    let mut magic = vec![0; MAGIC.len()];
    reader
        .read_exact(&mut magic)
        .map_err(|_| invalid("the file is not a Leash snapshot (too short)"))?;
    if magic != MAGIC {
        return Err(invalid(
            "the file is not a Leash snapshot (it does not start with LEASH-SNAPSHOT)",
        ));
    }
    let manifest = read_manifest(&mut reader)?;
    let mut seen: Vec<&str> = Vec::new();
    for member in &manifest.members {
        check_name(&member.name)?;
        if !accept(&member.name) {
            return Err(invalid(format!(
                "the snapshot holds {:?}, which a {} restore does not take",
                member.name, manifest.backend
            )));
        }
        if seen.contains(&member.name.as_str()) {
            return Err(invalid(format!("the snapshot holds {:?} twice", member.name)));
        }
        seen.push(&member.name);
        let mut sink = open(member)?;
        let mut hash = Sha256::new();
        let mut body = (&mut reader).take(member.bytes);
        let mut buf = vec![0u8; 64 * 1024];
        let mut copied = 0u64;
        loop {
            let n = body.read(&mut buf).map_err(&read_err)?;
            if n == 0 {
                break;
            }
            hash.update(&buf[..n]);
            sink.write_all(&buf[..n]).map_err(io_error("writing a restored file"))?;
            copied += n as u64;
        }
        if copied != member.bytes {
            return Err(invalid(format!(
                "the snapshot is truncated: {} has {copied} of its {} bytes",
                member.name, member.bytes
            )));
        }
        sink.flush().map_err(io_error("writing a restored file"))?;
        if hex::encode(hash.finalize()) != member.sha256 {
            return Err(invalid(format!(
                "{} does not match its checksum: the file is damaged",
                member.name
            )));
        }
    }
    let sha256 = hex::encode(std::mem::take(&mut reader.hash).finalize());
    let mut trailer = Vec::new();
    (&mut input)
        .take(TRAILER_PREFIX.len() as u64 + 66)
        .read_to_end(&mut trailer)
        .map_err(&read_err)?;
    let expected = [TRAILER_PREFIX, sha256.as_bytes(), b"\n"].concat();
    if trailer != expected {
        return Err(invalid(
            "the snapshot's checksum does not match its content: the file is damaged or truncated",
        ));
    }
    if input.fill_buf().map_err(&read_err)?.iter().next().is_some() {
        return Err(invalid(
            "the snapshot has bytes after its checksum: the file is damaged",
        ));
    }
    Ok(Verified { manifest, sha256 })
}

fn read_manifest(reader: &mut impl Read) -> Result<Manifest> {
    let mut line = Vec::new();
    let mut limited = reader.take(MAX_MANIFEST_BYTES);
    // one byte at a time: the manifest line is short and must not pull member bytes past the hash
    let mut byte = [0u8; 1];
    loop {
        match limited.read(&mut byte) {
            Ok(0) => return Err(invalid("the snapshot's manifest is truncated or too long")),
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) => line.push(byte[0]),
            Err(e) => return Err(invalid(format!("reading the snapshot: {e}"))),
        }
    }
    let version: serde_json::Value = serde_json::from_slice(&line)
        .map_err(|_| invalid("the snapshot's manifest is not JSON: the file is damaged"))?;
    match version.get("format_version").and_then(|v| v.as_u64()) {
        Some(v) if v > FORMAT_VERSION as u64 => {
            return Err(invalid(format!(
                "the snapshot has format version {v}; this Leash reads up to {FORMAT_VERSION} (restore with a newer Leash)"
            )));
        }
        Some(_) => {}
        None => return Err(invalid("the snapshot's manifest has no format_version")),
    }
    serde_json::from_value(version).map_err(|e| invalid(format!("the snapshot's manifest is malformed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(dir: &Path, files: &[(&str, &[u8])]) -> Vec<SnapshotPart> {
        files
            .iter()
            .map(|(name, bytes)| {
                let path = dir.join(format!("src-{name}"));
                std::fs::write(&path, bytes).unwrap();
                SnapshotPart {
                    name: (*name).to_owned(),
                    path,
                }
            })
            .collect()
    }

    fn snapshot(files: &[(&str, &[u8])]) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let mut out = Vec::new();
        write_snapshot(&mut out, "sqlite", "2026-12-04T00:00:00Z", &parts(dir.path(), files)).unwrap();
        out
    }

    const FILES: &[(&str, &[u8])] = &[("leash.db", b"database pages"), ("audit.jsonl", b"{\"a\":1}\n")];

    #[test]
    fn a_snapshot_round_trips_into_a_directory() {
        let bytes = snapshot(FILES);
        let verified = verify_snapshot(&bytes[..]).unwrap();
        assert_eq!(verified.manifest.members.len(), 2);
        assert_eq!(verified.sha256, hex::encode(Sha256::digest(&bytes[..bytes.len() - 72])));
        let out = tempfile::tempdir().unwrap();
        extract_snapshot(&bytes[..], out.path(), &["leash.db", "audit.jsonl"]).unwrap();
        assert_eq!(std::fs::read(out.path().join("leash.db")).unwrap(), b"database pages");
        assert_eq!(std::fs::read(out.path().join("audit.jsonl")).unwrap(), b"{\"a\":1}\n");
    }

    #[test]
    fn every_flipped_byte_is_refused_and_leaves_nothing() {
        let bytes = snapshot(FILES);
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x01;
            assert!(verify_snapshot(&bad[..]).is_err(), "byte {i} flipped was accepted");
            let out = tempfile::tempdir().unwrap();
            assert!(extract_snapshot(&bad[..], out.path(), &["leash.db", "audit.jsonl"]).is_err());
            assert_eq!(
                std::fs::read_dir(out.path()).unwrap().count(),
                0,
                "byte {i}: files left behind"
            );
        }
    }

    #[test]
    fn truncation_and_trailing_bytes_are_refused() {
        let bytes = snapshot(FILES);
        for len in 0..bytes.len() {
            assert!(
                verify_snapshot(&bytes[..len]).is_err(),
                "truncated to {len} was accepted"
            );
        }
        let mut longer = bytes.clone();
        longer.push(b'x');
        assert!(verify_snapshot(&longer[..]).is_err());
    }

    #[test]
    fn foreign_files_and_unknown_members_are_refused() {
        let e = verify_snapshot(&b"SQLite format 3\0 and more bytes"[..]).unwrap_err();
        assert!(e.to_string().contains("not a Leash snapshot"), "{e}");
        let bytes = snapshot(FILES);
        let out = tempfile::tempdir().unwrap();
        let e = extract_snapshot(&bytes[..], out.path(), &["leash.db"]).unwrap_err();
        assert!(e.to_string().contains("audit.jsonl"), "{e}");
        assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_member_name_with_a_path_is_refused_even_with_good_checksums() {
        for name in ["../leash.db", "/etc/passwd", ".hidden", "a/b", ""] {
            let manifest = Manifest {
                format_version: 1,
                backend: "sqlite".into(),
                leash_version: "0".into(),
                created_at: "now".into(),
                members: vec![Member {
                    name: name.into(),
                    bytes: 1,
                    sha256: hex::encode(Sha256::digest(b"x")),
                }],
            };
            let mut body = MAGIC.to_vec();
            body.extend(serde_json::to_vec(&manifest).unwrap());
            body.extend(b"\nx");
            let sha = hex::encode(Sha256::digest(&body));
            body.extend(format!("sha256:{sha}\n").as_bytes());
            let out = tempfile::tempdir().unwrap();
            let e = extract_snapshot(&body[..], out.path(), &[name]).unwrap_err();
            assert!(e.to_string().contains("plain file name"), "{name}: {e}");
        }
    }

    #[test]
    fn a_newer_format_is_named() {
        let bytes = snapshot(FILES);
        let text = String::from_utf8_lossy(&bytes).replace("\"format_version\":1", "\"format_version\":9");
        let e = verify_snapshot(text.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("format version 9"), "{e}");
    }
}
