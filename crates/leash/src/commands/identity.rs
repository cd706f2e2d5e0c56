//! `leash identity`: create, list, show, update and delete users and service
//! identities; rotate a service's client secret; revoke an identity's tokens.
//!
//! It owns turning flags into `IdentityCreate`/`IdentityUpdate` (refusing
//! flags that do not fit the identity's kind before anything is sent),
//! reading passwords (never from a plain flag), and showing a new client
//! secret exactly once, with a warning. It must never print a password.

use anyhow::bail;
use clap::{Args, Subcommand, ValueEnum};
use leash_core::api::{
    ClientCredentials, ClientSecretOptions, IdentityCreate, IdentityCreated, IdentityInfo, IdentityKind, IdentityList,
    IdentityUpdate, JwtBinding,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use crate::context::Context;
use crate::keyvalue::{self, parse_claim, parse_meta};
use crate::output::{self, OutputMode, Table, or_dash};
use crate::prompt;

#[derive(Subcommand)]
pub enum IdentityCommand {
    /// Create a user (password login) or a service identity (client id and
    /// secret, and/or JWT login)
    ///
    /// A service gets a client id and a client secret, printed once (with
    /// `--output json` as the top-level `client_id` and `client_secret`).
    /// With --jwt-issuer it logs in with a signed JWT from that issuer
    /// carrying every --bound-claim instead, and gets no client secret
    /// unless --with-client-secret (or another client-secret option) is
    /// given. A user's password is prompted for twice without echo, or read
    /// from stdin with --password-stdin.
    Create(CreateArgs),
    /// List identities
    List,
    /// Show one identity: kind, policies, groups, metadata, login settings
    Show {
        /// Identity name
        name: String,
    },
    /// Change an identity: what is given replaces what was there
    Update(UpdateArgs),
    /// Delete an identity; its tokens are revoked
    Delete {
        /// Identity name
        name: String,
    },
    /// Manage a service's client secret
    #[command(subcommand)]
    Secret(SecretCommand),
    /// Revoke every token of an identity (it can log in again)
    RevokeTokens {
        /// Identity name
        name: String,
    },
}

#[derive(Subcommand)]
pub enum SecretCommand {
    /// Issue a new client secret, printed once; the old one stops working
    Rotate {
        /// Service identity name
        name: String,
    },
}

/// `--kind`.
#[derive(ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Kind {
    /// A person: logs in with a name and password
    User,
    /// A program: logs in with a client id and secret, or a JWT
    #[default]
    Service,
}

#[derive(Args)]
pub struct CreateArgs {
    /// Identity name
    name: String,
    /// What kind of identity
    #[arg(long, value_enum, default_value_t)]
    kind: Kind,
    /// Policy to attach (repeat for several)
    #[arg(long = "policy", value_name = "POLICY")]
    policies: Vec<String>,
    /// Metadata for policy templates, e.g. team=payment (repeatable)
    #[arg(long = "meta", value_name = "KEY=VALUE", value_parser = parse_meta)]
    meta: Vec<(String, String)>,
    /// Users: read the password from the first line of stdin instead of prompting
    #[arg(long)]
    password_stdin: bool,
    #[command(flatten)]
    client: ClientSecretArgs,
    #[command(flatten)]
    jwt: JwtBindingArgs,
    #[command(flatten)]
    ttl: TokenTtlArgs,
}

/// Limits of a service's client secret.
#[derive(Args, Default)]
#[command(next_help_heading = "Client secret (services)")]
pub struct ClientSecretArgs {
    /// With --jwt-issuer: also issue a client id and secret (a service
    /// without --jwt-issuer always gets one; with it, none unless asked)
    #[arg(long)]
    with_client_secret: bool,
    /// Only log in from this network, e.g. 10.0.0.0/8 (repeatable; default: anywhere)
    #[arg(long = "allowed-cidr", value_name = "CIDR")]
    allowed_cidrs: Vec<String>,
    /// The secret expires after this long, e.g. 90d (default: when rotated)
    #[arg(long, value_name = "DURATION")]
    secret_ttl: Option<String>,
    /// The secret allows this many logins (default: unlimited)
    #[arg(long, value_name = "N")]
    secret_uses: Option<u32>,
}

