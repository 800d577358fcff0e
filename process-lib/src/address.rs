//! `Address`: a process on a particular node, `node@name:package:publisher`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::node_name::NodeName;
use crate::process_id::{is_node_char, ProcessId, ProcessIdParseError};

/// A process on a node: `node@process_name:package_name:publisher_node`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address {
    /// The node's name (`[a-z0-9-.]+`), e.g. `local.os`; reads as a `&str`.
    pub node: NodeName,
    /// The process on that node.
    pub process: ProcessId,
}

/// Why a string is not an `Address`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AddressParseError {
    /// No `@`, or nothing before it.
    #[error("address needs a node: `node@name:package:publisher`")]
    MissingNode,
    /// More than one `@`.
    #[error("address has more than one `@`")]
    TooManyAts,
    /// The node name has a character outside `[a-z0-9-.]`.
    #[error("node name has the character {0:?}, which is not allowed")]
    BadNodeCharacter(char),
    /// The part after `@` is not a valid `ProcessId`.
    #[error(transparent)]
    Process(#[from] ProcessIdParseError),
}

/// Checks a node name against `[a-z0-9-.]+`.
pub fn validate_node_name(node: &str) -> Result<(), AddressParseError> {
    if node.is_empty() {
        return Err(AddressParseError::MissingNode);
    }
    match node.chars().find(|c| !is_node_char(*c)) {
        Some(c) => Err(AddressParseError::BadNodeCharacter(c)),
        None => Ok(()),
    }
}

impl Address {
    /// An address from a node name and a process id, as Kinode's `Address::new` makes one:
    /// the node may be a `String`, a `&str` or a `NodeName`, and is not checked here. A
    /// message to a node whose name is not valid is refused when it is sent
    /// ([`crate::SendErrorKind::BadNodeName`]); [`Address::try_new`] checks at once.
    pub fn new(node: impl Into<NodeName>, process: impl Into<ProcessId>) -> Self {
        Self {
            node: node.into(),
            process: process.into(),
        }
    }

    /// An address from a node name and a process id, refusing a node name outside
    /// `[a-z0-9-.]+`.
    pub fn try_new(node: &str, process: ProcessId) -> Result<Self, AddressParseError> {
        validate_node_name(node)?;
        Ok(Self::new(node, process))
    }
}

impl FromStr for Address {
    type Err = AddressParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.split('@');
        let (Some(node), Some(process)) = (parts.next(), parts.next()) else {
            return Err(AddressParseError::MissingNode);
        };
        if parts.next().is_some() {
            return Err(AddressParseError::TooManyAts);
        }
        Self::try_new(node, process.parse()?)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.node, self.process)
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_display_and_serde() {
        let addr: Address = "alice.os@chat:chat:sys".parse().unwrap();
        assert_eq!(addr.node, "alice.os");
        assert_eq!(addr.process.to_string(), "chat:chat:sys");
        assert_eq!(addr.to_string(), "alice.os@chat:chat:sys");
        let json = serde_json::to_string(&addr).unwrap();
        assert_eq!(json, r#""alice.os@chat:chat:sys""#);
        assert_eq!(serde_json::from_str::<Address>(&json).unwrap(), addr);
    }

    #[test]
    fn new_takes_any_string_form_and_checks_nothing() {
        let chat: ProcessId = "chat:chat:sys".parse().unwrap();
        let owned = Address::new(String::from("alice.os"), chat.clone());
        assert_eq!(owned, Address::new("alice.os", chat.clone()));
        assert_eq!(owned, Address::new(&owned.node, chat.clone()));
        assert_eq!(owned, Address::new(owned.node.clone(), chat.clone()));
        assert_eq!(Address::new("Alice", chat.clone()).node, "Alice");
        assert_eq!(
            Address::try_new("Alice", chat),
            Err(AddressParseError::BadNodeCharacter('A'))
        );
    }

    #[test]
    fn each_malformed_shape_has_its_error() {
        use AddressParseError::*;
        assert_eq!("chat:chat:sys".parse::<Address>(), Err(MissingNode));
        assert_eq!("@chat:chat:sys".parse::<Address>(), Err(MissingNode));
        assert_eq!("a@b@chat:chat:sys".parse::<Address>(), Err(TooManyAts));
        assert_eq!(
            "Alice@chat:chat:sys".parse::<Address>(),
            Err(BadNodeCharacter('A'))
        );
        assert_eq!(
            "alice@chat:chat".parse::<Address>(),
            Err(Process(ProcessIdParseError::MissingField))
        );
        assert_eq!(
            "alice@chat:chat:sys:x".parse::<Address>(),
            Err(Process(ProcessIdParseError::TooManyColons))
        );
        assert_eq!(
            "alice@ch_at:chat:sys".parse::<Address>(),
            Err(Process(ProcessIdParseError::BadCharacter {
                field: "process_name",
                character: '_'
            }))
        );
    }
}
