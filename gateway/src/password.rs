//! The node password: an Argon2id hash (PHC string) in `<home>/password`, mode 0600.
//! Only the hash is ever written; a password is checked against it in constant time by
//! `argon2`'s verifier. Hashing is slow on purpose: callers on the async runtime run
//! [`verify`] on a blocking thread.

use std::fs;
use std::path::{Path, PathBuf};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::SaltString;
use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use rand::Rng;

const PASSWORD_FILE: &str = "password";

/// Longest password accepted, in bytes.
pub const MAX_LEN: usize = 1024;

/// Why a password could not be set or read.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// The password is empty.
    #[error("the password must not be empty")]
    Empty,
    /// The password is too long.
    #[error("the password is longer than {MAX_LEN} bytes")]
    TooLong,
    /// The hash file could not be read or written.
    #[error("cannot use {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The hash file does not hold an Argon2 PHC string.
    #[error("{path} does not hold a password hash; set a new one with `switchboard passwd`")]
    Corrupt {
        /// The file.
        path: PathBuf,
    },
    /// Hashing failed (parameters rejected).
    #[error("cannot hash the password: {0}")]
    Hash(String),
}

/// The path of the hash file in `home`.
pub fn path(home: &Path) -> PathBuf {
    home.join(PASSWORD_FILE)
}

/// Hashes `password` with Argon2id and a fresh random salt.
pub fn hash(password: &str) -> Result<String, PasswordError> {
    if password.is_empty() {
        return Err(PasswordError::Empty);
    }
    if password.len() > MAX_LEN {
        return Err(PasswordError::TooLong);
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Sets the node password: writes its hash to `<home>/password` (mode 0600), replacing any
/// previous one atomically.
pub fn store(home: &Path, password: &str) -> Result<(), PasswordError> {
    let hashed = hash(password)?;
    let target = path(home);
    let io = |source| PasswordError::Io {
        path: target.clone(),
        source,
    };
    crate::home::ensure_home(home).map_err(|e| PasswordError::Io {
        path: home.to_owned(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let staging = home.join(format!(".{PASSWORD_FILE}.new"));
    let _ = fs::remove_file(&staging);
    crate::home::write_private(&staging, hashed.as_bytes()).map_err(io)?;
    fs::rename(&staging, &target).map_err(io)
}

/// The stored hash, or `None` when no password was set.
pub fn load(home: &Path) -> Result<Option<String>, PasswordError> {
    let file = path(home);
    match fs::read_to_string(&file) {
        Ok(text) => {
            let text = text.trim().to_owned();
            PasswordHash::new(&text).map_err(|_| PasswordError::Corrupt { path: file })?;
            Ok(Some(text))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(PasswordError::Io { path: file, source }),
    }
}

/// Whether `password` matches `hash` (a PHC string). Slow: call it off the async runtime.
pub fn verify(hash: &str, password: &str) -> bool {
    if password.len() > MAX_LEN {
        return false;
    }
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A fresh home gets a random password: when `home` has none, sets one and returns it (to be
/// shown once). Returns `None` when a password is already set.
pub fn ensure(home: &Path) -> Result<Option<String>, PasswordError> {
    if load(home)?.is_some() {
        return Ok(None);
    }
    let generated: String = rand::rngs::OsRng
        .sample_iter(&rand::distributions::Alphanumeric)
        .take(20)
        .map(char::from)
        .collect();
    store(home, &generated)?;
    Ok(Some(generated))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn only_the_hash_is_stored_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        store(dir.path(), "correct horse").unwrap();
        let text = fs::read_to_string(path(dir.path())).unwrap();
        assert!(text.starts_with("$argon2id$"), "{text}");
        assert!(!text.contains("correct horse"));
        let mode = fs::metadata(path(dir.path())).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let hash = load(dir.path()).unwrap().unwrap();
        assert!(verify(&hash, "correct horse"));
        assert!(!verify(&hash, "correct horsE"));
        assert!(!verify(&hash, ""));
    }

    #[test]
    fn a_fresh_home_gets_a_password_once() {
        let dir = tempfile::tempdir().unwrap();
        let generated = ensure(dir.path()).unwrap().unwrap();
        assert_eq!(generated.len(), 20);
        assert!(ensure(dir.path()).unwrap().is_none());
        assert!(verify(&load(dir.path()).unwrap().unwrap(), &generated));
    }

    #[test]
    fn bad_passwords_and_files_say_why() {
        assert!(matches!(hash(""), Err(PasswordError::Empty)));
        assert!(matches!(
            hash(&"x".repeat(MAX_LEN + 1)),
            Err(PasswordError::TooLong)
        ));
        let dir = tempfile::tempdir().unwrap();
        fs::write(path(dir.path()), "hunter2").unwrap();
        assert!(matches!(
            load(dir.path()),
            Err(PasswordError::Corrupt { .. })
        ));
    }
}
