//! A private certificate authority made with rcgen for nodes that serve `wss://`: it signs
//! certificates for a name, valid now or already expired, and writes them as the PEM files
//! a node loads (`--tls-cert` / `--tls-key`). The CA certificate is what a client is given
//! to trust.
//!
//! Uses only rcgen, tempfile and the gateway, so the binary's tests include this file too.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use gateway::config::TlsFiles;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

/// A CA and the directory its files are written to (deleted when this is dropped).
pub struct TestCa {
    cert: rcgen::Certificate,
    key: KeyPair,
    dir: tempfile::TempDir,
    issued: AtomicU32,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa")
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

impl TestCa {
    /// A new CA, "Switchboard test CA".
    pub fn new() -> Self {
        Self::named("Switchboard test CA")
    }

    /// A new CA with the common name `name`.
    pub fn named(name: &str) -> Self {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::new()).expect("CA params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).expect("CA certificate");
        Self {
            cert,
            key,
            dir: tempfile::tempdir().expect("certificate dir"),
            issued: AtomicU32::new(0),
        }
    }

    /// The CA certificate, PEM.
    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// The CA certificate written to a file, for `--ca-cert`.
    pub fn pem_file(&self) -> PathBuf {
        let path = self.dir.path().join("ca.pem");
        std::fs::write(&path, self.pem()).expect("write the CA certificate");
        path
    }

    /// A certificate for `name`, valid now.
    pub fn issue(&self, name: &str) -> TlsFiles {
        self.issue_with(name, |_| {})
    }

    /// A certificate for `name` that expired at the start of 2020.
    pub fn issue_expired(&self, name: &str) -> TlsFiles {
        self.issue_with(name, |params| {
            params.not_before = rcgen::date_time_ymd(2019, 1, 1);
            params.not_after = rcgen::date_time_ymd(2020, 1, 1);
        })
    }

    fn issue_with(&self, name: &str, adjust: impl FnOnce(&mut CertificateParams)) -> TlsFiles {
        let key = KeyPair::generate().expect("node key");
        let mut params = CertificateParams::new(vec![name.to_owned()]).expect("node params");
        params.distinguished_name.push(DnType::CommonName, name);
        adjust(&mut params);
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("node certificate");
        let n = self.issued.fetch_add(1, Ordering::Relaxed);
        let files = TlsFiles {
            cert: self.dir.path().join(format!("node{n}.pem")),
            key: self.dir.path().join(format!("node{n}.key")),
        };
        std::fs::write(&files.cert, cert.pem()).expect("write the certificate");
        std::fs::write(&files.key, key.serialize_pem()).expect("write the key");
        files
    }
}
