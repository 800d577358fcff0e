//! The byte stream under a WebSocket: the accepted TCP socket itself on a plain
//! connection, hyper's upgraded connection otherwise (TLS).
//!
//! hyper hands an upgraded connection over as a boxed stream of erased type with its own
//! read-ahead in front, behind adapters between hyper's I/O traits and tokio's, so every
//! read and write of a channel passed through five layers. A plain connection's socket is
//! taken back out instead (`Upgraded::downcast`): its reads and writes go straight to the
//! socket, and the bytes hyper had already read past the request are handed on to be read
//! first.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A channel's connection.
#[derive(Debug)]
pub enum Conn {
    /// A plain connection: the socket itself.
    Tcp(TcpStream),
    /// Any other connection hyper served (a TLS stream), through hyper's upgrade.
    Upgraded(TokioIo<Upgraded>),
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
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Tcp(socket) => socket.is_write_vectored(),
            Self::Upgraded(upgraded) => upgraded.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(socket) => Pin::new(socket).poll_flush(cx),
            Self::Upgraded(upgraded) => Pin::new(upgraded).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(socket) => Pin::new(socket).poll_shutdown(cx),
            Self::Upgraded(upgraded) => Pin::new(upgraded).poll_shutdown(cx),
        }
    }
}
