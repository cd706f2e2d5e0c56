//! Process hardening for the server: no core dumps, so a crash cannot write
//! unsealed key material to disk; warnings for files others can read.

/// Sets the core-file size limit to zero and marks the process non-dumpable
/// (which also blocks ptrace attach by other non-root processes).
pub fn disable_core_dumps() -> Result<(), String> {
    nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_CORE, 0, 0)
        .map_err(|e| format!("cannot set RLIMIT_CORE to 0: {e}"))?;
    nix::sys::prctl::set_dumpable(false).map_err(|e| format!("cannot clear the dumpable flag: {e}"))?;
    Ok(())
}

/// Warns (once, at start) when an existing file or directory the server
/// trusts is readable or writable by group or others. Leash creates its own
/// files 0600 and directories 0700; this catches ones made by hand.
pub fn warn_if_exposed(path: &std::path::Path, what: &str) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        let wanted = if meta.is_dir() { "0700" } else { "0600" };
        tracing::warn!(
            path = %path.display(),
            mode = format!("{:o}", meta.permissions().mode() & 0o777),
            "the {what} is accessible to group or others; restrict it to mode {wanted}"
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn core_limit_is_zero_afterwards() {
        super::disable_core_dumps().unwrap();
        let (soft, hard) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_CORE).unwrap();
        assert_eq!((soft, hard), (0, 0));
        assert!(!nix::sys::prctl::get_dumpable().unwrap());
    }
}
