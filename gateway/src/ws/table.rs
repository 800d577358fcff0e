//! The channel table: `channel_id → {bound process, outbox}`.
//!
//! A push looks its channel up, checks the owner, and hands the frame to the channel's outbox.
//! The outbox is bounded in bytes, not frames: a push that would overflow it marks the
//! channel as a slow consumer and closes it. Nothing here ever waits on a socket.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::RwLock;
use process_lib::{HttpServerError, LazyLoadBlob, ProcessId, WsErrorCode, WsMessageType};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use super::outbound::sweep::{Sweep, Swept};
use super::outbound::wire::WireFrame;
use super::outbound::Outbox;
use crate::telemetry::traffic::TrafficSums;
use crate::telemetry::Traffic;

const SHARDS: usize = 16;

/// Channel ids are ours (sequential, never chosen by a client), so the table hashes them
/// with a fast hasher rather than the default's DoS-resistant one: every push looks one up.
type Shard = HashMap<u32, Arc<Channel>, foldhash::fast::RandomState>;

/// One live channel.
#[derive(Debug)]
pub struct Channel {
    /// The process the channel is bound to: the id it runs under (a clone shares its
    /// string, so the owner check of a push compares by pointer).
    pub process: ProcessId,
    /// Where frames for the client go.
    pub outbox: Outbox,
    /// Frames and bytes the client sent; counted by the channel's reader alone.
    pub received: Traffic,
}

impl Channel {
    /// A channel bound to `process`, with nothing counted yet.
    pub fn new(process: ProcessId, outbox: Outbox) -> Self {
        Self {
            process,
            outbox,
            received: Traffic::default(),
        }
    }

    /// What the channel received and sent so far.
    pub fn traffic(&self) -> TrafficSums {
        let (frames_in, bytes_in) = self.received.get();
        let (frames_out, bytes_out) = self.outbox.sent();
        TrafficSums {
            frames_in,
            bytes_in,
            frames_out,
            bytes_out,
        }
    }
}

/// The live channels counted in one pass: how many each process has, and what they moved.
#[derive(Debug, Default)]
pub struct Census {
    /// Channels by the process they are bound to.
    pub by_process: HashMap<ProcessId, usize>,
    /// What the live channels received and sent so far.
    pub traffic: TrafficSums,
}

/// Every live channel on this node, sharded to keep pushes from contending.
#[derive(Debug)]
pub struct ChannelTable {
    shards: Vec<RwLock<Shard>>,
    next_id: AtomicU32,
    /// The instance number this node's ids carry (0 when it is not clustered).
    instance: u8,
    /// Channels waiting for their pushes to be written (see [`Sweep`]).
    sweep: Arc<Sweep>,
}

impl Default for ChannelTable {
    fn default() -> Self {
        Self::for_instance(0)
    }
}

