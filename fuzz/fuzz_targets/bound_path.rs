//! The router of bound paths: a request path `/<process_id><rest>` splits into the process
//! and a compared path, or into nothing; normalising twice changes nothing.
#![no_main]

use gateway::http::bindings::{normalize, split};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(path) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(normal) = normalize(path) {
        assert_eq!(normalize(&normal).as_ref(), Ok(&normal));
        assert!(normal.starts_with('/'));
        assert!(normal == "/" || !normal.ends_with('/'));
    }
    if let Some((process, rest)) = split(path) {
        let full = path.strip_prefix('/').expect("a split path starts with /");
        assert!(full.starts_with(process.as_str()));
        assert_eq!(normalize(&rest).as_ref(), Ok(&rest));
    }
});
