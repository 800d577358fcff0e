//! The register frame a client sends first: any bytes parse or are refused, and a frame
//! that parses says the same after a round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use process_lib::WsRegister;

fuzz_target!(|data: &[u8]| {
    let Ok(register) = serde_json::from_slice::<WsRegister>(data) else {
        return;
    };
    let target = register.target_process.to_string();
    assert_eq!(target.parse().ok(), Some(register.target_process.clone()));
    let written = serde_json::to_vec(&register).expect("a register frame serialises");
    let again: WsRegister = serde_json::from_slice(&written).expect("and parses again");
    assert_eq!(again, register);
});
