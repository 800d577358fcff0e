//! Frames on the wire: a 4-byte big-endian length, then that many bytes — tokio-util's
//! [`LengthDelimitedCodec`] with its default layout. Handshake messages and encrypted
//! transport messages travel as frames. A Noise message is at most 65535 bytes, so a length
//! above that is garbage and ends the connection before anything is allocated for it.

use std::io;

use bytes::{Bytes, BytesMut};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tokio_util::codec::{LengthDelimitedCodec, LengthDelimitedCodecError};

/// The largest frame: one Noise message.
pub const MAX_FRAME: usize = 65535;

/// Bytes of a frame's length prefix.
pub const HEADER: usize = 4;

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The socket failed or closed.
    #[error("socket: {0}")]
    Io(#[from] io::Error),
    /// The length prefix is above [`MAX_FRAME`].
    #[error("frame over the {MAX_FRAME}-byte limit")]
    TooLarge,
}

/// The codec for frames: at most [`MAX_FRAME`] bytes each.
pub fn codec() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .max_frame_length(MAX_FRAME)
        .new_codec()
}

/// Reads the next frame; a socket that closed is an `UnexpectedEof` error.
pub async fn read_frame<S>(frames: &mut S) -> Result<BytesMut, FrameError>
where
    S: Stream<Item = io::Result<BytesMut>> + Unpin,
{
    match frames.next().await {
        Some(Ok(frame)) => Ok(frame),
        Some(Err(error))
            if error
                .get_ref()
                .is_some_and(|e| e.is::<LengthDelimitedCodecError>()) =>
        {
            Err(FrameError::TooLarge)
        }
        Some(Err(error)) => Err(FrameError::Io(error)),
        None => Err(FrameError::Io(io::ErrorKind::UnexpectedEof.into())),
    }
}

/// Writes `payload` as one frame and flushes.
pub async fn write_frame<S>(frames: &mut S, payload: &[u8]) -> Result<(), FrameError>
where
    S: Sink<Bytes, Error = io::Error> + Unpin,
{
    frames
        .send(Bytes::copy_from_slice(payload))
        .await
        .map_err(|error| {
            if error
                .get_ref()
                .is_some_and(|e| e.is::<LengthDelimitedCodecError>())
            {
                FrameError::TooLarge
            } else {
                FrameError::Io(error)
            }
        })
}

#[cfg(test)]
mod tests {
    use tokio_util::codec::{FramedRead, FramedWrite};

    use super::*;

    #[tokio::test]
    async fn frames_round_trip_and_oversized_lengths_are_refused() {
        let mut writer = FramedWrite::new(Vec::new(), codec());
        write_frame(&mut writer, b"hello").await.unwrap();
        write_frame(&mut writer, b"").await.unwrap();
        assert!(matches!(
            write_frame(&mut writer, &vec![0; MAX_FRAME + 1]).await,
            Err(FrameError::TooLarge)
        ));
        let mut out = writer.into_inner();
        assert_eq!(
            &out[..9],
            b"\0\0\0\x05hello",
            "a big-endian length, then the bytes"
        );
        out.extend_from_slice(&u32::MAX.to_be_bytes());
        let mut reader = FramedRead::new(&out[..], codec());
        assert_eq!(&read_frame(&mut reader).await.unwrap()[..], b"hello");
        assert!(read_frame(&mut reader).await.unwrap().is_empty());
        assert!(matches!(
            read_frame(&mut reader).await,
            Err(FrameError::TooLarge)
        ));
    }

    #[tokio::test]
    async fn a_socket_that_closes_is_a_socket_error_mid_frame_or_not() {
        let mut reader = FramedRead::new(&b""[..], codec());
        match read_frame(&mut reader).await {
            Err(FrameError::Io(error)) => assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof),
            other => panic!("expected an unexpected end, got {other:?}"),
        }
        let mut reader = FramedRead::new(&b"\0\0\0\x05hel"[..], codec());
        assert!(matches!(
            read_frame(&mut reader).await,
            Err(FrameError::Io(_))
        ));
    }
}
