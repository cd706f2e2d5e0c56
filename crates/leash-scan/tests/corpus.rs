//! No false positives on a clean corpus: the sources of this project's own
//! dependencies (the packages in the workspace's `Cargo.lock`, as unpacked in
//! cargo's registry cache). The first `MAX_FILES` files, in package then path
//! order, must yield no finding above low severity, except the justified ones
//! below. The corpus is fixed by `Cargo.lock`, not by whatever else the
//! machine's cache holds. Skipped (with a message) when there is no registry
//! cache on the machine.

use std::path::{Path, PathBuf};

use leash_scan::engine::Origin;
use leash_scan::source::scan_stream;
use leash_scan::{ScannerBuilder, Severity};

const MAX_FILES: usize = 8000;

fn registry_src() -> Option<PathBuf> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
    let src = home.join("registry/src");
    src.is_dir().then_some(src)
}

/// `name-version` of every registry package in the workspace's `Cargo.lock`, sorted.
fn locked_packages() -> Vec<String> {
    let lock = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.lock");
    let text = std::fs::read_to_string(&lock).unwrap_or_else(|e| panic!("cannot read {}: {e}", lock.display()));
    let lock: toml::Table = text.parse().unwrap();
    let mut out: Vec<String> = lock["package"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| {
            p.get("source")
                .and_then(|s| s.as_str())
                .is_some_and(|s| s.starts_with("registry+"))
        })
        .map(|p| format!("{}-{}", p["name"].as_str().unwrap(), p["version"].as_str().unwrap()))
        .collect();
    out.sort();
    out.dedup();
    out
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        if out.len() >= MAX_FILES {
            return;
        }
        let Ok(t) = e.file_type() else { continue };
        if t.is_dir() {
            collect(&e.path(), out);
        } else if t.is_file() {
            out.push(e.path());
        }
    }
}

/// Findings that are correct detections of real key material, published on
/// purpose as test vectors: private keys and JWTs in the tests, examples,
/// benches and docs of crates whose subject is keys and tokens. A team's own
/// repository would want these reported, so the rules stay as they are.
fn justified(rule: &str, path: &str) -> bool {
    const KEY_CRATES: &[&str] = &[
        "age",
        "age-core",
        "hpke",
        "pem",
        "pem-rfc7468",
        "pkcs1",
        "pkcs8",
        "sec1",
        "rsa",
        "rcgen",
        "jsonwebtoken",
        "ed25519",
        "p256",
        "p384",
        "elliptic-curve",
        "ecdsa",
        "rustls",
        "rustls-pemfile",
        "rustls-pki-types",
        "ring",
        "aws-lc-rs",
        "webpki",
        "axum-server",
        "sqlx",
        "openssl",
        "native-tls",
        "x509-parser",
        "spki",
        "der",
        "age",
        "hpke",
    ];
    let krate = path.split('/').next().unwrap_or("");
    let name = krate.rsplit_once('-').map_or(krate, |(n, _)| n);
    let in_key_crate = KEY_CRATES.contains(&name);
    let in_fixture_dir = ["/tests/", "/examples/", "/benches/", "/certs/", "/keys/", "/testdata/"]
        .iter()
        .any(|d| path.contains(d));
    // A key crate's published test vectors (hpke's `test-vectors-*.json`, age's key files in
    // `tests/testdata/`) hold keys under key-like names.
    let file = path.rsplit('/').next().unwrap_or("");
    let test_vectors = file.starts_with("test-vectors") || file.starts_with("test_vectors") || in_fixture_dir;
    (matches!(rule, "private-key" | "jwt" | "age-secret-key") && (in_key_crate || in_fixture_dir))
        || (rule == "generic-api-key" && in_key_crate && test_vectors)
}

#[test]
fn dependency_sources_yield_no_unjustified_finding_above_low() {
    let Some(src) = registry_src() else {
        eprintln!("no cargo registry cache: skipped");
        return;
    };
    let indexes: Vec<PathBuf> = std::fs::read_dir(&src).unwrap().flatten().map(|e| e.path()).collect();
    let mut files = Vec::new();
    for package in locked_packages() {
        if let Some(dir) = indexes.iter().map(|i| i.join(&package)).find(|d| d.is_dir()) {
            collect(&dir, &mut files);
        }
    }
    assert!(!files.is_empty(), "no files under {}", src.display());
    let scanner = ScannerBuilder::new().build();
    let mut scanned = 0;
    let mut justified_count = 0;
    let mut failures = Vec::new();
    for file in &files {
        let Ok(f) = std::fs::File::open(file) else { continue };
        let rel = file
            .strip_prefix(&src)
            .unwrap()
            .components()
            .skip(1)
            .collect::<PathBuf>()
            .to_string_lossy()
            .into_owned();
        if scanner.path_allowed(&rel) {
            continue;
        }
        scanned += 1;
        let origin = Origin {
            path: rel.clone(),
            commit: None,
        };
        for finding in scan_stream(&scanner, &origin, f).unwrap() {
            if finding.severity <= Severity::Low {
                continue;
            }
            if justified(&finding.rule_id, &rel) {
                justified_count += 1;
            } else {
                failures.push(format!("{}:{} {}", rel, finding.line, finding.rule_id));
            }
        }
    }
    eprintln!("{scanned} files scanned, {justified_count} justified findings");
    assert!(
        failures.is_empty(),
        "{} false positives:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
