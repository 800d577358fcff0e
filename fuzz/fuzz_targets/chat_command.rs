//! A chat client's frame: a line or a JSON command. Any bytes give a command or an error
//! for the sender, and what the chat then shows holds to its rules.
#![no_main]

use libfuzzer_sys::fuzz_target;
use processes::chat::commands::{self, Command, HistoryQuery, MAX_HISTORY, MAX_TEXT_BYTES};
use processes::chat::events::Event;

fuzz_target!(|data: &[u8]| {
    let (_mode, parsed) = commands::parse(data);
    let command = match parsed {
        Ok(command) => command,
        Err(error) => {
            // Every refusal has a code and a sentence, and renders in both forms.
            let event = Event::Error {
                code: error.code().to_owned(),
                message: error.to_string(),
            };
            assert!(!event.to_json().is_empty());
            return;
        }
    };
    match &command {
        Command::Say(text) | Command::Whisper { text, .. } => {
            assert!(text.len() <= MAX_TEXT_BYTES);
            assert!(!text.trim().is_empty());
            let event = Event::Whisper {
                from: "a".into(),
                to: "b".into(),
                text: text.clone(),
                ts: 0,
            };
            let json: serde_json::Value =
                serde_json::from_str(&event.to_json()).expect("events are JSON");
            assert_eq!(json["text"].as_str(), Some(text.as_str()));
            assert!(event.to_text("a").contains(text.as_str()));
        }
        Command::History(HistoryQuery::Last(n)) => assert!(*n <= MAX_HISTORY),
        Command::Name(_) | Command::Who | Command::History(_) | Command::Help(_) => {}
    }
});
