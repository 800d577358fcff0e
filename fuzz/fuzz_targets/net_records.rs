//! The decrypted byte stream of a link: records of kernel messages, cut into pieces the way
//! transport frames cut them. Garbage is refused, never a panic or an allocation past the
//! limit, and a message that decodes encodes to a record that decodes to the same message.
#![no_main]

use gateway::net::codec::{encode, Reassembler, Record};
use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    // The first byte sets how the stream is cut into arrivals.
    let Some((&cut, stream)) = data.split_first() else {
        return;
    };
    let piece = usize::from(cut).max(1);
    let mut reassembler = Reassembler::new(LIMIT);
    for arrival in stream.chunks(piece) {
        reassembler.buffer().extend_from_slice(arrival);
        loop {
            match reassembler.next_record() {
                Ok(Some(Record::Message(message))) => {
                    let mut record = Vec::new();
                    encode(&message, LIMIT, &mut record).expect("a decoded message encodes");
                    let mut again = Reassembler::new(LIMIT);
                    again.buffer().extend_from_slice(&record);
                    match again.next_record() {
                        Ok(Some(Record::Message(decoded))) => assert_eq!(decoded, message),
                        other => panic!("re-encoded message reads back as {other:?}"),
                    }
                }
                Ok(Some(Record::Keepalive)) => {}
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});
