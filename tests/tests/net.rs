//! Node to node: two and three nodes in one test, each with its own listeners on loopback,
//! linked by Noise over real TCP with real keys.

use std::time::Duration;

use gateway::net::{codec, framing, handshake, identity::Identity};
use process_lib::{HttpServerError, KernelMessage, WireMessage};
use switchboard_tests::mesh::{net_addr, wait_linked, Plan};
use switchboard_tests::remote::{self, push_error, Driver, PUSHED};
use switchboard_tests::{eventually, TestNode, WAIT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ALICE: &str = "alice.os";
const BOB: &str = "bob.os";
const CAROL: &str = "carol.os";

fn at(node: &str) -> String {
    format!("{node}@{}", remote::ID)
}

/// Alice (listening) and bob (dialing alice); alice trusts bob's pushes.
async fn alice_and_bob() -> (TestNode, Driver, TestNode, Driver) {
    let mut alice = Plan::new(ALICE);
    let mut bob = Plan::new(BOB);
    alice.peer(BOB, bob.key, None, true);
    let (alice_proc, alice_driver) = remote::spec();
    let alice = {
        let alice_key = alice.key;
        let node = alice.start(vec![alice_proc]).await;
        bob.peer(ALICE, alice_key, Some(net_addr(&node)), false);
        node
    };
    let (bob_proc, bob_driver) = remote::spec();
    let bob = bob.start(vec![bob_proc]).await;
    wait_linked(&alice, BOB, true).await;
    wait_linked(&bob, ALICE, true).await;
    (alice, alice_driver, bob, bob_driver)
}

/// Reads until the server closes the connection; fails the test if it stays open.
async fn expect_closed(stream: &mut TcpStream) {
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(WAIT, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the node kept the connection open");
}

#[tokio::test]
async fn a_request_and_its_response_cross_nodes_both_ways() {
    let (alice, alice_p, bob, bob_p) = alice_and_bob().await;
    assert_eq!(
        alice_p.request(&at(BOB), "ping").await,
        "Ok(pong from bob.os)"
    );
    assert_eq!(
        bob_p.request(&at(ALICE), "ping").await,
        "Ok(pong from alice.os)"
    );
    // A process that does not exist on the peer: the peer bounces the request.
    assert_eq!(
        alice_p
            .request(&format!("{BOB}@nobody:test:sys"), "ping")
            .await,
        "Err(Offline)"
    );
    // Over the 10 MiB limit: refused before it leaves alice.
    let huge = "x".repeat(11 << 20);
    assert_eq!(alice_p.request(&at(BOB), &huge).await, "Err(Offline)");
    assert_eq!(
        alice_p.request(&at(BOB), "ping").await,
        "Ok(pong from bob.os)"
    );
    let stats = alice.node.net_stats();
    assert_eq!(stats.too_large, 1);
    // What a federating process learns about its node's peers.
    let peers = alice_p.peers().await;
    assert!(
        peers.starts_with(
            r#"[PeerInfo { name: "bob.os", linked: true, trust_pushes: true, link: Some("#
        ),
        "{peers}"
    );
    // Bob may not ask alice's net module.
    assert_eq!(
        bob_p
            .request(&format!("{ALICE}@net:distro:sys"), r#""Peers""#)
            .await,
        "Err(Offline)"
    );
    assert!(stats.sent >= 2 && stats.received >= 2, "{stats:?}");
    assert_eq!(stats.bad_source, 0);
    drop(bob);
}

#[tokio::test]
async fn a_client_on_alice_sees_a_push_from_a_process_on_bob() {
    let (alice, _alice_p, _bob, bob_p) = alice_and_bob().await;
    let (mut client, channel_id) = alice.register(remote::ID).await;
    assert_eq!(bob_p.push(ALICE, channel_id, "from bob").await, PUSHED);
    assert_eq!(client.next_text().await, "from bob");
    assert_eq!(
        bob_p.push_asking(ALICE, channel_id, "asked").await,
        r#"{"Ok":null}"#
    );
    assert_eq!(client.next_text().await, "asked");

    // A channel bound to another process, and one that does not exist, are refused.
    let (_echo_client, echo_channel) = alice.register("echo:echo:sys").await;
    assert_eq!(
        bob_p.push_asking(ALICE, echo_channel, "not yours").await,
        r#"{"Err":"InvalidSourceProcess"}"#
    );
    assert_eq!(
        bob_p.push_asking(ALICE, channel_id + 1000, "nobody").await,
        r#"{"Err":"WsChannelNotFound"}"#
    );
    assert_eq!(bob_p.push(ALICE, channel_id, "still here").await, PUSHED);
    assert_eq!(client.next_text().await, "still here");
}

/// Alice trusts bob's pushes but not carol's; bob and carol dial alice.
async fn alice_bob_and_carol() -> (TestNode, Driver, Driver, TestNode, TestNode) {
    let mut alice = Plan::new(ALICE);
    let mut bob = Plan::new(BOB);
    let mut carol = Plan::new(CAROL);
    alice.peer(BOB, bob.key, None, true);
    alice.peer(CAROL, carol.key, None, false);
    let alice_key = alice.key;
    let (alice_proc, _alice_p) = remote::spec();
    let alice = alice.start(vec![alice_proc]).await;
    bob.peer(ALICE, alice_key, Some(net_addr(&alice)), false);
    carol.peer(ALICE, alice_key, Some(net_addr(&alice)), false);
    let (bob_proc, bob_p) = remote::spec();
    let (carol_proc, carol_p) = remote::spec();
    let bob = bob.start(vec![bob_proc]).await;
    let carol = carol.start(vec![carol_proc]).await;
    wait_linked(&alice, BOB, true).await;
    wait_linked(&alice, CAROL, true).await;
    wait_linked(&bob, ALICE, true).await;
    wait_linked(&carol, ALICE, true).await;
    (alice, bob_p, carol_p, bob, carol)
}

#[tokio::test]
async fn pushes_from_an_untrusted_peer_are_refused_and_others_still_arrive() {
    let (alice, bob_p, carol_p, _bob, _carol) = alice_bob_and_carol().await;
    let (mut client, channel_id) = alice.register(remote::ID).await;

    // Carol is linked (her requests work) but her pushes are not trusted.
    assert_eq!(
        carol_p.request(&at(ALICE), "ping").await,
        "Ok(pong from alice.os)"
    );
    assert_eq!(
        carol_p.push_asking(ALICE, channel_id, "from carol").await,
        r#"{"Err":"InvalidSourceProcess"}"#
    );
    // Fire and forget: it leaves carol, and alice drops it.
    assert_eq!(
        carol_p.push(ALICE, channel_id, "from carol, unasked").await,
        PUSHED
    );
    // Bob's pushes still arrive, and they are the first thing the client sees.
    assert_eq!(
        bob_p.push_asking(ALICE, channel_id, "from bob").await,
        r#"{"Ok":null}"#
    );
    assert_eq!(client.next_text().await, "from bob");
}

/// Alice lists carol with a key carol does not hold; bob is an honest peer of alice's.
/// `carol_dials` says which side knows the other's address.
async fn wrong_key_case(carol_dials: bool) {
    let mut alice = Plan::new(ALICE);
    let mut bob = Plan::new(BOB);
    let mut carol = Plan::new(CAROL);
    let impostor = Identity::generate().expect("key").public();
    alice.peer(BOB, bob.key, None, true);
    let alice_key = alice.key;
    let (alice_proc, alice_p) = remote::spec();
    let (alice, _carol) = if carol_dials {
        alice.peer(CAROL, impostor, None, false);
        let alice = alice.start(vec![alice_proc]).await;
        carol.peer(ALICE, alice_key, Some(net_addr(&alice)), false);
        (alice, carol.start(vec![]).await)
    } else {
        carol.peer(ALICE, alice_key, None, false);
        let carol = carol.start(vec![]).await;
        alice.peer(CAROL, impostor, Some(net_addr(&carol)), false);
        (alice.start(vec![alice_proc]).await, carol)
    };
    bob.peer(ALICE, alice_key, Some(net_addr(&alice)), false);
    let (bob_proc, _bob_p) = remote::spec();
    let bob = bob.start(vec![bob_proc]).await;

    eventually(WAIT, "alice refuses carol's key", async || {
        alice.node.net_stats().handshakes_failed >= 1
    })
    .await;
    assert!(!alice.node.is_linked(CAROL));
    assert_eq!(alice_p.request(&at(CAROL), "ping").await, "Err(Offline)");
    wait_linked(&bob, ALICE, true).await;
    assert_eq!(
        alice_p.request(&at(BOB), "ping").await,
        "Ok(pong from bob.os)"
    );
}

#[tokio::test]
async fn a_dialing_peer_with_the_wrong_key_is_refused() {
    wrong_key_case(true).await;
}

#[tokio::test]
async fn a_dialed_peer_with_the_wrong_key_is_refused() {
    wrong_key_case(false).await;
}

#[tokio::test]
async fn garbage_and_oversized_frames_drop_that_connection_only() {
    let (alice, alice_p, _bob, _bob_p) = alice_and_bob().await;
    let addr = net_addr(&alice);

    // Garbage instead of a handshake.
    let mut garbage = TcpStream::connect(addr).await.expect("connect");
    garbage
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    expect_closed(&mut garbage).await;

    // A length prefix far over the frame limit.
    let mut oversized = TcpStream::connect(addr).await.expect("connect");
    oversized
        .write_all(&u32::MAX.to_be_bytes())
        .await
        .expect("write");
    expect_closed(&mut oversized).await;

    assert_eq!(
        alice_p.request(&at(BOB), "ping").await,
        "Ok(pong from bob.os)"
    );
    assert!(alice.node.is_linked(BOB));
}

/// A peer that authenticates properly and then misbehaves: we hold its key and speak the
/// protocol by hand.
async fn rogue_link(alice: &TestNode, rogue: &Identity) -> (TcpStream, handshake::Session) {
    let mut stream = TcpStream::connect(net_addr(alice)).await.expect("connect");
    let session = handshake::initiate(&mut stream, rogue, CAROL, ALICE, alice.node.public_key())
        .await
        .expect("handshake");
    wait_linked(alice, CAROL, true).await;
    (stream, session)
}

#[tokio::test]
async fn an_authenticated_peer_sending_oversized_or_garbage_records_loses_only_its_link() {
    let rogue = Identity::generate().expect("key");
    let mut alice = Plan::new(ALICE);
    let mut bob = Plan::new(BOB);
    alice.peer(BOB, bob.key, None, true);
    alice.peer(CAROL, rogue.public(), None, false);
    let alice_key = alice.key;
    let (alice_proc, alice_p) = remote::spec();
    let alice = alice.start(vec![alice_proc]).await;
    bob.peer(ALICE, alice_key, Some(net_addr(&alice)), false);
    let (bob_proc, _bob_p) = remote::spec();
    let _bob = bob.start(vec![bob_proc]).await;
    wait_linked(&alice, BOB, true).await;

    // A record announcing 11 MiB, over the 10 MiB limit.
    let (mut stream, mut session) = rogue_link(&alice, &rogue).await;
    let mut wire = Vec::new();
    session
        .sealer
        .seal(&(11u32 << 20).to_be_bytes(), &mut wire)
        .expect("seal");
    stream.write_all(&wire).await.expect("write");
    expect_closed(&mut stream).await;
    wait_linked(&alice, CAROL, false).await;

    // A record that is not a kernel message.
    let (mut stream, mut session) = rogue_link(&alice, &rogue).await;
    let mut plain = 8u32.to_be_bytes().to_vec();
    plain.extend_from_slice(&[0xff; 8]);
    let mut wire = Vec::new();
    session.sealer.seal(&plain, &mut wire).expect("seal");
    stream.write_all(&wire).await.expect("write");
    expect_closed(&mut stream).await;

    // A frame that does not decrypt.
    let (mut stream, _session) = rogue_link(&alice, &rogue).await;
    let mut wire = 64u32.to_be_bytes().to_vec();
    wire.extend_from_slice(&[0x42; 64]);
    stream.write_all(&wire).await.expect("write");
    expect_closed(&mut stream).await;

    eventually(WAIT, "three links dropped", async || {
        alice.node.net_stats().links_dropped >= 3
    })
    .await;
    assert_eq!(
        alice_p.request(&at(BOB), "ping").await,
        "Ok(pong from bob.os)"
    );
}

#[tokio::test]
async fn a_message_whose_source_or_rsvp_is_not_the_link_peer_is_dropped() {
    let rogue = Identity::generate().expect("key");
    let mut alice = Plan::new(ALICE);
    alice.peer(CAROL, rogue.public(), None, true);
    alice.peer(BOB, Identity::generate().expect("key").public(), None, true);
    let (alice_proc, _alice_p) = remote::spec();
    let alice = alice.start(vec![alice_proc]).await;
    let (mut client, channel_id) = alice.register(remote::ID).await;
    let (mut stream, mut session) = rogue_link(&alice, &rogue).await;

    let push = |source: &str, text: &str| KernelMessage {
        id: 1,
        source: format!("{source}@{}", remote::ID).parse().expect("address"),
        target: format!("{ALICE}@http-server:distro:sys")
            .parse()
            .expect("address"),
        rsvp: None,
        message: WireMessage::Request {
            expects_response: None,
            body: format!(
                r#"{{"WebSocketPush":{{"channel_id":{channel_id},"message_type":"Text"}}}}"#
            )
            .into_bytes(),
        },
        blob: Some(process_lib::LazyLoadBlob::from_bytes(text.to_owned())),
    };
    let mut plain = Vec::new();
    codec::encode(&push(BOB, "forged as bob"), 1 << 20, &mut plain).expect("encode");
    // An answer redirected to another node would make alice reflect carol's traffic.
    let mut redirected = push(CAROL, "answer to bob");
    redirected.rsvp = Some(at(BOB).parse().expect("address"));
    codec::encode(&redirected, 1 << 20, &mut plain).expect("encode");
    codec::encode(&push(CAROL, "honest carol"), 1 << 20, &mut plain).expect("encode");
    let mut wire = Vec::new();
    session.sealer.seal(&plain, &mut wire).expect("seal");
    stream.write_all(&wire).await.expect("write");

    assert_eq!(client.next_text().await, "honest carol");
    assert_eq!(alice.node.net_stats().bad_source, 2);
    assert!(alice.node.is_linked(CAROL));
}

#[tokio::test]
async fn a_stopped_peer_is_offline_and_its_return_restores_traffic() {
    let mut alice = Plan::new(ALICE);
    let mut bob = Plan::new(BOB);
    let bob_key = bob.key;
    alice.peer(BOB, bob_key, None, true);
    let alice_key = alice.key;
    let (alice_proc, alice_p) = remote::spec();
    let alice = alice.start(vec![alice_proc]).await;
    bob.peer(ALICE, alice_key, None, false);
    let bob_config = bob.config.clone();
    let (bob_proc, _bob_p) = remote::spec();
    let bob = bob.start(vec![bob_proc]).await;
    // Alice dials bob this time.
    let bob_net = net_addr(&bob);
    assert!(alice.node.set_peer_address(BOB, Some(bob_net.to_string())));
    wait_linked(&alice, BOB, true).await;
    let (mut client, channel_id) = alice.register(remote::ID).await;
    assert_eq!(
        alice_p.request(&at(BOB), "ping").await,
        "Ok(pong from bob.os)"
    );

    // Bob stops: alice notices the link go down, and sends fail Offline at once.
    let TestNode { node, home } = bob;
    node.shutdown().await;
    wait_linked(&alice, BOB, false).await;
    let offline_before = alice.node.net_stats().offline;
    assert_eq!(alice_p.request(&at(BOB), "ping").await, "Err(Offline)");
    assert_eq!(
        alice_p.push(BOB, 1, "anyone?").await,
        push_error(HttpServerError::WsChannelNotFound)
    );
    assert!(alice.node.net_stats().offline >= offline_before + 2);
    // Local traffic is untouched.
    assert_eq!(alice_p.push(ALICE, channel_id, "local").await, PUSHED);
    assert_eq!(client.next_text().await, "local");

    // Bob comes back with the same home and key on the same port: alice redials by itself.
    let mut config = bob_config;
    config.net.bind = Some(bob_net);
    let (bob_proc, bob_p) = remote::spec();
    let _bob = TestNode::start_with(config, home, vec![bob_proc]).await;
    wait_linked(&alice, BOB, true).await;
    assert_eq!(
        alice_p.request(&at(BOB), "ping").await,
        "Ok(pong from bob.os)"
    );
    assert_eq!(bob_p.push(ALICE, channel_id, "bob is back").await, PUSHED);
    assert_eq!(client.next_text().await, "bob is back");
}

#[tokio::test]
async fn offline_requests_fail_within_a_bound_even_while_dialing() {
    // Alice knows bob's (unused) address but bob never runs: every send fails at once.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let nowhere = listener.local_addr().expect("addr");
    drop(listener);
    let mut alice = Plan::new(ALICE);
    alice.peer(
        BOB,
        Identity::generate().expect("key").public(),
        Some(nowhere),
        true,
    );
    let (alice_proc, alice_p) = remote::spec();
    let alice = alice.start(vec![alice_proc]).await;
    // Offline, not Timeout: the sender hears at once, not after its 5 s.
    let answer = alice_p.request(&at(BOB), "ping").await;
    assert_eq!(answer, "Err(Offline)");
    assert!(alice.node.net_stats().offline >= 1);
}

#[tokio::test]
async fn nodes_that_dial_each_other_at_once_settle_on_one_working_link() {
    let mut alice = Plan::new(ALICE);
    let mut bob = Plan::new(BOB);
    alice.peer(BOB, bob.key, None, true);
    bob.peer(ALICE, alice.key, None, true);
    let (alice_proc, alice_p) = remote::spec();
    let (bob_proc, bob_p) = remote::spec();
    let alice = alice.start(vec![alice_proc]).await;
    let bob = bob.start(vec![bob_proc]).await;
    alice
        .node
        .set_peer_address(BOB, Some(net_addr(&bob).to_string()));
    bob.node
        .set_peer_address(ALICE, Some(net_addr(&alice).to_string()));
    // While the duplicate is being closed a send may find no link; the pair settles.
    let mut answers = (String::new(), String::new());
    eventually(
        WAIT,
        "both sides answer over the settled link",
        async || {
            wait_linked(&alice, BOB, true).await;
            wait_linked(&bob, ALICE, true).await;
            answers = (
                alice_p.request(&at(BOB), "ping").await,
                bob_p.request(&at(ALICE), "ping").await,
            );
            answers.0.starts_with("Ok") && answers.1.starts_with("Ok")
        },
    )
    .await;
    assert_eq!(answers.0, "Ok(pong from bob.os)");
    assert_eq!(answers.1, "Ok(pong from alice.os)");
}

#[tokio::test]
async fn a_silent_link_is_dropped_after_the_idle_timeout() {
    let rogue = Identity::generate().expect("key");
    let mut alice = Plan::new(ALICE);
    alice.peer(CAROL, rogue.public(), None, false);
    alice.config.net.idle_timeout = Duration::from_millis(300);
    let alice = alice.start(vec![]).await;
    // The rogue completes the handshake, then never sends a keepalive.
    let (mut stream, _session) = rogue_link(&alice, &rogue).await;
    wait_linked(&alice, CAROL, false).await;
    expect_closed(&mut stream).await;
}

#[tokio::test]
async fn a_quiet_link_carries_keepalives() {
    let rogue = Identity::generate().expect("key");
    let mut alice = Plan::new(ALICE);
    alice.peer(CAROL, rogue.public(), None, false);
    alice.config.net.keepalive = Duration::from_millis(50);
    let alice = alice.start(vec![]).await;
    let (stream, mut session) = rogue_link(&alice, &rogue).await;
    let mut frames = tokio_util::codec::FramedRead::new(stream, framing::codec());
    let frame = tokio::time::timeout(WAIT, framing::read_frame(&mut frames))
        .await
        .expect("a frame in time")
        .expect("a frame");
    let mut plain = Vec::new();
    session
        .opener
        .open(&frame, &mut plain)
        .expect("it decrypts");
    assert_eq!(plain, [0, 0, 0, 0], "an empty record: a keepalive");
}

#[tokio::test]
async fn a_relay_on_three_nodes_shares_what_each_client_says() {
    let mut alice = Plan::new(ALICE);
    let mut bob = Plan::new(BOB);
    let mut carol = Plan::new(CAROL);
    let (alice_key, bob_key, carol_key) = (alice.key, bob.key, carol.key);
    alice.peer(BOB, bob_key, None, false);
    alice.peer(CAROL, carol_key, None, false);
    let alice = alice.start(vec![remote::relay()]).await;
    bob.peer(ALICE, alice_key, Some(net_addr(&alice)), false);
    bob.peer(CAROL, carol_key, None, false);
    let bob = bob.start(vec![remote::relay()]).await;
    carol.peer(ALICE, alice_key, Some(net_addr(&alice)), false);
    carol.peer(BOB, bob_key, Some(net_addr(&bob)), false);
    let carol = carol.start(vec![remote::relay()]).await;
    for (node, peers) in [
        (&alice, [BOB, CAROL]),
        (&bob, [ALICE, CAROL]),
        (&carol, [ALICE, BOB]),
    ] {
        for peer in peers {
            wait_linked(node, peer, true).await;
        }
    }
    let mut clients = Vec::new();
    for node in [&alice, &bob, &carol] {
        clients.push(node.register("relay:test:sys").await.0);
    }
    for (speaker, text) in [
        (0, "hello from alice"),
        (1, "hello from bob"),
        (2, "hello from carol"),
    ] {
        clients[speaker].send_text(text).await;
        for client in &mut clients {
            assert_eq!(client.next_text().await, text);
        }
    }
}

#[tokio::test]
async fn a_peer_that_stops_reading_fills_only_its_own_queue() {
    let rogue = Identity::generate().expect("key");
    let mut alice = Plan::new(ALICE);
    let mut bob = Plan::new(BOB);
    alice.peer(BOB, bob.key, None, true);
    alice.peer(CAROL, rogue.public(), None, false);
    let alice_key = alice.key;
    let (alice_proc, alice_p) = remote::spec();
    let alice = alice.start(vec![alice_proc]).await;
    bob.peer(ALICE, alice_key, Some(net_addr(&alice)), false);
    let (bob_proc, _bob_p) = remote::spec();
    let _bob = bob.start(vec![bob_proc]).await;
    wait_linked(&alice, BOB, true).await;
    // Carol links and then never reads: her socket fills, then her queue.
    let (_stream, _session) = rogue_link(&alice, &rogue).await;
    let flood = alice_p.flood(&at(CAROL), 64 * 1024, 100_000).await;
    assert!(flood.starts_with("MailboxFull after "), "{flood}");
    assert!(alice.node.net_stats().queue_full >= 1);
    // Traffic to bob does not wait behind carol.
    assert_eq!(
        alice_p.request(&at(BOB), "ping").await,
        "Ok(pong from bob.os)"
    );
    assert!(alice.node.is_linked(CAROL));
}
