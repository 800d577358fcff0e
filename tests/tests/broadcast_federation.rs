//! `broadcast:broadcast:sys` across linked nodes, as its subscribers meet it: a frame
//! published on either node reaches every subscriber on both, in order, the publisher
//! included; subscribers who come later are reached too; a node that restarts is told the
//! other's subscribers again; and a node that does not trust the publisher's node's pushes
//! gets none of its frames.

use std::time::Duration;

use gateway::net::PeerConfig;
use gateway::Config;
use switchboard_tests::mesh::{net_addr, wait_linked, Plan};
use switchboard_tests::{eventually, Frame, TestNode, WsClient, WAIT};

const BROADCAST: &str = "broadcast:broadcast:sys";
const ALICE: &str = "alice.os";
const BOB: &str = "bob.os";

/// The next frame that is not a probe sent by [`until_heard`].
async fn next_real(client: &mut WsClient) -> Frame {
    loop {
        match client.next().await {
            Frame::Text(t) if t.starts_with("probe ") => continue,
            frame => return frame,
        }
    }
}

/// Publishes probes labelled `label` from `publisher` (bounded) until `listener` hears one:
/// the publisher's node then knows the listener's channel. Other probes are skipped here,
/// and every probe by [`next_real`].
async fn until_heard(publisher: &mut WsClient, listener: &mut WsClient, label: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    let ours = format!("probe {label} ");
    for n in 0.. {
        assert!(
            tokio::time::Instant::now() < deadline,
            "probe {label} did not cross in time"
        );
        publisher.send_text(&format!("{ours}{n}")).await;
        let window = tokio::time::Instant::now() + Duration::from_millis(200);
        while let Ok(frame) = tokio::time::timeout_at(window, listener.next()).await {
            match frame {
                Frame::Text(t) if t.starts_with(&ours) => return,
                Frame::Text(t) if t.starts_with("probe ") => continue,
                other => panic!("expected a probe, got {other:?}"),
            }
        }
    }
}

/// Alice listening, bob dialing her; bob trusts alice's pushes, and alice bob's when
/// `alice_trusts_bob`.
async fn alice_and_bob(alice_trusts_bob: bool) -> (TestNode, TestNode, Config) {
    let mut alice = Plan::new(ALICE);
    let mut bob = Plan::new(BOB);
    alice.peer(BOB, bob.key, None, alice_trusts_bob);
    let alice_key = alice.key;
    let alice = alice.start(vec![]).await;
    bob.peer(ALICE, alice_key, Some(net_addr(&alice)), true);
    let bob_config = bob.config.clone();
    let bob = bob.start(vec![]).await;
    (alice, bob, bob_config)
}

#[tokio::test]
async fn a_frame_published_on_either_node_reaches_every_subscriber_on_both() {
    let (alice, bob, _) = alice_and_bob(true).await;
    // Registered before the link is up: the greeting carries them.
    let (mut a1, _) = alice.register(BROADCAST).await;
    let (mut a2, _) = alice.register(BROADCAST).await;
    let (mut b1, _) = bob.register(BROADCAST).await;
    wait_linked(&bob, ALICE, true).await;
    until_heard(&mut b1, &mut a1, "b1").await;
    until_heard(&mut a1, &mut b1, "a1").await;

    // From bob: both of alice's subscribers and bob's own get both frames, in order.
    b1.send_text("from bob: first").await;
    b1.send_binary(&[1, 2, 3]).await;
    for client in [&mut a1, &mut a2, &mut b1] {
        assert_eq!(
            next_real(client).await,
            Frame::Text("from bob: first".into())
        );
        assert_eq!(next_real(client).await, Frame::Binary(vec![1, 2, 3]));
    }
    // From alice: bob's subscriber gets it, and so does everyone on alice.
    a2.send_text("from alice").await;
    for client in [&mut a1, &mut a2, &mut b1] {
        assert_eq!(next_real(client).await, Frame::Text("from alice".into()));
    }

    // A subscriber who comes later on alice is told to bob, and reached from there.
    let (mut a3, _) = alice.register(BROADCAST).await;
    until_heard(&mut b1, &mut a3, "b1 again").await;
    // One who leaves does not stop the others getting every frame.
    drop(a2);
    b1.send_text("after a2 left").await;
    for client in [&mut a1, &mut a3, &mut b1] {
        assert_eq!(next_real(client).await, Frame::Text("after a2 left".into()));
    }
    drop((a1, a3, b1));
    bob.node.shutdown().await;
    alice.node.shutdown().await;
}

#[tokio::test]
async fn a_node_that_restarts_learns_the_other_nodes_subscribers_again() {
    let (alice, bob, bob_config) = alice_and_bob(true).await;
    let (mut a1, _) = alice.register(BROADCAST).await;
    let (mut b1, _) = bob.register(BROADCAST).await;
    wait_linked(&alice, BOB, true).await;
    until_heard(&mut b1, &mut a1, "b1").await;
    drop(b1);

    // Bob stops and starts again on the same home and key: his broadcast starts knowing
    // nothing, and alice's has to forget the channels of bob's first life.
    let TestNode { node, home } = bob;
    node.shutdown().await;
    wait_linked(&alice, BOB, false).await;
    let mut config = Config::new(home.path());
    config.node = BOB.to_owned();
    config.net = bob_config.net.clone();
    let peer: &PeerConfig = &config.net.peers[0];
    assert_eq!(peer.name, ALICE);
    let bob = TestNode::start_with(config, home, vec![]).await;
    wait_linked(&alice, BOB, true).await;

    let (mut b2, _) = bob.register(BROADCAST).await;
    until_heard(&mut b2, &mut a1, "b2").await;
    until_heard(&mut a1, &mut b2, "a1").await;
    a1.send_text("welcome back").await;
    assert_eq!(next_real(&mut b2).await, Frame::Text("welcome back".into()));
    assert_eq!(next_real(&mut a1).await, Frame::Text("welcome back".into()));
    drop((a1, b2));
    bob.node.shutdown().await;
    alice.node.shutdown().await;
}

#[tokio::test]
async fn a_node_that_does_not_trust_the_publishers_node_gets_none_of_its_frames() {
    let (alice, bob, _) = alice_and_bob(false).await;
    let (mut a1, _) = alice.register(BROADCAST).await;
    let (mut b1, _) = bob.register(BROADCAST).await;
    wait_linked(&alice, BOB, true).await;
    // Alice's frames reach bob, who trusts her.
    until_heard(&mut a1, &mut b1, "a1").await;
    // Bob publishes until three more messages have reached alice's node: his pushes, which
    // are refused there. Alice already knows b1, so of the notes the broadcasts exchange
    // when they meet (a `Hello`, its answer, a `Subscribed`) at most two are still to come:
    // at least one of the three is a push, sent once bob's broadcast knows alice's a1.
    let before = alice.node.net_stats().received;
    let mut n = 0;
    eventually(WAIT, "bob's pushes reach alice's node", async || {
        b1.send_text(&format!("from bob {n}")).await;
        // Bob's own subscriber gets each.
        assert_eq!(
            next_real(&mut b1).await,
            Frame::Text(format!("from bob {n}"))
        );
        n += 1;
        n >= 3 && alice.node.net_stats().received >= before + 3
    })
    .await;
    let heard = tokio::time::timeout(Duration::from_millis(300), next_real(&mut a1)).await;
    assert!(heard.is_err(), "alice's subscriber got {heard:?}");
    drop((a1, b1));
    bob.node.shutdown().await;
    alice.node.shutdown().await;
}
