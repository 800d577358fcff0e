//! `broadcast:broadcast:sys` with several real clients: every frame reaches every subscriber.

use switchboard_tests::{Frame, TestNode};

#[tokio::test]
async fn every_frame_reaches_every_subscriber() {
    let node = TestNode::start(vec![]).await;
    let mut clients = Vec::new();
    for _ in 0..5 {
        clients.push(node.register("broadcast:broadcast:sys").await.0);
    }
    // Each client publishes two frames; every client, the publisher included, reads all ten
    // in the order each publisher sent them.
    for (i, client) in clients.iter_mut().enumerate() {
        client.send_text(&format!("from {i}: first")).await;
        client.send_binary(&[i as u8, 2]).await;
    }
    for client in &mut clients {
        let mut seen = Vec::new();
        for _ in 0..10 {
            seen.push(client.next().await);
        }
        for i in 0..5 {
            let first = seen
                .iter()
                .position(|f| f == &Frame::Text(format!("from {i}: first")))
                .unwrap_or_else(|| panic!("frame 1 of client {i} missing: {seen:?}"));
            let second = seen
                .iter()
                .position(|f| f == &Frame::Binary(vec![i as u8, 2]))
                .unwrap_or_else(|| panic!("frame 2 of client {i} missing: {seen:?}"));
            assert!(first < second, "client {i}'s frames out of order: {seen:?}");
        }
    }
    // A subscriber that leaves is dropped; the others go on getting every frame.
    let leaver = clients.pop().expect("five clients");
    drop(leaver);
    clients[0].send_text("after one left").await;
    for client in &mut clients {
        assert_eq!(client.next_text().await, "after one left");
    }
    drop(clients);
    node.node.shutdown().await;
}
