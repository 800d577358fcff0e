//! TLS for `wss://` URLs: the rustls configuration a connection trusts, made once per
//! connection, and the reading of a failed handshake as a typed [`TlsError`].
//!
//! rustls runs with the ring provider, as the node does. The node's certificate must chain
//! to one of Mozilla's roots (the `webpki-roots` crate) or to a CA certificate the caller
//! gave; rustls's webpki verifier does all the checking. A `ws://` URL never reaches this
//! module.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::rustls::{self, CertificateError, ClientConfig, RootCertStore};
use tokio_tungstenite::tungstenite::{self, http::Uri};

use crate::error::TlsError;

/// Whether `url` asks for TLS (`wss://`, in any case).
pub fn is_tls_url(url: &str) -> bool {
    url.get(..6)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("wss://"))
}

/// The client configuration for `wss://`: Mozilla's roots plus every certificate in
/// `ca_pem`, if given.
pub fn client_config(ca_pem: Option<&[u8]>) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = ca_pem {
        add_pem_certificates(&mut roots, pem)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| TlsError::Handshake(error.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Adds every certificate in `pem` to `roots`; at least one must be there.
fn add_pem_certificates(roots: &mut RootCertStore, pem: &[u8]) -> Result<(), TlsError> {
    let mut added = 0;
    for certificate in CertificateDer::pem_slice_iter(pem) {
        let certificate =
            certificate.map_err(|error| TlsError::BadCaCertificate(error.to_string()))?;
        roots
            .add(certificate)
            .map_err(|error| TlsError::BadCaCertificate(error.to_string()))?;
        added += 1;
    }
    if added == 0 {
        return Err(TlsError::BadCaCertificate(
            "no PEM certificate (-----BEGIN CERTIFICATE-----) in it".to_owned(),
        ));
    }
    Ok(())
}

/// What TLS said went wrong, if `error` came from the TLS handshake to `url`.
pub fn tls_problem(error: &tungstenite::Error, url: &str) -> Option<TlsError> {
    match error {
        tungstenite::Error::Io(io) => io
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .map(|rustls_error| from_rustls(rustls_error, url)),
        tungstenite::Error::Tls(tungstenite::error::TlsError::InvalidDnsName) => {
            Some(TlsError::InvalidHostName(host_of(url)))
        }
        tungstenite::Error::Tls(tungstenite::error::TlsError::Rustls(rustls_error)) => {
            Some(from_rustls(rustls_error, url))
        }
        tungstenite::Error::Tls(other) => Some(TlsError::Handshake(other.to_string())),
        _ => None,
    }
}

fn from_rustls(error: &rustls::Error, url: &str) -> TlsError {
    let rustls::Error::InvalidCertificate(problem) = error else {
        return TlsError::Handshake(error.to_string());
    };
    match problem {
        CertificateError::UnknownIssuer => TlsError::UnknownIssuer,
        CertificateError::NotValidForNameContext {
            expected,
            presented,
        } => TlsError::NameMismatch {
            expected: expected.to_str().into_owned(),
            presented: presented.iter().map(|name| plain_name(name)).collect(),
        },
        CertificateError::NotValidForName => TlsError::NameMismatch {
            expected: host_of(url),
            presented: Vec::new(),
        },
        CertificateError::ExpiredContext { not_after, .. } => TlsError::Expired {
            not_after: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(not_after.as_secs())),
        },
        CertificateError::Expired => TlsError::Expired { not_after: None },
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            TlsError::NotYetValid
        }
        CertificateError::Revoked => TlsError::Revoked,
        CertificateError::BadSignature => TlsError::BadSignature,
        other => TlsError::BadCertificate(other.to_string()),
    }
}

/// `elsewhere.example` for rustls's `DnsName("elsewhere.example")`, `10.0.0.1` for
/// `IpAddress(10.0.0.1)`; any other form as it is.
fn plain_name(presented: &str) -> String {
    let dns = presented
        .strip_prefix("DnsName(\"")
        .and_then(|rest| rest.strip_suffix("\")"));
    let ip = presented
        .strip_prefix("IpAddress(")
        .and_then(|rest| rest.strip_suffix(')'));
    dns.or(ip).unwrap_or(presented).to_owned()
}

/// The host part of `url`, or the whole of it if it has none.
fn host_of(url: &str) -> String {
    url.parse::<Uri>()
        .ok()
        .and_then(|uri| uri.host().map(str::to_owned))
        .unwrap_or_else(|| url.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_wss_urls_ask_for_tls() {
        assert!(is_tls_url("wss://node.example/"));
        assert!(is_tls_url("WSS://node.example/"));
        assert!(!is_tls_url("ws://node.example/"));
        assert!(!is_tls_url("wss:"));
    }

    #[test]
    fn a_ca_pem_without_certificates_is_refused_with_a_reason() {
        let error = client_config(Some(b"not a certificate")).expect_err("refused");
        assert_eq!(
            error.to_string(),
            "the CA certificate given is not usable: \
             no PEM certificate (-----BEGIN CERTIFICATE-----) in it"
        );
        assert!(error.is_permanent());
    }

    #[test]
    fn presented_names_are_shown_plain() {
        assert_eq!(plain_name("DnsName(\"node.example\")"), "node.example");
        assert_eq!(plain_name("IpAddress(10.0.0.1)"), "10.0.0.1");
        assert_eq!(plain_name("DirectoryName"), "DirectoryName");
    }

    #[test]
    fn certificate_errors_map_to_their_variants() {
        let url = "wss://node.example:8443/";
        let read = |problem| from_rustls(&rustls::Error::InvalidCertificate(problem), url);
        assert_eq!(
            read(CertificateError::UnknownIssuer),
            TlsError::UnknownIssuer
        );
        assert_eq!(
            read(CertificateError::NotValidForName),
            TlsError::NameMismatch {
                expected: "node.example".to_owned(),
                presented: Vec::new()
            }
        );
        let expired = read(CertificateError::ExpiredContext {
            time: rustls::pki_types::UnixTime::since_unix_epoch(Duration::from_secs(1 << 31)),
            not_after: rustls::pki_types::UnixTime::since_unix_epoch(Duration::from_secs(
                1_546_300_800,
            )),
        });
        assert_eq!(
            expired.to_string(),
            "the node's certificate has expired (valid until Tue, 01 Jan 2019 00:00:00 GMT)"
        );
        assert_eq!(
            from_rustls(&rustls::Error::DecryptError, url).to_string(),
            "the TLS handshake failed: cannot decrypt peer's message"
        );
        assert!(!from_rustls(&rustls::Error::DecryptError, url).is_permanent());
    }
}
