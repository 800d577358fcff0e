//! A channel's outbox on a real loopback connection, for the outbound path's tests: the
//! writer task runs on the server end, and the client end reads what reached the wire.

use std::time::Duration;

use process_lib::HttpServerError;
use tokio::io::AsyncReadExt;
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::either::Either;

use super::socket_writer::SocketWriter;
use super::wire::WireFrame;
use super::writer::{run, WriterEnd};
use super::{outbox, Outbox};

pub const WAIT: Duration = Duration::from_secs(10);

/// A channel's outbox with its writer task running on the server end of a real
/// loopback connection; the client end, to read what reached the wire; and the
/// server's read half, which keeps the socket open until it is dropped.
pub struct Wire {
    pub outbox: Outbox,
    pub writer: tokio::task::JoinHandle<WriterEnd>,
    pub client: TcpStream,
    pub server_read: OwnedReadHalf,
}

pub async fn wire(limit: usize) -> Wire {
    wire_buffered(limit, None).await
}

/// A [`wire`] whose socket buffers are set to `buffers` bytes on both ends when given,
/// so the kernel holds only a little of what the writer writes.
pub async fn wire_buffered(limit: usize, buffers: Option<u32>) -> Wire {
    let listener = TcpSocket::new_v4().expect("socket");
    let client = TcpSocket::new_v4().expect("socket");
    if let Some(size) = buffers {
        // An accepted socket takes its buffer sizes from its listener.
        listener.set_send_buffer_size(size).expect("send buffer");
        client.set_recv_buffer_size(size).expect("receive buffer");
    }
    listener
        .bind("127.0.0.1:0".parse().expect("address"))
        .expect("bind");
    let listener = listener.listen(1).expect("listen");
    let client = client
        .connect(listener.local_addr().expect("addr"))
        .await
        .expect("connect");
    let (server, _) = listener.accept().await.expect("accept");
    let (server_read, write) = server.into_split();
    let (outbox, drain) = outbox(limit, metrics::Histogram::noop());
    drain.attach(SocketWriter::new(Either::Left(write)));
    let writer = tokio::spawn(run(drain));
    Wire {
        outbox,
        writer,
        client,
        server_read,
    }
}

/// The bytes `messages` take on the wire, in order.
pub fn bytes_of(messages: &[Message]) -> Vec<u8> {
    let mut out = Vec::new();
    for message in messages {
        WireFrame::from_message(message.clone()).append_to(&mut out);
    }
    out
}

/// Reads exactly the bytes of `messages` from `client`.
pub async fn expect_on(client: &mut TcpStream, messages: &[Message]) {
    let expected = bytes_of(messages);
    let mut got = vec![0; expected.len()];
    tokio::time::timeout(WAIT, client.read_exact(&mut got))
        .await
        .expect("in time")
        .expect("read");
    assert_eq!(got, expected);
}

/// The ends of a [`Wire`] a test keeps beside its outbox: the client end, the writer task,
/// and the server's read half that keeps the socket open.
pub type Ends = (TcpStream, tokio::task::JoinHandle<WriterEnd>, OwnedReadHalf);

impl Wire {
    /// The outbox, to hand to a channel, and the ends the test keeps.
    pub fn split(self) -> (Outbox, Ends) {
        (self.outbox, (self.client, self.writer, self.server_read))
    }

    /// Reads exactly the bytes of `messages` from the client end.
    pub async fn expect(&mut self, messages: &[Message]) {
        expect_on(&mut self.client, messages).await;
    }

    /// Waits for the writer to end, closes the socket, and returns how the writer
    /// ended with every byte the client read after what it already read.
    pub async fn finish(self) -> (WriterEnd, Vec<u8>) {
        let Wire {
            writer,
            mut client,
            server_read,
            outbox,
        } = self;
        let end = tokio::time::timeout(WAIT, writer)
            .await
            .expect("the writer ends in time")
            .expect("the writer task");
        drop((server_read, outbox));
        let mut rest = Vec::new();
        tokio::time::timeout(WAIT, client.read_to_end(&mut rest))
            .await
            .expect("in time")
            .expect("read");
        (end, rest)
    }
}

pub fn push(outbox: &Outbox, text: &str) -> Result<(), HttpServerError> {
    outbox.push_frame(WireFrame::from_message(Message::text(text)))
}

pub fn close_frame_of(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    }))
}
