//! Who is in the chat: each open channel's member, their unique name, and the rules a name
//! must follow.
//!
//! Names are unique ignoring case, and looked up by their lowercase form in a map, so a
//! join or a rename costs the same in a room of a thousand as in a room of two.

use std::collections::{BTreeMap, HashMap};

/// The longest name, in characters.
pub const MAX_NAME_CHARS: usize = 32;

/// Why a name was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The name is empty.
    #[error("a name cannot be empty")]
    Empty,
    /// The name is longer than the limit.
    #[error("a name has at most {MAX_NAME_CHARS} characters; that one has {0}")]
    TooLong(usize),
    /// The name holds a character names may not hold.
    #[error("a name may hold only letters, digits, '-', '_' and '.'; {0:?} is not allowed")]
    BadChar(char),
    /// Someone else has the name.
    #[error("the name {0} is taken")]
    Taken(String),
}

impl NameError {
    /// The machine-readable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Taken(_) => "name_taken",
            _ => "invalid_name",
        }
    }
}

/// Checks a name against the rules (not against the names in use).
pub fn validate(name: &str) -> Result<(), NameError> {
    let chars = name.chars().count();
    if chars == 0 {
        return Err(NameError::Empty);
    }
    if chars > MAX_NAME_CHARS {
        return Err(NameError::TooLong(chars));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(NameError::BadChar(bad));
    }
    Ok(())
}

/// How a member wants to be spoken to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Plain text lines, for people at a WebSocket prompt.
    Text,
    /// JSON events, for programs (the CLI chat, the web page); chosen by sending JSON.
    Json,
}

/// One person in the chat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Their name, unique in the chat (ignoring case).
    pub name: String,
    /// How they are spoken to.
    pub mode: Mode,
}

/// Every member, by channel.
#[derive(Debug, Default)]
pub struct Roster {
    members: BTreeMap<u32, Member>,
    /// Each member's channel by the lowercase form of their name.
    by_name: HashMap<String, u32>,
    last_number: u64,
}

/// The form of a name two names that differ only in case share.
fn folded(name: &str) -> String {
    name.to_lowercase()
}

impl Roster {
    /// Adds the member on `channel_id` under the next free `userN` name, and returns it.
    pub fn join(&mut self, channel_id: u32) -> String {
        let name = self.next_default();
        self.join_as(channel_id, name)
    }

    /// The next `userN` name no member here has (the room may still have it elsewhere).
    pub fn next_default(&mut self) -> String {
        loop {
            self.last_number += 1;
            let candidate = format!("user{}", self.last_number);
            if self.find(&candidate).is_none() {
                return candidate;
            }
        }
    }

    /// Adds the member on `channel_id` as `name`, and returns it.
    pub fn join_as(&mut self, channel_id: u32, name: String) -> String {
        let member = Member {
            name: name.clone(),
            mode: Mode::Text,
        };
        if let Some(old) = self.members.insert(channel_id, member) {
            // The channel was already here (never, from the http-server): its old name goes.
            self.by_name.remove(&folded(&old.name));
        }
        self.by_name.insert(folded(&name), channel_id);
        name
    }

    /// Removes the member on `channel_id`.
    pub fn leave(&mut self, channel_id: u32) -> Option<Member> {
        let member = self.members.remove(&channel_id)?;
        self.by_name.remove(&folded(&member.name));
        Some(member)
    }

    /// The member on `channel_id`.
    pub fn get(&self, channel_id: u32) -> Option<&Member> {
        self.members.get(&channel_id)
    }

    /// Switches the member on `channel_id` to `mode`; true when that changed it.
    pub fn set_mode(&mut self, channel_id: u32, mode: Mode) -> bool {
        match self.members.get_mut(&channel_id) {
            Some(member) if member.mode != mode => {
                member.mode = mode;
                true
            }
            _ => false,
        }
    }

    /// Renames the member on `channel_id`; returns the old name.
    pub fn rename(&mut self, channel_id: u32, new: &str) -> Result<String, NameError> {
        self.check_rename(channel_id, new)?;
        let member = self.members.get_mut(&channel_id).ok_or(NameError::Empty)?;
        let old = std::mem::replace(&mut member.name, new.to_owned());
        self.by_name.remove(&folded(&old));
        self.by_name.insert(folded(new), channel_id);
        Ok(old)
    }

    /// Whether the member on `channel_id` may take `new`, as far as this roster knows.
    pub fn check_rename(&self, channel_id: u32, new: &str) -> Result<(), NameError> {
        validate(new)?;
        match self.find(new) {
            Some(holder) if holder != channel_id => Err(NameError::Taken(new.to_owned())),
            _ => Ok(()),
        }
    }

    /// The channel of the member called `name` (ignoring case).
    pub fn find(&self, name: &str) -> Option<u32> {
        self.by_name.get(&folded(name)).copied()
    }

    /// Every name, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.members.values().map(|m| m.name.clone()).collect();
        names.sort_by_cached_key(|n| n.to_lowercase());
        names
    }

    /// How many people are here.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether nobody is here.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Every member with their channel.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Member)> {
        self.members.iter().map(|(id, m)| (*id, m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names_are_unique_and_skip_taken_ones() {
        let mut roster = Roster::default();
        assert_eq!(roster.join(10), "user1");
        roster.rename(10, "user2").unwrap();
        assert_eq!(roster.join(11), "user3");
        assert_eq!(
            roster.rename(11, "USER2"),
            Err(NameError::Taken("USER2".into()))
        );
        assert_eq!(roster.names(), ["user2", "user3"]);
    }

    #[test]
    fn names_are_found_ignoring_case_after_renames_and_leaves() {
        let mut roster = Roster::default();
        assert_eq!(roster.join(1), "user1");
        assert_eq!(roster.join(2), "user2");
        assert_eq!(roster.rename(1, "Ann"), Ok("user1".to_owned()));
        assert_eq!(roster.find("ANN"), Some(1));
        assert_eq!(roster.find("user1"), None);
        // Only the case changes: the name stays its holder's.
        assert_eq!(roster.rename(1, "ann"), Ok("Ann".to_owned()));
        assert_eq!(roster.find("Ann"), Some(1));
        assert_eq!(roster.leave(1).map(|m| m.name), Some("ann".to_owned()));
        assert_eq!(roster.find("ann"), None);
        // A name that was freed can be taken again.
        assert_eq!(roster.rename(2, "ANN"), Ok("user2".to_owned()));
        assert_eq!(roster.find("ann"), Some(2));
        assert_eq!(roster.find("user2"), None);
    }

    #[test]
    fn names_follow_the_rules() {
        assert_eq!(validate(""), Err(NameError::Empty));
        assert_eq!(validate(&"x".repeat(33)), Err(NameError::TooLong(33)));
        assert_eq!(validate("a b"), Err(NameError::BadChar(' ')));
        assert!(validate("zoë-2_x.y").is_ok());
    }
}
