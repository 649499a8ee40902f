//! The rustls client set-up: the pure-Rust RustCrypto provider (no C, no global
//! default), the ALPN protocols asked for, and handshake failures turned into one-line
//! advice.

use std::io;
use std::sync::Arc;

use rustls::crypto::{CryptoProvider, KeyProvider};
use rustls::pki_types::PrivateKeyDer;
use rustls::sign::SigningKey;
use rustls::{CertificateError, ClientConfig, RootCertStore};

use super::HttpError;

pub(crate) fn config(roots: RootCertStore, alpn: &[&[u8]]) -> Result<Arc<ClientConfig>, HttpError> {
    let mut config = ClientConfig::builder_with_provider(Arc::new(provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| HttpError::Tls(format!("TLS set-up failed: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// RustCrypto's suites, groups and verifiers, without its private-key loader: a client
/// without client certificates never signs, and the loader would link in RSA signing.
fn provider() -> CryptoProvider {
    CryptoProvider { key_provider: &NoKeys, ..rustls_rustcrypto::provider() }
}

#[derive(Debug)]
struct NoKeys;

impl KeyProvider for NoKeys {
    fn load_private_key(&self, _: PrivateKeyDer<'static>) -> Result<Arc<dyn SigningKey>, rustls::Error> {
        Err(rustls::Error::General("client certificates are not supported".into()))
    }
}

/// A failed handshake with `host`, as the user should read it.
pub(crate) fn handshake_error(host: &str, err: io::Error) -> HttpError {
    let why = match err.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::InvalidCertificate(problem)) => certificate_problem(host, problem),
        Some(other) => other.to_string(),
        None if err.kind() == io::ErrorKind::UnexpectedEof => "the server closed the connection".into(),
        None => return HttpError::Io(io::Error::new(err.kind(), format!("{host}: TLS handshake: {err}"))),
    };
    HttpError::Tls(format!("{host}: TLS handshake failed: {why}"))
}

fn certificate_problem(host: &str, problem: &CertificateError) -> String {
    match problem {
        CertificateError::UnknownIssuer => {
            "certificate not trusted — set SSL_CERT_FILE or install ca-certificates".into()
        }
        CertificateError::NotValidForNameContext { presented, .. } => {
            format!("certificate is not valid for {host} (it names {})", presented.join(", "))
        }
        CertificateError::NotValidForName => format!("certificate is not valid for {host}"),
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "certificate expired (or this device's clock is wrong)".into()
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "certificate not valid yet — check this device's clock".into()
        }
        other => format!("bad certificate ({other})"),
    }
}
