//! The HTTPS listener's rustls configuration: the server's certificate and
//! key, and with `tls_client_ca` the CAs a client certificate must chain to
//! (mutual TLS; a client without one is refused in the handshake). Only
//! parses PEM files with rustls' own types; no certificate logic of its own.

use std::path::Path;
use std::sync::Arc;

use axum_server::tls_rustls::RustlsConfig;
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

use crate::ServerError;

/// The listener's TLS configuration (HTTP/2 and HTTP/1.1 offered by ALPN).
pub fn rustls_config(cert: &Path, key: &Path, client_ca: Option<&Path>) -> Result<RustlsConfig, ServerError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tls_error = |reason: String| ServerError::Tls {
        cert: cert.display().to_string(),
        key: key.display().to_string(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, reason),
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| tls_error(e.to_string()))?;
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| tls_error(e.to_string()))?;
    let builder = rustls::ServerConfig::builder();
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => builder.with_client_cert_verifier(client_verifier(ca)?),
    };
    let mut config = builder
        .with_single_cert(chain, private)
        .map_err(|e| tls_error(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(RustlsConfig::from_config(Arc::new(config)))
}

fn client_verifier(ca: &Path) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, ServerError> {
    let refused = |reason: String| ServerError::TlsClientCa {
        path: ca.display().to_string(),
        reason,
    };
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).map_err(|e| refused(e.to_string()))? {
        roots
            .add(cert.map_err(|e| refused(e.to_string()))?)
            .map_err(|e| refused(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(refused("it holds no certificate".into()));
    }
    WebPkiClientVerifier::builder(Arc::new(roots))
        .build()
        .map_err(|e| refused(e.to_string()))
}
