//! The node's home directory: created on first run, holding the secrets (mode 0600).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rand::RngCore;

/// Length of the JWT signing secret.
pub const SECRET_LEN: usize = 32;

const SECRET_FILE: &str = "jwt_secret";

/// Why a home directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    /// The directory could not be created or read.
    #[error("cannot use home directory {path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The secret file exists but is not 32 bytes: never sign with a short secret.
    #[error("{path} holds {len} bytes, not the {SECRET_LEN} a signing secret needs; remove it to make a new one")]
    BadSecret {
        /// The secret file.
        path: PathBuf,
        /// Its length.
        len: usize,
    },
    /// A shared secret file holds neither 32 bytes nor 64 hexadecimal digits.
    #[error("{path} must hold the token secret as 64 hexadecimal digits (or 32 raw bytes)")]
    BadSharedSecret {
        /// The secret file.
        path: PathBuf,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> HomeError + '_ {
    move |source| HomeError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Creates `home` (mode 0700) when missing.
pub fn ensure_home(home: &Path) -> Result<(), HomeError> {
    if !home.exists() {
        fs::create_dir_all(home).map_err(io_error(home))?;
        fs::set_permissions(home, fs::Permissions::from_mode(0o700)).map_err(io_error(home))?;
    }
    fs::read_dir(home).map_err(io_error(home))?;
    Ok(())
}

/// Creates `path` (it must not exist yet) readable by its owner only (mode 0600), writes
/// `bytes` and syncs them to disk: how every secret in a home is written.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Reads the node's JWT secret, creating a random one (mode 0600) on first run.
pub fn load_or_create_secret(home: &Path) -> Result<[u8; SECRET_LEN], HomeError> {
    ensure_home(home)?;
    let path = home.join(SECRET_FILE);
    match fs::read(&path) {
        Ok(bytes) => {
            let len = bytes.len();
            bytes
                .try_into()
                .map_err(|_| HomeError::BadSecret { path, len })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut secret = [0u8; SECRET_LEN];
            rand::rngs::OsRng.fill_bytes(&mut secret);
            write_private(&path, &secret).map_err(io_error(&path))?;
            Ok(secret)
        }
        Err(e) => Err(io_error(&path)(e)),
    }
}

/// The node's token-signing secret: read from `shared` when given (every instance of a
/// clustered node points at the same file), else the home's own, made on first run.
pub fn token_secret(home: &Path, shared: Option<&Path>) -> Result<[u8; SECRET_LEN], HomeError> {
    match shared {
        Some(path) => read_shared_secret(path),
        None => load_or_create_secret(home),
    }
}

/// Reads a shared secret file: 64 hexadecimal digits (`openssl rand -hex 32`), surrounding
/// whitespace ignored, or the 32 raw bytes of a home's `jwt_secret`.
pub fn read_shared_secret(path: &Path) -> Result<[u8; SECRET_LEN], HomeError> {
    let bytes = fs::read(path).map_err(io_error(path))?;
    if let Ok(raw) = <[u8; SECRET_LEN]>::try_from(bytes.as_slice()) {
        return Ok(raw);
    }
    let bad = || HomeError::BadSharedSecret {
        path: path.to_owned(),
    };
    let text = std::str::from_utf8(&bytes).map_err(|_| bad())?.trim();
    if text.len() != 2 * SECRET_LEN || !text.is_ascii() {
        return Err(bad());
    }
    let mut secret = [0u8; SECRET_LEN];
    for (byte, pair) in secret.iter_mut().zip(text.as_bytes().chunks(2)) {
        let pair = std::str::from_utf8(pair).map_err(|_| bad())?;
        *byte = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
    }
    Ok(secret)
}

/// The directory where process `id` keeps what must survive restarts.
pub fn process_dir(home: &Path, id: &process_lib::ProcessId) -> PathBuf {
    home.join("processes")
        .join(id.to_string().replace(':', "_"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_created_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let first = load_or_create_secret(&home).unwrap();
        let mode = fs::metadata(home.join(SECRET_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(load_or_create_secret(&home).unwrap(), first);
    }

    #[test]
    fn a_shared_secret_is_read_as_hex_or_raw_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let hex = dir.path().join("hex");
        fs::write(&hex, format!("{}\n", "0f".repeat(SECRET_LEN))).unwrap();
        assert_eq!(read_shared_secret(&hex).unwrap(), [0x0f; SECRET_LEN]);
        let raw = dir.path().join("raw");
        fs::write(&raw, [7u8; SECRET_LEN]).unwrap();
        assert_eq!(read_shared_secret(&raw).unwrap(), [7; SECRET_LEN]);
        let short = dir.path().join("short");
        fs::write(&short, "abcd").unwrap();
        let err = read_shared_secret(&short).unwrap_err();
        assert!(err.to_string().contains("64 hexadecimal digits"), "{err}");
    }

    #[test]
    fn a_short_secret_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(SECRET_FILE), b"ab").unwrap();
        let err = load_or_create_secret(dir.path()).unwrap_err();
        assert!(err.to_string().contains("holds 2 bytes"), "{err}");
    }
}