/// A service's JWT binding.
#[derive(Args, Default)]
#[command(next_help_heading = "JWT login (services)")]
pub struct JwtBindingArgs {
    /// Allow login with JWTs from this configured issuer (`leash jwt issuer write`)
    #[arg(long, value_name = "ISSUER")]
    jwt_issuer: Option<String>,
    /// A claim the JWT must carry, e.g. repository=acme/payment (repeatable)
    #[arg(long = "bound-claim", value_name = "CLAIM=VALUE", value_parser = parse_claim, requires = "jwt_issuer")]
    bound_claims: Vec<(String, String)>,
    /// The `sub` the JWT must have, e.g. system:serviceaccount:payments:api
    #[arg(long, value_name = "SUB", requires = "jwt_issuer")]
    bound_subject: Option<String>,
}

/// Lifetimes of the tokens an identity gets at login.
#[derive(Args, Default)]
#[command(next_help_heading = "Login tokens")]
pub struct TokenTtlArgs {
    /// TTL of tokens issued at login, e.g. 1h [server default: 1h]
    #[arg(long, value_name = "DURATION")]
    token_ttl: Option<String>,
    /// Longest a login token may be renewed to, e.g. 24h [server default: 24h]
    #[arg(long, value_name = "DURATION")]
    token_max_ttl: Option<String>,
}

#[derive(Args)]
pub struct UpdateArgs {
    /// Identity name
    name: String,
    /// Replace the policies with these (repeatable)
    #[arg(long = "policy", value_name = "POLICY")]
    policies: Vec<String>,
    /// Remove every policy
    #[arg(long, conflicts_with = "policies")]
    no_policies: bool,
    /// Replace the metadata with these pairs (repeatable)
    #[arg(long = "meta", value_name = "KEY=VALUE", value_parser = parse_meta)]
    meta: Vec<(String, String)>,
    /// Remove all metadata
    #[arg(long, conflicts_with = "meta")]
    no_meta: bool,
    /// Users: set a new password, prompted for twice without echo
    #[arg(long)]
    password: bool,
    /// Users: set a new password, read from the first line of stdin
    #[arg(long, conflicts_with = "password")]
    password_stdin: bool,
    #[command(flatten)]
    jwt: JwtBindingArgs,
    #[command(flatten)]
    ttl: TokenTtlArgs,
}

impl ClientSecretArgs {
    fn given(&self) -> bool {
        self.with_client_secret
            || !self.allowed_cidrs.is_empty()
            || self.secret_ttl.is_some()
            || self.secret_uses.is_some()
    }
}

impl JwtBindingArgs {
    fn binding(self) -> anyhow::Result<Option<JwtBinding>> {
        let Some(issuer) = self.jwt_issuer else {
            return Ok(None);
        };
        Ok(Some(JwtBinding {
            issuer,
            bound_claims: keyvalue::to_map(self.bound_claims, "claim")?,
            bound_subject: self.bound_subject,
        }))
    }
}

impl CreateArgs {
    /// The request without the password (read afterwards, so a flag
    /// mistake is reported before any prompt). Durations pass through as given.
    fn request(self) -> anyhow::Result<IdentityCreate> {
        let kind = match self.kind {
            Kind::User => {
                if self.client.given() {
                    bail!(
                        "--with-client-secret, --allowed-cidr, --secret-ttl and --secret-uses are for service \
                         identities, not users"
                    );
                }
                if self.jwt.jwt_issuer.is_some() {
                    bail!("--jwt-issuer is for service identities, not users");
                }
                IdentityKind::User
            }
            Kind::Service => {
                if self.password_stdin {
                    bail!("--password-stdin is for users (--kind user); services get a client secret");
                }
                IdentityKind::Service
            }
        };
        let client = self.client.given().then_some(ClientSecretOptions {
            allowed_cidrs: self.client.allowed_cidrs,
            secret_ttl: self.client.secret_ttl,
            secret_uses: self.client.secret_uses,
        });
        Ok(IdentityCreate {
            name: self.name,
            kind,
            policies: self.policies,
            metadata: keyvalue::to_map(self.meta, "metadata key")?,
            password: None,
            client,
            jwt: self.jwt.binding()?,
            token_ttl: self.ttl.token_ttl,
            token_max_ttl: self.ttl.token_max_ttl,
        })
    }
}

/// Where a new password comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PasswordSource {
    None,
    Prompt,
    Stdin,
}

