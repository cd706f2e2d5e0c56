//! `leash server`: loads the layered configuration, hardens the process,
//! starts the server and waits for SIGTERM/SIGINT to shut down gracefully.
//!
//! It prints the dev-mode root token to stdout (the user pastes it) but never
//! logs it.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::Context;
use leash_server::ServerConfig;
use tokio::signal::unix::{SignalKind, signal};

/// Flags of `leash server`; each overrides the config file and `LEASH_*` variables.
#[derive(Debug, clap::Args)]
pub struct ServerArgs {
    /// Throwaway store in a temp directory, already initialised and unsealed;
    /// prints a root token. For trying Leash out, never for real secrets.
    #[arg(long)]
    pub dev: bool,
    /// TOML config file; every key can also be set as LEASH_<KEY>.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8270].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// A second, plain-HTTP address serving only GET /metrics, without a token
    /// (Prometheus scrapes it; keep it on a private network).
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<String>,
    /// Directory of the embedded SQLite store [default: ./leash-data].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Storage URL instead of the SQLite store in --data-dir: sqlite:///path/to/leash.db, or
    /// postgres://user@host/db, which several nodes may share (docs/ha.md; the audit file stays in --data-dir)
    #[arg(long, value_name = "URL")]
    pub storage: Option<String>,
    /// This node's name among the nodes on one database (names its audit chain) [default: an id kept in DATA_DIR/node-id]
    #[arg(long, value_name = "NAME")]
    pub node_name: Option<String>,
    /// Where clients reach this node, for `leash operator status` [default: --listen]
    #[arg(long, value_name = "URL")]
    pub advertise_address: Option<String>,
    /// PEM certificate chain: serve HTTPS (needs --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// PEM CA certificates: every client must present a certificate they signed (mutual TLS).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
    /// File of unseal shares (one per line) to unseal at start. Whoever can
    /// read it can decrypt the store: protect it like the data itself.
    #[arg(long, value_name = "FILE")]
    pub unseal_key_file: Option<PathBuf>,
    /// Largest secret value in bytes [default: 65536].
    #[arg(long, value_name = "BYTES")]
    pub max_value_bytes: Option<usize>,
    /// The audit JSON-lines file [default: DATA_DIR/audit.jsonl]; reopened on SIGHUP.
    #[arg(long, value_name = "FILE")]
    pub audit_file: Option<PathBuf>,
    /// Answer requests even when their audit record cannot be written (not recommended).
    #[arg(long)]
    pub audit_fail_open: bool,
    /// Log lines as text or as one JSON object per line [default: text]
    #[arg(long, value_name = "FORMAT", value_parser = ["text", "json"])]
    pub log_format: Option<String>,
}

impl ServerArgs {
    fn config(&self) -> anyhow::Result<ServerConfig> {
        let mut config = ServerConfig::load(self.config.as_deref())?;
        if let Some(v) = &self.listen {
            config.listen = v.clone();
        }
        if let Some(v) = &self.metrics_listen {
            config.metrics_listen = Some(v.clone());
        }
        if let Some(v) = &self.data_dir {
            config.data_dir = v.clone();
        }
        if let Some(v) = &self.storage {
            config.storage = Some(v.clone());
        }
        if let Some(v) = &self.node_name {
            config.node_name = Some(v.clone());
        }
        if let Some(v) = &self.advertise_address {
            config.advertise_address = Some(v.clone());
        }
        if let Some(v) = &self.tls_cert {
            config.tls_cert = Some(v.clone());
        }
        if let Some(v) = &self.tls_key {
            config.tls_key = Some(v.clone());
        }
        if let Some(v) = &self.tls_client_ca {
            config.tls_client_ca = Some(v.clone());
        }
        if let Some(v) = &self.unseal_key_file {
            config.unseal_key_file = Some(v.clone());
        }
        if let Some(v) = self.max_value_bytes {
            config.max_value_bytes = v;
        }
        if let Some(v) = &self.audit_file {
            config.audit_file = Some(v.clone());
        }
        if self.audit_fail_open {
            config.audit_fail_open = true;
        }
        if let Some(v) = &self.log_format {
            config.log_format = v.clone();
        }
        config.validate()?;
        Ok(config)
    }
}

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LEASH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tower_http=warn,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Runs the server until SIGTERM or SIGINT.
pub async fn run(args: ServerArgs) -> anyhow::Result<()> {
    let config = args.config()?;
    init_logging(&config.log_format);
    if let Some(file) = &args.config {
        leash_server::hardening::warn_if_exposed(file, "config file");
    }
    if let Err(e) = leash_server::hardening::disable_core_dumps() {
        tracing::warn!("{e}; a crash could write key material to a core file");
    }
    let server = leash_server::start(config, args.dev)
        .await
        .context("cannot start the server")?;
    let url = server.url();
    tracing::info!(%url, "listening");
    if let Some(addr) = server.metrics_addr {
        tracing::info!(metrics = %format!("http://{addr}/metrics"), "serving metrics without a token");
    }
    if let Some(token) = &server.dev_root_token {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "Leash dev server on {url}\n\
             WARNING: dev mode keeps everything in a temporary directory that is deleted on exit,\n\
             and is already unsealed. Never put real secrets in it.\n\n\
             Paste these lines into your shell:\n\n    \
             export LEASH_ADDR='{url}'\n    \
             export LEASH_TOKEN='{}'\n",
            token.as_str()
        )?;
        out.flush()?;
    }
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    let mut hup = signal(SignalKind::hangup()).context("cannot listen for SIGHUP")?;
    loop {
        tokio::select! {
            _ = term.recv() => { tracing::info!("SIGTERM: finishing in-flight requests"); break }
            _ = int.recv() => { tracing::info!("SIGINT: finishing in-flight requests"); break }
            _ = hup.recv() => server.reopen_audit_file(),
        }
    }
    server.shutdown().await.context("error while shutting down")?;
    tracing::info!("stopped");
    Ok(())
}
