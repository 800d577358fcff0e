//! The http-server's wire: what it sends processes, what processes ask of it, and what it
//! says to WebSocket clients. Every type here serialises exactly as Kinode's JSON bodies do
//! (serde's externally tagged enums), and the JSON text is pinned by the tests below.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::process_id::ProcessId;

/// What the http-server sends a process.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HttpServerRequest {
    /// An HTTP request on a path the process bound; the body is the blob.
    Http(IncomingHttpRequest),
    /// A client opened a channel to the process.
    WebSocketOpen {
        /// The path the client connected to (`/` for the register flow).
        path: String,
        /// The new channel.
        channel_id: u32,
    },
    /// A client sent a frame; the payload is the blob.
    WebSocketPush {
        /// The channel the frame came on.
        channel_id: u32,
        /// Text or binary.
        message_type: WsMessageType,
    },
    /// The channel ended.
    WebSocketClose(u32),
}

impl HttpServerRequest {
    /// The JSON body this event travels as: exactly what `serde_json` writes, but the
    /// per-frame `WebSocketPush` is written directly (its id by `itoa`, on the stack), since
    /// the gateway makes one for every frame a client sends.
    pub fn to_json(&self) -> Vec<u8> {
        match self {
            Self::WebSocketPush {
                channel_id,
                message_type,
            } => {
                let mut body = Vec::with_capacity(64);
                body.extend_from_slice(PUSH_HEAD);
                body.extend_from_slice(itoa::Buffer::new().format(*channel_id).as_bytes());
                body.extend_from_slice(PUSH_MIDDLE);
                body.extend_from_slice(message_type.as_str().as_bytes());
                body.extend_from_slice(PUSH_TAIL);
                body
            }
            other => serde_json::to_vec(other).unwrap_or_default(),
        }
    }

    /// Reads an event from its JSON body: what `serde_json::from_slice` gives, but the
    /// per-frame `WebSocketPush` in the form [`HttpServerRequest::to_json`] writes it is
    /// read directly, since a process handling a busy channel reads one per frame. Any
    /// other text, including other spellings of the same event, goes to serde.
    pub fn from_json(body: &[u8]) -> serde_json::Result<Self> {
        match parse_push(body) {
            Some(push) => Ok(push),
            None => serde_json::from_slice(body),
        }
    }
}

const PUSH_HEAD: &[u8] = br#"{"WebSocketPush":{"channel_id":"#;
const PUSH_MIDDLE: &[u8] = br#","message_type":""#;
const PUSH_TAIL: &[u8] = br#""}}"#;

/// The `WebSocketPush` in exactly the form `to_json` writes, or `None` for anything else.
fn parse_push(body: &[u8]) -> Option<HttpServerRequest> {
    let rest = body.strip_prefix(PUSH_HEAD)?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    // serde reads `01` as an error, so only the digits `to_json` writes are taken here.
    if digits == 0 || digits > 10 || (digits > 1 && rest[0] == b'0') {
        return None;
    }
    let channel_id = std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()?;
    let rest = rest[digits..].strip_prefix(PUSH_MIDDLE)?;
    let rest = rest.strip_suffix(PUSH_TAIL)?;
    let message_type = match rest {
        b"Text" => WsMessageType::Text,
        b"Binary" => WsMessageType::Binary,
        b"Ping" => WsMessageType::Ping,
        b"Pong" => WsMessageType::Pong,
        b"Close" => WsMessageType::Close,
        _ => return None,
    };
    Some(HttpServerRequest::WebSocketPush {
        channel_id,
        message_type,
    })
}

/// An HTTP request delivered to a process.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncomingHttpRequest {
    /// The client's socket address, when known.
    pub source_socket_addr: Option<String>,
    /// `GET`, `POST`, …
    pub method: String,
    /// The full URL as the client sent it.
    pub url: String,
    /// The path the process bound that this request matched.
    pub bound_path: String,
    /// Request headers, lower-case names.
    pub headers: BTreeMap<String, String>,
    /// Query string parameters.
    pub query_params: BTreeMap<String, String>,
}