impl ChannelTable {
    /// A table whose ids carry `instance` (see [`crate::cluster::ids`]).
    pub fn for_instance(instance: u8) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::new(Shard::default())).collect(),
            next_id: AtomicU32::new(1),
            instance,
            sweep: Arc::default(),
        }
    }

    fn shard(&self, id: u32) -> &RwLock<Shard> {
        &self.shards[id as usize % SHARDS]
    }

    /// Adds a channel under a fresh id: never 0, never the id of a live channel.
    pub fn insert(&self, channel: Channel) -> (u32, Arc<Channel>) {
        let channel = Arc::new(channel);
        loop {
            let sequence = self.next_id.fetch_add(1, Ordering::Relaxed);
            let id = crate::cluster::ids::channel_id(self.instance, sequence);
            if id == crate::cluster::ids::channel_id(self.instance, 0) {
                continue;
            }
            let mut shard = self.shard(id).write();
            if let std::collections::hash_map::Entry::Vacant(slot) = shard.entry(id) {
                slot.insert(channel.clone());
                return (id, channel);
            }
        }
    }

    /// Removes a channel; returns it if it was there.
    pub fn remove(&self, id: u32) -> Option<Arc<Channel>> {
        self.shard(id).write().remove(&id)
    }

    /// Looks a channel up.
    pub fn get(&self, id: u32) -> Option<Arc<Channel>> {
        self.shard(id).read().get(&id).cloned()
    }

    /// How many channels are live.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.read().len()).sum()
    }

    /// The ids of every live channel, in ascending order.
    pub fn ids(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = self
            .shards
            .iter()
            .flat_map(|s| s.read().keys().copied().collect::<Vec<_>>())
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Whether no channel is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Counts the live channels by process and adds up what they moved; takes each shard's
    /// read lock in turn, never all at once.
    pub fn census(&self) -> Census {
        let mut census = Census::default();
        for shard in &self.shards {
            for channel in shard.read().values() {
                *census
                    .by_process
                    .entry(channel.process.clone())
                    .or_default() += 1;
                census.traffic += channel.traffic();
            }
        }
        census
    }

    /// Pushes a frame to channel `id` on behalf of process `source`: a reply is written at
    /// once when the socket is idle, any other frame goes through the node's [`Sweep`], as a
    /// push to many does, so a process that pushes to its channels one by one gets the same
    /// writes.
    pub fn push(
        &self,
        source: &ProcessId,
        id: u32,
        message_type: WsMessageType,
        blob: LazyLoadBlob,
    ) -> Result<(), HttpServerError> {
        let shard = self.shard(id).read();
        let channel = shard.get(&id).ok_or(HttpServerError::WsChannelNotFound)?;
        if channel.process != *source {
            return Err(HttpServerError::InvalidSourceProcess);
        }
        let frame = frame_for(message_type, blob.bytes)?;
        match frame {
            Some(frame) => {
                if channel.outbox.push_one(frame)? == Swept::List {
                    let channel = channel.clone();
                    drop(shard);
                    self.sweep.add([channel]);
                }
                Ok(())
            }
            None => {
                channel.outbox.close(1000, "");
                Ok(())
            }
        }
    }

    /// Pushes one frame to each of `ids` on behalf of `source`, checking and building the
    /// frame once; the channels it failed for are added to `failed`, with why.
    ///
    /// The frame is not written here: each channel's queue takes it, and the channels whose
    /// sockets are idle join the node's [`Sweep`], which writes what each holds in one write.
    pub fn push_many(
        &self,
        source: &ProcessId,
        ids: &[u32],
        message_type: WsMessageType,
        blob: &LazyLoadBlob,
        failed: &mut Vec<(u32, HttpServerError)>,
    ) {
        let frame = match frame_for(message_type, blob.bytes.clone()) {
            Ok(Some(frame)) => frame,
            Ok(None) => return self.close_each(source, ids, failed),
            Err(error) => {
                failed.extend(ids.iter().map(|&id| (id, error)));
                return;
            }
        };
        self.push_frame_to_each(source, ids, &frame, failed);
    }

    /// Closes each of `ids` that `source` owns, normally.
    fn close_each(
        &self,
        source: &ProcessId,
        ids: &[u32],
        failed: &mut Vec<(u32, HttpServerError)>,
    ) {
        for &id in ids {
            let shard = self.shard(id).read();
            match shard.get(&id) {
                None => failed.push((id, HttpServerError::WsChannelNotFound)),
                Some(channel) if channel.process != *source => {
                    failed.push((id, HttpServerError::InvalidSourceProcess));
                }
                Some(channel) => channel.outbox.close(1000, ""),
            }
        }
    }

    /// Hands `frame` to the outbox of each of `ids` that `source` owns, for the sweep (see
    /// [`ChannelTable::push_many`]).
    fn push_frame_to_each(
        &self,
        source: &ProcessId,
        ids: &[u32],
        frame: &WireFrame,
        failed: &mut Vec<(u32, HttpServerError)>,
    ) {
        // Every shard's read lock once for the whole call, not twice an atomic per channel:
        // a push to a thousand channels is then a thousand plain lookups. Inserts and
        // removals wait for the call, which never waits on anything itself.
        let shards: [_; SHARDS] = std::array::from_fn(|i| self.shards[i].read());
        // Two passes: the lookups first, which are only loads and so overlap their cache
        // misses, then the pushes, whose atomic operations would otherwise make each
        // lookup wait for the push before it.
        let mut owned = Vec::with_capacity(ids.len());
        for &id in ids {
            match shards[id as usize % SHARDS].get(&id) {
                None => failed.push((id, HttpServerError::WsChannelNotFound)),
                Some(channel) if channel.process != *source => {
                    failed.push((id, HttpServerError::InvalidSourceProcess));
                }
                Some(channel) => owned.push((id, channel)),
            }
        }
        let mut listed = Vec::new();
        for (id, channel) in owned {
            // Cloning a frame copies its header and shares its payload.
            match channel.outbox.push_swept(frame.clone()) {
                Ok(Swept::List) => listed.push(channel.clone()),
                Ok(Swept::Handled) => {}
                Err(error) => failed.push((id, error)),
            }
        }
        // After the shards' locks are let go: a sweep task may run at once on another worker.
        drop(shards);
        self.sweep.add(listed);
    }

    /// Pushes the frames of `blobs`, in order, to each of `ids` on behalf of `source`: the
    /// frames are checked and encoded once, into one buffer every channel's queue shares, so
    /// a channel takes the whole run as one entry and its writer wakes once for it. A blob
    /// that cannot be a frame is refused for every channel and nothing is pushed. The
    /// channels it failed for are added to `failed`, once each, with why.
    pub fn push_frames(
        &self,
        source: &ProcessId,
        ids: &[u32],
        message_type: WsMessageType,
        blobs: &[LazyLoadBlob],
        failed: &mut Vec<(u32, HttpServerError)>,
    ) {
        let mut frames = Vec::with_capacity(blobs.len());
        for blob in blobs {
            match frame_for(message_type, blob.bytes.clone()) {
                Ok(Some(frame)) => frames.push(frame),
                // A close: each channel is closed once, whatever the number of blobs.
                Ok(None) => return self.push_many(source, ids, message_type, blob, failed),
                Err(error) => {
                    failed.extend(ids.iter().map(|&id| (id, error)));
                    return;
                }
            }
        }
        let run = match frames.len() {
            0 => return,
            1 => frames.swap_remove(0),
            _ => WireFrame::run(&frames),
        };
        // A burst is pushed as one run: a sweep writes it, and whatever follows, at once.
        self.push_frame_to_each(source, ids, &run, failed);
    }

    /// Fails every channel with `code` (the node is shutting down).
    pub fn fail_all(&self, code: WsErrorCode, message: &str) -> usize {
        let mut count = 0;
        for shard in &self.shards {
            for channel in shard.read().values() {
                channel.outbox.fail(code, message);
                count += 1;
            }
        }
        count
    }

    /// Fails every channel bound to `process` (e.g. it crashed) with `code`.
    pub fn fail_bound_to(&self, process: &ProcessId, code: WsErrorCode, message: &str) -> usize {
        let mut count = 0;
        for shard in &self.shards {
            for channel in shard.read().values() {
                if channel.process == *process {
                    channel.outbox.fail(code, message);
                    count += 1;
                }
            }
        }
        count
    }
}