impl UpdateArgs {
    /// The request without the password, and where the password comes from.
    fn request(self) -> anyhow::Result<(String, IdentityUpdate, PasswordSource)> {
        let password = match (self.password, self.password_stdin) {
            (_, true) => PasswordSource::Stdin,
            (true, false) => PasswordSource::Prompt,
            (false, false) => PasswordSource::None,
        };
        let policies = if self.no_policies {
            Some(Vec::new())
        } else {
            (!self.policies.is_empty()).then_some(self.policies)
        };
        let metadata = if self.no_meta {
            Some(Default::default())
        } else if self.meta.is_empty() {
            None
        } else {
            Some(keyvalue::to_map(self.meta, "metadata key")?)
        };
        let update = IdentityUpdate {
            policies,
            metadata,
            password: None,
            jwt: self.jwt.binding()?,
            token_ttl: self.ttl.token_ttl,
            token_max_ttl: self.ttl.token_max_ttl,
        };
        let nothing = update.policies.is_none()
            && update.metadata.is_none()
            && update.jwt.is_none()
            && update.token_ttl.is_none()
            && update.token_max_ttl.is_none()
            && password == PasswordSource::None;
        if nothing {
            bail!(
                "nothing to update: give --policy, --no-policies, --meta, --no-meta, --password, \
                 --password-stdin, --jwt-issuer, --token-ttl or --token-max-ttl"
            );
        }
        Ok((self.name, update, password))
    }
}

pub async fn run(command: IdentityCommand, ctx: &Context) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let mode = ctx.output();
    match command {
        IdentityCommand::Create(args) => {
            let password_stdin = args.password_stdin;
            let mut request = args.request()?;
            if request.kind == IdentityKind::User {
                let password = if password_stdin {
                    prompt::read_password_stdin()?
                } else {
                    prompt::read_new_password(&format!("Password for {}: ", request.name))?
                };
                request.password = Some(password.expose_secret().to_owned());
            }
            let created = client.create_identity(&request).await?;
            output::emit(mode, &created, describe_created)
        }
        IdentityCommand::List => {
            let list = client.list_identities().await?;
            output::emit(mode, &list, describe_list)
        }
        IdentityCommand::Show { name } => {
            let info = client.get_identity(&name).await?;
            output::emit(mode, &info, describe)
        }
        IdentityCommand::Update(args) => {
            let (name, mut update, source) = args.request()?;
            let password: Option<SecretString> = match source {
                PasswordSource::None => None,
                PasswordSource::Stdin => Some(prompt::read_password_stdin()?),
                PasswordSource::Prompt => Some(prompt::read_new_password(&format!("New password for {name}: "))?),
            };
            update.password = password.map(|p| p.expose_secret().to_owned());
            let info = client.update_identity(&name, &update).await?;
            output::emit(mode, &info, |i| format!("Updated {}.\n\n{}", i.name, describe(i)))
        }
        IdentityCommand::Delete { name } => {
            client.delete_identity(&name).await?;
            match mode {
                OutputMode::Json => output::print_json(&json!({ "deleted": name })),
                OutputMode::Text => {
                    output::write_stdout(&format!("Deleted identity {name}; its tokens are revoked.\n"))
                }
            }
        }
        IdentityCommand::Secret(SecretCommand::Rotate { name }) => {
            let credentials = client.rotate_client_secret(&name).await?;
            output::emit(mode, &credentials, describe_credentials)
        }
        IdentityCommand::RevokeTokens { name } => {
            client.revoke_identity_tokens(&name).await?;
            match mode {
                OutputMode::Json => output::print_json(&json!({ "revoked_tokens_of": name })),
                OutputMode::Text => output::write_stdout(&format!("Revoked every token of {name}.\n")),
            }
        }
    }
}

const SHOWN_ONCE: &str = "WARNING: the client secret is shown only this once; Leash stores only its hash.\n\
Hand it to the service through a file or secret store only it can read; the service logs in with\n";

fn login_hint(client_id: &str) -> String {
    format!("  leash login --client-id {client_id} --client-secret-file FILE\n")
}

fn describe_created(created: &IdentityCreated) -> String {
    let info = &created.identity;
    let kind = match info.kind {
        IdentityKind::User => "user",
        IdentityKind::Service => "service identity",
    };
    let mut out = format!("Created {kind} {} ({}).\n", info.name, policies_text(&info.policies));
    match (&created.client_id, &created.client_secret) {
        (Some(id), Some(secret)) => {
            out.push_str(&format!(
                "\nClient ID:     {id}\nClient secret: {secret}\n\n{SHOWN_ONCE}"
            ));
            out.push_str(&login_hint(id));
        }
        _ if info.kind == IdentityKind::User => {
            out.push_str(&format!("Log in with: leash login --user {}\n", info.name));
        }
        _ => {}
    }
    if let Some(jwt) = &info.jwt {
        out.push_str(&format!(
            "JWT login: leash login --identity {} --jwt-file FILE (tokens from issuer {}).\n",
            info.name, jwt.issuer
        ));
    }
    out
}

