//! A member's `/whisper NAME text`: shown only to NAME and the sender. On a cluster, a NAME
//! on another instance is asked for there (`across`). `NAME@NODE` goes to the chat on that
//! node, which answers whether NAME is there; the sender hears the outcome when the answer
//! comes ([`super::peers`]).

use super::commands::CommandError;
use super::events::Event;
use super::federation::{self, Outcome};
use super::{now_ms, Chat};

impl Chat {
    /// Whispers `text` from the member on `channel_id` to `to` (`NAME` or `NAME@NODE`).
    pub(super) async fn whisper(
        &mut self,
        channel_id: u32,
        to: String,
        text: String,
    ) -> Result<(), CommandError> {
        match federation::split_remote(&to) {
            Some((name, node)) if node != self.node => {
                self.whisper_remote(channel_id, &to, (name, node), &text)
            }
            // `NAME@<this node>` is someone here.
            Some((name, _)) => self.whisper_here(channel_id, name, text).await,
            None => self.whisper_here(channel_id, &to, text).await,
        }
    }

    /// To `name` in this chat (on a cluster, in the chat of any instance): both the sender
    /// and `name` are told now.
    async fn whisper_here(
        &self,
        channel_id: u32,
        name: &str,
        text: String,
    ) -> Result<(), CommandError> {
        let Some(target) = self.roster.find(name) else {
            if self.store.is_room() {
                return self.whisper_across(channel_id, name, text).await;
            }
            return Err(CommandError::NoSuchPerson(name.to_owned()));
        };
        let event = Event::Whisper {
            from: self.name_of(channel_id),
            to: self.name_of(target),
            text,
            ts: now_ms(),
        };
        self.tell(channel_id, &event);
        if target != channel_id {
            self.tell(target, &event);
        }
        Ok(())
    }

    /// To `name` in the chat on `node`: sent, and kept until that chat answers.
    fn whisper_remote(
        &mut self,
        channel_id: u32,
        to: &str,
        (name, node): (&str, &str),
        text: &str,
    ) -> Result<(), CommandError> {
        let from = self.name_of(channel_id);
        self.federation
            .whisper(channel_id, &from, (name, node), text, now_ms())
            .map_err(|outcome| match outcome {
                Outcome::NoSuchPerson => CommandError::NoSuchPerson(to.to_owned()),
                _ => CommandError::PeerOffline(node.to_owned()),
            })
    }
}
