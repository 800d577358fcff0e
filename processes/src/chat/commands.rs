//! What a client can ask of the chat, parsed from a frame: a plain line (`hello`, `/who`) or
//! a JSON object (`{"type":"say","text":"hello"}`). Both forms become one [`Command`].

use serde::Deserialize;

use super::names::{Mode, NameError};

/// The longest message, in bytes.
pub const MAX_TEXT_BYTES: usize = 16 * 1024;
/// How many messages `/history` shows when no number is given (and a newcomer is shown).
pub const DEFAULT_HISTORY: usize = 20;
/// The most messages `/history N` shows.
pub const MAX_HISTORY: usize = 500;

/// Which messages a history request wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HistoryQuery {
    /// The last N.
    Last(usize),
    /// Every message after this id.
    Since(u64),
}

/// A request from a client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Say something to everyone.
    Say(String),
    /// Say something to one person.
    Whisper {
        /// Their name.
        to: String,
        /// The message.
        text: String,
    },
    /// Change one's name.
    Name(String),
    /// List who is here.
    Who,
    /// Show archived messages.
    History(HistoryQuery),
    /// Show the commands; `Some(command)` when the client typed one the chat does not know.
    Help(Option<String>),
}

/// Why a frame is not a command. The message is meant for the person who sent it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// A binary frame that is not UTF-8 text.
    #[error("messages must be UTF-8 text; that frame was not")]
    NotUtf8,
    /// A frame that starts like JSON but does not parse as a command.
    #[error("that JSON is not a chat command ({0}); send {{\"type\":\"say\",\"text\":\"...\"}}, or type /help")]
    MalformedJson(String),
    /// An empty message.
    #[error("an empty message was not sent")]
    Empty,
    /// A message over the size limit.
    #[error("a message has at most {MAX_TEXT_BYTES} bytes; that one has {0}")]
    TooLong(usize),
    /// A command used the wrong way.
    #[error("usage: {0}")]
    Usage(&'static str),
    /// A name that is not allowed.
    #[error(transparent)]
    Name(#[from] NameError),
    /// A whisper to someone who is not here.
    #[error("nobody called {0} is here; /who lists who is")]
    NoSuchPerson(String),
    /// A whisper to another node that could not be sent there.
    #[error("the whisper was not delivered: {0} is not linked to this node now")]
    PeerOffline(String),
    /// A whisper to another node that got no answer in time.
    #[error("the whisper may not have been delivered: {0} did not answer in time")]
    PeerTimeout(String),
    /// The names of the room's other instances could not be checked.
    #[error("names cannot be checked across the room now; try again")]
    RoomUnreachable,
    /// The archive could not store the message.
    #[error("the message could not be stored, so it was not sent; try again")]
    Archive,
}

impl CommandError {
    /// The machine-readable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotUtf8 => "not_utf8",
            Self::MalformedJson(_) => "malformed_json",
            Self::Empty => "empty_message",
            Self::TooLong(_) => "message_too_long",
            Self::Usage(_) => "usage",
            Self::Name(e) => e.code(),
            Self::NoSuchPerson(_) => "no_such_person",
            Self::PeerOffline(_) => "peer_offline",
            Self::PeerTimeout(_) => "peer_timeout",
            Self::RoomUnreachable => "room_unreachable",
            Self::Archive => "archive_failed",
        }
    }
}

/// A command in JSON form.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum JsonCommand {
    Say {
        text: String,
    },
    Whisper {
        to: String,
        text: String,
    },
    Name {
        name: String,
    },
    Who,
    History {
        since: Option<u64>,
        limit: Option<usize>,
    },
    Help,
}

/// Parses one frame. The [`Mode`] says how the client spoke, so the answer (even an error)
/// can be given in the same form.
pub fn parse(bytes: &[u8]) -> (Mode, Result<Command, CommandError>) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        // Without valid text there is no telling; JSON starts with '{' in every encoding
        // that matters here.
        let mode = if bytes.first() == Some(&b'{') {
            Mode::Json
        } else {
            Mode::Text
        };
        return (mode, Err(CommandError::NotUtf8));
    };
    if text.trim_start().starts_with('{') {
        (Mode::Json, parse_json(text))
    } else {
        (Mode::Text, parse_line(text))
    }
}

