//! A node's public key as peers name it: 32 bytes, written as 64 hex digits. Plain data,
//! so the settings can hold it.

use std::fmt;
use std::str::FromStr;

/// Length of an X25519 key, public or private.
pub const KEY_LEN: usize = 32;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
