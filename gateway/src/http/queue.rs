//! The queue under each channel's writer: a `VecDeque` behind a mutex, and an `AtomicWaker`
//! that wakes the one consumer without taking a lock. tokio's unbounded mpsc allocates a 32-slot block (about 2 KiB with
//! our frame type) for every channel up front and keeps it; this queue holds no storage while
//! it is empty, which is what an idle channel's queue almost always is.

use std::collections::VecDeque;

use futures_util::task::AtomicWaker;
use parking_lot::Mutex;

/// A multi-producer, single-consumer queue that can be closed from either end.
#[derive(Debug)]
pub struct Queue<T> {
    inner: Mutex<Inner<T>>,
    ready: AtomicWaker,
}

#[derive(Debug)]
struct Inner<T> {
    items: VecDeque<T>,
    closed: bool,
}

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Self {
            inner: Mutex::new(Inner {
                items: VecDeque::new(),
                closed: false,
            }),
            ready: AtomicWaker::new(),
        }
    }
}

impl<T> Queue<T> {
    /// Appends `item`, or hands it back when the queue is closed. Never waits.
    pub fn push(&self, item: T) -> Result<(), T> {
        let was_empty = {
            let mut inner = self.inner.lock();
            if inner.closed {
                return Err(item);
            }
            inner.items.push_back(item);
            inner.items.len() == 1
        };
        // The consumer drains the queue before it waits, so only the first item of a burst
        // needs to wake it.
        if was_empty {
            self.ready.wake();
        }
        Ok(())
    }

    /// Takes the oldest item, if any. The storage is freed when the queue empties.
    pub fn try_pop(&self) -> Option<T> {
        let mut inner = self.inner.lock();
        let item = inner.items.pop_front();
        if inner.items.is_empty() && inner.items.capacity() > 0 {
            inner.items = VecDeque::new();
        }
        item
    }

    /// Waits for the oldest item; `None` once the queue is closed and drained. Only one task
    /// may wait at a time (the writer).
    #[cfg(test)]
    pub async fn pop(&self) -> Option<T> {
        std::future::poll_fn(|cx| self.poll_pop(cx)).await
    }

    /// The oldest item, or `Pending` with `cx` woken by the next push; `None` once the
    /// queue is closed and drained. Only one task may wait at a time (the writer).
    pub fn poll_pop(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<T>> {
        // Register before looking, so a push between the look and the wait still wakes.
        self.ready.register(cx.waker());
        let mut inner = self.inner.lock();
        if let Some(item) = inner.items.pop_front() {
            if inner.items.is_empty() {
                inner.items = VecDeque::new();
            }
            return std::task::Poll::Ready(Some(item));
        }
        if inner.closed {
            return std::task::Poll::Ready(None);
        }
        std::task::Poll::Pending
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.inner.lock().items.is_empty()
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

    #[tokio::test]
    async fn items_come_out_in_order_and_close_ends_the_consumer() {
        let queue = std::sync::Arc::new(Queue::default());
        let consumer = tokio::spawn({
            let queue = queue.clone();
            async move {
                let mut seen = Vec::new();
                while let Some(item) = queue.pop().await {
                    seen.push(item);
                }
                seen
            }
        });
        for i in 0..100 {
            queue.push(i).expect("open");
            if i % 7 == 0 {
                tokio::task::yield_now().await;
            }
        }
        queue.close();
        assert_eq!(queue.push(100), Err(100));
        assert_eq!(
            consumer.await.expect("consumer"),
            (0..100).collect::<Vec<_>>()
        );
    }

    #[test]
    fn an_empty_queue_holds_no_storage() {
        let queue = Queue::default();
        queue.push(1u64).expect("open");
        queue.push(2).expect("open");
        assert_eq!(queue.try_pop(), Some(1));
        assert_eq!(queue.try_pop(), Some(2));
        assert_eq!(queue.inner.lock().items.capacity(), 0);
        assert_eq!(queue.try_pop(), None);
    }
}
