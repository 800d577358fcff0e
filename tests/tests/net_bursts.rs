//! Bursts across a link between two nodes on loopback: every request and every push of a
//! burst arrives, with the sender retrying when the link's queue or a mailbox is full. The
//! rate of pushes node to node is measured by the bench's `net` scenario, not here.

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
const PUSHES: u64 = 10_000;
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
async fn a_burst_of_requests_from_a_process_on_bob_all_reach_one_on_alice() {
    let mut alice = Plan::new(ALICE);
    let mut bob = Plan::new(BOB);
    alice.peer(BOB, bob.key, None, true);
    let alice_key = alice.key;
    let alice = alice.start(vec![blaster(None)]).await;
    bob.peer(ALICE, alice_key, Some(net_addr(&alice)), false);
    let (jobs, rx) = mpsc::unbounded_channel();
    let bob = bob.start(vec![blaster(Some(rx))]).await;
    // Each side marks the link up on its own; bob sends, so bob must see it too.
    wait_linked(&alice, BOB, true).await;
    wait_linked(&bob, ALICE, true).await;
    let (done, finished) = oneshot::channel();
    jobs.send((None, done)).expect("blaster alive");
    tokio::time::timeout(WAIT * 6, finished)
        .await
        .expect("done in time")
        .expect("blaster answered")
        .expect("every request sent and every sync answered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_pushes_from_bob_all_reach_a_client_on_alice() {
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
    let frames = tokio::time::timeout(WAIT * 6, reader)
        .await
        .expect("all frames in time")
        .expect("reader");
    assert!(frames >= PUSHES);
    finished
        .await
        .expect("blaster answered")
        .expect("every push sent");
}
