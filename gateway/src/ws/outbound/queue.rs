//! The queue under each channel's outbox: a `VecDeque` behind a mutex that also counts the
//! bytes it holds, and an `AtomicWaker` that wakes the one consumer without taking a lock.
//!
//! tokio's unbounded mpsc allocates a 32-slot block (about 2 KiB with our frame type) for
//! every channel up front and keeps it; this queue holds no storage while its consumer is
//! idle, which is what an idle channel's almost always is. Under load the consumer takes
//! everything queued in one lock and hands its emptied buffer back, so a burst costs one
//! lock per batch on the consumer's side and no allocation once both buffers have grown.
//! A consumer whose last take was a burst may leave its emptied buffer as the queue's room
//! when it goes to sleep (at most [`FIRST_ROOM`] items, under 1 KiB): a channel that gets
//! a burst every round, as a broadcast's subscribers do, then allocates nothing per round,
//! while a channel that got a single frame keeps nothing.

use std::collections::VecDeque;
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;
use parking_lot::Mutex;

/// Room reserved by the first push into a queue with no storage: a burst of frames then
/// does not regrow it 4, 8, 16 slots at a time.
const FIRST_ROOM: usize = 16;

/// Room reserved by the first push for a sweep: a sweep writes the queue often, so it seldom
/// holds more than a few frames.
const SWEPT_ROOM: usize = 4;

/// A multi-producer, single-consumer queue that can be closed from either end.
#[derive(Debug)]
pub struct ByteQueue<T> {
    inner: Mutex<Inner<T>>,
    ready: AtomicWaker,
}

#[derive(Debug)]
struct Inner<T> {
    items: VecDeque<T>,
    /// Bytes pushed and not yet released by the consumer: what waits, whether still here or
    /// taken and not yet written (the consumer releases bytes as it writes them).
    bytes: usize,
    closed: bool,
    /// A sweep has this queue on its list (see [`super::sweep`]): pushes may add to it
    /// without waking the consumer, since the sweep takes what waits, or wakes the consumer
    /// when it cannot.
    listed: bool,
}

/// Why a push was refused; the item comes back.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused<T> {
    /// The queue is closed.
    Closed(T),
    /// The item would take the queue past its byte limit.
    Full(T),
}

impl<T> Default for ByteQueue<T> {
    fn default() -> Self {
        Self {
            inner: Mutex::new(Inner {
                items: VecDeque::new(),
                bytes: 0,
                closed: false,
                listed: false,
            }),
            ready: AtomicWaker::new(),
        }
    }
}

/// Appends `item` of `len` bytes under a lock already held, unless the queue is closed or the
/// item would take it past `limit` (see [`ByteQueue::push`]).
fn admit<T>(
    inner: &mut Inner<T>,
    item: T,
    len: usize,
    limit: usize,
    room: usize,
) -> Result<(), Refused<T>> {
    if inner.closed {
        return Err(Refused::Closed(item));
    }
    if inner.bytes > 0 && inner.bytes + len > limit {
        return Err(Refused::Full(item));
    }
    inner.bytes += len;
    if inner.items.capacity() == 0 {
        inner.items.reserve_exact(room);
    }
    inner.items.push_back(item);
    Ok(())
}

/// [`ByteQueue::take_all`] under a lock already held.
fn take_locked<T>(inner: &mut Inner<T>, batch: &mut VecDeque<T>, released: usize) -> bool {
    debug_assert!(batch.is_empty());
    inner.bytes = inner.bytes.saturating_sub(released);
    if inner.items.is_empty() {
        return false;
    }
    std::mem::swap(&mut inner.items, batch);
    true
}

impl<T> ByteQueue<T> {
    /// Appends `item`, which counts as `len` bytes, unless the queue already holds bytes and
    /// would then hold more than `limit` (one item larger than the limit still goes into an
    /// empty queue). Never waits.
    pub fn push(&self, item: T, len: usize, limit: usize) -> Result<(), Refused<T>> {
        let wake = {
            let mut inner = self.inner.lock();
            admit(&mut inner, item, len, limit, FIRST_ROOM)?;
            // What a sweep's pushes added was not announced to the consumer.
            inner.items.len() == 1 || inner.listed
        };
        // The consumer drains the queue before it waits, so only the first item of a burst
        // needs to wake it.
        if wake {
            self.ready.wake();
        }
        Ok(())
    }

    /// Appends `item` as [`ByteQueue::push`] does, without waking the consumer, when a sweep
    /// has the queue on its list; otherwise hands it back untouched.
    pub fn push_if_listed(
        &self,
        item: T,
        len: usize,
        limit: usize,
    ) -> Result<Option<T>, Refused<T>> {
        let mut inner = self.inner.lock();
        if !inner.listed {
            return Ok(Some(item));
        }
        admit(&mut inner, item, len, limit, SWEPT_ROOM)?;
        Ok(None)
    }

