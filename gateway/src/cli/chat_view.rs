//! What `switchboard chat` shows: the chat's JSON events turned into lines for a person,
//! with messages already shown (by id) skipped, so a history fetched after a reconnect shows
//! only what was missed.

use serde_json::Value;

/// The chat as this client has seen it.
#[derive(Debug, Default)]
pub struct ChatView {
    /// Our name in the chat, once it told us.
    pub name: Option<String>,
    /// The id of the last message shown.
    pub last_id: u64,
    /// The name chosen with `/name`, asked for again after a reconnect.
    pub chosen_name: Option<String>,
    greeted: bool,
}

fn str_of<'a>(event: &'a Value, key: &str) -> &'a str {
    event[key].as_str().unwrap_or_default()
}

fn people(n: u64) -> String {
    match n {
        1 => "1 person".to_owned(),
        n => format!("{n} people"),
    }
}

impl ChatView {
    /// The lines a frame from the chat calls for (none for frames that are not events).
    pub fn lines(&mut self, frame: &str) -> Vec<String> {
        let Ok(event) = serde_json::from_str::<Value>(frame) else {
            // Plain text comes only before the chat switched us to JSON: the same greeting
            // and history arrive again as events.
            return Vec::new();
        };
        match str_of(&event, "type") {
            "hello" => self.hello(&event),
            "message" => self.message(&event).into_iter().collect(),
            "history" => event["messages"]
                .as_array()
                .map(|messages| messages.iter().filter_map(|m| self.message(m)).collect())
                .unwrap_or_default(),
            "whisper" => {
                let (from, to, text) = (
                    str_of(&event, "from"),
                    str_of(&event, "to"),
                    str_of(&event, "text"),
                );
                if Some(from) == self.name.as_deref() && Some(to) != self.name.as_deref() {
                    vec![format!("[whisper to {to}]: {text}")]
                } else {
                    vec![format!("[whisper from {from}]: {text}")]
                }
            }
            "join" => vec![format!(
                "* {} joined; {} here",
                str_of(&event, "name"),
                people(event["online"].as_u64().unwrap_or(0))
            )],
            "leave" => vec![format!(
                "* {} left; {} here",
                str_of(&event, "name"),
                people(event["online"].as_u64().unwrap_or(0))
            )],
            "rename" => {
                let (from, to) = (str_of(&event, "from"), str_of(&event, "to"));
                if Some(from) == self.name.as_deref() {
                    self.name = Some(to.to_owned());
                    self.chosen_name = Some(to.to_owned());
                    vec![format!("* you are now {to}")]
                } else {
                    vec![format!("* {from} is now {to}")]
                }
            }
            "who" => {
                let names: Vec<&str> = event["names"]
                    .as_array()
                    .map(|n| n.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                vec![format!(
                    "{} here: {}",
                    people(names.len() as u64),
                    names.join(", ")
                )]
            }
            "help" => {
                let mut lines = Vec::new();
                if let Some(unknown) = event["unknown"].as_str() {
                    lines.push(format!("Unknown command {unknown}."));
                }
                lines.extend(str_of(&event, "text").lines().map(str::to_owned));
                lines.push("  exit                 leave the chat (or Ctrl-D)".to_owned());
                lines
            }
            "error" => vec![format!("error: {}", str_of(&event, "message"))],
            _ => Vec::new(),
        }
    }

    fn hello(&mut self, event: &Value) -> Vec<String> {
        let name = str_of(event, "name").to_owned();
        let online = event["online"].as_array().map_or(0, Vec::len) as u64;
        let line = if self.greeted {
            format!("* back as {name}; {} here", people(online))
        } else {
            format!(
                "Welcome, {name}! {} here. Type /help for the commands, exit to leave.",
                people(online)
            )
        };
        self.greeted = true;
        self.name = Some(name);
        vec![line]
    }

    fn message(&mut self, message: &Value) -> Option<String> {
        let id = message["id"].as_u64()?;
        if id <= self.last_id {
            return None;
        }
        self.last_id = id;
        // A message relayed from the chat on another node names that node.
        let from = match message["node"].as_str() {
            Some(node) => format!("{}@{node}", str_of(message, "from")),
            None => str_of(message, "from").to_owned(),
        };
        Some(format!("[{from}]: {}", str_of(message, "text")))
    }

    /// The requests that pick up where this client was after a reconnect: its chosen name
    /// back, and the messages it missed.
    pub fn resume_requests(&self) -> Vec<Value> {
        let mut requests = Vec::new();
        if let Some(name) = &self.chosen_name {
            requests.push(serde_json::json!({"type": "name", "name": name}));
        }
        requests.push(self.history_request());
        requests
    }

    /// The request that fetches what this client has not seen: the last 20 messages at
    /// first, then every message after the last one shown.
    pub fn history_request(&self) -> Value {
        if self.greeted {
            serde_json::json!({"type": "history", "since": self.last_id})
        } else {
            serde_json::json!({"type": "history"})
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_already_shown_are_skipped() {
        let mut view = ChatView::default();
        let hello = r#"{"type":"hello","name":"user1","online":["user1"]}"#;
        assert_eq!(
            view.lines(hello),
            ["Welcome, user1! 1 person here. Type /help for the commands, exit to leave."]
        );
        let message = r#"{"type":"message","id":4,"ts":1,"from":"ann","text":"hi"}"#;
        assert_eq!(view.lines(message), ["[ann]: hi"]);
        let history = r#"{"type":"history","messages":[
            {"id":4,"ts":1,"from":"ann","text":"hi"},{"id":5,"ts":2,"from":"bob","text":"yo"}]}"#;
        assert_eq!(view.lines(history), ["[bob]: yo"]);
        assert_eq!(view.history_request()["since"], 5);
        let remote = r#"{"type":"message","id":6,"ts":3,"from":"ann","node":"bob.os","text":"o/"}"#;
        assert_eq!(view.lines(remote), ["[ann@bob.os]: o/"]);
        assert!(view.lines("Welcome, user1! (text mode)").is_empty());
    }

    #[test]
    fn whispers_and_renames_know_who_we_are() {
        let mut view = ChatView::default();
        view.lines(r#"{"type":"hello","name":"me","online":["me","you"]}"#);
        let whisper = r#"{"type":"whisper","from":"me","to":"you","text":"psst","ts":1}"#;
        assert_eq!(view.lines(whisper), ["[whisper to you]: psst"]);
        view.lines(r#"{"type":"rename","from":"me","to":"neo"}"#);
        let whisper = r#"{"type":"whisper","from":"you","to":"neo","text":"hey","ts":1}"#;
        assert_eq!(view.lines(whisper), ["[whisper from you]: hey"]);
    }
}
