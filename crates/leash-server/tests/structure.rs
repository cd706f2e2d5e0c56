//! Rules of the code's structure that the type system alone does not hold,
//! checked over the workspace's sources (ARCHITECTURE.md names each).

use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every `.rs` file under `dir`, with its text.
fn sources(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            out.push((path, text));
        }
    }
    out
}

/// Whether `text` holds `needle` as a whole name (not as part of a longer one).
fn contains_name(text: &str, needle: &str) -> bool {
    let is_name = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(needle).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + needle.len()..].chars().next();
        !before.is_some_and(is_name) && !after.is_some_and(is_name)
    })
}

/// The files under `dir` that contain `needle` as a whole name, relative to the workspace.
fn files_with(dir: &str, needle: &str) -> Vec<String> {
    let root = workspace();
    sources(&root.join(dir))
        .into_iter()
        .filter(|(_, text)| contains_name(text, needle))
        .map(|(path, _)| path.strip_prefix(&root).unwrap().display().to_string())
        .collect()
}

#[test]
fn only_the_barrier_encrypts_or_decrypts_stored_data() {
    // The keyring type and the raw envelope functions appear in the server only inside the barrier;
    // every other module gets a `barrier::Keys`, whose methods are the only way to seal or open.
    for needle in ["Keyring", "crypto::seal", "crypto::open", "seal_under", "open_under"] {
        let found = files_with("crates/leash-server/src", needle);
        assert!(
            found.iter().all(|f| f == "crates/leash-server/src/barrier.rs"),
            "`{needle}` outside the barrier: {found:?}"
        );
    }
    // The barrier does hold the keyring and the outer keys (the scan above finds real names).
    for needle in ["Keyring", "seal_under", "open_under"] {
        assert_eq!(
            files_with("crates/leash-server/src", needle),
            ["crates/leash-server/src/barrier.rs"]
        );
    }
}

#[test]
fn only_storage_turns_bytes_back_into_sealed_data() {
    // `Sealed::from_stored` re-wraps bytes a store read back; anywhere else it could launder
    // plaintext into the type storage accepts.
    let mut found = files_with("crates", "Sealed::from_stored");
    found.sort();
    for file in &found {
        assert!(
            file.starts_with("crates/leash-store/")
                || file == "crates/leash-core/src/crypto.rs"
                || file == "crates/leash-server/src/barrier.rs"
                || file == "crates/leash-server/tests/structure.rs",
            "Sealed::from_stored in {file}"
        );
    }
    assert!(
        found.iter().any(|f| f.starts_with("crates/leash-store/src/")),
        "{found:?}"
    );
}

#[test]
fn route_handlers_never_touch_storage_or_caches() {
    // A handler extracts, authorizes, calls one domain function and maps its result; storage,
    // the directory reload and the token cache belong to the domain modules (ARCHITECTURE.md,
    // "Domain services"). Whitespace is ignored, so `state\n    .store` counts too.
    let root = workspace();
    // the web UI's handlers too: they call the API's handlers, never storage
    let mut routes = sources(&root.join("crates/leash-server/src/routes"));
    routes.extend(sources(&root.join("crates/leash-server/src/ui")));
    assert!(
        routes.iter().any(|(path, _)| path.ends_with("admin.rs"))
            && routes.iter().any(|(path, _)| path.ends_with("session.rs")),
        "no route files read"
    );
    let mut found = Vec::new();
    for (path, text) in &routes {
        let text: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        for needle in [
            "state.store",
            ".store.",
            "directory.reload",
            "tokens.clear",
            "tokens.invalidate",
        ] {
            if text.contains(needle) {
                found.push(format!("{}: {needle}", path.strip_prefix(&root).unwrap().display()));
            }
        }
    }
    assert!(found.is_empty(), "route handlers doing the domain's job: {found:?}");
}

#[test]
fn domain_services_take_their_dependencies_not_the_http_state() {
    // The services see `Domain` (store, barrier, clock, change feed, directory, token cache,
    // limits), never `AppState`, which also carries the HTTP edge's audit middleware log,
    // login limiter, allowed origins and shutdown signal; nor do they know axum.
    let root = workspace();
    let src = root.join("crates/leash-server/src");
    let domain = [
        "service.rs",
        "projects.rs",
        "identities.rs",
        "tokens.rs",
        "access.rs",
        "review.rs",
        "grants.rs",
        "e2e.rs",
        "rotation/admin.rs",
        "rotation/engine.rs",
        "rotation/policy.rs",
        "rotation/stages.rs",
        "audit/query.rs",
    ];
    let mut found = Vec::new();
    for file in domain {
        let text = std::fs::read_to_string(src.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(contains_name(&text, "Domain"), "{file} does not take `Domain`");
        for needle in ["AppState", "axum", "StatusCode", "HeaderMap"] {
            if contains_name(&text, needle) {
                found.push(format!("{file}: {needle}"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "domain services reaching for the HTTP layer: {found:?}"
    );
}
