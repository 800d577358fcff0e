//! # process_lib
//!
//! The one definition of Switchboard's wire types, and the API that processes are written
//! against. A process is an async function that receives its own [`Address`]; inside it,
//! [`await_message`] yields the next [`Message`], [`get_blob`] its payload, [`Request`] and
//! [`Response`] talk to other processes, and [`send_ws_push`] writes to a WebSocket channel.
//!
//! ```ignore
//! async fn echo(our: Address) -> anyhow::Result<()> {
//!     loop {
//!         let message = await_message().await?;
//!         if let Ok(HttpServerRequest::WebSocketPush { channel_id, message_type }) =
//!             HttpServerRequest::from_json(message.body())
//!         {
//!             let blob = get_blob().unwrap_or_default();
//!             let _ = send_ws_push(&our.node, channel_id, message_type, blob);
//!         }
//!     }
//! }
//! ```
//!
//! ## Layout
//! - [`process_id`], [`address`]: `name:package:publisher` and `node@name:package:publisher`.
//! - [`blob`]: [`LazyLoadBlob`], a payload that is shared, not copied, when cloned.
//! - [`message`]: [`KernelMessage`] (what the kernel routes), [`Message`] (what a process
//!   sees), [`SendError`].
//! - [`http`]: the http-server's wire — [`HttpServerRequest`], [`HttpServerAction`],
//!   [`HttpServerError`], [`WsMessageType`], [`WsRegister`], the client-facing error frame.
//! - [`bind`]: serving `/<process_id><path>` as WebSocket channels or HTTP.
//! - [`net`]: asking `net:distro:sys` for this node's peers ([`net::peers`]).
//! - [`api`]: the author's calls. [`host`]: the seam a runtime implements to host processes.
//! - [`remote`]: the process socket's wire, and (feature `remote`) running a process
//!   outside the node over it.
//! - [`siblings`]: the same process on the other instances of a clustered node; [`shared`]:
//!   the log and the expiring map a process shares with them.
//! - [`typed`]: typed channels — each connection as a `(Receiver<In>, Sender<Out>)` pair of
//!   serde types, served by a handler task that lives as long as the connection.
//!
//! This crate depends on no web framework: the gateway implements [`host::Host`].
#![deny(missing_docs)]

pub mod address;
pub mod api;
pub mod bind;
pub mod blob;
pub mod host;
pub mod http;
pub mod message;
pub mod net;
pub mod node_name;
pub mod process_id;
pub mod remote;
pub mod shared;
mod shared_str;
pub mod siblings;
pub mod typed;

pub use address::{Address, AddressParseError};
pub use api::{
    await_message, close_ws_channel, get_blob, http_server_action, our, our_process, send_ws_push,
    send_ws_push_frames, send_ws_push_many, state_dir, IntoAddress, Request, RequestError,
    Response,
};
pub use bind::{bind_http_path, bind_ws_path, unbind_http_path, unbind_ws_path, BindError};
pub use blob::LazyLoadBlob;
pub use host::spawn;
pub use http::{
    HttpResponse, HttpServerAction, HttpServerError, HttpServerRequest, IncomingHttpRequest,
    WsErrorCode, WsErrorFrame, WsMessageType, WsRegister, WsRegistered,
};
pub use message::{KernelMessage, Message, SendError, SendErrorKind, WireMessage};
pub use net::{NetRequest, NetResponse, PeerInfo};
pub use node_name::NodeName;
pub use process_id::{ProcessId, ProcessIdParseError};

/// The publisher of the runtime's own modules and bundled processes.
pub const SYS_PUBLISHER: &str = "sys";

fn runtime_module(name: &str) -> ProcessId {
    ProcessId::new(name, "distro", SYS_PUBLISHER)
        .unwrap_or_else(|_| unreachable!("runtime module names are valid"))
}

static HTTP_SERVER: std::sync::LazyLock<ProcessId> =
    std::sync::LazyLock::new(|| runtime_module("http-server"));
static NET: std::sync::LazyLock<ProcessId> = std::sync::LazyLock::new(|| runtime_module("net"));
static KERNEL: std::sync::LazyLock<ProcessId> =
    std::sync::LazyLock::new(|| runtime_module("kernel"));

/// `http-server:distro:sys`, the module that owns WebSocket channels and HTTP binds.
pub fn http_server_id() -> ProcessId {
    HTTP_SERVER.clone()
}

/// `net:distro:sys`, the module that carries messages to other nodes.
pub fn net_id() -> ProcessId {
    NET.clone()
}

/// `kernel:distro:sys`, the kernel itself.
pub fn kernel_id() -> ProcessId {
    KERNEL.clone()
}
