//! Typed channels, through `counter:counter:sys`: each connection has its own handler and
//! count; a frame that does not parse gets an error frame and changes nothing.

use switchboard_tests::TestNode;

const COUNTER: &str = "counter:counter:sys";

#[tokio::test]
async fn each_connection_counts_on_its_own() {
    let node = TestNode::start(vec![]).await;
    let (mut a, _) = node.register(COUNTER).await;
    let (mut b, _) = node.register(COUNTER).await;
    a.send_text(r#"{"op":"add","by":2}"#).await;
    assert_eq!(a.next_text().await, r#"{"count":2}"#);
    a.send_text(r#"{"op":"add","by":40}"#).await;
    assert_eq!(a.next_text().await, r#"{"count":42}"#);
    b.send_text(r#"{"op":"add","by":-1}"#).await;
    assert_eq!(b.next_text().await, r#"{"count":-1}"#);
    a.send_text(r#"{"op":"reset"}"#).await;
    assert_eq!(a.next_text().await, r#"{"count":0}"#);
}

#[tokio::test]
async fn a_frame_that_does_not_parse_gets_an_error_frame_not_a_crash() {
    let node = TestNode::start(vec![]).await;
    let (mut a, _) = node.register(COUNTER).await;
    let (mut b, _) = node.register(COUNTER).await;
    a.send_text(r#"{"op":"add","by":5}"#).await;
    assert_eq!(a.next_text().await, r#"{"count":5}"#);

    for bad in [
        r#"{"op":"multiply","by":2}"#,
        "five",
        r#"{"op":"add","by":"x"}"#,
    ] {
        a.send_text(bad).await;
        let error = a.next_json().await;
        assert_eq!(error["error"]["code"], "unparsable", "{error}");
        let message = error["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with("the frame is not a valid message for this process: "),
            "{message}"
        );
    }
    a.send_binary(&[0xff, 0x00]).await;
    assert_eq!(a.next_json().await["error"]["code"], "unparsable");

    // The connection is open, its count kept, and the other connection unharmed.
    a.send_text(r#"{"op":"add","by":1}"#).await;
    assert_eq!(a.next_text().await, r#"{"count":6}"#);
    b.send_text(r#"{"op":"add","by":1}"#).await;
    assert_eq!(b.next_text().await, r#"{"count":1}"#);
}

#[tokio::test]
async fn a_connection_that_ends_ends_its_handler_and_others_go_on() {
    let node = TestNode::start(vec![]).await;
    for round in 1..=3 {
        let (mut client, _) = node.register(COUNTER).await;
        client.send_text(r#"{"op":"add","by":1}"#).await;
        // A fresh connection starts from zero: its handler is new.
        assert_eq!(client.next_text().await, r#"{"count":1}"#, "round {round}");
        client.ws.close(None).await.expect("close");
    }
}

#[tokio::test]
async fn a_handler_that_ends_or_panics_closes_only_its_connection() {
    use switchboard_tests::{procs, Frame};
    let node = TestNode::start(vec![procs::typed_echo()]).await;
    let process = "typed:test:sys";
    let (mut a, _) = node.register(process).await;
    let (mut b, _) = node.register(process).await;
    let (mut c, _) = node.register(process).await;
    a.send_text(r#"{"say":"hi"}"#).await;
    assert_eq!(a.next_text().await, r#"{"heard":"hi"}"#);

    // A handler that returns closes its channel normally.
    b.send_text(r#""bye""#).await;
    assert_eq!(b.next().await, Frame::Close(1000, String::new()));
    // A handler that panics closes its channel too; the process and the others go on.
    c.send_text(r#""panic""#).await;
    assert_eq!(c.next().await, Frame::Close(1000, String::new()));

    a.send_text(r#"{"say":"still here"}"#).await;
    assert_eq!(a.next_text().await, r#"{"heard":"still here"}"#);
    let (mut d, _) = node.register(process).await;
    d.send_text(r#"{"say":"new"}"#).await;
    assert_eq!(d.next_text().await, r#"{"heard":"new"}"#);
}
