//! `ProcessId` and `Address` from strings: whatever parses prints as the same string, parses
//! back to an equal value, and goes through serde's string form unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use process_lib::{Address, ProcessId};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(id) = text.parse::<ProcessId>() {
        assert_eq!(id.to_string(), text);
        let parts = format!(
            "{}:{}:{}",
            id.process_name(),
            id.package_name(),
            id.publisher_node()
        );
        assert_eq!(parts, text);
        let rebuilt = ProcessId::new(id.process_name(), id.package_name(), id.publisher_node());
        assert_eq!(rebuilt.as_ref(), Ok(&id));
        let json = serde_json::to_string(&id).expect("serialises");
        assert_eq!(serde_json::from_str::<ProcessId>(&json).ok(), Some(id));
    }
    if let Ok(address) = text.parse::<Address>() {
        assert_eq!(address.to_string(), text);
        assert_eq!(
            address.to_string().parse::<Address>().as_ref(),
            Ok(&address)
        );
        let json = serde_json::to_string(&address).expect("serialises");
        assert_eq!(serde_json::from_str::<Address>(&json).ok(), Some(address));
    }
});
