//! A flood of connections to the net port does not keep a configured peer out: eighty
//! connections from one address, held open for the whole test and reopened whenever the node
//! closes them, while a peer from another address links.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use gateway::net::identity::Identity;
use switchboard_tests::mesh::{net_addr, wait_linked, Plan};
use switchboard_tests::{TestNode, WAIT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio::task::JoinSet;

const ALICE: &str = "alice.os";
const BOB: &str = "bob.os";

/// Where the flood comes from: not the peer's address.
const FLOODER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 3));

/// Connections the flood holds open at once.
const FLOOD: usize = 80;

/// What each flood connection sends before it goes quiet.
#[derive(Clone, Copy)]
enum Opening {
    /// Nothing at all.
    Silent,
    /// A well-formed first handshake message (a frame with an ephemeral key), then nothing.
    FirstMessage,
}

/// Holds [`FLOOD`] connections to `target` from [`FLOODER`] until dropped: each sends its
/// opening, waits for the node to close it, and connects again. Returns once every one of
/// them has connected and sent its opening once.
async fn flood(target: SocketAddr, opening: Opening) -> JoinSet<()> {
    let mut first = 32u32.to_be_bytes().to_vec();
    first.extend_from_slice(&Identity::generate().expect("key").public().0);
    let (opened, mut all_opened) = tokio::sync::mpsc::channel(FLOOD);
    let mut flood = JoinSet::new();
    for _ in 0..FLOOD {
        let first = first.clone();
        let mut opened = Some(opened.clone());
        flood.spawn(async move {
            loop {
                let socket = TcpSocket::new_v4().expect("socket");
                socket
                    .bind(SocketAddr::new(FLOODER, 0))
                    .expect("bind the flood's address");
                if let Ok(mut stream) = socket.connect(target).await {
                    if let Opening::FirstMessage = opening {
                        let _ = stream.write_all(&first).await;
                    }
                    if let Some(opened) = opened.take() {
                        let _ = opened.send(()).await;
                    }
                    let mut sink = [0u8; 1024];
                    while let Ok(1..) = stream.read(&mut sink).await {}
                }
                // An attacker's pace, not a wait for the node: reconnect ten times a second.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
    }
    let all = async {
        for _ in 0..FLOOD {
            all_opened.recv().await;
        }
    };
    tokio::time::timeout(WAIT, all)
        .await
        .expect("the flood connects");
    flood
}

/// Alice listens, with a handshake timeout longer than the test, so every connection she
/// lets start a handshake holds its place for the whole test. She lists bob without an
/// address, so the link can only come from bob dialing her. The flood starts before bob does.
async fn bob_links_to_alice_under(opening: Opening) {
    let mut alice = Plan::new(ALICE);
    let mut bob = Plan::new(BOB);
    alice.config.net.handshake_timeout = Duration::from_secs(120);
    alice.peer(BOB, bob.key, None, false);
    let alice_key = alice.key;
    let alice = alice.start(vec![]).await;
    let _flood = flood(net_addr(&alice), opening).await;
    bob.config.net.bind = None;
    bob.peer(ALICE, alice_key, Some(net_addr(&alice)), false);
    let bob: TestNode = bob.start(vec![]).await;
    wait_linked(&bob, ALICE, true).await;
    wait_linked(&alice, BOB, true).await;
}

#[tokio::test]
async fn a_peer_links_while_one_address_holds_eighty_silent_connections() {
    bob_links_to_alice_under(Opening::Silent).await;
}

#[tokio::test]
async fn a_peer_links_while_one_address_holds_eighty_half_done_handshakes() {
    bob_links_to_alice_under(Opening::FirstMessage).await;
}
