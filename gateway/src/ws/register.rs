//! The register flow: the first frame on `/` must be a `WsRegister` within the register
//! timeout; it is parsed, its token verified, and its target process looked up.

use futures_util::StreamExt;
use process_lib::{ProcessId, WsErrorCode, WsRegister};
use tokio_tungstenite::tungstenite::error::{CapacityError, ProtocolError};
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
/// The first text or binary frame's payload, within the register timeout: a timeout and a
/// node that begins to drain are refusals, a socket that ends first is just gone. `what`
/// names the frame in the timeout's sentence ("no register frame within 10 s").
pub async fn first_frame(
    rt: &Runtime,
    ws: &mut WsStream,
    what: &str,
) -> Result<Vec<u8>, NotRegistered> {
    let timeout = rt.config.register_timeout;
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let frame = tokio::select! {
            frame = ws.next() => frame,
            () = tokio::time::sleep_until(deadline) => {
                return Err(Refusal::new(
                    WsErrorCode::RegisterTimeout,
                    format!("no {what} frame within {} s", timeout.as_secs_f32()),
                ).into());
            }
            () = rt.draining.cancelled() => {
                return Err(Refusal::new(WsErrorCode::GoingAway, "the node is shutting down").into());
            }
        };
        match frame {
            Some(Ok(Message::Text(text))) => return Ok(text.as_bytes().to_vec()),
            Some(Ok(Message::Binary(bytes))) => return Ok(bytes.to_vec()),
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
            Some(Ok(Message::Close(_))) | None => return Err(NotRegistered::Gone),
            Some(Err(e)) => return Err(read_error(e).map_or(NotRegistered::Gone, Into::into)),
        }
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
    let payload = first_frame(rt, ws, "register").await?;
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

/// The refusal a read error calls for, if any (a broken socket calls for none). Each is a
/// protocol failure ([`WsErrorCode::is_protocol_failure`]): the socket is failed at once.
pub fn read_error(error: WsError) -> Option<Refusal> {
    match error {
        WsError::Capacity(CapacityError::MessageTooLong { size, max_size }) => Some(Refusal::new(
            WsErrorCode::MessageTooBig,
            format!("a message of {size} bytes is over this node's limit of {max_size} bytes"),
        )),
        WsError::Capacity(e) => Some(Refusal::new(WsErrorCode::MessageTooBig, e.to_string())),
        WsError::Utf8(_) => Some(Refusal::new(
            WsErrorCode::InvalidFrame,
            "a text frame or close reason was not valid UTF-8",
        )),
        // The client vanished without a close: nobody is left to tell.
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => None,
        WsError::Protocol(e) => Some(Refusal::new(WsErrorCode::ProtocolError, e.to_string())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_protocol_violation_fails_the_socket_with_the_rfcs_code() {
        let refusal = |error| read_error(error).map(|r| (r.code, r.code.close_code()));
        assert_eq!(
            refusal(WsError::Protocol(ProtocolError::NonZeroReservedBits)),
            Some((WsErrorCode::ProtocolError, 1002))
        );
        assert_eq!(
            refusal(WsError::Protocol(ProtocolError::ControlFrameTooBig)),
            Some((WsErrorCode::ProtocolError, 1002))
        );
        assert_eq!(
            refusal(WsError::Utf8("invalid utf-8 sequence".into())),
            Some((WsErrorCode::InvalidFrame, 1007))
        );
        assert_eq!(
            refusal(WsError::Capacity(CapacityError::MessageTooLong {
                size: 2,
                max_size: 1
            })),
            Some((WsErrorCode::MessageTooBig, 1009))
        );
        // A client that vanished is not failed: nobody is there to tell.
        assert_eq!(
            refusal(WsError::Protocol(
                ProtocolError::ResetWithoutClosingHandshake
            )),
            None
        );
        assert!([
            WsErrorCode::ProtocolError,
            WsErrorCode::InvalidFrame,
            WsErrorCode::MessageTooBig
        ]
        .iter()
        .all(|code| code.is_protocol_failure()));
        assert!(!WsErrorCode::SlowConsumer.is_protocol_failure());
    }
}