    /// Appends `item` as [`ByteQueue::push`] does; when nothing was queued, without waking
    /// the consumer, and marks the queue as on a sweep's list (the caller puts it on one).
    /// Returns whether it did: a queue that holds items already is its consumer's, which
    /// was woken for them.
    pub fn push_and_list(&self, item: T, len: usize, limit: usize) -> Result<bool, Refused<T>> {
        let listing = {
            let mut inner = self.inner.lock();
            let listing = inner.items.is_empty() && !inner.listed;
            admit(&mut inner, item, len, limit, SWEPT_ROOM)?;
            inner.listed |= listing;
            listing
        };
        if !listing {
            self.ready.wake();
        }
        Ok(listing)
    }

    /// A sweep's visit: takes the queue off the sweep's list and, when `take` is set, every
    /// item queued is plain (`weight` gives its bytes; `None` for any other) and they hold at
    /// most `most_bytes`, moves them all into `batch`, which must be empty, and releases
    /// their bytes: they go to the socket now. Returns whether anything was taken. Whatever
    /// it leaves is the consumer's, which it wakes: the sweep's pushes did not.
    pub fn unlist_and_take(
        &self,
        batch: &mut VecDeque<T>,
        take: bool,
        most_bytes: usize,
        weight: impl Fn(&T) -> Option<usize>,
    ) -> bool {
        {
            let mut inner = self.inner.lock();
            inner.listed = false;
            if inner.items.is_empty() {
                return false;
            }
            if take && inner.bytes <= most_bytes {
                let bytes = inner.items.iter().map(&weight).sum::<Option<usize>>();
                if let Some(bytes) = bytes {
                    inner.bytes = inner.bytes.saturating_sub(bytes);
                    std::mem::swap(&mut inner.items, batch);
                    return true;
                }
            }
        }
        self.ready.wake();
        false
    }

    /// Moves everything queued into `batch`, which must be empty, leaving `batch`'s storage
    /// to the queue for the next pushes; first releases `released` bytes the consumer has
    /// finished with. Returns whether anything was taken.
    #[cfg(test)]
    pub fn take_all(&self, batch: &mut VecDeque<T>, released: usize) -> bool {
        take_locked(&mut self.inner.lock(), batch, released)
    }

    /// Takes everything queued into `batch`, which must be empty, as [`ByteQueue::take_all`]
    /// does; when nothing is queued returns `Pending` with `cx` woken by the next push,
    /// since the consumer is about to sleep. Its emptied `batch` then stays with the queue
    /// as room for the next burst when `keep_room` is set and it is no larger than
    /// [`FIRST_ROOM`]; otherwise the storage on both sides is freed. `Ready(false)` once
    /// the queue is closed and drained. One lock, whichever way it goes.
    pub fn poll_take_all(
        &self,
        batch: &mut VecDeque<T>,
        released: usize,
        keep_room: bool,
        cx: &mut Context<'_>,
    ) -> Poll<bool> {
        // Register before looking: a push after the look finds the queue empty, and so
        // wakes this waker.
        self.ready.register(cx.waker());
        let mut inner = self.inner.lock();
        if take_locked(&mut inner, batch, released) {
            return Poll::Ready(true);
        }
        if inner.closed {
            return Poll::Ready(false);
        }
        let keep = keep_room && batch.capacity() <= FIRST_ROOM;
        inner.items = if keep {
            std::mem::take(batch)
        } else {
            *batch = VecDeque::new();
            VecDeque::new()
        };
        Poll::Pending
    }

    /// Ready once something is queued or the queue is closed; until then `cx` is woken by
    /// the next push. Takes nothing: it tells whether a consumer is needed yet.
    pub fn poll_queued(&self, cx: &mut Context<'_>) -> Poll<()> {
        // Register before looking, as in `poll_take_all`.
        self.ready.register(cx.waker());
        let inner = self.inner.lock();
        if inner.items.is_empty() && !inner.closed {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }

    /// Releases `len` bytes the consumer has written while it still holds taken items (the
    /// next take releases the rest). One lock.
    pub fn release(&self, len: usize) {
        let mut inner = self.inner.lock();
        inner.bytes = inner.bytes.saturating_sub(len);
    }

    /// Takes the oldest item, if any, for tests that look at what was queued.
    #[cfg(test)]
    pub fn try_pop(&self) -> Option<T> {
        self.inner.lock().items.pop_front()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.inner.lock().items.is_empty()
    }

    /// Bytes pushed and not yet released.
    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        self.inner.lock().bytes
    }

