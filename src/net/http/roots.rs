//! Which CA certificates HTTPS trusts: the first PEM bundle found on this system
//! (`SSL_CERT_FILE`, Termux, Debian/Alpine/iSH, macOS, Fedora), else the compiled-in
//! webpki roots when the `bundled-roots` feature is on.

use std::path::{Path, PathBuf};

use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use super::HttpError;

/// Trust anchors and where they came from (for `doctor`-style reports).
pub(crate) struct Roots {
    pub store: RootCertStore,
    pub source: String,
}

/// The bundle files to try, in order.
pub(crate) fn candidates() -> Vec<PathBuf> {
    let mut paths = Vec::new();
    if let Some(file) = std::env::var_os("SSL_CERT_FILE").filter(|f| !f.is_empty()) {
        paths.push(PathBuf::from(file));
    }
    if let Some(prefix) = std::env::var_os("PREFIX").filter(|p| !p.is_empty()) {
        paths.push(Path::new(&prefix).join("etc/tls/cert.pem"));
    }
    for path in
        ["/etc/ssl/certs/ca-certificates.crt", "/etc/ssl/cert.pem", "/etc/pki/tls/certs/ca-bundle.crt"]
    {
        paths.push(PathBuf::from(path));
    }
    paths
}

/// The first of `paths` that holds at least one certificate, else the bundled roots.
pub(crate) fn load(paths: &[PathBuf]) -> Option<Roots> {
    let from_file = paths.iter().find_map(|path| {
        let store = from_pem(&std::fs::read(path).ok()?);
        let source = format!("{} ({} CA certificates)", path.display(), store.len());
        (!store.is_empty()).then_some(Roots { store, source })
    });
    from_file.or_else(bundled)
}

/// The system's trust anchors ([`candidates`], then the bundled roots), or why there
/// are none.
pub(crate) fn system() -> Result<Roots, HttpError> {
    load(&candidates()).ok_or_else(|| {
        HttpError::Tls("no CA certificates found — set SSL_CERT_FILE or install ca-certificates".into())
    })
}

/// Every certificate in a PEM bundle that parses as a trust anchor; others are skipped,
/// as one odd certificate in a system bundle must not disable HTTPS.
pub(crate) fn from_pem(pem: &[u8]) -> RootCertStore {
    let mut store = RootCertStore::empty();
    store.add_parsable_certificates(CertificateDer::pem_slice_iter(pem).filter_map(Result::ok));
    store
}

#[cfg(feature = "bundled-roots")]
fn bundled() -> Option<Roots> {
    let store = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    Some(Roots { source: format!("bundled webpki roots ({} CA certificates)", store.len()), store })
}

#[cfg(not(feature = "bundled-roots"))]
fn bundled() -> Option<Roots> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const CA: &[u8] = include_bytes!("../../../tests/vectors/tls/ca.pem");

    #[test]
    fn the_first_bundle_with_a_certificate_wins() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, data: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, data).unwrap();
            path
        };
        let empty = write("empty.pem", b"");
        let junk = write("junk.pem", b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n");
        let good = write("good.pem", &[b"# comment\n".as_slice(), CA, CA].concat());
        let missing = dir.path().join("missing.pem");
        let roots = load(&[missing, empty, junk, good.clone()]).unwrap();
        assert_eq!(roots.store.len(), 2);
        assert_eq!(roots.source, format!("{} (2 CA certificates)", good.display()));
    }

    #[test]
    fn without_files_the_bundled_roots_serve() {
        let roots = load(&[]);
        assert_eq!(roots.is_some(), cfg!(feature = "bundled-roots"));
        if let Some(roots) = roots {
            assert!(roots.store.len() > 100);
        }
    }
}
