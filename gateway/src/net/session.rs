//! An established Noise session split in two: the writer task seals with a [`Sealer`], the
//! reader task opens with an [`Opener`]. Each keeps its own nonce, so the halves share the
//! keys without a lock.

use std::sync::Arc;

use snow::StatelessTransportState;

use super::framing::MAX_FRAME;

/// Bytes of authentication tag in every transport message.
pub const TAG_LEN: usize = 16;

/// The most plaintext one transport message carries.
pub const MAX_PLAINTEXT: usize = MAX_FRAME - TAG_LEN;

/// Encrypts outgoing plaintext into frames.
#[derive(Debug)]
pub struct Sealer {
    transport: Arc<StatelessTransportState>,
    nonce: u64,
}

/// Decrypts incoming frames.
#[derive(Debug)]
pub struct Opener {
    transport: Arc<StatelessTransportState>,
    nonce: u64,
}

/// Both halves of a session.
pub fn split(transport: StatelessTransportState) -> (Sealer, Opener) {
    let transport = Arc::new(transport);
    (
        Sealer {
            transport: transport.clone(),
            nonce: 0,
        },
        Opener {
            transport,
            nonce: 0,
        },
    )
}

impl Sealer {
    /// Appends `plain` to `out` as one or more encrypted frames.
    pub fn seal(&mut self, plain: &[u8], out: &mut Vec<u8>) -> Result<(), snow::Error> {
        for chunk in plain.chunks(MAX_PLAINTEXT) {
            let len = chunk.len() + TAG_LEN;
            out.extend_from_slice(&(len as u32).to_be_bytes());
            let start = out.len();
            out.resize(start + len, 0);
            self.transport
                .write_message(self.nonce, chunk, &mut out[start..])?;
            self.nonce += 1;
        }
        Ok(())
    }
}

impl Opener {
    /// Decrypts one frame and appends its plaintext to `plain`.
    pub fn open(&mut self, frame: &[u8], plain: &mut Vec<u8>) -> Result<(), snow::Error> {
        if frame.len() < TAG_LEN {
            return Err(snow::Error::Decrypt);
        }
        let start = plain.len();
        plain.resize(start + frame.len() - TAG_LEN, 0);
        match self
            .transport
            .read_message(self.nonce, frame, &mut plain[start..])
        {
            Ok(n) => {
                plain.truncate(start + n);
                self.nonce += 1;
                Ok(())
            }
            Err(e) => {
                plain.truncate(start);
                Err(e)
            }
        }
    }
}
