//! Errors a client is told, in one place: each becomes the text frame
//! `{"error":{"code":…,"message":…}}` followed by a close frame with the code's close code.

use process_lib::{WsErrorCode, WsErrorFrame};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

/// A reason to close a client's socket, with the sentence that explains it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// Machine-readable code.
    pub code: WsErrorCode,
    /// A sentence for people.
    pub message: String,
}

impl Refusal {
    /// A refusal with `code` and `message`.
    pub fn new(code: WsErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// The error frame.
    pub fn error_frame(&self) -> Message {
        error_frame(self.code, &self.message)
    }

    /// The close frame.
    pub fn close_frame(&self) -> Message {
        close_frame(self.code)
    }
}

/// `{"error":{"code":…,"message":…}}` as a text frame.
pub fn error_frame(code: WsErrorCode, message: &str) -> Message {
    let text = serde_json::to_string(&WsErrorFrame::new(code, message)).unwrap_or_default();
    Message::text(text)
}

/// The close frame for `code`: its close code, and its name as the reason.
pub fn close_frame(code: WsErrorCode) -> Message {
    Message::Close(Some(CloseFrame {
        code: CloseCode::from(code.close_code()),
        reason: code.as_str().into(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_say_code_and_sentence() {
        let refusal = Refusal::new(WsErrorCode::Unauthorized, "the auth token has expired");
        assert_eq!(
            refusal.error_frame(),
            Message::text(
                r#"{"error":{"code":"unauthorized","message":"the auth token has expired"}}"#
            )
        );
        match refusal.close_frame() {
            Message::Close(Some(frame)) => {
                assert_eq!(u16::from(frame.code), 4401);
                assert_eq!(frame.reason.as_str(), "unauthorized");
            }
            other => panic!("{other:?}"),
        }
    }
}
