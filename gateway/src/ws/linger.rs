//! The end of a connection the node failed while its client was still sending.
//!
//! When a client breaks the protocol mid-message (a frame over the size limit, say), the node
//! writes its close frame and stops reading frames, but the rest of the client's message is
//! still arriving. Closing a socket with unread bytes in its receive buffer makes the kernel
//! answer with a reset instead of a clean end, and a reset can destroy the close frame in the
//! client's own buffers before the client reads it: the client then sees "connection reset"
//! instead of the close code and reason it was sent. So the node first ends its side of the
//! stream (the close frame is the last thing the client gets), then reads and drops whatever
//! the client still sends, until the client ends its side or the close timeout passes.

use std::time::Duration;

use tokio::io::AsyncReadExt;

use super::conn::Conn;
use super::lazy_read::LazyRead;

/// How much is read and dropped at a time.
const SCRATCH: usize = 16 * 1024;

/// Ends the node's side of `conn` and drops what the client still sends, for at most
/// `within`; the socket closes when `conn` is dropped after this.
pub async fn linger(mut conn: LazyRead<Conn>, within: Duration) {
    conn.get_mut().shut_write();
    let mut scratch = vec![0u8; SCRATCH];
    let _ = tokio::time::timeout(within, async {
        while let Ok(1..) = conn.read(&mut scratch).await {}
    })
    .await;
}
