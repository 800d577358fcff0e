//! What the chat does differently when it is one room across a clustered node's instances:
//! names are claimed in the room, `/who` lists everyone in it, messages are shown as the
//! room's log brings them, and joins, leaves and renames are told to the chats on the other
//! instances (which tell their own members). On a node that is not clustered each of these
//! falls back to what one chat alone does.

use process_lib::siblings;
use serde::{Deserialize, Serialize};

use super::commands::CommandError;
use super::events::Event;
use super::names::NameError;
use super::Chat;

/// How long settling waits for this chat's own messages to come back from the room's log;
/// past it (the cluster is unreachable), the chat goes on without them.
const CATCH_UP: std::time::Duration = std::time::Duration::from_secs(5);

/// What a chat tells the chats on the other instances.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Told {
    /// Someone arrived there.
    Join {
        /// Their name.
        name: String,
        /// How many are in the room now.
        online: usize,
    },
    /// Someone left there.
    Leave {
        /// Their name.
        name: String,
        /// How many are in the room now.
        online: usize,
    },
    /// Someone there changed their name.
    Rename {
        /// The old name.
        from: String,
        /// The new name.
        to: String,
    },
    /// A whisper from someone there, for `to` if they are here (asked, and answered with
    /// [`Heard`]).
    Whisper {
        /// Who said it.
        from: String,
        /// Who it is for.
        to: String,
        /// What was said.
        text: String,
        /// When, in milliseconds since the Unix epoch.
        ts: u64,
    },
}

/// A chat's answer to a sibling's whisper.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Heard {
    /// Shown to the member of that name (as they spell it).
    Delivered {
        /// Their name.
        to: String,
    },
    /// Nobody of that name is here.
    NoSuchPerson,
}

/// How long a whisper waits for the chats on the other instances.
const WHISPER_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

impl From<Told> for Event {
    fn from(told: Told) -> Self {
        match told {
            Told::Join { name, online } => Event::Join { name, online },
            Told::Leave { name, online } => Event::Leave { name, online },
            Told::Rename { from, to } => Event::Rename { from, to },
            Told::Whisper { from, to, text, ts } => Event::Whisper { from, to, text, ts },
        }
    }
}

impl Chat {
    /// Everyone in the room, sorted: on every instance when the node is clustered (this
    /// chat's members alone when the others cannot be reached).
    pub(super) async fn everyone(&mut self) -> Vec<String> {
        let Some(room) = self.store.room() else {
            return self.roster.names();
        };
        match room.members().await {
            Ok(names) => names,
            Err(error) => {
                tracing::warn!(%error, "the room's names cannot be read; answering with this instance's");
                self.roster.names()
            }
        }
    }

    /// Adds the member on `channel_id` under a `userN` name free in the whole room.
    pub(super) async fn admit(&mut self, channel_id: u32) -> String {
        loop {
            let name = self.roster.next_default();
            let Some(room) = self.store.room() else {
                return self.roster.join_as(channel_id, name);
            };
            match room.claim(&name).await {
                Ok(true) => return self.roster.join_as(channel_id, name),
                Ok(false) => continue,
                Err(error) => {
                    // Unique here at least; the renewal claims it in the room once it can.
                    tracing::warn!(%error, "a name could not be claimed in the room");
                    return self.roster.join_as(channel_id, name);
                }
            }
        }
    }

    /// Renames the member on `channel_id` to `new`, claiming it in the room first; returns
    /// the old name.
    pub(super) async fn rename(
        &mut self,
        channel_id: u32,
        new: &str,
    ) -> Result<String, CommandError> {
        self.roster.check_rename(channel_id, new)?;
        let old = self.name_of(channel_id);
        if let Some(room) = self.store.room() {
            if old.to_lowercase() != new.to_lowercase() {
                match room.claim(new).await {
                    Ok(true) => room.release(&old),
                    Ok(false) => return Err(NameError::Taken(new.to_owned()).into()),
                    Err(error) => {
                        tracing::warn!(%error, "a name could not be claimed in the room");
                        return Err(CommandError::RoomUnreachable);
                    }
                }
            }
        }
        Ok(self.roster.rename(channel_id, new)?)
    }

