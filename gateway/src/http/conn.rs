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
//! When a channel opens, the connection is split: its writer task takes the socket's write
//! half ([`WriteHalf`]), and the tungstenite socket the reader keeps reads from the read
//! half. What that tungstenite socket still writes itself (a pong, its reply to a close) is
//! handed to the channel's writer queue ([`Replies`]), so every frame reaches the socket
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

use super::outbound::Replies;

type TlsConn = TokioIo<Upgraded>;

/// A channel's connection.
#[derive(Debug)]
pub enum Conn {
    /// A plain connection: the socket itself.
    Tcp(TcpStream),
    /// Any other connection hyper served (a TLS stream), through hyper's upgrade.
    Upgraded(TlsConn),
    /// An open channel's connection: reads from the socket, writes to the channel's queue.
    Reading(ReadHalf, Replies),
    /// Left behind for the moment a split takes; never read or written.
    Taken,
}

/// The read half of a split connection.
#[derive(Debug)]
pub enum ReadHalf {
    /// A plain connection's.
    Tcp(OwnedReadHalf),
    /// A TLS connection's.
    Upgraded(tokio::io::ReadHalf<TlsConn>),
}

/// The write half of a split connection, which the channel's writer owns.
#[derive(Debug)]
pub enum WriteHalf {
    /// A plain connection's.
    Tcp(OwnedWriteHalf),
    /// A TLS connection's.
    Upgraded(tokio::io::WriteHalf<TlsConn>),
}

impl Conn {
    /// The connection under `upgraded`, and the bytes hyper read from it past the request
    /// (the client may send its first frame without waiting for the `101`).
    pub fn from_upgraded(upgraded: Upgraded) -> (Self, Bytes) {
        match upgraded.downcast::<TokioIo<TcpStream>>() {
            Ok(parts) => (Self::Tcp(parts.io.into_inner()), parts.read_buf),
            // hyper keeps its read-ahead inside the upgraded stream in this case.
            Err(upgraded) => (Self::Upgraded(TokioIo::new(upgraded)), Bytes::new()),
        }
    }

    /// Splits off the write half; from now on this connection reads from the socket and
    /// hands what is written to it to `replies`. `None` if it was split already.
    pub fn split_writer(&mut self, replies: Replies) -> Option<WriteHalf> {
        let (read, write) = match std::mem::replace(self, Self::Taken) {
            Self::Tcp(socket) => {
                let (read, write) = socket.into_split();
                (ReadHalf::Tcp(read), WriteHalf::Tcp(write))
            }
            Self::Upgraded(upgraded) => {
                let (read, write) = tokio::io::split(upgraded);
                (ReadHalf::Upgraded(read), WriteHalf::Upgraded(write))
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

fn taken() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the connection was split")
}

impl WriteHalf {
    /// Lets go of the write half without shutting the socket's writing down: the socket
    /// closes when the reader lets go of its half too.
    pub fn release(self) {
        match self {
            Self::Tcp(write) => write.forget(),
            Self::Upgraded(write) => drop(write),
        }
    }
}

impl AsyncWrite for WriteHalf {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(write) => Pin::new(write).poll_write(cx, buf),
            Self::Upgraded(write) => Pin::new(write).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(write) => Pin::new(write).poll_write_vectored(cx, bufs),
            Self::Upgraded(write) => Pin::new(write).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Tcp(write) => write.is_write_vectored(),
            Self::Upgraded(write) => write.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(write) => Pin::new(write).poll_flush(cx),
            Self::Upgraded(write) => Pin::new(write).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(write) => Pin::new(write).poll_shutdown(cx),
            Self::Upgraded(write) => Pin::new(write).poll_shutdown(cx),
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(socket) => Pin::new(socket).poll_read(cx, buf),
            Self::Upgraded(upgraded) => Pin::new(upgraded).poll_read(cx, buf),
            Self::Reading(ReadHalf::Tcp(read), _) => Pin::new(read).poll_read(cx, buf),
            Self::Reading(ReadHalf::Upgraded(read), _) => Pin::new(read).poll_read(cx, buf),
            Self::Taken => Poll::Ready(Err(taken())),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(socket) => Pin::new(socket).poll_write(cx, buf),
            Self::Upgraded(upgraded) => Pin::new(upgraded).poll_write(cx, buf),
            Self::Reading(_, replies) => {
                replies.write(buf);
                Poll::Ready(Ok(buf.len()))
            }
            Self::Taken => Poll::Ready(Err(taken())),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(socket) => Pin::new(socket).poll_write_vectored(cx, bufs),
            Self::Upgraded(upgraded) => Pin::new(upgraded).poll_write_vectored(cx, bufs),
            split @ (Self::Reading(..) | Self::Taken) => {
                let buf = bufs
                    .iter()
                    .find(|b| !b.is_empty())
                    .map_or(&[][..], |b| &**b);
                Pin::new(split).poll_write(cx, buf)
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Tcp(socket) => socket.is_write_vectored(),
            Self::Upgraded(upgraded) => upgraded.is_write_vectored(),
            Self::Reading(..) | Self::Taken => false,
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(socket) => Pin::new(socket).poll_flush(cx),
            Self::Upgraded(upgraded) => Pin::new(upgraded).poll_flush(cx),
            Self::Reading(..) | Self::Taken => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(socket) => Pin::new(socket).poll_shutdown(cx),
            Self::Upgraded(upgraded) => Pin::new(upgraded).poll_shutdown(cx),
            Self::Reading(..) | Self::Taken => Poll::Ready(Ok(())),
        }
    }
}