fn describe_credentials(credentials: &ClientCredentials) -> String {
    format!(
        "New client secret for {}; the old one no longer works.\n\nClient ID:     {}\nClient secret: {}\n\n{SHOWN_ONCE}{}",
        credentials.identity,
        credentials.client_id,
        credentials.client_secret,
        login_hint(&credentials.client_id)
    )
}

fn policies_text(policies: &[String]) -> String {
    if policies.is_empty() {
        "no policies".to_owned()
    } else {
        format!("policies: {}", policies.join(", "))
    }
}

fn kind_word(kind: IdentityKind) -> &'static str {
    match kind {
        IdentityKind::User => "user",
        IdentityKind::Service => "service",
    }
}

fn join_or_dash(v: &[String]) -> String {
    if v.is_empty() { "-".to_owned() } else { v.join(", ") }
}

fn describe_list(list: &IdentityList) -> String {
    if list.identities.is_empty() {
        return "No identities. Create one with `leash identity create NAME --policy POLICY`.\n".to_owned();
    }
    let mut table = Table::new(&["NAME", "KIND", "POLICIES", "GROUPS", "CREATED"]);
    for i in &list.identities {
        table.row(vec![
            i.name.clone(),
            kind_word(i.kind).to_owned(),
            join_or_dash(&i.policies),
            join_or_dash(&i.groups),
            i.created_at.clone(),
        ]);
    }
    table.render()
}

