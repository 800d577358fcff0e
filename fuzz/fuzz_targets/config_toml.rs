//! `<home>/config.toml`, as an operator might mistype it: it parses or gets toml's sentence,
//! and what parses is written back to text that reads as the same settings.
#![no_main]

use gateway::home::parse_config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_config(text) {
        Ok(config) => {
            let written = toml::to_string(&config).expect("settings serialise");
            assert_eq!(parse_config(&written).as_ref(), Ok(&config), "{written}");
        }
        Err(message) => assert!(!message.is_empty()),
    }
});