/// The frame a push of `message_type` becomes; `None` for a close.
fn frame_for(
    message_type: WsMessageType,
    bytes: Bytes,
) -> Result<Option<WireFrame>, HttpServerError> {
    let control_ok = |b: &Bytes| {
        if b.len() > 125 {
            Err(HttpServerError::WsPingPongTooLong)
        } else {
            Ok(())
        }
    };
    Ok(Some(WireFrame::from_message(match message_type {
        WsMessageType::Text => Message::Text(
            Utf8Bytes::try_from(bytes).map_err(|_| HttpServerError::MalformedRequest)?,
        ),
        WsMessageType::Binary => Message::Binary(bytes),
        WsMessageType::Ping => {
            control_ok(&bytes)?;
            Message::Ping(bytes)
        }
        WsMessageType::Pong => {
            control_ok(&bytes)?;
            Message::Pong(bytes)
        }
        WsMessageType::Close => return Ok(None),
    })))
}

#[cfg(test)]
mod tests {
    use super::super::outbound::{outbox, OutboxDrain, Outgoing};
    use super::*;

    fn pid(s: &str) -> ProcessId {
        s.parse().unwrap()
    }

    fn table_with_one(limit: usize) -> (ChannelTable, u32, OutboxDrain) {
        let table = ChannelTable::default();
        let (outbox, drain) = outbox(limit, metrics::Histogram::noop());
        let (id, _) = table.insert(Channel::new(pid("echo:echo:sys"), outbox));
        (table, id, drain)
    }

    #[test]
    fn ids_are_unique_and_never_zero() {
        let table = ChannelTable::default();
        table.next_id.store(u32::MAX - 1, Ordering::Relaxed);
        let mut ids = Vec::new();
        for _ in 0..4 {
            let (outbox, _drain) = outbox(10, metrics::Histogram::noop());
            ids.push(table.insert(Channel::new(pid("a:b:c"), outbox)).0);
        }
        assert_eq!(ids, vec![u32::MAX - 1, u32::MAX, 1, 2]);
        // Wrapping past a live id skips it.
        table.next_id.store(1, Ordering::Relaxed);
        let (outbox, _drain) = outbox(10, metrics::Histogram::noop());
        assert_eq!(table.insert(Channel::new(pid("a:b:c"), outbox)).0, 3);
    }

