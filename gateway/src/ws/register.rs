//! The register flow: the first frame on `/` must be a `WsRegister` within the register
//! timeout; it is parsed, its token verified, and its target process looked up.

use futures_util::StreamExt;
use process_lib::{ProcessId, WsErrorCode, WsRegister};
use tokio_tungstenite::tungstenite::error::CapacityError;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::refusal::Refusal;
use super::upgrade::WsStream;
use crate::runtime::Runtime;

/// A register frame that passed every check.
#[derive(Debug)]
pub struct Registration {
    /// The process the channel is for.
    pub process: ProcessId,
    /// Its mailbox.
    pub mailbox: crate::kernel::mailbox::Mailbox,
}

/// Why no channel was opened: a refusal to tell the client, or the client left.
#[derive(Debug)]
pub enum NotRegistered {
    /// Tell the client and close.
    Refused(Refusal),
    /// The socket closed or broke before a register frame came.
    Gone,
}

impl From<Refusal> for NotRegistered {
    fn from(r: Refusal) -> Self {
        Self::Refused(r)
    }
}

/// Reads and checks the register frame. A frame with an empty `auth_token` is checked
/// against `cookie_token`, the upgrade request's login cookie, instead: a browser page
/// cannot read its HttpOnly cookie, so it registers with an empty token.
pub async fn await_register(
    rt: &Runtime,
    ws: &mut WsStream,
    tls: bool,
    cookie_token: Option<&str>,
) -> Result<Registration, NotRegistered> {
    let timeout = rt.config.register_timeout;
    let deadline = tokio::time::Instant::now() + timeout;
    let payload = loop {
        let frame = tokio::select! {
            frame = ws.next() => frame,
            () = tokio::time::sleep_until(deadline) => {
                return Err(Refusal::new(
                    WsErrorCode::RegisterTimeout,
                    format!("no register frame within {} s", timeout.as_secs_f32()),
                ).into());
            }
            () = rt.draining.cancelled() => {
                return Err(Refusal::new(WsErrorCode::GoingAway, "the node is shutting down").into());
            }
        };
        match frame {
            Some(Ok(Message::Text(text))) => break text.as_bytes().to_vec(),
            Some(Ok(Message::Binary(bytes))) => break bytes.to_vec(),
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
            Some(Ok(Message::Close(_))) | None => return Err(NotRegistered::Gone),
            Some(Err(e)) => return Err(read_error(e).map_or(NotRegistered::Gone, Into::into)),
        }
    };
    let register: WsRegister = serde_json::from_slice(&payload).map_err(|e| {
        Refusal::new(
            WsErrorCode::MalformedRegister,
            format!(
                "the first frame must be {{\"auth_token\":…,\"target_process\":\"name:package:publisher\",\"encrypted\":false}}: {e}"
            ),
        )
    })?;
    let token = match register.auth_token.as_str() {
        "" => cookie_token.unwrap_or_default(),
        token => token,
    };
    rt.auth
        .verify(token)
        .map_err(|e| Refusal::new(WsErrorCode::Unauthorized, e.to_string()))?;
    if register.encrypted && !tls {
        return Err(Refusal::new(
            WsErrorCode::EncryptionRequired,
            "this connection is not encrypted: connect with wss:// to open an encrypted channel",
        )
        .into());
    }
    let (process, mailbox) = rt
        .processes
        .channel_owner(&register.target_process, true)
        .ok_or_else(|| {
            Refusal::new(
                WsErrorCode::NoSuchProcess,
                format!(
                    "no process {} accepts WebSockets on this node",
                    register.target_process
                ),
            )
        })?;
    Ok(Registration { process, mailbox })
}

/// The refusal a read error calls for, if any (a broken socket calls for none).
pub fn read_error(error: WsError) -> Option<Refusal> {
    match error {
        WsError::Capacity(CapacityError::MessageTooLong { size, max_size }) => Some(Refusal::new(
            WsErrorCode::MessageTooBig,
            format!("a message of {size} bytes is over this node's limit of {max_size} bytes"),
        )),
        WsError::Capacity(e) => Some(Refusal::new(WsErrorCode::MessageTooBig, e.to_string())),
        WsError::Utf8(_) => Some(Refusal::new(
            WsErrorCode::InvalidFrame,
            "a text frame was not valid UTF-8",
        )),
        _ => None,
    }
}
