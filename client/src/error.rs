//! Every way a client call can fail, with what the server said when it said something.

use std::time::Duration;

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
    /// (bad token, unknown process, encryption demanded, malformed register frame).
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
            Self::Connect { .. } | Self::Timeout(_) | Self::Protocol(_) => true,
            Self::Closed | Self::GaveUp(_) | Self::Json(_) | Self::InvalidProcess { .. } => false,
        }
    }
}
