//! The byte stream under a WebSocket: the accepted TCP socket itself on a plain
//! connection, hyper's upgraded connection otherwise (TLS).
//!
//! hyper hands an upgraded connection over as a boxed stream of erased type with its own
//! read-ahead in front, behind adapters between hyper's I/O traits and tokio's, so every
//! read and write of a channel passed through five layers. A plain connection's socket is
//! taken back out instead (`Upgraded::downcast`): its reads and writes go straight to the
//! socket, and the bytes hyper had already read past the request are handed on to be read
//! first.
//!
//! When a channel opens, the connection is split: its outbox takes the socket's write half
//! ([`WriteHalf`]), and the tungstenite socket the reader keeps reads from the read
//! half. What that tungstenite socket still writes itself (a pong, its reply to a close) is
//! handed to the channel's outbox ([`Replies`]), so every frame reaches the socket
//! through the one writer, in order.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio_util::either::Either;

use super::outbound::Replies;

type TlsConn = TokioIo<Upgraded>;

/// The read half of a split connection: a plain socket's, or a TLS stream's.
pub type ReadHalf = Either<OwnedReadHalf, tokio::io::ReadHalf<TlsConn>>;

/// The write half of a split connection, which the channel's writer owns.
pub type WriteHalf = Either<OwnedWriteHalf, tokio::io::WriteHalf<TlsConn>>;

/// A channel's connection.
#[derive(Debug)]
pub enum Conn {
    /// Not split yet: a plain connection's socket itself, or any other connection hyper
    /// served (a TLS stream) through hyper's upgrade.
    Whole(Either<TcpStream, Box<TlsConn>>),
    /// An open channel's connection: reads from the socket, writes to the channel's queue.
    Reading(ReadHalf, Replies),
    /// Left behind for the moment a split takes; never read or written.
    Taken,
}

impl Conn {
    /// The connection under `upgraded`, and the bytes hyper read from it past the request
    /// (the client may send its first frame without waiting for the `101`).
    pub fn from_upgraded(upgraded: Upgraded) -> (Self, Bytes) {
        match upgraded.downcast::<TokioIo<TcpStream>>() {
            Ok(parts) => (
                Self::Whole(Either::Left(parts.io.into_inner())),
                parts.read_buf,
            ),
            // hyper keeps its read-ahead inside the upgraded stream in this case.
            Err(upgraded) => (
                Self::Whole(Either::Right(Box::new(TokioIo::new(upgraded)))),
                Bytes::new(),
            ),
        }
    }

    /// Splits off the write half; from now on this connection reads from the socket and
    /// hands what is written to it to `replies`. `None` if it was split already.
    pub fn split_writer(&mut self, replies: Replies) -> Option<WriteHalf> {
        let (read, write) = match std::mem::replace(self, Self::Taken) {
            Self::Whole(Either::Left(socket)) => {
                let (read, write) = socket.into_split();
                (Either::Left(read), Either::Left(write))
            }
            Self::Whole(Either::Right(upgraded)) => {
                let (read, write) = tokio::io::split(*upgraded);
                (Either::Right(read), Either::Right(write))
            }
            split => {
                *self = split;
                return None;
            }
        };
        *self = Self::Reading(read, replies);
        Some(write)
    }
}

impl Conn {
    /// Ends the node's side of the stream (a TCP FIN after what was written), once whatever
    /// writes to it is done. A TLS connection's socket is out of reach here: it is left as
    /// it is.
    pub fn shut_write(&self) {
        let socket: &TcpStream = match self {
            Self::Whole(Either::Left(socket)) => socket,
            Self::Reading(Either::Left(read), _) => read.as_ref(),
            _ => return,
        };
        if let Err(error) = socket2::SockRef::from(socket).shutdown(std::net::Shutdown::Write) {
            tracing::debug!(%error, "could not end the socket's writing");
        }
    }
}

/// Lets go of a write half without shutting the socket's writing down: the socket closes
/// when the reader lets go of its half too.
pub fn release(write: WriteHalf) {
    match write {
        Either::Left(write) => write.forget(),
        Either::Right(write) => drop(write),
    }
}

fn taken() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the connection was split")
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Whole(stream) => Pin::new(stream).poll_read(cx, buf),
            Self::Reading(read, _) => Pin::new(read).poll_read(cx, buf),
            Self::Taken => Poll::Ready(Err(taken())),
        }
    }
}

/// tungstenite writes with plain writes, so the vectored ones keep their defaults.
impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Whole(stream) => Pin::new(stream).poll_write(cx, buf),
            Self::Reading(_, replies) => {
                replies.write(buf);
                Poll::Ready(Ok(buf.len()))
            }
            Self::Taken => Poll::Ready(Err(taken())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Whole(stream) => Pin::new(stream).poll_flush(cx),
            Self::Reading(..) | Self::Taken => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Whole(stream) => Pin::new(stream).poll_shutdown(cx),
            Self::Reading(..) | Self::Taken => Poll::Ready(Ok(())),
        }
    }
}
