//! The node's static X25519 identity: a private key kept in the home (mode 0600, created on
//! first run) and the public key that peers list in their config, written as 64 hex digits.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use snow::params::DHChoice;
use snow::resolvers::{CryptoResolver, DefaultResolver};

pub use super::key::{KeyParseError, PublicKey, KEY_LEN};
use crate::home::{ensure_home, HomeError};

const KEY_FILE: &str = "net_key";

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