/// A process's answer to an `Http` request; the body is the blob.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Response headers.
    pub headers: BTreeMap<String, String>,
}

/// What a process asks of the http-server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HttpServerAction {
    /// Serve HTTP requests on `/<process_id><path>`.
    Bind {
        /// The path under the process's prefix.
        path: String,
        /// Whether a valid token is required.
        authenticated: bool,
    },
    /// Stop serving HTTP on a path.
    Unbind {
        /// The path given to `Bind`.
        path: String,
    },
    /// Accept WebSocket connections on `/<process_id><path>` without a register frame.
    WebSocketBind {
        /// The path under the process's prefix.
        path: String,
        /// Whether a valid token is required.
        authenticated: bool,
    },
    /// Stop accepting WebSocket connections on a path.
    WebSocketUnbind {
        /// The path given to `WebSocketBind`.
        path: String,
    },
    /// Send a frame to a channel; the payload is the blob.
    WebSocketPush {
        /// The channel.
        channel_id: u32,
        /// The frame's type.
        message_type: WsMessageType,
    },
    /// Close a channel.
    WebSocketClose(u32),
}

/// Why the http-server refused an action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum HttpServerError {
    /// No live channel has that id.
    #[error("no WebSocket channel with that id")]
    WsChannelNotFound,
    /// A push came without a blob.
    #[error("a push needs a blob")]
    NoBlob,
    /// The request body did not parse, or a text push was not UTF-8.
    #[error("the request to http-server is malformed")]
    MalformedRequest,
    /// The channel is bound to another process.
    #[error("the channel is bound to another process")]
    InvalidSourceProcess,
    /// A ping or pong payload longer than 125 bytes.
    #[error("ping and pong payloads are at most 125 bytes")]
    WsPingPongTooLong,
    /// The channel's writer queue was full; the channel is closed.
    #[error("the channel's client is not reading fast enough; the channel was closed")]
    SlowConsumer,
    /// The channel lives on another instance of this node, and the cluster link to it is
    /// down (or too busy) just now; nothing was sent.
    #[error("the channel is on another instance of this node, which cannot be reached now")]
    InstanceUnreachable,
}

/// The type of a WebSocket frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum WsMessageType {
    /// A UTF-8 text frame.
    Text,
    /// A binary frame.
    Binary,
    /// A ping (payload at most 125 bytes).
    Ping,
    /// A pong (payload at most 125 bytes).
    Pong,
    /// A close frame: pushing it closes the channel.
    Close,
}

impl WsMessageType {
    /// The name serde gives the variant.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "Text",
            Self::Binary => "Binary",
            Self::Ping => "Ping",
            Self::Pong => "Pong",
            Self::Close => "Close",
        }
    }
}

/// The frame a client sends first on `/` to open a channel to a process.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WsRegister {
    /// The node's JWT.
    pub auth_token: String,
    /// The process the channel is for.
    pub target_process: ProcessId,
    /// Demand an encrypted (TLS) connection.
    #[serde(default)]
    pub encrypted: bool,
}

/// The gateway's answer to a successful register frame: `{"channel_id":17}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WsRegistered {
    /// The channel's id.
    pub channel_id: u32,
}

/// Every reason the gateway closes a client's socket, with its close code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WsErrorCode {
    /// No register frame within the register timeout.
    RegisterTimeout,
    /// The register frame is not valid JSON or has the wrong shape.
    MalformedRegister,
    /// Token missing, bad signature, expired, or for another node.
    Unauthorized,
    /// The target process is unknown or does not accept WebSockets.
    NoSuchProcess,
    /// `encrypted: true` on a plain connection.
    EncryptionRequired,
    /// A message larger than the limit.
    MessageTooBig,
    /// The client did not read fast enough.
    SlowConsumer,
    /// The bound process crashed and restarted.
    ProcessRestarted,
    /// The server is shutting down.
    GoingAway,
    /// The server holds as many connections as it allows.
    OverCapacity,
    /// The client's address holds as many connections as the server allows one address.
    TooManyConnectionsFromAddress,
    /// The client's address opened new connections faster than the server allows.
    ConnectionRateExceeded,
    /// The frame is not of a kind the channel accepts (e.g. invalid UTF-8 in a text frame).
    InvalidFrame,
    /// Process socket: the process id runs inside the node.
    ProcessInNode,
    /// Process socket: another live connection is that process.
    ProcessTaken,
    /// Process socket: a frame the node could not use (said per frame; repeated, it closes).
    MalformedFrame,
    /// A frame that breaks the WebSocket protocol: reserved bits or opcodes, a fragmented or
    /// oversized control frame, a continuation with nothing to continue.
    ProtocolError,
}

