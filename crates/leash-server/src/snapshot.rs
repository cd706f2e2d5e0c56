//! Online snapshots: the store's files as stored (the backend copies each
//! from one moment, the data before the audit table) and the audit file up
//! to its last whole line (copied after the table, so it holds every record
//! the table does), packed in the snapshot format (`leash_store::snapshot`)
//! in a private scratch directory beside the data.
//!
//! It never decrypts anything and never holds a key: a snapshot is the data
//! as stored, sealed values and all, restorable only with the unseal shares.
//! The scratch directory is gone before the snapshot is sent: the caller gets
//! an open file with no name on disk.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use leash_store::snapshot::{SnapshotPart, write_snapshot};

use crate::error::ApiError;
use crate::state::Domain;
use crate::time::{now_millis, rfc3339};

/// Member name of the audit JSON-lines file.
pub const AUDIT_MEMBER: &str = "audit.jsonl";

/// A snapshot ready to send.
pub struct Taken {
    /// Open for reading from the start; unlinked already.
    pub file: File,
    pub bytes: u64,
    /// Hex SHA-256 of the whole file (also its trailer).
    pub sha256: String,
}

/// Takes a snapshot while the server keeps serving; `scratch` is where the
/// copies are made (the data directory: same disk, same protection).
pub async fn take(domain: &Domain, audit_file: &Path, scratch: &Path) -> Result<Taken, ApiError> {
    let dir = tempfile::Builder::new()
        .prefix(".leash-snapshot-")
        .tempdir_in(scratch)
        .map_err(|e| ApiError::internal("creating the snapshot's scratch directory", e))?;
    let stored = domain.store.snapshot_into(dir.path()).await?;
    let audit_file = audit_file.to_owned();
    let scratch_dir = dir.path().to_owned();
    let taken = tokio::task::spawn_blocking(move || -> Result<Taken, ApiError> {
        let mut parts = stored.parts;
        if let Some(copy) = copy_whole_lines(&audit_file, &scratch_dir.join(AUDIT_MEMBER))
            .map_err(|e| ApiError::internal("copying the audit file into the snapshot", e))?
        {
            parts.push(SnapshotPart {
                name: AUDIT_MEMBER.to_owned(),
                path: copy,
            });
        }
        let path = scratch_dir.join("snapshot");
        let out = File::create(&path).map_err(|e| ApiError::internal("writing the snapshot", e))?;
        let sha256 = write_snapshot(BufWriter::new(out), stored.backend, &rfc3339(now_millis()), &parts)?;
        let file = File::open(&path).map_err(|e| ApiError::internal("reading the snapshot back", e))?;
        let bytes = file
            .metadata()
            .map_err(|e| ApiError::internal("reading the snapshot back", e))?
            .len();
        Ok(Taken { file, bytes, sha256 })
    })
    .await
    .map_err(|e| ApiError::internal("taking a snapshot", e))??;
    drop(dir);
    Ok(taken)
}

/// Copies the complete lines of `from` (a line the writer is appending right
/// now is left out) to `to`; `None` when `from` is not a regular file (no
/// audit file yet, or a device).
fn copy_whole_lines(from: &Path, to: &Path) -> std::io::Result<Option<PathBuf>> {
    let source = match File::open(from) {
        Ok(file) if file.metadata()?.is_file() => file,
        Ok(_) => return Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut reader = BufReader::new(source);
    let mut out = BufWriter::new(File::create(to)?);
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 || line.last() != Some(&b'\n') {
            break;
        }
        out.write_all(&line)?;
    }
    out.flush()?;
    Ok(Some(to.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_being_written_is_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("audit.jsonl");
        std::fs::write(&from, b"{\"seq\":1}\n{\"seq\":2}\n{\"se").unwrap();
        let to = copy_whole_lines(&from, &dir.path().join("copy")).unwrap().unwrap();
        assert_eq!(std::fs::read(to).unwrap(), b"{\"seq\":1}\n{\"seq\":2}\n");
    }

    #[test]
    fn a_missing_or_special_audit_file_is_no_member() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            copy_whole_lines(&dir.path().join("none"), &dir.path().join("c"))
                .unwrap()
                .is_none()
        );
        assert!(
            copy_whole_lines(Path::new("/dev/null"), &dir.path().join("c"))
                .unwrap()
                .is_none()
        );
    }
}
