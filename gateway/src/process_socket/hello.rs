//! The process socket's first frame: `{"auth_token":…,"process":…}` within the register
//! timeout. The token must be a process token of this node, for the id asked (or, with no
//! id, its own); the id is then claimed by the caller.

use process_lib::remote::wire::Hello;
use process_lib::{ProcessId, WsErrorCode};

use crate::runtime::Runtime;
use crate::ws::refusal::Refusal;
use crate::ws::register::{first_frame, NotRegistered};
use crate::ws::upgrade::WsStream;

/// Reads the hello and checks its token; the process id the program may be.
pub async fn await_hello(rt: &Runtime, ws: &mut WsStream) -> Result<ProcessId, NotRegistered> {
    let payload = first_frame(rt, ws, "hello").await?;
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
