//! The archive's own thread. SQLite calls block (a commit waits for the disk), so the chat
//! hands them to one dedicated thread that owns the connection and answers each job on a
//! oneshot channel; the chat's task stays free to take the next messages while a commit
//! syncs. Jobs run in the order they were sent, so a read sent after a commit sees it.
//!
//! The thread ends when the chat drops its [`Store`] (the chat stopped or panicked), after
//! finishing the job in hand: a commit that started is completed or rolled back by SQLite,
//! never torn.

use tokio::sync::{mpsc, oneshot};

use super::archive::{Archive, ArchiveError, NewMessage, Stored};

/// Jobs waiting for the thread, at most. The chat has at most one commit in flight and
/// waits for each read, so this is never reached in practice.
const QUEUE: usize = 8;

/// The answer to a commit: one result per message, in the batch's order.
pub type Committed = Vec<Result<Stored, ArchiveError>>;

enum Job {
    Append(Vec<NewMessage>, oneshot::Sender<Committed>),
    Last(usize, oneshot::Sender<Result<Vec<Stored>, ArchiveError>>),
    Since(u64, oneshot::Sender<Result<Vec<Stored>, ArchiveError>>),
}

/// The chat's handle on the archive's thread.
#[derive(Debug)]
pub struct Store {
    jobs: mpsc::Sender<Job>,
}

impl Store {
    /// Starts the thread that owns `archive`.
    pub fn start(archive: Archive) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel(QUEUE);
        std::thread::Builder::new()
            .name("chat-archive".to_owned())
            .spawn(move || serve(archive, queue))?;
        Ok(Self { jobs })
    }

    /// Starts writing `batch` in one transaction; the receiver gets the results once it has
    /// committed (or failed). A receiver that errs means the thread has stopped.
    pub async fn append(&self, batch: Vec<NewMessage>) -> oneshot::Receiver<Committed> {
        let (done, receiver) = oneshot::channel();
        // If the thread is gone, `done` is dropped with the job and the receiver says so.
        let _ = self.jobs.send(Job::Append(batch, done)).await;
        receiver
    }

    /// The last `n` messages, oldest first.
    pub async fn last(&self, n: usize) -> Result<Vec<Stored>, ArchiveError> {
        let (done, receiver) = oneshot::channel();
        self.ask(Job::Last(n, done), receiver).await
    }

    /// Every message after `id`, oldest first.
    pub async fn since(&self, id: u64) -> Result<Vec<Stored>, ArchiveError> {
        let (done, receiver) = oneshot::channel();
        self.ask(Job::Since(id, done), receiver).await
    }

    async fn ask(
        &self,
        job: Job,
        receiver: oneshot::Receiver<Result<Vec<Stored>, ArchiveError>>,
    ) -> Result<Vec<Stored>, ArchiveError> {
        self.jobs
            .send(job)
            .await
            .map_err(|_| ArchiveError::Stopped)?;
        receiver.await.map_err(|_| ArchiveError::Stopped)?
    }
}

/// The thread's loop: one job at a time, until the chat drops its handle.
fn serve(mut archive: Archive, mut queue: mpsc::Receiver<Job>) {
    while let Some(job) = queue.blocking_recv() {
        // A chat that stopped waiting for an answer is not an error of the archive's.
        match job {
            Job::Append(batch, done) => {
                let _ = done.send(archive.append_all(&batch));
            }
            Job::Last(n, done) => {
                let _ = done.send(archive.last(n));
            }
            Job::Since(id, done) => {
                let _ = done.send(archive.since(id));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn say(text: &str) -> NewMessage {
        NewMessage::local("user1", text)
    }

    #[tokio::test]
    async fn a_read_sent_after_a_commit_sees_it() {
        let store = Store::start(Archive::open(None).unwrap()).unwrap();
        let first = store.append(vec![say("a"), say("b")]).await;
        let second = store.append(vec![say("c")]).await;
        let last = store.last(20).await.unwrap();
        assert_eq!(
            last.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        let ids = |committed: Committed| -> Vec<u64> {
            committed.into_iter().map(|m| m.unwrap().id).collect()
        };
        assert_eq!(ids(first.await.unwrap()), [1, 2]);
        assert_eq!(ids(second.await.unwrap()), [3]);
        assert_eq!(store.since(2).await.unwrap()[0].text, "c");
    }
}
