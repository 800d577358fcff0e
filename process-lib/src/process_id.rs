//! `ProcessId`: the `name:package:publisher` triple that names a process on any node.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::shared_str::SharedStr;

/// Names a process: `process_name:package_name:publisher_node`, e.g. `chat:chat:sys`.
///
/// Held as its one string form, shared: a clone (every message carries two addresses) is a
/// reference count, not three allocations, and equal ids made from one another compare by
/// pointer. Equality, hashing and order are those of the string form.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProcessId {
    /// `name:package:publisher`, validated. The offsets below follow from it, so equality,
    /// hashing and order are those of the string form.
    full: SharedStr,
    /// Where the first `:` is.
    name_end: u16,
    /// Where the second `:` is.
    package_end: u16,
}

impl fmt::Debug for ProcessId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProcessId({})", self.full)
    }
}

/// Why a string is not a `ProcessId`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProcessIdParseError {
    /// Fewer than three `:`-separated fields, or one of them empty.
    #[error("process id needs three non-empty fields `name:package:publisher`")]
    MissingField,
    /// More than three `:`-separated fields.
    #[error("process id has too many `:` (expected `name:package:publisher`)")]
    TooManyColons,
    /// A field longer than a process id may be (64 KiB).
    #[error("process id is too long")]
    TooLong,
    /// A character outside the allowed set for that field.
    #[error(
        "process id field `{field}` has the character {character:?}, which is not allowed there"
    )]
    BadCharacter {
        /// Which field: `process_name`, `package_name` or `publisher_node`.
        field: &'static str,
        /// The offending character.
        character: char,
    },
}

/// `[a-z0-9-]`: the alphabet of process and package names.
pub(crate) fn is_name_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
}

/// `[a-z0-9-.]`: the alphabet of node names and publishers.
pub(crate) fn is_node_char(c: char) -> bool {
    is_name_char(c) || c == '.'
}

fn check(
    field: &'static str,
    value: &str,
    allowed: fn(char) -> bool,
) -> Result<(), ProcessIdParseError> {
    if value.is_empty() {
        return Err(ProcessIdParseError::MissingField);
    }
    match value.chars().find(|c| !allowed(*c)) {
        Some(character) => Err(ProcessIdParseError::BadCharacter { field, character }),
        None => Ok(()),
    }
}

impl ProcessId {
    /// Builds a `ProcessId`, validating each field.
    pub fn new(
        process_name: &str,
        package_name: &str,
        publisher_node: &str,
    ) -> Result<Self, ProcessIdParseError> {
        check("process_name", process_name, is_name_char)?;
        check("package_name", package_name, is_name_char)?;
        check("publisher_node", publisher_node, is_node_char)?;
        let name_end = process_name.len();
        let package_end = name_end + 1 + package_name.len();
        let (Ok(name_end), Ok(package_end)) = (u16::try_from(name_end), u16::try_from(package_end))
        else {
            return Err(ProcessIdParseError::TooLong);
        };
        Ok(Self {
            full: format!("{process_name}:{package_name}:{publisher_node}").into(),
            name_end,
            package_end,
        })
    }

    /// The process's own name, e.g. `chat` in `chat:chat:sys`.
    pub fn process_name(&self) -> &str {
        &self.full[..usize::from(self.name_end)]
    }

    /// The package it ships in, e.g. the second `chat` in `chat:chat:sys`.
    pub fn package_name(&self) -> &str {
        &self.full[usize::from(self.name_end) + 1..usize::from(self.package_end)]
    }

    /// The node that published the package, e.g. `sys` in `chat:chat:sys`.
    pub fn publisher_node(&self) -> &str {
        &self.full[usize::from(self.package_end) + 1..]
    }

    /// The whole id, `name:package:publisher`.
    pub fn as_str(&self) -> &str {
        &self.full
    }
}

/// `message.source().process == "http-server:distro:sys"`, as Kinode processes compare.
impl PartialEq<str> for ProcessId {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ProcessId {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl FromStr for ProcessId {
    type Err = ProcessIdParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.split(':');
        let (Some(name), Some(package), Some(publisher)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(ProcessIdParseError::MissingField);
        };
        if parts.next().is_some() {
            return Err(ProcessIdParseError::TooManyColons);
        }
        Self::new(name, package, publisher)
    }
}

impl fmt::Display for ProcessId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

impl Serialize for ProcessId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.full)
    }
}

impl<'de> Deserialize<'de> for ProcessId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_display() {
        let id: ProcessId = "chat:chat:sys".parse().unwrap();
        assert_eq!(id.process_name(), "chat");
        assert_eq!(id.package_name(), "chat");
        assert_eq!(id.publisher_node(), "sys");
        assert_eq!(id.to_string(), "chat:chat:sys");
        assert!(id == "chat:chat:sys" && id != "chat:chat:os");
        let id: ProcessId = "my-app:pkg-2:template.os".parse().unwrap();
        assert_eq!(id.to_string().parse::<ProcessId>().unwrap(), id);
    }

    #[test]
    fn each_malformed_shape_has_its_error() {
        assert_eq!(
            "chat:chat".parse::<ProcessId>(),
            Err(ProcessIdParseError::MissingField)
        );
        assert_eq!(
            "chat::sys".parse::<ProcessId>(),
            Err(ProcessIdParseError::MissingField)
        );
        assert_eq!(
            "".parse::<ProcessId>(),
            Err(ProcessIdParseError::MissingField)
        );
        assert_eq!(
            "a:b:c:d".parse::<ProcessId>(),
            Err(ProcessIdParseError::TooManyColons)
        );
        assert_eq!(
            "Chat:chat:sys".parse::<ProcessId>(),
            Err(ProcessIdParseError::BadCharacter {
                field: "process_name",
                character: 'C'
            })
        );
        assert_eq!(
            "chat:ch.at:sys".parse::<ProcessId>(),
            Err(ProcessIdParseError::BadCharacter {
                field: "package_name",
                character: '.'
            })
        );
        assert_eq!(
            "chat:chat:sys os".parse::<ProcessId>(),
            Err(ProcessIdParseError::BadCharacter {
                field: "publisher_node",
                character: ' '
            })
        );
    }

    #[test]
    fn serde_uses_the_string_form() {
        let id: ProcessId = "echo:echo:sys".parse().unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), r#""echo:echo:sys""#);
        let back: ProcessId = serde_json::from_str(r#""echo:echo:sys""#).unwrap();
        assert_eq!(back, id);
        assert!(serde_json::from_str::<ProcessId>(r#""echo:echo""#).is_err());
    }
}
