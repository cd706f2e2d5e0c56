//! HTTPS with rustls when a certificate and key are configured.

mod common;

use reqwest::StatusCode;

#[tokio::test]
async fn serves_https_with_the_given_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();

    let mut config = common::config(None);
    config.tls_cert = Some(cert_path);
    config.tls_key = Some(key_path);
    let server = leash_server::start(config, true).await.unwrap();
    assert!(server.url().starts_with("https://"));
    let url = server.url().replace("127.0.0.1", "localhost");

    let trusted = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let resp = trusted.get(format!("{url}/api/v1/sys/health")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    let untrusted = reqwest::Client::new();
    assert!(
        untrusted.get(format!("{url}/api/v1/sys/health")).send().await.is_err(),
        "unknown CA must be refused"
    );
    let plain = reqwest::Client::new();
    let http_url = url.replace("https://", "http://");
    let answered_plain = plain
        .get(format!("{http_url}/api/v1/sys/health"))
        .send()
        .await
        .map(|r| r.status().is_success());
    assert!(
        !matches!(answered_plain, Ok(true)),
        "plain HTTP must not be served on a TLS listener"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn missing_certificate_files_are_named() {
    let mut config = common::config(None);
    config.tls_cert = Some("/nonexistent/cert.pem".into());
    config.tls_key = Some("/nonexistent/key.pem".into());
    let err = leash_server::start(config, true).await.err().expect("must fail");
    assert!(err.to_string().contains("/nonexistent/cert.pem"), "{err}");
}
