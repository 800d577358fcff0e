//! Kernel messages as records in the decrypted byte stream of a link: a 4-byte big-endian
//! length, then the message in bincode. A record of length 0 is a keepalive. Records may
//! span transport frames; [`Reassembler`] puts them back together and refuses a record
//! longer than the per-message limit before buffering it.

use bincode::Options;
use process_lib::KernelMessage;

/// Why a record could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The message is over the per-message limit.
    #[error("message of {len} bytes is over the {limit}-byte limit")]
    TooLarge {
        /// Its length (or a lower bound of it).
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// The record is not a kernel message.
    #[error("record is not a kernel message: {0}")]
    Malformed(#[from] bincode::Error),
}

fn options(limit: usize) -> impl Options {
    bincode::DefaultOptions::new().with_limit(limit as u64)
}

/// Appends `message` to `out` as one record. On error `out` is left as it was.
pub fn encode(message: &KernelMessage, limit: usize, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    if let Err(error) = options(limit).serialize_into(&mut *out, message) {
        out.truncate(start);
        return Err(match *error {
            bincode::ErrorKind::SizeLimit => CodecError::TooLarge {
                len: limit + 1,
                limit,
            },
            _ => CodecError::Malformed(error),
        });
    }
    let len = (out.len() - start - 4) as u32;
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

/// Appends a keepalive record to `out`.
pub fn encode_keepalive(out: &mut Vec<u8>) {
    out.extend_from_slice(&[0; 4]);
}

/// What the reassembler found in the stream.
// A record lives only until it is routed; boxing the message would cost an allocation each.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Record {
    /// A kernel message.
    Message(KernelMessage),
    /// A keepalive.
    Keepalive,
}

/// Collects decrypted bytes and yields whole records.
#[derive(Debug)]
pub struct Reassembler {
    buf: Vec<u8>,
    read: usize,
    limit: usize,
}

impl Reassembler {
    /// A reassembler that refuses records over `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self {
            buf: Vec::new(),
            read: 0,
            limit,
        }
    }

    /// The buffer to append decrypted bytes to.
    pub fn buffer(&mut self) -> &mut Vec<u8> {
        if self.read > 0 && self.read == self.buf.len() {
            self.buf.clear();
            self.read = 0;
        } else if self.read > 64 * 1024 && self.read * 2 > self.buf.len() {
            self.buf.drain(..self.read);
            self.read = 0;
        }
        &mut self.buf
    }

    /// The next whole record, `Ok(None)` when more bytes are needed.
    pub fn next_record(&mut self) -> Result<Option<Record>, CodecError> {
        let rest = &self.buf[self.read..];
        let Some(header) = rest.get(..4) else {
            return Ok(None);
        };
        let mut len_bytes = [0u8; 4];
        len_bytes.copy_from_slice(header);
        let len = u32::from_be_bytes(len_bytes) as usize;
        if len > self.limit {
            return Err(CodecError::TooLarge {
                len,
                limit: self.limit,
            });
        }
        let Some(body) = rest.get(4..4 + len) else {
            return Ok(None);
        };
        let record = if len == 0 {
            Record::Keepalive
        } else {
            Record::Message(options(self.limit).deserialize(body)?)
        };
        self.read += 4 + len;
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use process_lib::{LazyLoadBlob, WireMessage};

    fn message(blob_len: usize) -> KernelMessage {
        KernelMessage {
            id: 7,
            source: "alice.os@p:test:sys".parse().unwrap(),
            target: "bob.os@p:test:sys".parse().unwrap(),
            rsvp: None,
            message: WireMessage::Request {
                expects_response: Some(5),
                body: b"ping".to_vec(),
            },
            blob: Some(LazyLoadBlob::from_bytes(vec![9u8; blob_len])),
        }
    }

    #[test]
    fn records_round_trip_across_arbitrary_splits() {
        let mut stream = Vec::new();
        encode(&message(10), 1 << 20, &mut stream).unwrap();
        encode_keepalive(&mut stream);
        encode(&message(100_000), 1 << 20, &mut stream).unwrap();
        let mut reassembler = Reassembler::new(1 << 20);
        let mut seen = Vec::new();
        for chunk in stream.chunks(777) {
            reassembler.buffer().extend_from_slice(chunk);
            while let Some(record) = reassembler.next_record().unwrap() {
                seen.push(record);
            }
        }
        assert_eq!(seen.len(), 3);
        assert!(matches!(&seen[0], Record::Message(m) if *m == message(10)));
        assert!(matches!(seen[1], Record::Keepalive));
        assert!(matches!(&seen[2], Record::Message(m) if *m == message(100_000)));
    }

    #[test]
    fn oversized_and_garbage_records_are_errors() {
        let mut out = vec![1, 2, 3];
        assert!(matches!(
            encode(&message(2000), 1000, &mut out),
            Err(CodecError::TooLarge { .. })
        ));
        assert_eq!(out, [1, 2, 3]);

        let mut reassembler = Reassembler::new(1000);
        reassembler
            .buffer()
            .extend_from_slice(&5000u32.to_be_bytes());
        assert!(matches!(
            reassembler.next_record(),
            Err(CodecError::TooLarge { len: 5000, .. })
        ));

        let mut reassembler = Reassembler::new(1000);
        let buf = reassembler.buffer();
        buf.extend_from_slice(&8u32.to_be_bytes());
        buf.extend_from_slice(&[0xff; 8]);
        assert!(matches!(
            reassembler.next_record(),
            Err(CodecError::Malformed(_))
        ));
    }
}
