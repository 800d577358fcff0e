//! The process socket's first frame: `{"auth_token":…,"process":…}` within the register
//! timeout. The token must be a process token of this node, for the id asked (or, with no
//! id, its own); the id is then claimed by the caller.

use futures_util::StreamExt;
use process_lib::remote::wire::Hello;
use process_lib::{ProcessId, WsErrorCode};
use tokio_tungstenite::tungstenite::Message as Frame;

use crate::runtime::Runtime;
use crate::ws::refusal::Refusal;
use crate::ws::register::{read_error, NotRegistered};
use crate::ws::upgrade::WsStream;

/// Reads the hello and checks its token; the process id the program may be.
pub async fn await_hello(rt: &Runtime, ws: &mut WsStream) -> Result<ProcessId, NotRegistered> {
    let timeout = rt.config.register_timeout;
    let deadline = tokio::time::Instant::now() + timeout;
    let payload = loop {
        let frame = tokio::select! {
            frame = ws.next() => frame,
            () = tokio::time::sleep_until(deadline) => {
                return Err(Refusal::new(
                    WsErrorCode::RegisterTimeout,
                    format!("no hello frame within {} s", timeout.as_secs_f32()),
                ).into());
            }
            () = rt.shutdown.cancelled() => {
                return Err(Refusal::new(WsErrorCode::GoingAway, "the node is shutting down").into());
            }
        };
        match frame {
            Some(Ok(Frame::Text(text))) => break text.as_bytes().to_vec(),
            Some(Ok(Frame::Binary(bytes))) => break bytes.to_vec(),
            Some(Ok(Frame::Ping(_) | Frame::Pong(_) | Frame::Frame(_))) => continue,
            Some(Ok(Frame::Close(_))) | None => return Err(NotRegistered::Gone),
            Some(Err(e)) => return Err(read_error(e).map_or(NotRegistered::Gone, Into::into)),
        }
    };
    let hello: Hello = serde_json::from_slice(&payload).map_err(|e| {
        Refusal::new(
            WsErrorCode::MalformedRegister,
            format!(
                "the first frame must be {{\"auth_token\":\"<process token>\",\"process\":\"name:package:publisher\"}}: {e}"
            ),
        )
    })?;
    let process = rt
        .auth
        .verify_process(&hello.auth_token, hello.process.as_ref())
        .map_err(|e| Refusal::new(WsErrorCode::Unauthorized, e.to_string()))?;
    Ok(process)
}
