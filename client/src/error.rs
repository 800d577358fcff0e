//! Every way a client call can fail, with what the server said when it said something.

use std::time::{Duration, SystemTime};

use process_lib::WsErrorCode;
use tokio_tungstenite::tungstenite;

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket could not be opened (no server there, handshake refused, bad URL).
    #[error("cannot connect to {url}: {source}")]
    Connect {
        /// The URL.
        url: String,
        /// What went wrong.
        source: tungstenite::Error,
    },
    /// The TLS handshake of a `wss://` URL failed: the node's certificate was refused, or
    /// the handshake broke down. Says which.
    #[error("cannot connect to {url}: {source}")]
    Tls {
        /// The URL.
        url: String,
        /// What was wrong.
        source: TlsError,
    },
    /// The target process is not `name:package:publisher`.
    #[error("{given:?} is not a process id: {reason}")]
    InvalidProcess {
        /// What was given.
        given: String,
        /// Why it is not a process id.
        reason: process_lib::ProcessIdParseError,
    },
    /// The server refused the register frame: its error frame and close code.
    #[error("the server refused the connection: {message} ({code}, close code {close_code})")]
    Refused {
        /// The error frame's code, e.g. `unauthorized`.
        code: String,
        /// The error frame's sentence.
        message: String,
        /// The close code, e.g. 4401.
        close_code: u16,
    },
    /// The server answered the register frame with something other than `{"channel_id":N}`.
    #[error("the server's answer to the register frame is not {{\"channel_id\":N}}: {0}")]
    Protocol(String),
    /// No answer in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The connection is closed (by `close()`, or for good by the server).
    #[error("the connection is closed")]
    Closed,
    /// Reconnection stopped after the configured number of attempts.
    #[error("gave up reconnecting after {0} attempts")]
    GaveUp(u32),
    /// A value could not be encoded as JSON.
    #[error("cannot encode the value as JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl ClientError {
    /// The gateway's error code when this is a refusal it explained.
    pub fn refusal_code(&self) -> Option<WsErrorCode> {
        match self {
            Self::Refused { code, .. } => serde_json::from_value(code.clone().into()).ok(),
            _ => None,
        }
    }

    /// Whether trying again later could succeed: false for refusals that will not change
    /// (bad token, unknown process, encryption demanded, malformed register frame, a
    /// certificate this client does not accept).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Refused { .. } => !matches!(
                self.refusal_code(),
                Some(
                    WsErrorCode::Unauthorized
                        | WsErrorCode::NoSuchProcess
                        | WsErrorCode::EncryptionRequired
                        | WsErrorCode::MalformedRegister
                )
            ),
            Self::Tls { source, .. } => !source.is_permanent(),
            Self::Connect { .. } | Self::Timeout(_) | Self::Protocol(_) => true,
            Self::Closed | Self::GaveUp(_) | Self::Json(_) | Self::InvalidProcess { .. } => false,
        }
    }
}

/// Why a `wss://` connection failed in TLS. Certificate problems each have their own
/// variant; the node's certificate is checked by rustls (webpki) against Mozilla's roots
/// and the CA certificates given in [`Options::ca_pem`](crate::Options::ca_pem).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    /// The certificate is not signed by a trusted authority: a self-signed or private
    /// certificate whose CA was not given.
    #[error("the node's certificate is signed by an unknown issuer (not a trusted CA)")]
    UnknownIssuer,
    /// The certificate is for other names than the one in the URL.
    #[error(
        "the node's certificate is not valid for {expected}{}",
        names(presented)
    )]
    NameMismatch {
        /// The host in the URL.
        expected: String,
        /// The names the certificate is for, as rustls shows them.
        presented: Vec<String>,
    },
    /// The certificate's validity has ended.
    #[error("the node's certificate has expired{}", until(not_after))]
    Expired {
        /// When it stopped being valid, if known.
        not_after: Option<SystemTime>,
    },
    /// A trusted CA has the name of the certificate's issuer, but its key did not sign the
    /// certificate: typically a CA (or self-signed certificate) made again with the same name.
    #[error(
        "the node's certificate is not signed by the trusted CA of its issuer's name \
         (a CA made again with the same name?)"
    )]
    BadSignature,
    /// The certificate's validity has not begun.
    #[error("the node's certificate is not valid yet")]
    NotYetValid,
    /// The certificate has been revoked.
    #[error("the node's certificate has been revoked")]
    Revoked,
    /// Another problem with the certificate, in rustls's words.
    #[error("the node's certificate was refused: {0}")]
    BadCertificate(String),
    /// The host in the URL cannot be checked against a certificate.
    #[error("{0:?} is not a host name a certificate can be checked against")]
    InvalidHostName(String),
    /// The CA certificate given in the options is not usable.
    #[error("the CA certificate given is not usable: {0}")]
    BadCaCertificate(String),
    /// The handshake failed for a reason other than the certificate (a protocol error, an
    /// alert from the node, no TLS on the other side), in rustls's words.
    #[error("the TLS handshake failed: {0}")]
    Handshake(String),
}

impl TlsError {
    /// Whether this cannot change by trying again: every certificate problem, and a CA
    /// certificate or host name that cannot be used. A handshake that broke down may work
    /// next time.
    pub fn is_permanent(&self) -> bool {
        !matches!(self, Self::Handshake(_))
    }
}

fn names(presented: &[String]) -> String {
    if presented.is_empty() {
        " (it names no host)".to_owned()
    } else {
        format!(" (it is for {})", presented.join(", "))
    }
}

fn until(not_after: &Option<SystemTime>) -> String {
    not_after
        .map(|time| format!(" (valid until {})", httpdate::fmt_http_date(time)))
        .unwrap_or_default()
}
