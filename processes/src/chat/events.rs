//! What the chat tells clients, in both of its forms: a JSON event for programs
//! (`{"type":"message","id":7,"ts":…,"from":"user1","text":"hi"}`) and a line of text for
//! people (`[user1]: hi`).

use serde::Serialize;

use super::archive::Stored;
use super::names::Mode;

/// The help text, for `/help` and unknown commands.
pub const HELP: &str = "Commands:
  /name NEW            change your name
  /whisper NAME text   say something only NAME sees
  /whisper NAME@NODE text   the same, to someone in the chat on a linked node
  /who                 list who is here
  /history [N]         show the last N messages (default 20)
  /help                show this
Anything else is a message to everyone.";

/// One thing the chat tells a client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// To a client that switched to JSON: who it is and who is here.
    Hello {
        /// The client's name.
        name: String,
        /// Everyone here, sorted.
        online: Vec<String>,
    },
    /// An archived message.
    Message(Stored),
    /// A message only `from` and `to` see. Whispers are not archived. A name on another
    /// node is written `name@node`.
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
    /// Someone arrived.
    Join {
        /// Their name.
        name: String,
        /// How many people are here now.
        online: usize,
    },
    /// Someone left.
    Leave {
        /// Their name.
        name: String,
        /// How many people are here now.
        online: usize,
    },
    /// Someone changed their name.
    Rename {
        /// The old name.
        from: String,
        /// The new name.
        to: String,
    },
    /// The answer to `/who`.
    Who {
        /// Everyone here, sorted.
        names: Vec<String>,
    },
    /// Archived messages, oldest first, answering a history request.
    History {
        /// The messages.
        messages: Vec<Stored>,
    },
    /// The commands; `unknown` is the command that was not understood, if any.
    Help {
        /// The help text.
        text: String,
        /// The command that was not understood.
        #[serde(skip_serializing_if = "Option::is_none")]
        unknown: Option<String>,
    },
    /// A request that was refused; only its sender is told.
    Error {
        /// Machine-readable reason.
        code: String,
        /// A sentence for people.
        message: String,
    },
}

fn people(n: usize) -> String {
    match n {
        1 => "1 person".to_owned(),
        n => format!("{n} people"),
    }
}

/// The greeting a text client gets when it arrives.
pub fn greeting(name: &str, online: usize) -> String {
    let here = match online {
        1 => "You are the only one here".to_owned(),
        n => format!("There are {} here, you included", people(n)),
    };
    format!("Welcome, {name}! {here}. Type /help for the commands.")
}

fn line(message: &Stored) -> String {
    match &message.node {
        Some(node) => format!("[{}@{node}]: {}", message.from, message.text),
        None => format!("[{}]: {}", message.from, message.text),
    }
}

/// [`Event::Message`] borrowing its message, so a burst is serialized without copies.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Shown<'a> {
    Message(&'a Stored),
}

/// A stored message as the frame a member in `mode` is shown (the same for every member):
/// what [`Event::Message`] gives in that mode.
pub fn message_frame(message: &Stored, mode: Mode) -> String {
    match mode {
        Mode::Json => serde_json::to_string(&Shown::Message(message)).unwrap_or_default(),
        Mode::Text => line(message),
    }
}

impl Event {
    /// The event as text, for the member called `viewer`.
    pub fn to_text(&self, viewer: &str) -> String {
        match self {
            Self::Hello { name, online } => greeting(name, online.len()),
            Self::Message(message) => line(message),
            Self::Whisper { from, to, text, .. } if from == viewer && to != viewer => {
                format!("[whisper to {to}]: {text}")
            }
            Self::Whisper { from, text, .. } => format!("[whisper from {from}]: {text}"),
            Self::Join { name, online } => format!("* {name} joined; {} here", people(*online)),
            Self::Leave { name, online } => format!("* {name} left; {} here", people(*online)),
            Self::Rename { from, to } => format!("* {from} is now {to}"),
            Self::Who { names } => format!("{} here: {}", people(names.len()), names.join(", ")),
            Self::History { messages } if messages.is_empty() => "No messages yet.".to_owned(),
            Self::History { messages } => {
                let mut text = match messages.len() {
                    1 => "The last message:".to_owned(),
                    n => format!("The last {n} messages:"),
                };
                for message in messages {
                    text.push('\n');
                    text.push_str(&line(message));
                }
                text
            }
            Self::Help {
                text,
                unknown: Some(command),
            } => format!("Unknown command {command}.\n{text}"),
            Self::Help { text, .. } => text.clone(),
            Self::Error { message, .. } => format!("error: {message}"),
        }
    }

    /// The event as a JSON text frame.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_render_in_both_forms() {
        let message = Event::Message(Stored {
            id: 3,
            ts: 1000,
            from: "ann".into(),
            node: None,
            text: "hi".into(),
        });
        assert_eq!(message.to_text("bob"), "[ann]: hi");
        assert_eq!(
            message.to_json(),
            r#"{"type":"message","id":3,"ts":1000,"from":"ann","text":"hi"}"#
        );
        let remote = Event::Message(Stored {
            id: 4,
            ts: 1001,
            from: "ann".into(),
            node: Some("bob.os".into()),
            text: "hi".into(),
        });
        assert_eq!(remote.to_text("bob"), "[ann@bob.os]: hi");
        assert_eq!(
            remote.to_json(),
            r#"{"type":"message","id":4,"ts":1001,"from":"ann","node":"bob.os","text":"hi"}"#
        );
    }

    #[test]
    fn a_message_frame_is_the_message_event_in_either_form() {
        for node in [None, Some("bob.os".to_owned())] {
            let stored = Stored {
                id: 5,
                ts: 1002,
                from: "ann".into(),
                node,
                text: "a \"quoted\" line".into(),
            };
            let event = Event::Message(stored.clone());
            assert_eq!(message_frame(&stored, Mode::Json), event.to_json());
            assert_eq!(message_frame(&stored, Mode::Text), event.to_text("viewer"));
        }
    }

    #[test]
    fn whispers_read_from_each_side() {
        let whisper = Event::Whisper {
            from: "ann".into(),
            to: "bob".into(),
            text: "psst".into(),
            ts: 1,
        };
        assert_eq!(whisper.to_text("ann"), "[whisper to bob]: psst");
        assert_eq!(whisper.to_text("bob"), "[whisper from ann]: psst");
    }

    #[test]
    fn greetings_count_people() {
        assert_eq!(
            greeting("user1", 1),
            "Welcome, user1! You are the only one here. Type /help for the commands."
        );
        assert_eq!(
            greeting("user2", 2),
            "Welcome, user2! There are 2 people here, you included. Type /help for the commands."
        );
    }
}
