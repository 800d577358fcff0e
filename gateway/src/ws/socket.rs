//! The socket a channel reads from: tungstenite's WebSocket over the channel's connection,
//! polled from the channel's task with one stored waker.
//!
//! tokio-tungstenite's `WebSocketStream`, which the upgrade and the register phase use, wakes
//! its task through two waker proxies of its own, each a separate shared allocation that
//! lives as long as the socket. A channel's reader is the only task that ever polls its
//! socket (what tungstenite writes on a channel goes to the outbox and never waits, see
//! [`super::conn`]), so it needs no proxy: the waker of the poll under way is kept beside
//! the stream, and reads are made with it. An idle channel is two allocations smaller.

use std::io::{self, Read, Write};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use futures_util::Stream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message, WebSocket};

use super::conn::Conn;
use super::lazy_read::LazyRead;

/// A channel's WebSocket: yields the client's messages, like tokio-tungstenite's stream,
/// and ends (yields `None`) once the connection is closed or an error was yielded.
#[derive(Debug)]
pub struct ChannelSocket {
    ws: WebSocket<Polled>,
    ended: bool,
}

impl ChannelSocket {
    /// A socket over `stream`, of which nothing has been read as a WebSocket yet.
    pub fn new(stream: LazyRead<Conn>, config: WebSocketConfig) -> Self {
        let polled = Polled {
            inner: stream,
            waker: Waker::noop().clone(),
        };
        Self {
            ws: WebSocket::from_raw_socket(polled, Role::Server, Some(config)),
            ended: false,
        }
    }

    /// The connection under the socket.
    pub fn conn_mut(&mut self) -> &mut Conn {
        self.ws.get_mut().inner.get_mut()
    }

    /// The stream under the socket, once it is no longer read as a WebSocket.
    pub fn into_inner(self) -> LazyRead<Conn> {
        self.ws.into_inner().inner
    }
}

impl Stream for ChannelSocket {
    type Item = Result<Message, WsError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        this.ws.get_mut().waker.clone_from(cx.waker());
        match this.ws.read() {
            Ok(message) => Poll::Ready(Some(Ok(message))),
            Err(WsError::Io(error)) if error.kind() == io::ErrorKind::WouldBlock => Poll::Pending,
            Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => {
                this.ended = true;
                Poll::Ready(None)
            }
            Err(error) => {
                this.ended = true;
                Poll::Ready(Some(Err(error)))
            }
        }
    }
}

/// The connection as tungstenite's blocking-style reads and writes see it: polled with the
/// waker of the task's poll under way, `WouldBlock` standing for `Pending`.
#[derive(Debug)]
struct Polled {
    inner: LazyRead<Conn>,
    waker: Waker,
}

impl Polled {
    fn poll<R>(
        &mut self,
        f: impl FnOnce(Pin<&mut LazyRead<Conn>>, &mut Context<'_>) -> Poll<io::Result<R>>,
    ) -> io::Result<R> {
        let mut cx = Context::from_waker(&self.waker);
        match f(Pin::new(&mut self.inner), &mut cx) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

impl Read for Polled {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut buf = ReadBuf::new(buf);
        self.poll(|stream, cx| stream.poll_read(cx, &mut buf))?;
        Ok(buf.filled().len())
    }
}

impl Write for Polled {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.poll(|stream, cx| stream.poll_write(cx, buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.poll(|stream, cx| stream.poll_flush(cx))
    }
}
