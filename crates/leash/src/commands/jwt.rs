//! `leash jwt issuer`: the JWT/OIDC issuers whose signed tokens services may
//! log in with (GitHub Actions, Kubernetes service accounts, ...).
//!
//! It owns turning flags into a `JwtIssuer` with exactly one key source:
//! `--jwks-url` (fetched and cached by the server), `--jwks-file` (a path
//! on the server's machine, read by the server), or keys read here and sent
//! inline (`--pem-file`, `--jwks-inline-file`). These are public keys; no
//! secret passes through this module.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{ArgGroup, Args, Subcommand};
use leash_core::api::{JwtIssuer, JwtIssuerList};
use serde_json::json;

use crate::context::Context;
use crate::output::{self, OutputMode, Table};

#[derive(Subcommand)]
pub enum JwtCommand {
    /// Configure the issuers JWT logins are verified against
    #[command(subcommand)]
    Issuer(IssuerCommand),
}

#[derive(Subcommand)]
pub enum IssuerCommand {
    /// Create or replace an issuer
    ///
    /// GitHub Actions: --issuer https://token.actions.githubusercontent.com
    /// --jwks-url https://token.actions.githubusercontent.com/.well-known/jwks
    /// --audience (the audience your workflow requests). Kubernetes: the
    /// cluster's service-account issuer and its JWKS (see docs/identities.md).
    Write(WriteArgs),
    /// List issuers
    List,
    /// Delete an issuer (JWT logins through it stop working)
    Delete {
        /// Issuer name
        name: String,
    },
}

#[derive(Args)]
#[command(group(
    ArgGroup::new("keys")
        .args(["jwks_file", "jwks_url", "pem_files", "jwks_inline_file"])
        .required(true)
        .multiple(false)
))]
pub struct WriteArgs {
    /// A name for the issuer, used by `leash identity create --jwt-issuer NAME`
    name: String,
    /// The `iss` claim tokens must carry, e.g. https://token.actions.githubusercontent.com
    #[arg(long, value_name = "URL")]
    issuer: String,
    /// An accepted `aud` value (repeatable; at least one)
    #[arg(long = "audience", value_name = "AUD", required = true)]
    audiences: Vec<String>,
    /// Keys: a JWKS file on the server's machine, read by the server
    #[arg(long, value_name = "SERVER_PATH")]
    jwks_file: Option<String>,
    /// Keys: a JWKS URL, fetched and cached by the server
    #[arg(long, value_name = "URL")]
    jwks_url: Option<String>,
    /// Keys: a PEM public key file, read here and stored inline (repeatable)
    #[arg(long = "pem-file", value_name = "FILE")]
    pem_files: Vec<PathBuf>,
    /// Keys: a JWKS JSON file, read here and stored inline
    #[arg(long, value_name = "FILE")]
    jwks_inline_file: Option<PathBuf>,
    /// An allowed signing algorithm, e.g. RS256, ES256 (repeatable) [server default: RS256, ES256]
    #[arg(long = "algorithm", value_name = "ALG")]
    algorithms: Vec<String>,
}

impl WriteArgs {
    /// The issuer, with local key files read.
    fn issuer(self) -> anyhow::Result<JwtIssuer> {
        let pem_keys = self
            .pem_files
            .iter()
            .map(|path| read_text(path, "PEM key"))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let jwks = match &self.jwks_inline_file {
            Some(path) => {
                let text = read_text(path, "JWKS")?;
                let value: serde_json::Value = serde_json::from_str(&text)
                    .with_context(|| format!("{} is not JSON (a JWKS is {{\"keys\": [...]}})", path.display()))?;
                Some(value)
            }
            None => None,
        };
        Ok(JwtIssuer {
            name: self.name,
            issuer: self.issuer,
            audiences: self.audiences,
            jwks,
            jwks_file: self.jwks_file,
            jwks_url: self.jwks_url,
            pem_keys,
            algorithms: self.algorithms,
        })
    }
}

fn read_text(path: &Path, what: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read the {what} file {}", path.display()))
}

pub async fn run(command: JwtCommand, ctx: &Context) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let mode = ctx.output();
    let JwtCommand::Issuer(command) = command;
    match command {
        IssuerCommand::Write(args) => {
            let issuer = args.issuer()?;
            let name = issuer.name.clone();
            let written = client.write_jwt_issuer(&name, &issuer).await?;
            output::emit(mode, &written, |i| {
                format!("Wrote JWT issuer {} ({}, keys: {}).\n", name, i.issuer, key_source(i))
            })
        }
        IssuerCommand::List => {
            let list = client.list_jwt_issuers().await?;
            output::emit(mode, &list, describe_list)
        }
        IssuerCommand::Delete { name } => {
            client.delete_jwt_issuer(&name).await?;
            match mode {
                OutputMode::Json => output::print_json(&json!({ "deleted": name })),
                OutputMode::Text => output::write_stdout(&format!("Deleted JWT issuer {name}.\n")),
            }
        }
    }
}

