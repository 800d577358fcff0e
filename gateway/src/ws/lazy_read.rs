//! A read adapter that lets every socket keep a tiny tungstenite read buffer (the node's
//! `read_buffer_size`, 128 bytes by default) without paying for it in system calls; and
//! [`own_payload`], which keeps that buffer's storage its own while a process holds a frame.
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

/// A frame's payload as the process gets it: a small one is copied into storage of its
/// own, so it does not keep tungstenite's read buffer shared while the process holds it.
///
/// A payload fresh from the socket shares the read buffer's storage. When the reader then
/// asks that buffer for room for the next frame while the storage is still shared, the
/// buffer cannot reuse it and allocates anew, and under 1 KiB it allocates only the few
/// bytes asked for, so every later frame takes two allocations and two short reads. Freed
/// at once, the storage stays the buffer's own and is reused. The copy lives inline in the
/// one allocation that also holds its reference count, so sharing it later (the process
/// library keeps the current message's payload) allocates nothing more.
pub fn own_payload(payload: bytes::Bytes) -> bytes::Bytes {
    match payload.len() {
        0..=64 => Inline::<64>::copy(&payload),
        65..=128 => Inline::<128>::copy(&payload),
        129..=256 => Inline::<256>::copy(&payload),
        257..=512 => Inline::<512>::copy(&payload),
        _ => payload,
    }
}

/// A small payload's bytes, held inline.
struct Inline<const N: usize> {
    len: usize,
    bytes: [u8; N],
}

impl<const N: usize> Inline<N> {
    /// `payload` (at most `N` bytes) in shared storage of its own.
    fn copy(payload: &[u8]) -> bytes::Bytes {
        let mut inline = Self {
            len: payload.len(),
            bytes: [0; N],
        };
        inline.bytes[..payload.len()].copy_from_slice(payload);
        bytes::Bytes::from_owner(inline)
    }
}

impl<const N: usize> AsRef<[u8]> for Inline<N> {
    fn as_ref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_payload_is_copied_and_a_large_one_shared() {
        for len in [0, 1, 64, 65, 128, 129, 256, 257, 512] {
            let original = bytes::Bytes::from((0..len).map(|i| i as u8).collect::<Vec<u8>>());
            let owned = own_payload(original.clone());
            assert_eq!(owned, original, "{len} bytes");
            if len > 0 {
                assert_ne!(owned.as_ptr(), original.as_ptr(), "{len} bytes");
            }
        }
        let large = bytes::Bytes::from(vec![7u8; 513]);
        assert_eq!(own_payload(large.clone()).as_ptr(), large.as_ptr());
    }
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
