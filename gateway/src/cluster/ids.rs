//! How a channel id names the instance that holds the channel.
//!
//! A `channel_id` stays a `u32`. On a clustered node its top 8 bits are the instance number
//! (1 to 255, claimed at join) and its low 24 bits count that instance's channels, so ids are
//! unique across the cluster's live channels as long as one instance holds fewer than 16.7
//! million at once (the counter wraps and skips ids still live). A node that is not
//! clustered is instance 0 and uses the whole `u32` as before.

/// Bits of a channel id that count one instance's channels.
pub const SEQUENCE_BITS: u32 = 24;

/// The largest instance number, and so how many instances a node can have.
pub const MAX_INSTANCE: u8 = u8::MAX;

/// The instance that holds channel `id` (0 on a node that is not clustered).
pub fn instance_of(id: u32) -> u8 {
    // The shift leaves exactly the top 8 bits.
    (id >> SEQUENCE_BITS) as u8
}

/// The channel id for the `sequence`th channel of `instance`: on instance 0 the sequence
/// itself, on another the sequence's low 24 bits under the instance number.
pub fn channel_id(instance: u8, sequence: u32) -> u32 {
    if instance == 0 {
        sequence
    } else {
        (u32::from(instance) << SEQUENCE_BITS) | (sequence & ((1 << SEQUENCE_BITS) - 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_carries_its_instance_in_the_top_bits() {
        assert_eq!(channel_id(3, 17), 0x0300_0011);
        assert_eq!(instance_of(channel_id(3, 17)), 3);
        assert_eq!(instance_of(channel_id(255, u32::MAX)), 255);
        assert_eq!(channel_id(1, 1 << SEQUENCE_BITS), 0x0100_0000);
    }

    #[test]
    fn a_node_that_is_not_clustered_keeps_plain_ids() {
        assert_eq!(channel_id(0, 17), 17);
        assert_eq!(channel_id(0, u32::MAX), u32::MAX);
    }
}