/// Where an issuer's keys come from, in words.
fn key_source(issuer: &JwtIssuer) -> String {
    if let Some(url) = &issuer.jwks_url {
        format!("JWKS URL {url}")
    } else if let Some(file) = &issuer.jwks_file {
        format!("JWKS file {file} on the server")
    } else if issuer.jwks.is_some() {
        "inline JWKS".to_owned()
    } else if !issuer.pem_keys.is_empty() {
        format!("{} PEM key(s)", issuer.pem_keys.len())
    } else {
        "none".to_owned()
    }
}

fn describe_list(list: &JwtIssuerList) -> String {
    if list.issuers.is_empty() {
        return "No JWT issuers. Add one with `leash jwt issuer write NAME --issuer URL --audience AUD --jwks-url URL`.\n"
            .to_owned();
    }
    let mut table = Table::new(&["NAME", "ISSUER", "AUDIENCES", "KEYS", "ALGORITHMS"]);
    for i in &list.issuers {
        table.row(vec![
            i.name.clone(),
            i.issuer.clone(),
            i.audiences.join(", "),
            key_source(i),
            if i.algorithms.is_empty() {
                "default".to_owned()
            } else {
                i.algorithms.join(", ")
            },
        ]);
    }
    table.render()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn write(args: &[&str]) -> anyhow::Result<JwtIssuer> {
        let argv = ["leash", "jwt", "issuer", "write"]
            .into_iter()
            .chain(args.iter().copied());
        match Cli::try_parse_from(argv) {
            Ok(Cli {
                command: Command::Jwt(JwtCommand::Issuer(IssuerCommand::Write(args))),
                ..
            }) => args.issuer(),
            Ok(_) => panic!("not jwt issuer write"),
            Err(e) => Err(anyhow::anyhow!(e.to_string())),
        }
    }

    #[test]
    fn exactly_one_key_source() {
        let github = write(&[
            "github",
            "--issuer",
            "https://token.actions.githubusercontent.com",
            "--audience",
            "leash",
            "--jwks-url",
            "https://token.actions.githubusercontent.com/.well-known/jwks",
        ])
        .unwrap();
        assert_eq!(github.name, "github");
        assert_eq!(github.audiences, ["leash"]);
        assert_eq!(
            key_source(&github),
            "JWKS URL https://token.actions.githubusercontent.com/.well-known/jwks"
        );

        let base = [
            "k8s",
            "--issuer",
            "https://kubernetes.default.svc",
            "--audience",
            "leash",
        ];
        let with = |extra: &[&str]| write(&[&base[..], extra].concat());
        assert!(with(&[]).is_err(), "a key source is required");
        assert!(with(&["--jwks-url", "u", "--jwks-file", "/etc/jwks.json"]).is_err());
        let file = with(&["--jwks-file", "/etc/leash/k8s-jwks.json"]).unwrap();
        assert_eq!(
            file.jwks_file.as_deref(),
            Some("/etc/leash/k8s-jwks.json"),
            "sent as given"
        );
        assert!(
            write(&["x", "--issuer", "i", "--jwks-url", "u"]).is_err(),
            "an audience is required"
        );
    }

    #[test]
    fn local_key_files_are_sent_inline() {
        let dir = tempfile::tempdir().unwrap();
        let pem = dir.path().join("key.pem");
        std::fs::write(&pem, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n").unwrap();
        let jwks = dir.path().join("jwks.json");
        std::fs::write(&jwks, r#"{"keys": []}"#).unwrap();
        let base = ["local", "--issuer", "i", "--audience", "a", "--algorithm", "ES256"];
        let p = pem.to_str().unwrap();
        let issuer = write(&[&base[..], &["--pem-file", p, "--pem-file", p]].concat()).unwrap();
        assert_eq!(issuer.pem_keys.len(), 2);
        assert!(issuer.pem_keys[0].starts_with("-----BEGIN PUBLIC KEY-----"));
        assert_eq!(issuer.algorithms, ["ES256"]);

        let issuer = write(&[&base[..], &["--jwks-inline-file", jwks.to_str().unwrap()]].concat()).unwrap();
        assert_eq!(issuer.jwks, Some(json!({"keys": []})));

        std::fs::write(&jwks, "not json").unwrap();
        let err = write(&[&base[..], &["--jwks-inline-file", jwks.to_str().unwrap()]].concat()).unwrap_err();
        assert!(format!("{err:#}").contains("is not JSON"), "{err:#}");
    }
}
