//! A read adapter that lets every socket keep a tiny tungstenite read buffer (the node's
//! `read_buffer_size`, 128 bytes by default) without paying for it in system calls.
//!
//! tungstenite allocates its read buffer up front and never reads more than its size in one
//! call; at 4 KiB that buffer was the largest part of an idle connection. Here each read from
//! the socket goes into a 16 KiB scratch buffer owned by the worker thread, the caller takes
//! what fits, and only the rest is kept, in a spill that exists while it holds bytes. An idle
//! connection therefore holds no read-ahead storage, and a large message still arrives in
//! 16 KiB reads.

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes read from the socket at once.
const SCRATCH: usize = 16 * 1024;

thread_local! {
    static SCRATCH_BUF: RefCell<Box<[u8]>> = RefCell::new(vec![0; SCRATCH].into_boxed_slice());
}

/// Wraps a socket: reads go through the thread's scratch buffer; writes pass straight on.
#[derive(Debug)]
pub struct LazyRead<T> {
    inner: T,
    spill: Vec<u8>,
    taken: usize,
}

impl<T> LazyRead<T> {
    /// Wraps `inner`.
    pub fn new(inner: T) -> Self {
        Self::with_read_ahead(inner, &[])
    }

    /// Wraps `inner`, whose first bytes were already read from it: `ahead` is read first.
    pub fn with_read_ahead(inner: T, ahead: &[u8]) -> Self {
        Self {
            inner,
            spill: ahead.to_vec(),
            taken: 0,
        }
    }

    /// The wrapped stream.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for LazyRead<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.taken < this.spill.len() {
            let n = buf.remaining().min(this.spill.len() - this.taken);
            buf.put_slice(&this.spill[this.taken..this.taken + n]);
            this.taken += n;
            if this.taken == this.spill.len() {
                this.spill = Vec::new();
                this.taken = 0;
            }
            return Poll::Ready(Ok(()));
        }
        if buf.remaining() >= SCRATCH {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        SCRATCH_BUF.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            let mut read = ReadBuf::new(&mut scratch[..]);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut read))?;
            let filled = read.filled();
            let n = buf.remaining().min(filled.len());
            buf.put_slice(&filled[..n]);
            if n < filled.len() {
                this.spill = filled[n..].to_vec();
                this.taken = 0;
            }
            Poll::Ready(Ok(()))
        })
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for LazyRead<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Everything `reader` gives until its end, read `N` bytes at most at a time.
    async fn read_to_end_by<const N: usize>(reader: &mut (impl AsyncRead + Unpin)) -> Vec<u8> {
        let mut got = Vec::new();
        let mut chunk = [0u8; N];
        loop {
            let n = reader.read(&mut chunk).await.expect("read");
            if n == 0 {
                return got;
            }
            got.extend_from_slice(&chunk[..n]);
        }
    }

    #[tokio::test]
    async fn small_reads_get_every_byte_in_order_and_the_spill_empties() {
        let (mut writer, reader) = tokio::io::duplex(64 * 1024);
        let sent: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
        writer.write_all(&sent).await.expect("write");
        drop(writer);
        let mut reader = LazyRead::new(reader);
        let got = read_to_end_by::<100>(&mut reader).await;
        assert_eq!(got, sent);
        assert_eq!(reader.spill.capacity(), 0);
    }

    #[tokio::test]
    async fn bytes_read_ahead_come_first() {
        let (mut writer, reader) = tokio::io::duplex(1024);
        writer.write_all(b" and the rest").await.expect("write");
        drop(writer);
        let mut reader = LazyRead::with_read_ahead(reader, b"read ahead");
        let got = read_to_end_by::<4>(&mut reader).await;
        assert_eq!(got, b"read ahead and the rest");
        assert_eq!(reader.spill.capacity(), 0);
    }
}
