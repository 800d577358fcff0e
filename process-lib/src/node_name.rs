//! `NodeName`: a node's name, shared rather than copied.
//!
//! Every message carries two addresses and so two node names; the gateway makes a message
//! for every frame a client sends. A `NodeName` is one reference-counted string, so giving
//! an address a node name is a count, not an allocation, and two names made from the same
//! one compare by pointer.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::shared_str::SharedStr;

/// A node's name (`[a-z0-9-.]+`, checked where an [`crate::Address`] is parsed or made with
/// [`crate::Address::try_new`], and when a message is sent). Reads as a `&str`; equality, hashing and order are the text's.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeName(SharedStr);

impl NodeName {
    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl Deref for NodeName {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for NodeName {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for NodeName {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq<str> for NodeName {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for NodeName {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for NodeName {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<NodeName> for str {
    fn eq(&self, other: &NodeName) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<NodeName> for &str {
    fn eq(&self, other: &NodeName) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<NodeName> for String {
    fn eq(&self, other: &NodeName) -> bool {
        self == other.as_str()
    }
}

impl From<&str> for NodeName {
    fn from(name: &str) -> Self {
        Self(name.into())
    }
}

impl From<String> for NodeName {
    fn from(name: String) -> Self {
        Self(name.into())
    }
}

impl From<&String> for NodeName {
    fn from(name: &String) -> Self {
        Self(name.as_str().into())
    }
}

impl From<&NodeName> for NodeName {
    fn from(name: &NodeName) -> Self {
        name.clone()
    }
}

impl From<NodeName> for String {
    fn from(name: NodeName) -> Self {
        name.as_str().to_owned()
    }
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl Serialize for NodeName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for NodeName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Ok(Self(s.as_ref().into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_string_and_compare_with_strings() {
        let name = NodeName::from("alice.os");
        let copy = name.clone();
        assert!(std::ptr::eq(name.as_str(), copy.as_str()));
        assert_eq!(name, copy);
        assert_eq!(name, NodeName::from("alice.os".to_owned()));
        assert_eq!(name, "alice.os");
        assert_eq!("alice.os", name);
        assert_ne!(name, "bob.os");
        assert_eq!(format!("{name} {name:?}"), r#"alice.os "alice.os""#);
        assert_eq!(serde_json::to_string(&name).unwrap(), r#""alice.os""#);
        assert_eq!(
            serde_json::from_str::<NodeName>(r#""alice.os""#).unwrap(),
            name
        );
        let set: std::collections::HashSet<NodeName> = [name].into();
        assert!(set.contains("alice.os"));
    }
}