fn describe(info: &IdentityInfo) -> String {
    let metadata = if info.metadata.is_empty() {
        "-".to_owned()
    } else {
        info.metadata
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = format!(
        "Name:           {}\nKind:           {}\nPolicies:       {}\nGroups:         {}\nMetadata:       {metadata}\n",
        info.name,
        kind_word(info.kind),
        join_or_dash(&info.policies),
        join_or_dash(&info.groups),
    );
    if let Some(id) = &info.client_id {
        out.push_str(&format!(
            "Client ID:      {id}\nSecret expires: {}\nSecret uses:    {}\nAllowed CIDRs:  {}\n",
            info.client_secret_expires_at.as_deref().unwrap_or("never"),
            info.client_secret_uses_left
                .map_or_else(|| "unlimited".to_owned(), |n| format!("{n} left")),
            if info.allowed_cidrs.is_empty() {
                "any".to_owned()
            } else {
                info.allowed_cidrs.join(", ")
            },
        ));
    }
    if let Some(jwt) = &info.jwt {
        let claims = jwt
            .bound_claims
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>();
        out.push_str(&format!(
            "JWT issuer:     {}\nBound claims:   {}\nBound subject:  {}\n",
            jwt.issuer,
            join_or_dash(&claims),
            or_dash(jwt.bound_subject.as_deref()),
        ));
    }
    out.push_str(&format!(
        "Token TTL:      {}\nToken max TTL:  {}\nCreated:        {}\n",
        info.token_ttl, info.token_max_ttl, info.created_at
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn parse(args: &[&str]) -> Result<IdentityCommand, String> {
        let argv = ["leash", "identity"].into_iter().chain(args.iter().copied());
        match Cli::try_parse_from(argv) {
            Ok(Cli {
                command: Command::Identity(command),
                ..
            }) => Ok(command),
            Ok(_) => panic!("not an identity command"),
            Err(e) => Err(e.to_string()),
        }
    }

    fn create(args: &[&str]) -> anyhow::Result<IdentityCreate> {
        let all: Vec<&str> = ["create"].into_iter().chain(args.iter().copied()).collect();
        match parse(&all) {
            Ok(IdentityCommand::Create(args)) => args.request(),
            Ok(_) => panic!("not create"),
            Err(e) => Err(anyhow::anyhow!(e)),
        }
    }

    #[test]
    fn services_are_the_default_and_take_client_and_jwt_options() {
        let r = create(&[
            "ci",
            "--policy",
            "deploy",
            "--meta",
            "team=payment",
            "--allowed-cidr",
            "10.0.0.0/8",
            "--secret-ttl",
            "90d",
            "--secret-uses",
            "5",
            "--jwt-issuer",
            "github",
            "--bound-claim",
            "repository=acme/payment",
            "--bound-claim",
            "ref=refs/heads/main",
            "--bound-subject",
            "repo:acme/payment:ref:refs/heads/main",
            "--token-ttl",
            "15m",
            "--token-max-ttl",
            "2h",
        ])
        .unwrap();
        assert_eq!(r.kind, IdentityKind::Service);
        assert_eq!(r.policies, ["deploy"]);
        assert_eq!(r.metadata.get("team").map(String::as_str), Some("payment"));
        let client = r.client.unwrap();
        assert_eq!(client.allowed_cidrs, ["10.0.0.0/8"]);
        assert_eq!(client.secret_ttl.as_deref(), Some("90d"), "durations pass through");
        assert_eq!(client.secret_uses, Some(5));
        let jwt = r.jwt.unwrap();
        assert_eq!(jwt.issuer, "github");
        assert_eq!(jwt.bound_claims.len(), 2);
        assert_eq!(
            jwt.bound_subject.as_deref(),
            Some("repo:acme/payment:ref:refs/heads/main")
        );
        assert_eq!(
            (r.token_ttl.as_deref(), r.token_max_ttl.as_deref()),
            (Some("15m"), Some("2h"))
        );
        assert!(r.password.is_none());

        let plain = create(&["web"]).unwrap();
        assert!(plain.client.is_none(), "the server's defaults apply");
        assert!(plain.jwt.is_none());

        let jwt_only = create(&["ci", "--jwt-issuer", "github"]).unwrap();
        assert!(jwt_only.client.is_none(), "no client secret for a JWT-only service");
        let both = create(&["ci", "--jwt-issuer", "github", "--with-client-secret"]).unwrap();
        assert_eq!(both.client, Some(ClientSecretOptions::default()));
    }

    #[test]
    fn flags_that_do_not_fit_the_kind_are_refused() {
        let check = |args: &[&str], fragment: &str| {
            let err = create(args).unwrap_err();
            assert!(format!("{err:#}").contains(fragment), "{args:?}: {err:#}");
        };
        check(
            &["alice", "--kind", "user", "--allowed-cidr", "10.0.0.0/8"],
            "for service identities",
        );
        check(
            &["alice", "--kind", "user", "--jwt-issuer", "github"],
            "for service identities",
        );
        check(&["web", "--password-stdin"], "for users");
        check(&["web", "--bound-claim", "a=b"], "--jwt-issuer");
        check(
            &["web", "--meta", "team=a", "--meta", "team=b"],
            "team is given more than once",
        );
        check(&["web", "--meta", "team"], "not KEY=VALUE");
        assert_eq!(create(&["alice", "--kind", "user"]).unwrap().kind, IdentityKind::User);
    }

    fn update(args: &[&str]) -> anyhow::Result<(String, IdentityUpdate, PasswordSource)> {
        let all: Vec<&str> = ["update"].into_iter().chain(args.iter().copied()).collect();
        match parse(&all) {
            Ok(IdentityCommand::Update(args)) => args.request(),
            Ok(_) => panic!("not update"),
            Err(e) => Err(anyhow::anyhow!(e)),
        }
    }

    #[test]
    fn updates_replace_only_what_is_given() {
        let (name, u, pw) = update(&["web", "--policy", "a", "--policy", "b"]).unwrap();
        assert_eq!(name, "web");
        assert_eq!(u.policies, Some(vec!["a".into(), "b".into()]));
        assert!(u.metadata.is_none() && u.jwt.is_none() && u.token_ttl.is_none());
        assert_eq!(pw, PasswordSource::None);

        let (_, u, _) = update(&["web", "--no-policies", "--no-meta"]).unwrap();
        assert_eq!(u.policies, Some(vec![]));
        assert_eq!(u.metadata, Some(Default::default()));

        let (_, u, pw) = update(&["alice", "--password-stdin"]).unwrap();
        assert_eq!(pw, PasswordSource::Stdin);
        assert!(u.policies.is_none());
        let (_, _, pw) = update(&["alice", "--password"]).unwrap();
        assert_eq!(pw, PasswordSource::Prompt);

        let err = update(&["web"]).unwrap_err();
        assert!(err.to_string().contains("nothing to update"), "{err}");
        assert!(update(&["web", "--policy", "a", "--no-policies"]).is_err());
        assert!(update(&["web", "--password", "--password-stdin"]).is_err());
    }
}
