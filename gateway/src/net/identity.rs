//! The node's static X25519 identity: a private key kept in the home (mode 0600, created on
//! first run) and the public key that peers list in their config, written as 64 hex digits.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use snow::params::DHChoice;
use snow::resolvers::{CryptoResolver, DefaultResolver};

use crate::home::{ensure_home, HomeError};

/// Length of an X25519 key, public or private.
pub const KEY_LEN: usize = 32;

const KEY_FILE: &str = "net_key";

/// A node's public key: what a peer must prove it holds.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(pub [u8; KEY_LEN]);

/// Why a string is not a public key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyParseError {
    /// Not 64 characters long.
    #[error("a public key is {expected} hex digits, not {got}", expected = KEY_LEN * 2)]
    Length {
        /// The length given.
        got: usize,
    },
    /// A character that is not a hex digit.
    #[error("a public key is written in hex digits (0-9, a-f)")]
    NotHex,
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

impl FromStr for PublicKey {
    type Err = KeyParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.len() != KEY_LEN * 2 {
            return Err(KeyParseError::Length { got: s.len() });
        }
        let digits = s.as_bytes();
        let mut key = [0u8; KEY_LEN];
        for (i, byte) in key.iter_mut().enumerate() {
            let hi = hex_value(digits[2 * i]).ok_or(KeyParseError::NotHex)?;
            let lo = hex_value(digits[2 * i + 1]).ok_or(KeyParseError::NotHex)?;
            *byte = (hi << 4) | lo;
        }
        Ok(Self(key))
    }
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

impl serde::Serialize for PublicKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for PublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The node's key pair. `Debug` shows only the public half.
#[derive(Clone)]
pub struct Identity {
    private: [u8; KEY_LEN],
    public: PublicKey,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// Why the identity could not be loaded or made.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The home is unusable.
    #[error(transparent)]
    Home(#[from] HomeError),
    /// The key file could not be read or written.
    #[error("cannot use key file {path}: {source}")]
    Io {
        /// The key file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The key file is not 32 bytes.
    #[error("{path} holds {len} bytes, not a {KEY_LEN}-byte private key; remove it to make a new one (peers must then learn the new public key)")]
    BadKey {
        /// The key file.
        path: PathBuf,
        /// Its length.
        len: usize,
    },
    /// The crypto library has no X25519 (never, with snow's default resolver).
    #[error("no X25519 implementation available")]
    NoDh,
}

impl Identity {
    /// The identity with this private key.
    pub fn from_private(private: [u8; KEY_LEN]) -> Result<Self, IdentityError> {
        let mut dh = DefaultResolver
            .resolve_dh(&DHChoice::Curve25519)
            .ok_or(IdentityError::NoDh)?;
        dh.set(&private);
        let mut public = [0u8; KEY_LEN];
        public.copy_from_slice(dh.pubkey());
        Ok(Self {
            private,
            public: PublicKey(public),
        })
    }

    /// A fresh random identity (not saved anywhere).
    pub fn generate() -> Result<Self, IdentityError> {
        use rand::RngCore;
        let mut private = [0u8; KEY_LEN];
        rand::rngs::OsRng.fill_bytes(&mut private);
        Self::from_private(private)
    }

    /// The public key peers list for this node.
    pub fn public(&self) -> PublicKey {
        self.public
    }

    /// The private key, for the Noise handshake only.
    pub(crate) fn private(&self) -> &[u8; KEY_LEN] {
        &self.private
    }
}

/// Reads the node's identity from `<home>/net_key`, creating it (mode 0600) on first run.
pub fn load_or_create(home: &Path) -> Result<Identity, IdentityError> {
    ensure_home(home)?;
    let path = home.join(KEY_FILE);
    let io = |source| IdentityError::Io {
        path: path.clone(),
        source,
    };
    match fs::read(&path) {
        Ok(bytes) => {
            let len = bytes.len();
            let private: [u8; KEY_LEN] = bytes.try_into().map_err(|_| IdentityError::BadKey {
                path: path.clone(),
                len,
            })?;
            Identity::from_private(private)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let identity = Identity::generate()?;
            crate::home::write_private(&path, identity.private()).map_err(io)?;
            Ok(identity)
        }
        Err(e) => Err(io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn public_keys_round_trip_through_hex() {
        let key = PublicKey([0xab; KEY_LEN]);
        let text = key.to_string();
        assert_eq!(text.len(), 64);
        assert_eq!(text.parse::<PublicKey>().unwrap(), key);
        assert_eq!(
            "abc".parse::<PublicKey>(),
            Err(KeyParseError::Length { got: 3 })
        );
        assert_eq!(
            "zz".repeat(32).parse::<PublicKey>(),
            Err(KeyParseError::NotHex)
        );
    }

    #[test]
    fn the_key_is_created_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path()).unwrap();
        let mode = fs::metadata(dir.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(load_or_create(dir.path()).unwrap().public(), first.public());
        assert!(!format!("{first:?}").contains(&format!("{:?}", first.private())));
    }
}
