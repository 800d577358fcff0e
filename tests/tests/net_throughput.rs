//! A rough throughput figure for links between two nodes on loopback, not a timed
//! assertion: run it in release mode and read the printed rate.
//!
//! ```sh
//! cargo test --release -p switchboard-tests --test net_throughput -- --ignored --nocapture
//! ```

use std::time::Instant;

use futures_util::StreamExt;
use gateway::ProcessSpec;
use process_lib::{
    await_message, http_server_id, send_ws_push, Address, HttpServerAction, LazyLoadBlob, Message,
    Request, RequestError, Response, SendErrorKind, WsMessageType,
};
use switchboard_tests::mesh::{net_addr, wait_linked, Plan};
use switchboard_tests::WAIT;
use tokio::sync::{mpsc, oneshot};

const ALICE: &str = "alice.os";
const BOB: &str = "bob.os";
const ID: &str = "blast:test:sys";
const PUSHES: u64 = 1_000_000;
/// Pushes between two round trips that keep the sender from outrunning the receiver.
const WINDOW: u64 = 2_000;

/// What the blaster on bob is asked to do: push `PUSHES` frames to this channel on alice,
/// or (with `None`) send `PUSHES` requests to alice's blaster.
type Job = (Option<u32>, oneshot::Sender<Result<(), String>>);

/// On alice it only answers `sync`; on bob it blasts pushes when asked.
fn blaster(jobs: Option<mpsc::UnboundedReceiver<Job>>) -> ProcessSpec {
    let jobs = std::sync::Arc::new(tokio::sync::Mutex::new(jobs));
    ProcessSpec::new(ID.parse().expect("id"), move |_our: Address| {
        let jobs = jobs.clone();
        async move {
            let mut jobs = jobs.lock().await;
            loop {
                let job = async {
                    match jobs.as_mut() {
                        Some(rx) => rx.recv().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    message = await_message() => {
                        if let Ok(Message::Request { expects_response: Some(_), .. }) = message {
                            Response::new().body("synced").send()?;
                        }
                    }
                    Some((channel_id, done)) = job => {
                        let outcome = match channel_id {
                            Some(channel_id) => blast(channel_id).await,
                            None => blast_requests().await,
                        };
                        let _ = done.send(outcome);
                    }
                }
            }
        }
    })
}

async fn blast(channel_id: u32) -> Result<(), String> {
    let payload = LazyLoadBlob::from_bytes(vec![b'x'; 32]);
    let sync_target = Address::new(ALICE, http_server_id());
    let sync_body = serde_json::to_vec(&HttpServerAction::WebSocketPush {
        channel_id,
        message_type: WsMessageType::Text,
    })
    .map_err(|e| e.to_string())?;
    let mut sent = 0;
    while sent < PUSHES {
        for _ in 0..WINDOW {
            // The link's queue is bounded; a full queue is an error, and we retry.
            while send_ws_push(ALICE, channel_id, WsMessageType::Text, payload.clone()).is_err() {
                tokio::task::yield_now().await;
            }
        }
        sent += WINDOW;
        // A push that waits for alice's answer: everything before it has been handled.
        match Request::to(&sync_target)
            .body(sync_body.clone())
            .blob(payload.clone())
            .send_and_await_response(10)
            .await
        {
            Ok(_) => sent += 1,
            Err(RequestError::Send(e)) if e.kind == SendErrorKind::MailboxFull => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(())
}

async fn blast_requests() -> Result<(), String> {
    let target: Address = format!("{ALICE}@{ID}")
        .parse()
        .map_err(|e| format!("{e}"))?;
    let payload = LazyLoadBlob::from_bytes(vec![b'x'; 32]);
    let mut sent = 0;
    while sent < PUSHES {
        for _ in 0..WINDOW {
            loop {
                match Request::to(&target).body("n").blob(payload.clone()).send() {
                    Ok(()) => break,
                    Err(RequestError::Send(e)) if e.kind == SendErrorKind::MailboxFull => {
                        tokio::task::yield_now().await
                    }
                    Err(e) => return Err(e.to_string()),
                }
            }
        }
        sent += WINDOW;
        Request::to(&target)
            .body("sync")
            .send_and_await_response(10)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run in release mode with --ignored --nocapture"]
async fn requests_per_second_from_a_process_on_bob_to_one_on_alice() {
    let mut alice = Plan::new(ALICE);
    let mut bob = Plan::new(BOB);
    alice.peer(BOB, bob.key, None, true);
    let alice_key = alice.key;
    let alice = alice.start(vec![blaster(None)]).await;
    bob.peer(ALICE, alice_key, Some(net_addr(&alice)), false);
    let (jobs, rx) = mpsc::unbounded_channel();
    let _bob = bob.start(vec![blaster(Some(rx))]).await;
    wait_linked(&alice, BOB, true).await;
    let (done, finished) = oneshot::channel();
    let start = Instant::now();
    jobs.send((None, done)).expect("blaster alive");
    tokio::time::timeout(WAIT * 12, finished)
        .await
        .expect("done in time")
        .expect("blaster answered")
        .expect("blast");
    let elapsed = start.elapsed();
    println!(
        "{PUSHES} requests bob -> process on alice in {:.2?}: {:.0} requests/s",
        elapsed,
        PUSHES as f64 / elapsed.as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run in release mode with --ignored --nocapture"]
async fn pushes_per_second_from_bob_to_a_client_on_alice() {
    let mut alice = Plan::new(ALICE);
    let mut bob = Plan::new(BOB);
    alice.peer(BOB, bob.key, None, true);
    let alice_key = alice.key;
    alice.config.writer_queue_bytes = 64 << 20;
    let alice = alice.start(vec![blaster(None)]).await;
    bob.peer(ALICE, alice_key, Some(net_addr(&alice)), false);
    let (jobs, rx) = mpsc::unbounded_channel();
    let _bob = bob.start(vec![blaster(Some(rx))]).await;
    wait_linked(&alice, BOB, true).await;

    let (client, channel_id) = alice.register(ID).await;
    let (done, finished) = oneshot::channel();
    let start = Instant::now();
    jobs.send((Some(channel_id), done)).expect("blaster alive");
    let reader = tokio::spawn(async move {
        let mut ws = client.ws;
        let mut frames = 0u64;
        while frames < PUSHES {
            match ws.next().await {
                Some(Ok(m)) if m.is_text() => frames += 1,
                Some(Ok(_)) => {}
                other => panic!("the channel ended after {frames} frames: {other:?}"),
            }
        }
        frames
    });
    let frames = tokio::time::timeout(WAIT * 12, reader)
        .await
        .expect("all frames in time")
        .expect("reader");
    let elapsed = start.elapsed();
    finished.await.expect("blaster answered").expect("blast");
    println!(
        "{frames} pushes bob -> client on alice in {:.2?}: {:.0} pushes/s",
        elapsed,
        frames as f64 / elapsed.as_secs_f64()
    );
}