fn parse_json(text: &str) -> Result<Command, CommandError> {
    let command: JsonCommand =
        serde_json::from_str(text).map_err(|e| CommandError::MalformedJson(e.to_string()))?;
    Ok(match command {
        JsonCommand::Say { text } => parse_line(&text)?,
        JsonCommand::Whisper { to, text } => Command::Whisper {
            to,
            text: checked_text(&text)?,
        },
        JsonCommand::Name { name } => Command::Name(name),
        JsonCommand::Who => Command::Who,
        JsonCommand::History {
            since: Some(id), ..
        } => Command::History(HistoryQuery::Since(id)),
        JsonCommand::History { limit, .. } => Command::History(HistoryQuery::Last(
            limit.unwrap_or(DEFAULT_HISTORY).min(MAX_HISTORY),
        )),
        JsonCommand::Help => Command::Help(None),
    })
}

fn checked_text(text: &str) -> Result<String, CommandError> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(CommandError::TooLong(text.len()));
    }
    let text = text.trim_end_matches(['\r', '\n']);
    if text.trim().is_empty() {
        return Err(CommandError::Empty);
    }
    Ok(text.to_owned())
}

/// Parses a plain line: a message, or a `/command`.
fn parse_line(line: &str) -> Result<Command, CommandError> {
    let text = checked_text(line)?;
    let Some(rest) = text.strip_prefix('/') else {
        return Ok(Command::Say(text));
    };
    let (word, args) = match rest.split_once(char::is_whitespace) {
        Some((word, args)) => (word, args.trim()),
        None => (rest, ""),
    };
    match word {
        "name" | "nick" => match args {
            "" => Err(CommandError::Usage("/name NEW-NAME")),
            name => Ok(Command::Name(name.to_owned())),
        },
        "whisper" | "w" => {
            let Some((to, text)) = args.split_once(char::is_whitespace) else {
                return Err(CommandError::Usage("/whisper NAME message"));
            };
            Ok(Command::Whisper {
                to: to.to_owned(),
                text: checked_text(text.trim_start())?,
            })
        }
        "who" => Ok(Command::Who),
        "history" => match args {
            "" => Ok(Command::History(HistoryQuery::Last(DEFAULT_HISTORY))),
            n => match n.parse::<usize>() {
                Ok(n) if n > 0 => Ok(Command::History(HistoryQuery::Last(n.min(MAX_HISTORY)))),
                _ => Err(CommandError::Usage("/history [N], N a number from 1")),
            },
        },
        "help" => Ok(Command::Help(None)),
        _ => Ok(Command::Help(Some(format!("/{word}")))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(s: &str) -> Result<Command, CommandError> {
        let (mode, result) = parse(s.as_bytes());
        assert_eq!(mode, Mode::Text);
        result
    }

    fn json(s: &str) -> Result<Command, CommandError> {
        let (mode, result) = parse(s.as_bytes());
        assert_eq!(mode, Mode::Json);
        result
    }

    #[test]
    fn lines_and_commands() {
        assert_eq!(line("hi there"), Ok(Command::Say("hi there".into())));
        assert_eq!(line("/name bob"), Ok(Command::Name("bob".into())));
        assert_eq!(
            line("/whisper bob  psst, hi"),
            Ok(Command::Whisper {
                to: "bob".into(),
                text: "psst, hi".into()
            })
        );
        assert_eq!(
            line("/whisper bob"),
            Err(CommandError::Usage("/whisper NAME message"))
        );
        assert_eq!(
            line("/history"),
            Ok(Command::History(HistoryQuery::Last(20)))
        );
        assert_eq!(
            line("/history 3"),
            Ok(Command::History(HistoryQuery::Last(3)))
        );
        assert!(matches!(line("/history x"), Err(CommandError::Usage(_))));
        assert_eq!(line("/dance"), Ok(Command::Help(Some("/dance".into()))));
        assert_eq!(line("   "), Err(CommandError::Empty));
    }

    #[test]
    fn json_commands() {
        assert_eq!(
            json(r#"{"type":"say","text":"yo"}"#),
            Ok(Command::Say("yo".into()))
        );
        assert_eq!(json(r#"{"type":"say","text":"/who"}"#), Ok(Command::Who));
        assert_eq!(
            json(r#"{"type":"history","since":7}"#),
            Ok(Command::History(HistoryQuery::Since(7)))
        );
        assert_eq!(
            json(r#"{"type":"history"}"#),
            Ok(Command::History(HistoryQuery::Last(20)))
        );
        assert!(matches!(json("{nope"), Err(CommandError::MalformedJson(_))));
        assert!(matches!(
            json(r#"{"type":"dance"}"#),
            Err(CommandError::MalformedJson(_))
        ));
    }

    #[test]
    fn invalid_utf8_is_refused() {
        assert_eq!(parse(&[0x66, 0xff, 0xfe]).1, Err(CommandError::NotUtf8));
    }
}