impl WsErrorCode {
    /// The WebSocket close code that goes with this error.
    pub fn close_code(self) -> u16 {
        match self {
            Self::RegisterTimeout
            | Self::MalformedRegister
            | Self::SlowConsumer
            | Self::ConnectionRateExceeded
            | Self::MalformedFrame => 1008,
            Self::ProcessInNode | Self::ProcessTaken => 4409,
            Self::Unauthorized => 4401,
            Self::NoSuchProcess => 4404,
            Self::EncryptionRequired => 4403,
            Self::MessageTooBig => 1009,
            Self::ProcessRestarted => 1011,
            Self::GoingAway => 1001,
            Self::OverCapacity | Self::TooManyConnectionsFromAddress => 1013,
            Self::InvalidFrame => 1007,
            Self::ProtocolError => 1002,
        }
    }

    /// The snake_case name, as it appears in the error frame.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RegisterTimeout => "register_timeout",
            Self::MalformedRegister => "malformed_register",
            Self::Unauthorized => "unauthorized",
            Self::NoSuchProcess => "no_such_process",
            Self::EncryptionRequired => "encryption_required",
            Self::MessageTooBig => "message_too_big",
            Self::SlowConsumer => "slow_consumer",
            Self::ProcessRestarted => "process_restarted",
            Self::GoingAway => "going_away",
            Self::OverCapacity => "over_capacity",
            Self::TooManyConnectionsFromAddress => "too_many_connections_from_address",
            Self::ConnectionRateExceeded => "connection_rate_exceeded",
            Self::InvalidFrame => "invalid_frame",
            Self::ProcessInNode => "process_in_node",
            Self::ProcessTaken => "process_taken",
            Self::MalformedFrame => "malformed_frame",
            Self::ProtocolError => "protocol_error",
        }
    }

    /// Whether this is the client breaking the WebSocket protocol (RFC 6455 says to fail
    /// the connection: a close frame and nothing before it), not the node refusing for a
    /// reason of its own (said first in an error frame).
    pub fn is_protocol_failure(self) -> bool {
        matches!(
            self,
            Self::ProtocolError | Self::InvalidFrame | Self::MessageTooBig
        )
    }
}

/// The body of the error frame the gateway sends before it closes a socket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WsError {
    /// Machine-readable reason.
    pub code: WsErrorCode,
    /// A sentence for people.
    pub message: String,
}

/// The error frame: `{"error":{"code":"...","message":"..."}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WsErrorFrame {
    /// The error.
    pub error: WsError,
}