    /// Gives back the name of a member who left.
    pub(super) fn release(&mut self, name: &str) {
        if let Some(room) = self.store.room() {
            room.release(name);
        }
    }

    /// Tells the chats on the other instances, when there are any.
    pub(super) fn tell_room(&self, told: Told) {
        if self.store.is_room() {
            let body = serde_json::to_vec(&told).unwrap_or_default();
            siblings::publish(body, None);
        }
    }

    /// What the chat on another instance told: passed on to the members here.
    pub(super) fn told_by_sibling(&self, body: &[u8]) {
        match serde_json::from_slice::<Told>(body) {
            Ok(Told::Whisper { .. }) => {}
            Ok(told) => self.tell_all(&told.into()),
            Err(error) => tracing::warn!(%error, "a sibling chat sent something unknown; dropped"),
        }
    }

    /// A whisper from a member on another instance: shown to its member here, if any, and
    /// answered.
    pub(super) fn asked_by_sibling(&self, body: &[u8]) {
        let heard = match serde_json::from_slice::<Told>(body) {
            Ok(Told::Whisper { from, to, text, ts }) => match self.roster.find(&to) {
                Some(target) => {
                    let to = self.name_of(target);
                    let event = Event::Whisper {
                        from,
                        to: to.clone(),
                        text,
                        ts,
                    };
                    self.tell(target, &event);
                    Heard::Delivered { to }
                }
                None => Heard::NoSuchPerson,
            },
            _ => Heard::NoSuchPerson,
        };
        let body = serde_json::to_vec(&heard).unwrap_or_default();
        if let Err(error) = process_lib::Response::new().body(body).send() {
            tracing::debug!(%error, "a sibling's whisper was not answered");
        }
    }

    /// A whisper to `to`, who is not a member here: asks the chats on the other instances,
    /// and tells the sender once one has shown it.
    pub(super) async fn whisper_across(
        &self,
        channel_id: u32,
        to: &str,
        text: String,
    ) -> Result<(), CommandError> {
        let from = self.name_of(channel_id);
        let ts = super::now_ms();
        let told = Told::Whisper {
            from: from.clone(),
            to: to.to_owned(),
            text: text.clone(),
            ts,
        };
        let body = serde_json::to_vec(&told).unwrap_or_default();
        let asks = siblings::list()
            .into_iter()
            .map(|sibling| siblings::request(sibling, body.clone(), None, WHISPER_WAIT));
        for answer in futures_util::future::join_all(asks).await {
            let heard = answer.map(|reply| serde_json::from_slice::<Heard>(&reply.body));
            if let Ok(Ok(Heard::Delivered { to })) = heard {
                self.tell(channel_id, &Event::Whisper { from, to, text, ts });
                return Ok(());
            }
        }
        Err(CommandError::NoSuchPerson(to.to_owned()))
    }

    /// Renews the claims on this chat's members' names.
    pub(super) fn renew_names(&mut self) {
        let names = self.roster.names();
        if let Some(room) = self.store.room() {
            room.renew(names);
        }
    }

    /// Waits until the messages this chat appended to the room's log have come back and
    /// been shown, so what the chat does next comes after them, as alone.
    pub(super) async fn catch_up(&mut self) {
        let deadline = tokio::time::Instant::now() + CATCH_UP;
        loop {
            let Some(room) = self.store.room() else {
                return;
            };
            if room.shown >= room.appended {
                return;
            }
            let Ok(message) = tokio::time::timeout_at(deadline, room.next()).await else {
                tracing::warn!("the room's log is late; going on without waiting for it");
                return;
            };
            self.show(std::slice::from_ref(&message));
        }
    }
}
