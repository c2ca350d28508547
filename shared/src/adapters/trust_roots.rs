//! The TLS trust roots every HTTPS call uses: the system's CA bundle, read once per container.
//!
//! The SDK's default client (through `rustls-native-certs`) reads the bundle file *and* every
//! file of the certificate directory, and decodes their PEM with a constant-time base64 decoder
//! meant for private keys: in a callgrind profile of `mint-token`'s cold start that was 84% of all
//! user-space instructions. Certificates are public, so this reads the one bundle file and decodes
//! it with an ordinary base64 decoder; the trust decision is the same (the same file, the same
//! rustls root store), and an operator's `SSL_CERT_FILE` still replaces the bundle.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use base64::Engine;
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;

/// Where Linux distributions keep the PEM bundle, in the order tried: Amazon Linux 2023 (Lambda's
/// `provided.al2023`) and Fedora/RHEL, Debian and Ubuntu, then Alpine and the rest.
const BUNDLE_PATHS: &[&str] = &[
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
    "/etc/ssl/ca-bundle.pem",
];

/// Why no roots could be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TrustRootsError {
    #[error("no CA bundle found (set SSL_CERT_FILE or install ca-certificates)")]
    NoBundle,
    #[error("the CA bundle {0} cannot be read: {1}")]
    Unreadable(PathBuf, std::io::Error),
    #[error("the CA bundle {0} holds no usable certificate")]
    Empty(PathBuf),
}

/// The process's root store: `SSL_CERT_FILE` when set, else the first bundle of
/// [`BUNDLE_PATHS`] that exists. Loaded on first use and shared (an `Arc`) after.
pub fn system_roots() -> Result<Arc<RootCertStore>, TrustRootsError> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    if let Some(roots) = ROOTS.get() {
        return Ok(roots.clone());
    }
    let path = match std::env::var_os("SSL_CERT_FILE") {
        Some(file) => PathBuf::from(file),
        None => BUNDLE_PATHS
            .iter()
            .map(PathBuf::from)
            .find(|path| path.is_file())
            .ok_or(TrustRootsError::NoBundle)?,
    };
    let roots = Arc::new(roots_from_file(&path)?);
    Ok(ROOTS.get_or_init(|| roots).clone())
}

/// The certificates of the PEM bundle at `path` that parse as trust anchors.
pub fn roots_from_file(path: &Path) -> Result<RootCertStore, TrustRootsError> {
    let pem = std::fs::read(path).map_err(|error| TrustRootsError::Unreadable(path.to_owned(), error))?;
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(pem_certificates(&pem));
    if roots.is_empty() {
        return Err(TrustRootsError::Empty(path.to_owned()));
    }
    Ok(roots)
}

/// The DER of each `CERTIFICATE` block of a PEM text. Other blocks (OpenSSL's `TRUSTED
/// CERTIFICATE`, keys, CRLs) and blocks that are not base64 are skipped, as a bundle reader must;
/// a block without its end marker is dropped at the next begin marker.
pub fn pem_certificates(pem: &[u8]) -> Vec<CertificateDer<'static>> {
    const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
    const END: &[u8] = b"-----END CERTIFICATE-----";
    let begins = memchr::memmem::Finder::new(BEGIN);
    let ends = memchr::memmem::Finder::new(END);
    let mut certificates = Vec::new();
    let mut base64_text = Vec::with_capacity(4096);
    let mut rest = pem;
    while let Some(begin) = begins.find(rest) {
        rest = &rest[begin + BEGIN.len()..];
        let Some(end) = ends.find(rest) else { break };
        let mut body = &rest[..end];
        rest = &rest[end + END.len()..];
        if let Some(restart) = memchr::memmem::rfind(body, BEGIN) {
            body = &body[restart + BEGIN.len()..];
        }
        base64_text.clear();
        base64_text.extend(body.iter().copied().filter(|byte| !byte.is_ascii_whitespace()));
        if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(&base64_text) {
            certificates.push(CertificateDer::from(der));
        }
    }
    certificates
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This machine's bundle: real certificates to read.
    fn machine_bundle() -> Vec<u8> {
        let path = BUNDLE_PATHS
            .iter()
            .find(|path| Path::new(path).is_file())
            .expect("a CA bundle on this machine");
        std::fs::read(path).unwrap()
    }

    #[test]
    fn every_certificate_of_the_system_bundle_is_read_as_rustls_pem_reads_it() {
        use rustls::pki_types::pem::PemObject;
        let bundle = machine_bundle();
        let ours = pem_certificates(&bundle);
        let reference: Vec<_> = CertificateDer::pem_slice_iter(&bundle)
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(ours.len() > 50, "{} certificates", ours.len());
        assert_eq!(ours, reference);
    }

    #[test]
    fn other_blocks_broken_blocks_and_crlf_are_handled() {
        let bundle = machine_bundle();
        let first = pem_certificates(&bundle).remove(0);
        let body = base64::engine::general_purpose::STANDARD.encode(first.as_ref());
        let wrapped: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        let block = format!(
            "-----BEGIN CERTIFICATE-----\r\n{}\r\n-----END CERTIFICATE-----\r\n",
            wrapped.join("\r\n")
        );
        let text = format!(
            "# Mozilla root\n-----BEGIN TRUSTED CERTIFICATE-----\n{body}\n-----END TRUSTED CERTIFICATE-----\n\
             -----BEGIN CERTIFICATE-----\nnot*base64!\n-----END CERTIFICATE-----\n\
             -----BEGIN CERTIFICATE-----\n{body}\n(no end marker)\n{block}"
        );
        // CRLF line ends and 64-column lines: the certificate.
        assert_eq!(pem_certificates(block.as_bytes()), vec![first.clone()]);
        // The TRUSTED block is skipped, the one that is not base64 dropped, the one without an
        // end marker dropped at the next BEGIN: only the last, complete block counts.
        assert_eq!(pem_certificates(text.as_bytes()), vec![first]);
        assert!(pem_certificates(b"").is_empty());
    }

    #[test]
    fn a_missing_or_empty_bundle_is_an_error_and_the_system_one_loads() {
        assert!(matches!(
            roots_from_file(Path::new("/nonexistent/ca.pem")),
            Err(TrustRootsError::Unreadable(..))
        ));
        let empty = std::env::temp_dir().join(format!("whoscalling-empty-bundle-{}.pem", std::process::id()));
        std::fs::write(&empty, "# no certificates\n").unwrap();
        assert!(matches!(roots_from_file(&empty), Err(TrustRootsError::Empty(_))));
        std::fs::remove_file(&empty).unwrap();
        assert!(system_roots().unwrap().len() > 50);
    }
}