    /// Refuses further pushes and wakes the consumer; queued items can still be taken.
    pub fn close(&self) {
        self.inner.lock().closed = true;
        self.ready.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Takes batches until the queue closes, the way the writer task does.
    async fn drain_all(queue: &ByteQueue<u32>) -> Vec<u32> {
        let mut seen = Vec::new();
        let mut batch = VecDeque::new();
        while std::future::poll_fn(|cx| queue.poll_take_all(&mut batch, 0, false, cx)).await {
            seen.extend(batch.drain(..));
        }
        seen
    }

    #[tokio::test]
    async fn items_come_out_in_order_and_close_ends_the_consumer() {
        let queue = std::sync::Arc::new(ByteQueue::default());
        let consumer = tokio::spawn({
            let queue = queue.clone();
            async move { drain_all(&queue).await }
        });
        for i in 0..100 {
            queue.push(i, 1, usize::MAX).expect("open");
            if i % 7 == 0 {
                tokio::task::yield_now().await;
            }
        }
        queue.close();
        assert_eq!(queue.push(100, 1, usize::MAX), Err(Refused::Closed(100)));
        assert_eq!(
            consumer.await.expect("consumer"),
            (0..100).collect::<Vec<_>>()
        );
    }

    #[test]
    fn the_byte_limit_counts_taken_items_until_they_are_released() {
        let queue = ByteQueue::default();
        queue.push(1u32, 60, 100).expect("room");
        assert_eq!(queue.push(2, 60, 100), Err(Refused::Full(2)));
        let mut batch = VecDeque::new();
        assert!(queue.take_all(&mut batch, 0));
        assert_eq!(batch, [1]);
        // Taken but not written yet: still counted.
        assert_eq!(queue.push(3, 60, 100), Err(Refused::Full(3)));
        batch.clear();
        assert!(!queue.take_all(&mut batch, 60));
        assert_eq!(queue.bytes(), 0);
        // An item larger than the limit still goes into an empty queue.
        queue.push(4, 500, 100).expect("empty queue takes anything");
    }

    #[test]
    fn bytes_released_while_a_batch_is_held_make_room_at_once() {
        let queue = ByteQueue::default();
        for item in 0..3u32 {
            queue.push(item, 30, 100).expect("room");
        }
        let mut batch = VecDeque::new();
        assert!(queue.take_all(&mut batch, 0));
        assert_eq!(queue.push(3, 30, 100), Err(Refused::Full(3)));
        // The first item of the batch is written: its bytes wait no more.
        queue.release(30);
        assert_eq!(queue.bytes(), 60);
        queue.push(3, 30, 100).expect("room made by the release");
        batch.clear();
        assert!(queue.take_all(&mut batch, 60));
        assert_eq!(queue.bytes(), 30);
    }

    #[test]
    fn poll_queued_is_ready_once_something_is_pushed_or_the_queue_closes() {
        let queue = ByteQueue::default();
        let woken = std::sync::Arc::new(Woken::default());
        let waker = std::task::Waker::from(woken.clone());
        let mut cx = Context::from_waker(&waker);
        assert_eq!(queue.poll_queued(&mut cx), Poll::Pending);
        queue.push(1u32, 4, 1024).expect("open");
        assert!(woken.0.load(std::sync::atomic::Ordering::SeqCst));
        assert_eq!(queue.poll_queued(&mut cx), Poll::Ready(()));
        // Nothing was taken by looking.
        assert_eq!(queue.try_pop(), Some(1));
        assert_eq!(queue.poll_queued(&mut cx), Poll::Pending);
        queue.close();
        assert_eq!(queue.poll_queued(&mut cx), Poll::Ready(()));
    }

    #[derive(Default)]
    struct Woken(std::sync::atomic::AtomicBool);

    impl std::task::Wake for Woken {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[test]
    fn an_idle_consumer_leaves_no_storage_on_either_side() {
        let queue = ByteQueue::default();
        let mut batch = VecDeque::new();
        queue.push(1u64, 8, 1024).expect("open");
        queue.push(2, 8, 1024).expect("open");
        assert!(queue.take_all(&mut batch, 0));
        assert_eq!(batch, [1, 2]);
        batch.clear();
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert_eq!(
            queue.poll_take_all(&mut batch, 16, false, &mut cx),
            Poll::Pending
        );
        assert_eq!(queue.inner.lock().items.capacity(), 0);
        assert_eq!(batch.capacity(), 0);
        assert_eq!(queue.bytes(), 0);
    }

    #[test]
    fn a_consumer_that_keeps_room_leaves_one_buffer_for_the_next_burst() {
        let queue = ByteQueue::default();
        let mut batch = VecDeque::new();
        let mut cx = Context::from_waker(std::task::Waker::noop());
        for item in 0..4u64 {
            queue.push(item, 8, 1024).expect("open");
        }
        assert!(queue.take_all(&mut batch, 0));
        batch.clear();
        assert_eq!(
            queue.poll_take_all(&mut batch, 32, true, &mut cx),
            Poll::Pending
        );
        // The emptied batch is now the queue's room: the next burst needs no allocation.
        assert_eq!(batch.capacity(), 0);
        let room = queue.inner.lock().items.capacity();
        assert!(room >= FIRST_ROOM, "{room}");
        queue.push(9, 8, 1024).expect("open");
        assert_eq!(queue.inner.lock().items.capacity(), room);

        // A buffer grown past the first room by a long burst is not kept.
        for item in 0..3 * FIRST_ROOM as u64 {
            queue.push(item, 8, 1024).expect("open");
        }
        let mut big = VecDeque::new();
        assert!(queue.take_all(&mut big, 0));
        assert!(big.capacity() > FIRST_ROOM);
        big.clear();
        assert_eq!(
            queue.poll_take_all(&mut big, 8, true, &mut cx),
            Poll::Pending
        );
        assert_eq!(big.capacity(), 0);
        assert_eq!(queue.inner.lock().items.capacity(), 0);
    }
}
