//! The Noise `XX_25519_ChaChaPoly_BLAKE2s` handshake that opens a link, and the check that
//! makes it authenticated: each side sends its node name inside the encrypted handshake
//! payload, and the static key it proved must be the one our config lists for that name.
//!
//! ```text
//! initiator -> responder: e
//! responder -> initiator: e, ee, s, es   + responder's node name
//! initiator -> responder: s, se          + initiator's node name
//! ```

use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::Framed;

use super::framing::{self, read_frame, write_frame, FrameError, MAX_FRAME};
use super::identity::{Identity, PublicKey, KEY_LEN};
use super::session::{split, Opener, Sealer};

/// The Noise protocol every link speaks.
pub const NOISE_PARAMS: &str = "Noise_XX_25519_ChaChaPoly_BLAKE2s";

/// Bound into the handshake hash, so only Switchboard links of this version agree.
const PROLOGUE: &[u8] = b"switchboard net v1";

/// Why a handshake failed. Every variant ends the connection.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The socket failed, closed, or sent an oversized frame.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The Noise messages did not verify.
    #[error("noise: {0}")]
    Noise(#[from] snow::Error),
    /// The peer's name is not a node name.
    #[error("the peer sent a malformed node name")]
    BadName,
    /// The peer claims a name our config does not list.
    #[error("{0:?} is not a configured peer")]
    UnknownPeer(String),
    /// We dialed one node and another answered.
    #[error("dialed {expected:?} but {got:?} answered")]
    UnexpectedPeer {
        /// Whom we dialed.
        expected: String,
        /// Who answered.
        got: String,
    },
    /// The peer did not prove the key our config lists for its name.
    #[error("{peer:?} did not prove its configured key (it has {presented})")]
    WrongKey {
        /// The name it claimed.
        peer: String,
        /// The key it proved.
        presented: PublicKey,
    },
    /// The peer claims to be us.
    #[error("the peer claims our own name")]
    OwnName,
    /// A dialer sent no first message within the time it had.
    #[error("no handshake message within {0:?}")]
    Silent(Duration),
}

/// An authenticated, encrypted session with a peer.
#[derive(Debug)]
pub struct Session {
    /// The peer's node name, as proven by its key.
    pub peer: String,
    /// Encrypts what we send.
    pub sealer: Sealer,
    /// Decrypts what we receive.
    pub opener: Opener,
    /// Bytes the peer sent after the handshake that were read with it: the start of the
    /// link's first frames.
    pub read_ahead: BytesMut,
}

fn builder(identity: &Identity) -> Result<snow::Builder<'_>, snow::Error> {
    let params = NOISE_PARAMS.parse()?;
    Ok(snow::Builder::new(params)
        .local_private_key(identity.private())
        .prologue(PROLOGUE))
}

fn remote_key(state: &snow::HandshakeState) -> Result<PublicKey, HandshakeError> {
    let bytes = state
        .get_remote_static()
        .ok_or(snow::Error::Decrypt)
        .map_err(HandshakeError::Noise)?;
    let key: [u8; KEY_LEN] = bytes
        .try_into()
        .map_err(|_| HandshakeError::Noise(snow::Error::Decrypt))?;
    Ok(PublicKey(key))
}

fn peer_name(payload: &[u8], our_name: &str) -> Result<String, HandshakeError> {
    let name = std::str::from_utf8(payload).map_err(|_| HandshakeError::BadName)?;
    process_lib::address::validate_node_name(name).map_err(|_| HandshakeError::BadName)?;
    if name == our_name {
        return Err(HandshakeError::OwnName);
    }
    Ok(name.to_owned())
}

fn check_key(peer: &str, presented: PublicKey, expected: PublicKey) -> Result<(), HandshakeError> {
    if presented == expected {
        Ok(())
    } else {
        Err(HandshakeError::WrongKey {
            peer: peer.to_owned(),
            presented,
        })
    }
}

