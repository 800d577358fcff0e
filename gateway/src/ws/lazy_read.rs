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

/// `frame_left` while reads are not held to frame ends.
const ANY_LENGTH: u64 = u64::MAX;

thread_local! {
    static SCRATCH_BUF: RefCell<Box<[u8]>> = RefCell::new(vec![0; SCRATCH].into_boxed_slice());
}

/// Wraps a socket: reads go through the thread's scratch buffer; writes pass straight on.
#[derive(Debug)]
pub struct LazyRead<T> {
    inner: T,
    spill: Vec<u8>,
    taken: usize,
    /// While reads stop at frame ends ([`LazyRead::stop_at_frame_ends`]): the bytes of the
    /// current WebSocket frame not handed on yet (0: a header comes next). [`ANY_LENGTH`]
    /// otherwise.
    frame_left: u64,
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
            frame_left: ANY_LENGTH,
        }
    }

    /// From now on, or until [`LazyRead::read_freely`], a read hands on no byte past the end
    /// of the WebSocket frame it is in. A reader that has just got a whole message has then
    /// read nothing of the next frame, and can be replaced by a fresh one without losing
    /// bytes: the register flow does so, since the register frame grew tungstenite's read
    /// buffer past the size it keeps for the connection's life.
    pub fn stop_at_frame_ends(&mut self) {
        self.frame_left = 0;
    }

    /// Lets reads hand on as much as fits again.
    pub fn read_freely(&mut self) {
        self.frame_left = ANY_LENGTH;
    }

    /// Reads from the socket into the spill (after what waits there): the bytes read, 0 at
    /// the end of the stream.
    fn fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>>
    where
        T: AsyncRead + Unpin,
    {
        SCRATCH_BUF.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            let mut read = ReadBuf::new(&mut scratch[..]);
            ready!(Pin::new(&mut self.inner).poll_read(cx, &mut read))?;
            self.spill.drain(..self.taken);
            self.taken = 0;
            self.spill.extend_from_slice(read.filled());
            Poll::Ready(Ok(read.filled().len()))
        })
    }

    /// [`AsyncRead::poll_read`] while reads stop at frame ends.
    fn poll_read_to_frame_end(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>>
    where
        T: AsyncRead + Unpin,
    {
        loop {
            let waiting = &self.spill[self.taken..];
            if self.frame_left == 0 {
                if let Some(len) = frame_len(waiting) {
                    self.frame_left = len;
                }
            }
            // A header not yet whole is held back until it is, unless the stream ended.
            if self.frame_left > 0 && !waiting.is_empty() {
                let n = buf
                    .remaining()
                    .min(waiting.len())
                    .min(usize::try_from(self.frame_left).unwrap_or(usize::MAX));
                buf.put_slice(&waiting[..n]);
                self.taken += n;
                self.frame_left -= n as u64;
                if self.taken == self.spill.len() {
                    self.spill = Vec::new();
                    self.taken = 0;
                }
                return Poll::Ready(Ok(()));
            }
            if ready!(self.fill(cx))? == 0 {
                // The stream ended inside a header: hand on what there is, then the end.
                let waiting = &self.spill[self.taken..];
                let n = buf.remaining().min(waiting.len());
                buf.put_slice(&waiting[..n]);
                self.taken += n;
                return Poll::Ready(Ok(()));
            }
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
        if this.frame_left != ANY_LENGTH {
            return this.poll_read_to_frame_end(cx, buf);
        }
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

/// The length of the WebSocket frame `bytes` start with, header included, once its header
/// is whole (RFC 6455, 5.2).
fn frame_len(bytes: &[u8]) -> Option<u64> {
    let second = *bytes.get(1)?;
    let mask = if second & 0x80 == 0 { 0 } else { 4 };
    let (extended, payload) = match second & 0x7f {
        126 => (
            2,
            u64::from(u16::from_be_bytes(bytes.get(2..4)?.try_into().ok()?)),
        ),
        127 => (8, u64::from_be_bytes(bytes.get(2..10)?.try_into().ok()?)),
        short => (0, u64::from(short)),
    };
    let header = 2 + extended + mask;
    if bytes.len() < header {
        return None;
    }
    // Never the value that stands for "any length".
    Some((header as u64).saturating_add(payload).min(ANY_LENGTH - 1))
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

    /// A client's masked text frame with `len` payload bytes, as it comes over the wire.
    fn client_frame(len: usize) -> Vec<u8> {
        use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
        use tokio_tungstenite::tungstenite::protocol::frame::Frame;
        let payload: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
        let mut frame = Frame::message(payload, OpCode::Data(Data::Text), true);
        frame.header_mut().mask = Some([1, 2, 3, 4]);
        let mut out = Vec::new();
        frame.format(&mut out).expect("format");
        out
    }

    /// Reads `frames` from `reader` with a buffer larger than any of them, checking that
    /// no read hands on a byte past the end of the frame it is in.
    async fn read_frame_by_frame(reader: &mut (impl AsyncRead + Unpin), frames: &[Vec<u8>]) {
        let mut chunk = vec![0u8; 100_000];
        for frame in frames {
            let mut got = Vec::new();
            while got.len() < frame.len() {
                let n = reader.read(&mut chunk).await.expect("read");
                assert!(n > 0, "the stream ended early");
                got.extend_from_slice(&chunk[..n]);
                assert!(got.len() <= frame.len(), "a read went past a frame's end");
            }
            assert_eq!(&got, frame);
        }
    }

    #[tokio::test]
    async fn reads_stop_at_frame_ends_until_they_are_free_again() {
        // One length of each encoding: 7 bits, 16 bits, 64 bits.
        let frames = [client_frame(300), client_frame(5), client_frame(70_000)];
        let all = frames.concat();
        let tail = b"and then free reads".to_vec();

        // Everything waiting at once: the reads would otherwise run into the next frame.
        let (mut writer, reader) = tokio::io::duplex(256 * 1024);
        writer.write_all(&all).await.expect("write");
        writer.write_all(&tail).await.expect("write");
        drop(writer);
        let mut reader = LazyRead::new(reader);
        reader.stop_at_frame_ends();
        read_frame_by_frame(&mut reader, &frames).await;
        reader.read_freely();
        assert_eq!(read_to_end_by::<1024>(&mut reader).await, tail);

        // A few bytes at a time: headers arrive in pieces, and are held back until whole.
        let (mut writer, reader) = tokio::io::duplex(256 * 1024);
        let sending = tokio::spawn(async move {
            for piece in all.chunks(3) {
                writer.write_all(piece).await.expect("write");
                tokio::task::yield_now().await;
            }
        });
        let mut reader = LazyRead::with_read_ahead(reader, &[]);
        reader.stop_at_frame_ends();
        read_frame_by_frame(&mut reader, &frames).await;
        sending.await.expect("sender");
        assert_eq!(read_to_end_by::<1024>(&mut reader).await, b"");
    }

    #[tokio::test]
    async fn a_stream_that_ends_inside_a_header_hands_on_what_came() {
        let (mut writer, reader) = tokio::io::duplex(1024);
        writer.write_all(&[0x81]).await.expect("write");
        drop(writer);
        let mut reader = LazyRead::new(reader);
        reader.stop_at_frame_ends();
        assert_eq!(read_to_end_by::<64>(&mut reader).await, [0x81]);
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
