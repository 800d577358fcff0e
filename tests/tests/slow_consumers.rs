//! Who is cut as a slow consumer: only a client with more than the outbox limit (1 MiB)
//! waiting to be written to it. A client that reads all the time while staying ~900 KiB
//! behind a broadcast keeps its channel; one that stops reading is cut with `slow_consumer`
//! and 1008.

use futures_util::{SinkExt, StreamExt};
use switchboard_tests::{Frame, TestNode, WsClient, WAIT};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

/// A frame's payload: 64 KiB, 65,546 bytes on the wire.
const FRAME: usize = 64 * 1024;

/// Frames the publisher sends.
const FRAMES: usize = 400;

/// How far the publisher lets a reading subscriber fall behind: 14 frames, 917,644 bytes on
/// the wire, under the 1 MiB limit.
const BEHIND: usize = 14;

/// The clients that read all the time besides the publisher.
const READERS: [&str; 3] = ["reader 1", "reader 2", "reader 3"];

/// How far a reading subscriber has got, and what ended its reading if it ended early.
#[derive(Debug, Default, Clone)]
struct Progress {
    read: usize,
    ended: Option<String>,
}

/// Reads `stream` for as long as it brings the broadcast's binary frames, counting them
/// into `progress`; ends on the first other frame, which must be the text `done`.
async fn read_all<S>(name: &'static str, mut stream: S, progress: watch::Sender<Progress>)
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        let frame = match stream.next().await {
            Some(Ok(Message::Binary(bytes))) if bytes.len() == FRAME => {
                progress.send_modify(|p| p.read += 1);
                continue;
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(Message::Text(text))) if text.as_str() == "done" => return,
            other => format!("{other:?}"),
        };
        let read = progress.borrow().read;
        progress.send_modify(|p| {
            p.ended = Some(format!("{name} cut after {read} frames: {frame}"));
        });
        return;
    }
}

/// Waits until the subscriber behind `progress` has read `at_least` frames; fails the test
/// if its reading ended.
async fn wait_read(progress: &mut watch::Receiver<Progress>, at_least: usize) -> usize {
    let seen = tokio::time::timeout(
        WAIT,
        progress.wait_for(|p| p.read >= at_least || p.ended.is_some()),
    )
    .await
    .expect("the subscriber reads in time")
    .expect("the reader is running")
    .clone();
    if let Some(ended) = seen.ended {
        panic!("{ended}");
    }
    seen.read
}

/// Reads past every binary frame still queued for `client`, then expects the refusal.
async fn expect_cut_as_slow_consumer(client: &mut WsClient) {
    loop {
        match client.next().await {
            Frame::Binary(_) => continue,
            Frame::Text(text) => {
                let frame: serde_json::Value = serde_json::from_str(&text).expect("JSON");
                assert_eq!(frame["error"]["code"], "slow_consumer", "{frame}");
                break;
            }
            other => panic!("expected the slow_consumer error frame, got {other:?}"),
        }
    }
    assert_eq!(
        client.next().await,
        Frame::Close(1008, "slow_consumer".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_subscriber_that_reads_all_the_time_is_not_cut_and_one_that_stops_is() {
    let node = TestNode::start(vec![]).await;
    let (publisher, _) = node.register("broadcast:broadcast:sys").await;
    // Registered, then never read again until the end.
    let (mut stopped, _) = node.register("broadcast:broadcast:sys").await;

    // The publisher is a subscriber too (the broadcast pushes to its sender): it reads its
    // own frames back all the time, like the other readers.
    let (mut sink, publisher_stream) = publisher.ws.split();
    let mut progress = Vec::new();
    let mut readers = Vec::new();
    let (tx, rx) = watch::channel(Progress::default());
    readers.push(tokio::spawn(read_all(
        "the publisher",
        publisher_stream,
        tx,
    )));
    progress.push(rx);
    for name in READERS {
        let (client, _) = node.register("broadcast:broadcast:sys").await;
        let (tx, rx) = watch::channel(Progress::default());
        readers.push(tokio::spawn(read_all(name, client.ws, tx)));
        progress.push(rx);
    }

    let payload = bytes::Bytes::from(vec![5u8; FRAME]);
    let mut most_behind = 0;
    for sent in 0..FRAMES {
        // Sending frame `sent + 1` leaves a subscriber that has read `sent + 1 - BEHIND`
        // frames exactly BEHIND frames behind.
        let need = (sent + 1).saturating_sub(BEHIND);
        let mut slowest = usize::MAX;
        for reader in &mut progress {
            slowest = slowest.min(wait_read(reader, need).await);
        }
        most_behind = most_behind.max(sent + 1 - slowest);
        tokio::time::timeout(WAIT, sink.send(Message::binary(payload.clone())))
            .await
            .expect("the publisher sends in time")
            .expect("send");
    }
    for reader in &mut progress {
        assert_eq!(wait_read(reader, FRAMES).await, FRAMES);
    }
    // The run kept the readers near the limit, not comfortably below it.
    assert!(
        most_behind >= BEHIND - 2,
        "at most {most_behind} frames behind"
    );

    // Every reader is still subscribed: the end mark reaches it, and nothing came before it.
    sink.send(Message::text("done")).await.expect("send");
    for reader in readers {
        tokio::time::timeout(WAIT, reader)
            .await
            .expect("the reader ends in time")
            .expect("the reader task");
    }
    for reader in &progress {
        assert!(reader.borrow().ended.is_none());
    }

    expect_cut_as_slow_consumer(&mut stopped).await;
    drop((sink, stopped));
    node.node.shutdown().await;
}