impl WsErrorFrame {
    /// An error frame with the given code and sentence.
    pub fn new(code: WsErrorCode, message: impl Into<String>) -> Self {
        Self {
            error: WsError {
                code,
                message: message.into(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `WebSocketPush` of every message type on ids of every digit count.
    fn every_push() -> impl Iterator<Item = HttpServerRequest> {
        let types = [
            WsMessageType::Text,
            WsMessageType::Binary,
            WsMessageType::Ping,
            WsMessageType::Pong,
            WsMessageType::Close,
        ];
        types.into_iter().flat_map(|message_type| {
            [0, 1, 9, 10, 4_096, 65_535, u32::MAX]
                .into_iter()
                .map(move |channel_id| HttpServerRequest::WebSocketPush {
                    channel_id,
                    message_type,
                })
        })
    }

    #[test]
    fn the_direct_push_body_is_what_serde_writes() {
        for event in every_push() {
            assert_eq!(
                String::from_utf8(event.to_json()).unwrap(),
                serde_json::to_string(&event).unwrap()
            );
        }
        let close = HttpServerRequest::WebSocketClose(7);
        assert_eq!(close.to_json(), serde_json::to_vec(&close).unwrap());
    }

    #[test]
    fn the_direct_read_gives_what_serde_reads() {
        for event in every_push() {
            let body = event.to_json();
            assert_eq!(parse_push(&body).as_ref(), Some(&event));
            assert_eq!(HttpServerRequest::from_json(&body).unwrap(), event);
        }
        // Other spellings, other events and bad input all go to serde, and agree with it.
        let others: [&[u8]; 10] = [
            br#"{"WebSocketPush": {"channel_id": 5, "message_type": "Text"}}"#,
            br#"{"WebSocketPush":{"message_type":"Text","channel_id":5}}"#,
            br#"{"WebSocketPush":{"channel_id":05,"message_type":"Text"}}"#,
            br#"{"WebSocketPush":{"channel_id":4294967296,"message_type":"Text"}}"#,
            br#"{"WebSocketPush":{"channel_id":-1,"message_type":"Text"}}"#,
            br#"{"WebSocketPush":{"channel_id":5,"message_type":"Texts"}}"#,
            br#"{"WebSocketPush":{"channel_id":5,"message_type":"Text"}} "#,
            br#"{"WebSocketClose":5}"#,
            br#"{"WebSocketPush":{"channel_id":5,"message_type":"Text""#,
            b"",
        ];
        for body in others {
            assert_eq!(parse_push(body), None, "{}", String::from_utf8_lossy(body));
            let ours = HttpServerRequest::from_json(body).map_err(|e| e.to_string());
            let serde =
                serde_json::from_slice::<HttpServerRequest>(body).map_err(|e| e.to_string());
            assert_eq!(ours, serde, "{}", String::from_utf8_lossy(body));
        }
    }

    fn json<T: Serialize>(value: &T) -> String {
        serde_json::to_string(value).unwrap()
    }

    fn round_trip<T: Serialize + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug>(
        value: T,
        text: &str,
    ) {
        assert_eq!(json(&value), text);
        assert_eq!(serde_json::from_str::<T>(text).unwrap(), value);
    }

    #[test]
    fn server_requests_are_kinode_json() {
        round_trip(
            HttpServerRequest::WebSocketOpen {
                path: "/".into(),
                channel_id: 17,
            },
            r#"{"WebSocketOpen":{"path":"/","channel_id":17}}"#,
        );
        round_trip(
            HttpServerRequest::WebSocketPush {
                channel_id: 17,
                message_type: WsMessageType::Text,
            },
            r#"{"WebSocketPush":{"channel_id":17,"message_type":"Text"}}"#,
        );
        round_trip(
            HttpServerRequest::WebSocketClose(17),
            r#"{"WebSocketClose":17}"#,
        );
        round_trip(
            HttpServerRequest::Http(IncomingHttpRequest {
                source_socket_addr: Some("127.0.0.1:5000".into()),
                method: "GET".into(),
                url: "http://localhost/chat:chat:sys/x?a=1".into(),
                bound_path: "/x".into(),
                headers: BTreeMap::from([("host".into(), "localhost".into())]),
                query_params: BTreeMap::from([("a".into(), "1".into())]),
            }),
            r#"{"Http":{"source_socket_addr":"127.0.0.1:5000","method":"GET","url":"http://localhost/chat:chat:sys/x?a=1","bound_path":"/x","headers":{"host":"localhost"},"query_params":{"a":"1"}}}"#,
        );
    }

    #[test]
    fn actions_are_kinode_json() {
        round_trip(
            HttpServerAction::WebSocketBind {
                path: "/".into(),
                authenticated: true,
            },
            r#"{"WebSocketBind":{"path":"/","authenticated":true}}"#,
        );
        round_trip(
            HttpServerAction::WebSocketUnbind { path: "/".into() },
            r#"{"WebSocketUnbind":{"path":"/"}}"#,
        );
        round_trip(
            HttpServerAction::Bind {
                path: "/api".into(),
                authenticated: false,
            },
            r#"{"Bind":{"path":"/api","authenticated":false}}"#,
        );
        round_trip(
            HttpServerAction::Unbind {
                path: "/api".into(),
            },
            r#"{"Unbind":{"path":"/api"}}"#,
        );
        round_trip(
            HttpServerAction::WebSocketPush {
                channel_id: 3,
                message_type: WsMessageType::Binary,
            },
            r#"{"WebSocketPush":{"channel_id":3,"message_type":"Binary"}}"#,
        );
        round_trip(
            HttpServerAction::WebSocketClose(3),
            r#"{"WebSocketClose":3}"#,
        );
        round_trip(
            HttpResponse {
                status: 200,
                headers: BTreeMap::new(),
            },
            r#"{"status":200,"headers":{}}"#,
        );
    }

    #[test]
    fn answers_are_kinode_json() {
        round_trip::<Result<(), HttpServerError>>(Ok(()), r#"{"Ok":null}"#);
        for (err, name) in [
            (HttpServerError::WsChannelNotFound, "WsChannelNotFound"),
            (HttpServerError::NoBlob, "NoBlob"),
            (HttpServerError::MalformedRequest, "MalformedRequest"),
            (
                HttpServerError::InvalidSourceProcess,
                "InvalidSourceProcess",
            ),
            (HttpServerError::WsPingPongTooLong, "WsPingPongTooLong"),
            (HttpServerError::SlowConsumer, "SlowConsumer"),
            (HttpServerError::InstanceUnreachable, "InstanceUnreachable"),
        ] {
            round_trip::<Result<(), HttpServerError>>(Err(err), &format!(r#"{{"Err":"{name}"}}"#));
        }
        for (ty, name) in [
            (WsMessageType::Text, "Text"),
            (WsMessageType::Binary, "Binary"),
            (WsMessageType::Ping, "Ping"),
            (WsMessageType::Pong, "Pong"),
            (WsMessageType::Close, "Close"),
        ] {
            round_trip(ty, &format!(r#""{name}""#));
        }
    }

    #[test]
    fn register_frame_and_reply() {
        round_trip(
            WsRegister {
                auth_token: "t".into(),
                target_process: "chat:chat:sys".parse().unwrap(),
                encrypted: false,
            },
            r#"{"auth_token":"t","target_process":"chat:chat:sys","encrypted":false}"#,
        );
        let no_flag: WsRegister =
            serde_json::from_str(r#"{"auth_token":"t","target_process":"echo:echo:sys"}"#).unwrap();
        assert!(!no_flag.encrypted);
        assert!(serde_json::from_str::<WsRegister>(
            r#"{"auth_token":"t","target_process":"echo"}"#
        )
        .is_err());
        round_trip(WsRegistered { channel_id: 17 }, r#"{"channel_id":17}"#);
    }

    #[test]
    fn error_frames_carry_code_and_sentence() {
        round_trip(
            WsErrorFrame::new(WsErrorCode::NoSuchProcess, "no process foo:bar:sys"),
            r#"{"error":{"code":"no_such_process","message":"no process foo:bar:sys"}}"#,
        );
        assert_eq!(WsErrorCode::Unauthorized.close_code(), 4401);
        assert_eq!(WsErrorCode::SlowConsumer.close_code(), 1008);
        let all = [
            WsErrorCode::RegisterTimeout,
            WsErrorCode::MalformedRegister,
            WsErrorCode::Unauthorized,
            WsErrorCode::NoSuchProcess,
            WsErrorCode::EncryptionRequired,
            WsErrorCode::MessageTooBig,
            WsErrorCode::SlowConsumer,
            WsErrorCode::ProcessRestarted,
            WsErrorCode::GoingAway,
            WsErrorCode::OverCapacity,
            WsErrorCode::TooManyConnectionsFromAddress,
            WsErrorCode::ConnectionRateExceeded,
            WsErrorCode::InvalidFrame,
            WsErrorCode::ProcessInNode,
            WsErrorCode::ProcessTaken,
            WsErrorCode::MalformedFrame,
            WsErrorCode::ProtocolError,
        ];
        for code in all {
            assert_eq!(json(&code), format!("\"{}\"", code.as_str()));
        }
    }
}
