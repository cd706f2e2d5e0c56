//! `leash login` and `leash logout`: getting a token (by password, client
//! id and secret, JWT, or a token given directly) and keeping it, with the
//! server address, in the per-user config file.
//!
//! It owns where each credential comes from (a no-echo prompt, stdin or a
//! file; never a plain command-line value for a password or client secret,
//! which would land in shell history) and what a login prints. It must never
//! print the token in text mode; `--output json` prints the server's
//! `TokenCreated`, token included, because that is how scripts get one.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{ArgGroup, Args};
use leash_core::api::{ClientLogin, JwtLogin, TokenCreated, TokenInfo, UserpassLogin};
use secrecy::{ExposeSecret, SecretString};

use crate::config::{self, UserConfig};
use crate::context::Context;
use crate::output::{self, OutputMode};
use crate::prompt;

/// How to log in. With none of these flags, the global `--token` (or
/// `LEASH_TOKEN`) is checked and saved; `--token -` reads it from stdin;
/// without a token it is prompted for without echo.
#[derive(Args)]
#[command(
    group(ArgGroup::new("method").args(["user", "client_id", "jwt_file", "jwt_stdin"])),
    group(ArgGroup::new("client_secret").args(["client_secret_file", "client_secret_stdin"]).requires("client_id")),
    group(ArgGroup::new("jwt").args(["jwt_file", "jwt_stdin"]).requires("identity")),
)]
pub struct LoginArgs {
    /// Log in as this user; the password is prompted for without echo
    #[arg(long, value_name = "NAME")]
    user: Option<String>,
    /// With --user: read the password from the first line of stdin
    #[arg(long, requires = "user")]
    password_stdin: bool,
    /// Log in as a service with its client id (the secret from
    /// --client-secret-file or --client-secret-stdin)
    #[arg(long, value_name = "ID", requires = "client_secret")]
    client_id: Option<String>,
    /// With --client-id: read the client secret from FILE
    #[arg(long, value_name = "FILE")]
    client_secret_file: Option<PathBuf>,
    /// With --client-id: read the client secret from stdin
    #[arg(long)]
    client_secret_stdin: bool,
    /// Log in with the signed JWT in FILE (a GitHub Actions OIDC token, a
    /// Kubernetes service-account token), as the service --identity
    #[arg(long, value_name = "FILE")]
    jwt_file: Option<PathBuf>,
    /// Like --jwt-file, reading the JWT from stdin
    #[arg(long)]
    jwt_stdin: bool,
    /// With --jwt-file or --jwt-stdin: the service identity to log in as
    #[arg(long, value_name = "NAME", requires = "jwt")]
    identity: Option<String>,
}

/// One way of logging in, with its credentials read.
enum Method {
    Token(SecretString),
    Userpass(UserpassLogin),
    Client(ClientLogin),
    Jwt(JwtLogin),
}

impl LoginArgs {
    /// Reads the credentials the flags point at.
    fn method(self, ctx: &Context) -> anyhow::Result<Method> {
        if let Some(username) = self.user {
            let password = if self.password_stdin {
                prompt::read_password_stdin()?
            } else {
                prompt::read_password(&format!("Password for {username}: "))?
            };
            return Ok(Method::Userpass(UserpassLogin {
                username,
                password: password.expose_secret().to_owned(),
            }));
        }
        if let Some(client_id) = self.client_id {
            let secret = match &self.client_secret_file {
                Some(path) => prompt::read_secret_file(path, "client secret")?,
                None => prompt::read_secret_stdin("client secret")?,
            };
            return Ok(Method::Client(ClientLogin {
                client_id,
                client_secret: secret.expose_secret().to_owned(),
            }));
        }
        if let Some(identity) = self.identity {
            let jwt = match &self.jwt_file {
                Some(path) => prompt::read_secret_file(path, "JWT")?,
                None => prompt::read_secret_stdin("JWT")?,
            };
            return Ok(Method::Jwt(JwtLogin {
                identity,
                jwt: jwt.expose_secret().to_owned(),
            }));
        }
        let token = match ctx.token_flag() {
            Some(t) if t.expose_secret() == "-" => prompt::read_secret_stdin("token")?,
            Some(t) => t.clone(),
            None => prompt::read_secret_line("Token: ", "token")?,
        };
        Ok(Method::Token(token))
    }
}

pub async fn login(args: LoginArgs, ctx: &Context) -> anyhow::Result<()> {
    let method = args.method(ctx)?;
    let addr = ctx.addr()?;
    let anonymous = ctx.client_for(&addr, None)?;
    let created = match method {
        Method::Token(token) => return token_login(ctx, &addr, token).await,
        Method::Userpass(login) => anonymous.login_userpass(&login).await?,
        Method::Client(login) => anonymous.login_client(&login).await?,
        Method::Jwt(login) => anonymous.login_jwt(&login).await?,
    };
    let path = save(anonymous.addrs().join(","), SecretString::from(created.token.clone()))?;
    match ctx.output() {
        OutputMode::Json => output::print_json(&created),
        OutputMode::Text => output::write_stdout(&logged_in_text(&anonymous.addr(), &created, &path)),
    }
}