/// Runs the handshake as the dialer, expecting `peer` with `peer_key` to answer.
pub async fn initiate<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    identity: &Identity,
    our_name: &str,
    peer: &str,
    peer_key: PublicKey,
) -> Result<Session, HandshakeError> {
    let mut state = builder(identity)?.build_initiator()?;
    let mut message = vec![0u8; MAX_FRAME];
    let mut payload = vec![0u8; MAX_FRAME];
    let mut frames = Framed::new(stream, framing::codec());

    let len = state.write_message(&[], &mut message)?;
    write_frame(&mut frames, &message[..len]).await?;

    let frame = read_frame(&mut frames).await?;
    let len = state.read_message(&frame, &mut payload)?;
    let name = peer_name(&payload[..len], our_name)?;
    if name != peer {
        return Err(HandshakeError::UnexpectedPeer {
            expected: peer.to_owned(),
            got: name,
        });
    }
    check_key(&name, remote_key(&state)?, peer_key)?;

    let len = state.write_message(our_name.as_bytes(), &mut message)?;
    write_frame(&mut frames, &message[..len]).await?;
    let (sealer, opener) = split(state.into_stateless_transport_mode()?);
    Ok(Session {
        peer: name,
        sealer,
        opener,
        read_ahead: frames.into_parts().read_buf,
    })
}

/// Runs the handshake as the listener; `key_of` gives the configured key of a peer name. A
/// dialer sends its first message the moment it connects, so one that has not within
/// `first_wait` is [`HandshakeError::Silent`].
pub async fn respond<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    identity: &Identity,
    our_name: &str,
    first_wait: Duration,
    key_of: impl Fn(&str) -> Option<PublicKey>,
) -> Result<Session, HandshakeError> {
    let mut state = builder(identity)?.build_responder()?;
    let mut message = vec![0u8; MAX_FRAME];
    let mut payload = vec![0u8; MAX_FRAME];
    let mut frames = Framed::new(stream, framing::codec());

    let frame = tokio::time::timeout(first_wait, read_frame(&mut frames))
        .await
        .map_err(|_| HandshakeError::Silent(first_wait))??;
    state.read_message(&frame, &mut payload)?;

    let len = state.write_message(our_name.as_bytes(), &mut message)?;
    write_frame(&mut frames, &message[..len]).await?;

    let frame = read_frame(&mut frames).await?;
    let len = state.read_message(&frame, &mut payload)?;
    let name = peer_name(&payload[..len], our_name)?;
    let expected = key_of(&name).ok_or_else(|| HandshakeError::UnknownPeer(name.clone()))?;
    check_key(&name, remote_key(&state)?, expected)?;
    let (sealer, opener) = split(state.into_stateless_transport_mode()?);
    Ok(Session {
        peer: name,
        sealer,
        opener,
        read_ahead: frames.into_parts().read_buf,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: Duration = Duration::from_secs(10);

    #[tokio::test]
    async fn both_sides_learn_each_other_and_wrong_keys_fail() {
        let alice = Identity::generate().unwrap();
        let bob = Identity::generate().unwrap();
        let (mut a, mut b) = tokio::io::duplex(1 << 16);
        let bob_key = bob.public();
        let alice_key = alice.public();
        let (dialed, answered) = tokio::join!(
            initiate(&mut a, &alice, "alice.os", "bob.os", bob_key),
            respond(&mut b, &bob, "bob.os", WAIT, |name| (name == "alice.os")
                .then_some(alice_key)),
        );
        let (mut dialed, mut answered) = (dialed.unwrap(), answered.unwrap());
        assert_eq!(dialed.peer, "bob.os");
        assert_eq!(answered.peer, "alice.os");
        let mut wire = Vec::new();
        dialed.sealer.seal(b"over the link", &mut wire).unwrap();
        let mut plain = Vec::new();
        answered.opener.open(&wire[4..], &mut plain).unwrap();
        assert_eq!(plain, b"over the link");

        let mallory = Identity::generate().unwrap();
        let (mut a, mut b) = tokio::io::duplex(1 << 16);
        let (dialed, answered) = tokio::join!(
            async move { initiate(&mut a, &alice, "alice.os", "bob.os", bob_key).await },
            respond(&mut b, &mallory, "bob.os", WAIT, |_| Some(alice_key)),
        );
        assert!(matches!(dialed, Err(HandshakeError::WrongKey { .. })));
        assert!(answered.is_err());
    }

    #[tokio::test]
    async fn a_dialer_that_sends_nothing_is_refused_as_silent() {
        let bob = Identity::generate().unwrap();
        let (_dialer, mut b) = tokio::io::duplex(1 << 16);
        let wait = Duration::from_millis(50);
        let answered = respond(&mut b, &bob, "bob.os", wait, |_| None).await;
        assert!(matches!(answered, Err(HandshakeError::Silent(w)) if w == wait));
    }
}
