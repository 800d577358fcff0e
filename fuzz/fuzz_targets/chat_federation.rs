//! What a peer's chat or broadcast sends: request and answer bodies parse or are refused,
//! and what parses survives a round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use processes::broadcast::federation::PeerNote;
use processes::chat::federation::{split_remote, FedRequest, FedResponse};
use processes::chat::names;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = serde_json::from_slice::<FedRequest>(data) {
        let written = serde_json::to_vec(&request).expect("serialises");
        assert_eq!(
            serde_json::from_slice::<FedRequest>(&written).ok(),
            Some(request.clone())
        );
        let (FedRequest::Relay { from, .. } | FedRequest::Whisper { from, .. }) = &request;
        let _ = names::validate(from);
        if let FedRequest::Whisper { to, .. } = &request {
            if let Some((name, node)) = split_remote(to) {
                assert_eq!(format!("{name}@{node}"), *to);
            }
        }
    }
    if let Ok(response) = serde_json::from_slice::<FedResponse>(data) {
        let written = serde_json::to_vec(&response).expect("serialises");
        assert_eq!(
            serde_json::from_slice::<FedResponse>(&written).ok(),
            Some(response)
        );
    }
    if let Ok(note) = serde_json::from_slice::<PeerNote>(data) {
        let written = serde_json::to_vec(&note).expect("serialises");
        assert_eq!(
            serde_json::from_slice::<PeerNote>(&written).ok(),
            Some(note)
        );
    }
});
