//! A frame as a channel's writer puts it on the wire: the header, formatted by tungstenite
//! once, and the payload, shared.
//!
//! A server's frames are never masked, so a frame pushed to a thousand channels has the same
//! bytes on every socket. The push builds its header once and each channel's queue holds a
//! copy of those few bytes and a reference to the one payload; the writer appends both to
//! its send buffer. No per-socket encoder runs, and nothing is allocated per channel.

use bytes::Bytes;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

/// The longest header a server writes: two bytes and a 64-bit length (a server never masks).
const HEAD_MAX: usize = 10;

/// One unmasked frame, ready to write; or a run of whole frames in one buffer, which goes
/// into a channel's queue, and out to its socket, as one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireFrame {
    head: [u8; HEAD_MAX],
    head_len: u8,
    /// How many frames the bytes hold, for the channel's traffic count (it fits in the
    /// padding after the header: the struct is no larger for it).
    frames: u32,
    payload: Bytes,
}

impl WireFrame {
    /// The frame tungstenite would send for `frame` as a server, which never masks.
    pub fn from_frame(mut frame: Frame) -> Self {
        frame.header_mut().mask = None;
        let mut head = [0u8; HEAD_MAX];
        let payload_len = frame.payload().len() as u64;
        let mut out = &mut head[..];
        frame
            .header()
            .format(payload_len, &mut out)
            .expect("an unmasked header fits in ten bytes");
        let head_len = (HEAD_MAX - out.len()) as u8;
        Self {
            head,
            head_len,
            frames: 1,
            payload: frame.into_payload(),
        }
    }

    /// The frame for a data or control message (`Message::Frame` is taken as it is).
    pub fn from_message(message: Message) -> Self {
        use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
        Self::from_frame(match message {
            Message::Text(text) => Frame::message(text, OpCode::Data(Data::Text), true),
            Message::Binary(bytes) => Frame::message(bytes, OpCode::Data(Data::Binary), true),
            Message::Ping(bytes) => Frame::ping(bytes),
            Message::Pong(bytes) => Frame::pong(bytes),
            Message::Close(close) => Frame::close(close),
            Message::Frame(frame) => frame,
        })
    }

    /// Bytes that already hold whole frames, formatted elsewhere by tungstenite.
    pub fn framed(bytes: Bytes) -> Self {
        Self {
            head: [0; HEAD_MAX],
            head_len: 0,
            frames: 1,
            payload: bytes,
        }
    }

    /// `frames`, one after another, in one buffer: what a push of several frames to many
    /// channels builds once and hands to each of them.
    pub fn run(frames: &[WireFrame]) -> Self {
        let mut bytes = Vec::with_capacity(frames.iter().map(WireFrame::len).sum());
        for frame in frames {
            frame.append_to(&mut bytes);
        }
        Self {
            head: [0; HEAD_MAX],
            head_len: 0,
            frames: frames.iter().map(|f| f.frames).sum(),
            payload: Bytes::from(bytes),
        }
    }

    /// How many frames these bytes hold.
    pub fn frames(&self) -> u64 {
        u64::from(self.frames)
    }

    /// A close frame.
    pub fn close(close: Option<CloseFrame>) -> Self {
        Self::from_frame(Frame::close(close))
    }

    /// Bytes on the wire.
    pub fn len(&self) -> usize {
        self.head_len as usize + self.payload.len()
    }

    /// Whether the frame has no bytes (never: a header has at least two).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The header's bytes.
    pub fn head(&self) -> &[u8] {
        &self.head[..self.head_len as usize]
    }

    /// The payload's bytes (all of them, for [`WireFrame::framed`] bytes).
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// Appends the frame's bytes to `out`.
    pub fn append_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.head());
        out.extend_from_slice(&self.payload);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

    /// What tungstenite itself writes for `message` on a server socket.
    fn tungstenite_bytes(message: Message) -> Vec<u8> {
        use tokio_tungstenite::tungstenite::protocol::{Role, WebSocket};
        let mut socket = WebSocket::from_raw_socket(Sink::default(), Role::Server, None);
        socket.send(message).expect("send");
        socket.get_ref().0.clone()
    }

    #[derive(Default)]
    struct Sink(Vec<u8>);

    impl std::io::Read for Sink {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::WouldBlock.into())
        }
    }

    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn frames_have_the_bytes_tungstenite_would_write() {
        let mut messages = Vec::new();
        for len in [0usize, 1, 125, 126, 65_535, 65_536, 70_000] {
            messages.push(Message::binary(vec![7u8; len]));
            messages.push(Message::text("é".repeat(len / 2)));
        }
        messages.push(Message::Ping(Bytes::from_static(b"are you there")));
        messages.push(Message::Pong(Bytes::new()));
        messages.push(Message::Close(Some(CloseFrame {
            code: CloseCode::from(4401),
            reason: "unauthorized".into(),
        })));
        messages.push(Message::Close(None));
        for message in messages {
            let expected = tungstenite_bytes(message.clone());
            let frame = WireFrame::from_message(message);
            let mut got = Vec::new();
            frame.append_to(&mut got);
            assert_eq!(frame.len(), got.len());
            assert_eq!(got, expected, "{} bytes", expected.len());
        }
    }

    #[test]
    fn a_run_holds_its_frames_back_to_back_and_counts_them() {
        let texts = ["one", "two", &"x".repeat(300)];
        let frames: Vec<WireFrame> = texts
            .iter()
            .map(|t| WireFrame::from_message(Message::text(*t)))
            .collect();
        let run = WireFrame::run(&frames);
        let mut expected = Vec::new();
        for text in texts {
            expected.extend(tungstenite_bytes(Message::text(text)));
        }
        let mut got = Vec::new();
        run.append_to(&mut got);
        assert_eq!(got, expected);
        assert_eq!(run.len(), expected.len());
        assert_eq!(run.frames(), 3);
        // The count rides in the header's padding: a queued frame is no larger for it.
        assert_eq!(std::mem::size_of::<WireFrame>(), 48);
    }
}
