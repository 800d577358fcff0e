//! The body of `POST /login`, as JSON or as a form: a password or a 400 with a sentence.
#![no_main]

use gateway::http::login::password_from;
use gateway::http::problem::Problem;
use http::{header, HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&kind, body)) = data.split_first() else {
        return;
    };
    let mut headers = HeaderMap::new();
    let content_type = match kind % 3 {
        0 => "application/json",
        1 => "application/x-www-form-urlencoded",
        _ => "text/plain",
    };
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    match password_from(&headers, body) {
        Ok(_) => {}
        Err(Problem::BadRequest(sentence)) => assert!(!sentence.is_empty()),
        Err(other) => panic!("a login body is a 400 or a password, not {other:?}"),
    }
});
