//! One node as a cluster of instances on one NATS server (a real `nats-server` with
//! JetStream on a free loopback port): shared tokens, channel ids unique across instances,
//! pushes from one instance's process to another instance's clients, and the loss and return
//! of NATS.

use std::time::Duration;

use process_lib::HttpServerError;
use switchboard_tests::cluster::{cluster, instance, Cluster, NODE};
use switchboard_tests::remote::{self, push_error, PUSHED};
use switchboard_tests::{eventually, Frame, TestNode, WsClient, WAIT};

/// A client of instance `on`, registered to `process` with a token minted by instance 0.
async fn client(cluster: &Cluster, on: usize, process: &str) -> (WsClient, u32) {
    cluster.client(on, process).await
}

async fn expect_text(client: &mut WsClient, text: &str) {
    assert_eq!(client.next().await, Frame::Text(text.to_owned()));
}

#[tokio::test]
async fn a_token_from_one_instance_opens_channels_on_all_with_distinct_ids() {
    let cluster = cluster(3).await;
    let numbers: Vec<u8> = cluster
        .instances
        .iter()
        .map(|i| i.node.node.cluster_instance().expect("clustered"))
        .collect();
    assert_eq!(
        numbers,
        [1, 2, 3],
        "each instance claims the lowest free number"
    );
    let mut ids = Vec::new();
    for (on, &number) in numbers.iter().enumerate() {
        for _ in 0..2 {
            let (mut echo, id) = client(&cluster, on, "echo:echo:sys").await;
            assert_eq!(id >> 24, u32::from(number), "id {id:#x} names its instance");
            echo.send_text("hello").await;
            expect_text(&mut echo, "hello").await;
            ids.push(id);
        }
    }
    let mut distinct = ids.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), ids.len(), "channel ids repeat: {ids:x?}");
}

