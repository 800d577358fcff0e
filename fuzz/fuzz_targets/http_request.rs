//! `HttpServerRequest::from_json`: its fast path for pushes must agree with serde on every
//! input, and what `to_json` writes must read back as the same event.
#![no_main]

use libfuzzer_sys::fuzz_target;
use process_lib::HttpServerRequest;

fuzz_target!(|data: &[u8]| {
    let fast = HttpServerRequest::from_json(data).ok();
    let serde = serde_json::from_slice::<HttpServerRequest>(data).ok();
    assert_eq!(
        fast,
        serde,
        "from_json and serde disagree on {:?}",
        String::from_utf8_lossy(data)
    );
    if let Some(request) = fast {
        let written = request.to_json();
        let again = HttpServerRequest::from_json(&written).expect("to_json's output parses");
        assert_eq!(again, request);
    }
});
