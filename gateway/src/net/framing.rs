//! Frames on the wire: a 4-byte big-endian length, then that many bytes. Handshake messages
//! and encrypted transport messages travel as frames. A Noise message is at most 65535
//! bytes, so a length above that is garbage and ends the connection before anything is
//! allocated for it.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The largest frame: one Noise message.
pub const MAX_FRAME: usize = 65535;

/// Bytes of a frame's length prefix.
pub const HEADER: usize = 4;

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The socket failed or closed.
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    /// The length prefix is above [`MAX_FRAME`].
    #[error("frame of {0} bytes is over the {MAX_FRAME}-byte limit")]
    TooLarge(usize),
}

/// Appends `payload` as one frame to `out`.
pub fn put_frame(out: &mut Vec<u8>, payload: &[u8]) -> Result<(), FrameError> {
    if payload.len() > MAX_FRAME {
        return Err(FrameError::TooLarge(payload.len()));
    }
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    Ok(())
}

/// Reads one frame into `buf` (replacing what it held).
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
) -> Result<(), FrameError> {
    let mut header = [0u8; HEADER];
    reader.read_exact(&mut header).await?;
    let len = u32::from_be_bytes(header) as usize;
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge(len));
    }
    buf.resize(len, 0);
    reader.read_exact(buf).await?;
    Ok(())
}

/// Writes `payload` as one frame and flushes.
pub async fn write_frame<W: AsyncWrite + Unpin>(
    writer: &mut W,
    payload: &[u8],
) -> Result<(), FrameError> {
    let mut out = Vec::with_capacity(payload.len() + 4);
    put_frame(&mut out, payload)?;
    writer.write_all(&out).await?;
    writer.flush().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_and_oversized_lengths_are_refused() {
        let mut out = Vec::new();
        put_frame(&mut out, b"hello").unwrap();
        put_frame(&mut out, b"").unwrap();
        out.extend_from_slice(&u32::MAX.to_be_bytes());
        let mut reader = &out[..];
        let mut buf = Vec::new();
        read_frame(&mut reader, &mut buf).await.unwrap();
        assert_eq!(buf, b"hello");
        read_frame(&mut reader, &mut buf).await.unwrap();
        assert!(buf.is_empty());
        assert!(matches!(
            read_frame(&mut reader, &mut buf).await,
            Err(FrameError::TooLarge(_))
        ));
        assert!(put_frame(&mut out, &vec![0; MAX_FRAME + 1]).is_err());
    }
}
