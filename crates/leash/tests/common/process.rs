//! A real `leash server` process for the tests that need one (crash safety,
//! logs, snapshots): started on a free port, initialised and unsealed over
//! HTTP, with its log collected.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

/// Starts `leash server` on a free port and returns it with its base URL.
pub fn spawn_server(data_dir: &Path, extra: &[&str]) -> (Child, String) {
    let (child, url, _) = spawn_server_logged(data_dir, extra, "info");
    (child, url)
}

/// Like [`spawn_server`], listening on `listen` (a port chosen before the server starts).
pub fn spawn_server_at(data_dir: &Path, listen: &str, extra: &[&str]) -> (Child, String) {
    let (child, url, _) = spawn(data_dir, listen, extra, "info");
    (child, url)
}

/// Like [`spawn_server`], also collecting everything the server logs.
pub fn spawn_server_logged(data_dir: &Path, extra: &[&str], level: &str) -> (Child, String, Arc<Mutex<String>>) {
    spawn(data_dir, "127.0.0.1:0", extra, level)
}

fn spawn(data_dir: &Path, listen: &str, extra: &[&str], level: &str) -> (Child, String, Arc<Mutex<String>>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_leash"))
        .args(["server", "--listen", listen, "--data-dir"])
        .arg(data_dir)
        .args(extra)
        .env("LEASH_LOG", level)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("leash binary runs");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let log = Arc::new(Mutex::new(String::new()));
    let url = loop {
        let line = lines.next().expect("server exited before listening").unwrap();
        log.lock().unwrap().push_str(&format!("{line}\n"));
        if let Some(rest) = line.split("url=").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
        // --log-format json: {"fields":{"url":"http://…",…},…}
        if let Some(url) = serde_json::from_str::<Value>(&line)
            .ok()
            .and_then(|v| v["fields"]["url"].as_str().map(str::to_owned))
        {
            break url;
        }
    };
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let mut log = sink.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
    });
    (child, url, log)
}

pub async fn call(
    http: &reqwest::Client,
    token: &str,
    method: reqwest::Method,
    url: String,
    body: Value,
) -> (u16, Value) {
    let mut req = http.request(method, url).json(&body);
    if !token.is_empty() {
        req = req.bearer_auth(token);
    }
    match req.send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            (status, resp.json().await.unwrap_or(Value::Null))
        }
        Err(_) => (0, Value::Null),
    }
}

/// Initialises the server with `shares` shares (all needed) and unseals it; returns the root token and the shares.
pub async fn init_and_unseal(http: &reqwest::Client, url: &str, shares: u8) -> (String, Vec<String>) {
    let post = reqwest::Method::POST;
    let body = json!({"shares": shares, "threshold": shares});
    let (_, init) = call(http, "", post.clone(), format!("{url}/api/v1/sys/init"), body).await;
    let root = init["root_token"].as_str().unwrap().to_owned();
    let shares: Vec<String> = init["unseal_shares"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().into())
        .collect();
    for share in &shares {
        call(
            http,
            "",
            post.clone(),
            format!("{url}/api/v1/sys/unseal"),
            json!({"share": share}),
        )
        .await;
    }
    (root, shares)
}

/// Stops the server with SIGTERM and waits for it; returns how it exited.
pub fn terminate(server: &mut Child) -> std::process::ExitStatus {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(server.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    server.wait().unwrap()
}

/// Every secret of environment `p/e` with its value, read with `token`.
pub async fn stored_values(
    http: &reqwest::Client,
    url: &str,
    token: &str,
) -> std::collections::HashMap<String, String> {
    let (_, list) = call(
        http,
        token,
        reqwest::Method::GET,
        format!("{url}/api/v1/projects/p/envs/e/secrets?include_values=true"),
        Value::Null,
    )
    .await;
    list["secrets"]
        .as_array()
        .unwrap_or_else(|| panic!("{list}"))
        .iter()
        .map(|s| {
            (
                s["path"].as_str().unwrap().to_owned(),
                s["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// `GET /api/v1/sys/health`: its status and body.
pub async fn health(http: &reqwest::Client, url: &str) -> (u16, Value) {
    call(
        http,
        "",
        reqwest::Method::GET,
        format!("{url}/api/v1/sys/health"),
        Value::Null,
    )
    .await
}
