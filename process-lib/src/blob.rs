//! `LazyLoadBlob`: the payload that travels beside a message body.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// A message's payload. `bytes` is reference-counted, so cloning a blob to push it to a
/// thousand channels copies a pointer, never the payload.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LazyLoadBlob {
    /// The payload's MIME type, when the sender knows it.
    pub mime: Option<String>,
    /// The payload.
    pub bytes: Bytes,
}

impl LazyLoadBlob {
    /// A blob with the given MIME type and bytes.
    pub fn new(mime: Option<impl Into<String>>, bytes: impl Into<Bytes>) -> Self {
        Self {
            mime: mime.map(Into::into),
            bytes: bytes.into(),
        }
    }

    /// A blob with no MIME type.
    pub fn from_bytes(bytes: impl Into<Bytes>) -> Self {
        Self {
            mime: None,
            bytes: bytes.into(),
        }
    }
}