#[tokio::test]
async fn a_push_from_instance_1_reaches_a_client_of_instance_3() {
    let cluster = cluster(3).await;
    let (mut far, far_id) = client(&cluster, 2, remote::ID).await;
    assert_eq!(
        cluster.instances[0]
            .driver
            .push(NODE, far_id, "across")
            .await,
        PUSHED
    );
    expect_text(&mut far, "across").await;
    assert_eq!(cluster.instances[2].node.node.cluster_stats().received, 1);
    // The same through a request to the http-server, as a peer node's process would send it.
    let answer = cluster.instances[0]
        .driver
        .push_asking(NODE, far_id, "asked")
        .await;
    assert_eq!(answer, r#"{"Ok":null}"#);
    expect_text(&mut far, "asked").await;
}

#[tokio::test]
async fn a_push_to_many_reaches_every_instance_in_one_message_per_instance() {
    let cluster = cluster(3).await;
    let mut clients = Vec::new();
    for on in [0, 1, 2, 2] {
        clients.push(client(&cluster, on, remote::ID).await);
    }
    let ids: Vec<u32> = clients.iter().map(|(_, id)| *id).collect();
    let sender = &cluster.instances[0].node.node;
    let before = sender.cluster_stats().sent;
    assert_eq!(
        cluster.instances[0]
            .driver
            .push_many(NODE, &ids, "to all")
            .await,
        "[]"
    );
    for (client, _) in &mut clients {
        expect_text(client, "to all").await;
    }
    assert_eq!(
        sender.cluster_stats().sent - before,
        2,
        "one NATS message to instance 2 and one to instance 3"
    );
}

#[tokio::test]
async fn a_push_to_a_channel_gone_from_another_instance_is_counted_there() {
    let cluster = cluster(2).await;
    let (gone, gone_id) = client(&cluster, 1, remote::ID).await;
    drop(gone);
    let far = &cluster.instances[1].node.node;
    eventually(WAIT, "the channel closes", async || {
        far.channel_count() == 0
    })
    .await;
    // Across instances a push is sent without waiting for the far side: it is counted there.
    assert_eq!(
        cluster.instances[0]
            .driver
            .push(NODE, gone_id, "late")
            .await,
        PUSHED
    );
    eventually(WAIT, "the far instance counts it undelivered", async || {
        far.cluster_stats().undelivered == 1
    })
    .await;
}

#[tokio::test]
async fn without_nats_local_traffic_goes_on_and_pushes_across_fail_until_it_is_back() {
    let mut cluster = cluster(2).await;
    let (mut echo, _) = client(&cluster, 0, "echo:echo:sys").await;
    let (mut far, far_id) = client(&cluster, 1, remote::ID).await;
    let near = &cluster.instances[0];

    cluster.nats.stop().await;
    tokio::time::timeout(WAIT, near.node.node.wait_cluster_up(false))
        .await
        .expect("the instance notices NATS is gone");
    echo.send_text("still here").await;
    expect_text(&mut echo, "still here").await;
    assert_eq!(
        near.driver.push(NODE, far_id, "lost").await,
        push_error(HttpServerError::InstanceUnreachable)
    );
    assert_eq!(near.node.node.cluster_stats().unreachable, 1);

    cluster.nats.start_again().await;
    for instance in &cluster.instances {
        tokio::time::timeout(WAIT, instance.node.node.wait_cluster_up(true))
            .await
            .expect("the instance reconnects by itself");
    }
    // The far instance's subscription is renewed as it reconnects; a push sent before the
    // server has it would be lost, so the test pushes until one arrives.
    let near = &cluster.instances[0];
    eventually(WAIT, "a push across arrives again", async || {
        assert_eq!(near.driver.push(NODE, far_id, "back").await, PUSHED);
        tokio::time::timeout(std::time::Duration::from_millis(200), far.next())
            .await
            .is_ok_and(|frame| frame == Frame::Text("back".to_owned()))
    })
    .await;
    echo.send_text("and here").await;
    expect_text(&mut echo, "and here").await;
}

#[tokio::test]
async fn a_stopped_instance_gives_its_number_back_to_the_next_one() {
    let mut cluster = cluster(2).await;
    let first = cluster.instances.remove(0);
    assert_eq!(first.node.node.cluster_instance(), Some(1));
    first.node.node.shutdown().await;
    let next = instance(&cluster.nats, &cluster.secret_file).await;
    assert_eq!(next.node.node.cluster_instance(), Some(1));
    // Its ids are instance 1's again, and instance 2 reaches them.
    let token = next.node.token();
    let mut near = WsClient::connect(&next.node.url()).await;
    let id = near.register(&token, remote::ID).await;
    assert_eq!(id >> 24, 1);
    assert_eq!(
        cluster.instances[0].driver.push(NODE, id, "welcome").await,
        PUSHED
    );
    expect_text(&mut near, "welcome").await;
}

#[tokio::test]
async fn a_process_lists_asks_and_publishes_to_its_siblings() {
    let mut cluster = cluster(3).await;
    let first = cluster.instances[0].driver.clone();
    eventually(WAIT, "instance 1 sees instances 2 and 3", async || {
        first.siblings().await == "[Sibling { instance: 2 }, Sibling { instance: 3 }]"
    })
    .await;
    let patience = Duration::from_secs(5);
    assert_eq!(
        first.sibling_request(3, "hello", patience).await,
        "Ok(HELLO)"
    );
    assert_eq!(
        first.sibling_request(2, "there", patience).await,
        "Ok(THERE)"
    );
    assert_eq!(first.sibling_publish("news").await, "2");
    for other in &cluster.instances[1..] {
        eventually(WAIT, "the sibling hears the news", async || {
            other.driver.heard().await == "news"
        })
        .await;
    }
    assert_eq!(
        first.heard().await,
        "",
        "a publish does not come back to its sender"
    );
    assert_eq!(
        first
            .sibling_request(2, "never answer", Duration::from_millis(300))
            .await,
        "Err(instance 2 did not answer within 300ms)"
    );

    let third = cluster.instances.remove(2);
    third.node.node.shutdown().await;
    eventually(WAIT, "instance 1 sees instance 3 gone", async || {
        first.siblings().await == "[Sibling { instance: 2 }]"
    })
    .await;
    assert_eq!(
        first.sibling_request(3, "hello", patience).await,
        "Err(instance 3 of this node is gone (it stopped or is not reachable))"
    );
    assert_eq!(first.sibling_publish("fewer").await, "1");
}

#[tokio::test]
async fn a_node_that_is_not_clustered_has_no_siblings() {
    let (process, driver) = remote::spec();
    let _node = TestNode::start(vec![process]).await;
    assert_eq!(driver.siblings().await, "[]");
    assert_eq!(driver.sibling_publish("news").await, "0");
    assert_eq!(driver.shared("entries").await, "not clustered");
    assert_eq!(
        driver
            .sibling_request(1, "hello", Duration::from_secs(1))
            .await,
        "Err(this node does not run as a cluster, so the process has no siblings)"
    );
}

#[tokio::test]
async fn a_shared_log_and_map_are_the_same_on_every_instance() {
    let cluster = cluster(2).await;
    let (one, two) = (&cluster.instances[0].driver, &cluster.instances[1].driver);
    assert_eq!(one.shared("append a b").await, "[Ok(1), Ok(2)]");
    assert_eq!(two.shared("append c").await, "[Ok(3)]");
    assert_eq!(
        two.shared("read 1 3").await,
        r#"[(1, "a"), (2, "b"), (3, "c")]"#
    );
    assert_eq!(one.shared("read 2 9").await, r#"[(2, "b"), (3, "c")]"#);
    assert_eq!(one.shared("follow 1 2").await, r#"[(2, "b"), (3, "c")]"#);

    assert_eq!(one.shared("create ann 1").await, "Ok(true)");
    assert_eq!(
        two.shared("create ann 2").await,
        "Ok(false)",
        "a key is created once"
    );
    assert_eq!(two.shared("entries").await, r#"["ann=1"]"#);
    // Written once and never again, the entry lapses after its second.
    eventually(WAIT, "the entry lapses", async || {
        two.shared("entries").await == "[]"
    })
    .await;
    assert_eq!(two.shared("create ann 2").await, "Ok(true)", "free again");
}