    #[test]
    fn pushes_check_existence_owner_and_shape() {
        let (table, id, drain) = table_with_one(1024);
        let echo = pid("echo:echo:sys");
        let text = LazyLoadBlob::from_bytes("hi");
        assert_eq!(
            table.push(&echo, id + 1, WsMessageType::Text, text.clone()),
            Err(HttpServerError::WsChannelNotFound)
        );
        assert_eq!(
            table.push(&pid("chat:chat:sys"), id, WsMessageType::Text, text.clone()),
            Err(HttpServerError::InvalidSourceProcess)
        );
        assert_eq!(
            table.push(
                &echo,
                id,
                WsMessageType::Text,
                LazyLoadBlob::from_bytes(vec![0xff])
            ),
            Err(HttpServerError::MalformedRequest)
        );
        assert_eq!(
            table.push(
                &echo,
                id,
                WsMessageType::Ping,
                LazyLoadBlob::from_bytes(vec![0; 126])
            ),
            Err(HttpServerError::WsPingPongTooLong)
        );
        assert_eq!(table.push(&echo, id, WsMessageType::Text, text), Ok(()));
        match drain.try_next() {
            Some(Outgoing::Frame(frame)) => {
                assert_eq!(frame, WireFrame::from_message(Message::text("hi")));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn overflowing_the_byte_bound_is_a_slow_consumer() {
        let (table, id, drain) = table_with_one(100);
        let echo = pid("echo:echo:sys");
        let blob = LazyLoadBlob::from_bytes(vec![1u8; 60]);
        assert_eq!(
            table.push(&echo, id, WsMessageType::Binary, blob.clone()),
            Ok(())
        );
        assert_eq!(
            table.push(&echo, id, WsMessageType::Binary, blob.clone()),
            Err(HttpServerError::SlowConsumer)
        );
        // Once closing, further pushes find no channel.
        assert_eq!(
            table.push(&echo, id, WsMessageType::Binary, blob),
            Err(HttpServerError::WsChannelNotFound)
        );
        assert!(matches!(drain.try_next(), Some(Outgoing::Frame(_))));
        assert!(matches!(
            drain.try_next(),
            Some(Outgoing::Fail(WsErrorCode::SlowConsumer, _))
        ));
    }

    #[test]
    fn a_single_frame_larger_than_the_bound_still_goes_to_an_empty_queue() {
        let (table, id, _drain) = table_with_one(10);
        let big = LazyLoadBlob::from_bytes(vec![1u8; 64]);
        assert_eq!(
            table.push(&pid("echo:echo:sys"), id, WsMessageType::Binary, big),
            Ok(())
        );
    }

    #[test]
    fn failing_all_fails_every_channel_whoever_owns_it() {
        let table = ChannelTable::default();
        let mut drains = Vec::new();
        for owner in ["echo:echo:sys", "chat:chat:sys"] {
            let (outbox, drain) = outbox(1024, metrics::Histogram::noop());
            table.insert(Channel::new(pid(owner), outbox));
            drains.push(drain);
        }
        assert_eq!(table.fail_all(WsErrorCode::GoingAway, "bye"), 2);
        for drain in &drains {
            assert!(matches!(
                drain.try_next(),
                Some(Outgoing::Fail(WsErrorCode::GoingAway, m)) if m == "bye"
            ));
        }
    }

    #[test]
    fn a_push_to_many_reaches_the_owned_channels_and_names_the_rest() {
        let table = ChannelTable::default();
        let echo = pid("echo:echo:sys");
        let mut drains = Vec::new();
        let mut ids = Vec::new();
        for owner in ["echo:echo:sys", "echo:echo:sys", "chat:chat:sys"] {
            let (outbox, drain) = outbox(1024, metrics::Histogram::noop());
            let (id, _) = table.insert(Channel::new(pid(owner), outbox));
            ids.push(id);
            drains.push(drain);
        }
        let missing = ids.iter().max().unwrap() + 100;
        let mut targets = ids.clone();
        targets.push(missing);

        let mut failed = Vec::new();
        let hi = LazyLoadBlob::from_bytes("hi");
        table.push_many(&echo, &targets, WsMessageType::Text, &hi, &mut failed);
        assert_eq!(
            failed,
            vec![
                (ids[2], HttpServerError::InvalidSourceProcess),
                (missing, HttpServerError::WsChannelNotFound)
            ]
        );
        for drain in &drains[..2] {
            match drain.try_next() {
                Some(Outgoing::Frame(frame)) => {
                    assert_eq!(frame, WireFrame::from_message(Message::text("hi")));
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(drains[2].try_next().is_none());

        // A frame that is not valid text fails for every channel, and none gets it.
        failed.clear();
        let bad = LazyLoadBlob::from_bytes(vec![0xff]);
        table.push_many(&echo, &ids[..2], WsMessageType::Text, &bad, &mut failed);
        assert_eq!(
            failed,
            vec![
                (ids[0], HttpServerError::MalformedRequest),
                (ids[1], HttpServerError::MalformedRequest)
            ]
        );
        assert!(drains[0].try_next().is_none());
    }

    #[test]
    fn a_push_of_several_frames_queues_them_as_one_run_per_channel() {
        let table = ChannelTable::default();
        let echo = pid("echo:echo:sys");
        let mut drains = Vec::new();
        let mut ids = Vec::new();
        for owner in ["echo:echo:sys", "echo:echo:sys", "chat:chat:sys"] {
            let (outbox, drain) = outbox(1024, metrics::Histogram::noop());
            let (id, _) = table.insert(Channel::new(pid(owner), outbox));
            ids.push(id);
            drains.push(drain);
        }
        let texts = ["one", "two", "three"];
        let blobs: Vec<LazyLoadBlob> = texts.iter().map(|t| LazyLoadBlob::from_bytes(*t)).collect();
        let mut failed = Vec::new();
        table.push_frames(&echo, &ids, WsMessageType::Text, &blobs, &mut failed);
        assert_eq!(
            failed,
            vec![(ids[2], HttpServerError::InvalidSourceProcess)]
        );
        let frames: Vec<WireFrame> = texts
            .iter()
            .map(|t| WireFrame::from_message(Message::text(*t)))
            .collect();
        for drain in &drains[..2] {
            match drain.try_next() {
                Some(Outgoing::Frame(run)) => assert_eq!(run, WireFrame::run(&frames)),
                other => panic!("unexpected {other:?}"),
            }
            assert!(drain.try_next().is_none(), "one queue entry for the run");
        }
        assert!(drains[2].try_next().is_none());

        // One blob that cannot be a frame: no channel gets any of them.
        failed.clear();
        let mixed = [
            LazyLoadBlob::from_bytes("fine"),
            LazyLoadBlob::from_bytes(vec![0xff]),
        ];
        table.push_frames(&echo, &ids[..2], WsMessageType::Text, &mixed, &mut failed);
        assert_eq!(
            failed,
            vec![
                (ids[0], HttpServerError::MalformedRequest),
                (ids[1], HttpServerError::MalformedRequest)
            ]
        );
        assert!(drains[0].try_next().is_none());

        // Closes close each channel once.
        failed.clear();
        let closes = [LazyLoadBlob::default(), LazyLoadBlob::default()];
        table.push_frames(&echo, &ids[..1], WsMessageType::Close, &closes, &mut failed);
        assert!(failed.is_empty());
        assert!(matches!(drains[0].try_next(), Some(Outgoing::Close(_))));
        assert!(drains[0].try_next().is_none());
    }

    #[tokio::test]
    async fn pushes_one_by_one_join_the_line_and_go_out_together() {
        use crate::ws::outbound::test_wire::wire;
        let table = ChannelTable::default();
        let broadcast = pid("broadcast:broadcast:sys");
        let mut clients = Vec::new();
        let mut ids = Vec::new();
        for _ in 0..3 {
            let (outbox, ends) = wire(1 << 20).await.split();
            let (id, _) = table.insert(Channel::new(broadcast.clone(), outbox));
            ids.push(id);
            clients.push(ends);
        }
        // A loop of single pushes, as a process written against `send_ws_push` makes: nothing
        // is written until the process yields, and then each client's two frames go together.
        for text in ["a", "b"] {
            for &id in &ids {
                let blob = LazyLoadBlob::from_bytes(text);
                table
                    .push(&broadcast, id, WsMessageType::Text, blob)
                    .expect("pushed");
            }
        }
        for &id in &ids {
            let channel = table.get(id).expect("channel");
            assert_eq!(
                channel.outbox.sent(),
                (0, 0),
                "nothing written before the sweep"
            );
        }
        let messages = [Message::text("a"), Message::text("b")];
        for (client, _, _) in &mut clients {
            crate::ws::outbound::test_wire::expect_on(client, &messages).await;
        }
        for &id in &ids {
            let channel = table.get(id).expect("channel");
            assert_eq!(channel.outbox.sent().0, 2);
        }
    }
}
