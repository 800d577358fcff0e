//! The courier: carries a channel's events (open, frames, close) to its process's mailbox
//! as `HttpServerRequest`s from `http-server:distro:sys`.

use std::future::Future;

use process_lib::host::Host;
use process_lib::{
    http_server_id, HttpServerRequest, KernelMessage, LazyLoadBlob, ProcessId, WireMessage,
    WsMessageType,
};
use tokio::sync::mpsc;

use crate::kernel::mailbox::Mailbox;
use crate::runtime::Runtime;

/// Carries a channel's events to its process's mailbox, waiting when the mailbox is full so
/// a fast client is slowed down, not dropped.
#[derive(Debug)]
pub struct Courier<'a> {
    rt: &'a Runtime,
    mailbox: &'a Mailbox,
    process: &'a ProcessId,
}

impl<'a> Courier<'a> {
    /// The courier for `process`, whose mailbox is `mailbox`.
    pub fn new(rt: &'a Runtime, process: &'a ProcessId, mailbox: &'a Mailbox) -> Self {
        // Addresses are built per message (each message needs its own copy anyway), so an
        // idle channel keeps none.
        Self {
            rt,
            mailbox,
            process,
        }
    }

    /// Delivers a frame the client sent.
    pub fn push(
        &self,
        channel_id: u32,
        message_type: WsMessageType,
        blob: LazyLoadBlob,
    ) -> impl Future<Output = ()> + 'a {
        let request = HttpServerRequest::WebSocketPush {
            channel_id,
            message_type,
        };
        self.deliver(request, Some(blob))
    }

    /// Delivers at once when the mailbox has room, as it almost always does; only a full
    /// mailbox leaves something to wait for, boxed. The returned future is a few bytes and
    /// does not hold the courier, so it does not swell the state every channel's task holds
    /// while idle.
    pub fn deliver(
        &self,
        request: HttpServerRequest,
        blob: Option<LazyLoadBlob>,
    ) -> impl Future<Output = ()> + 'a {
        let message = KernelMessage {
            id: self.rt.next_id(),
            source: self.rt.address(http_server_id()),
            target: self.rt.address(self.process.clone()),
            rsvp: None,
            message: WireMessage::Request {
                expects_response: None,
                body: request.to_json(),
            },
            blob,
        };
        let waiting = match self.mailbox.try_send(message) {
            Ok(()) => None,
            Err(mpsc::error::TrySendError::Full(message)) => {
                Some(Box::pin(self.mailbox.send(message)))
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                mailbox_closed();
                None
            }
        };
        async move {
            if let Some(send) = waiting {
                if send.await.is_err() {
                    mailbox_closed();
                }
            }
        }
    }
}

fn mailbox_closed() {
    tracing::debug!("process mailbox closed; event dropped with the dead instance");
}