/// The token-only login: check the token with the server, then save it.
async fn token_login(ctx: &Context, addr: &str, token: SecretString) -> anyhow::Result<()> {
    let client = ctx.client_for(addr, Some(token.clone()))?;
    let info = client.lookup_self().await?;
    let path = save(client.addrs().join(","), token)?;
    match ctx.output() {
        OutputMode::Json => output::print_json(&info),
        OutputMode::Text => output::write_stdout(&format!(
            "Logged in to {} as {} ({}).\nToken saved in {}.\n",
            client.addr(),
            who(&info),
            summary(policies_in_force(&info), info.root, info.expires_at.as_deref()),
            path.display()
        )),
    }
}

fn save(addr: String, token: SecretString) -> anyhow::Result<PathBuf> {
    let path = config::user_config_path()?;
    let config = UserConfig {
        addr: Some(addr),
        token: Some(token),
    };
    config::save_user_config(&path, &config).context("logged in, but the token could not be saved")?;
    Ok(path)
}

fn logged_in_text(addr: &str, created: &TokenCreated, path: &std::path::Path) -> String {
    format!(
        "Logged in to {addr} as {} ({}).\nToken saved in {}.\n",
        created.identity.as_deref().unwrap_or("(no identity)"),
        summary(&created.policies, false, created.expires_at.as_deref()),
        path.display()
    )
}

/// `policies: a, b; expires 2025-01-01T00:00:00Z`.
pub fn summary(policies: &[String], root: bool, expires_at: Option<&str>) -> String {
    let policies = if root {
        "root".to_owned()
    } else if policies.is_empty() {
        "policies: none".to_owned()
    } else {
        format!("policies: {}", policies.join(", "))
    };
    let expires = expires_at.map_or_else(|| "never expires".to_owned(), |t| format!("expires {t}"));
    format!("{policies}; {expires}")
}

/// The identity a token belongs to, else its display name.
pub fn who(info: &TokenInfo) -> &str {
    info.identity.as_deref().unwrap_or(&info.display_name)
}

/// The policies in force for a token: the effective ones (its own, its
/// identity's and its groups'), or its own when the server sent none.
pub fn policies_in_force(info: &TokenInfo) -> &[String] {
    if info.effective_policies.is_empty() {
        &info.policies
    } else {
        &info.effective_policies
    }
}

pub fn logout(ctx: &Context) -> anyhow::Result<()> {
    let path = config::user_config_path()?;
    let mut config = config::load_user_config(&path)?;
    let had_token = config.token.take().is_some();
    if had_token {
        config::save_user_config(&path, &config)?;
    }
    match ctx.output() {
        OutputMode::Json => output::print_json(&serde_json::json!({ "logged_out": had_token })),
        OutputMode::Text if had_token => output::write_stdout(&format!("Token removed from {}.\n", path.display())),
        OutputMode::Text => output::write_stdout("Not logged in: no token was saved.\n"),
    }
}

/// Forgets the saved token if it is `token` (after it was revoked).
/// Returns the config file's path when it did.
pub fn forget_if_saved(token: &SecretString) -> anyhow::Result<Option<PathBuf>> {
    let path = config::user_config_path()?;
    let mut config = config::load_user_config(&path)?;
    let saved = config
        .token
        .as_ref()
        .is_some_and(|t| t.expose_secret() == token.expose_secret());
    if !saved {
        return Ok(None);
    }
    config.token = None;
    config::save_user_config(&path, &config)?;
    Ok(Some(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn parse(args: &[&str]) -> Result<LoginArgs, String> {
        let argv = std::iter::once("leash")
            .chain(std::iter::once("login"))
            .chain(args.iter().copied());
        match Cli::try_parse_from(argv) {
            Ok(Cli {
                command: Command::Login(args),
                ..
            }) => Ok(args),
            Ok(_) => panic!("not a login"),
            Err(e) => Err(e.to_string()),
        }
    }

    #[test]
    fn one_method_at_a_time_with_its_credential_source() {
        assert!(parse(&[]).is_ok());
        assert!(parse(&["--user", "alice"]).is_ok());
        assert!(parse(&["--user", "alice", "--password-stdin"]).is_ok());
        assert!(parse(&["--client-id", "c", "--client-secret-file", "f"]).is_ok());
        assert!(parse(&["--client-id", "c", "--client-secret-stdin"]).is_ok());
        assert!(parse(&["--jwt-file", "f", "--identity", "ci"]).is_ok());
        assert!(parse(&["--jwt-stdin", "--identity", "ci"]).is_ok());

        let refused = [
            &["--user", "a", "--client-id", "c", "--client-secret-stdin"][..],
            &["--client-id", "c"],
            &["--client-secret-stdin"],
            &["--client-id", "c", "--client-secret-file", "f", "--client-secret-stdin"],
            &["--jwt-file", "f"],
            &["--identity", "ci"],
            &["--jwt-file", "f", "--jwt-stdin", "--identity", "ci"],
            &["--password-stdin"],
            &["--client-id", "c", "--client-secret", "s"],
        ];
        for args in refused {
            assert!(parse(args).is_err(), "{args:?} should be refused");
        }
    }

    #[test]
    fn summaries_name_policies_and_expiry() {
        let policies = vec!["a".to_owned(), "b".to_owned()];
        assert_eq!(
            summary(&policies, false, Some("2030-01-01T00:00:00Z")),
            "policies: a, b; expires 2030-01-01T00:00:00Z"
        );
        assert_eq!(summary(&[], false, None), "policies: none; never expires");
        assert_eq!(summary(&[], true, None), "root; never expires");
    }
}
