//! `<home>/config.toml`, as an operator might mistype it: every mistake the settings file
//! reader reports is a sentence with the file, and every entry it keeps has a line in the file.
#![no_main]

use std::path::Path;

use gateway::config::file::entries;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("/home/config.toml");
    let (kept, mistakes) = entries(path, text);
    let lines = text.matches('\n').count() + 1;
    for entry in &kept {
        assert!((1..=lines).contains(&entry.line), "{} at line {}", entry.key, entry.line);
    }
    for mistake in &mistakes {
        assert!(!mistake.message.trim().is_empty(), "an empty sentence for {text:?}");
        assert_eq!(mistake.path, path);
    }
});
