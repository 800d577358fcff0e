//! The Rust client over `wss://` against a node whose certificate a private CA (rcgen)
//! signed: with the CA given it exchanges frames and reconnects after a restart; without
//! it, or to a certificate for another name, or to an expired one, it is refused with the
//! error that says so; a certificate refused while reconnecting ends the connection.

use std::net::SocketAddr;
use std::time::Duration;

use gateway::config::TlsFiles;
use gateway::Config;
use switchboard_client::{
    connect_with, Backoff, ClientError, Connection, ConnectionState, Options, Received, TlsError,
};
use switchboard_tests::pki::TestCa;
use switchboard_tests::{TestNode, WAIT};
use tokio::sync::mpsc::UnboundedReceiver;

/// Starts a node serving wss with `files`, on `bind`, with `home`.
async fn start_tls(files: TlsFiles, bind: SocketAddr, home: tempfile::TempDir) -> TestNode {
    let mut config = Config::new(home.path());
    config.bind = bind;
    config.tls = Some(files);
    TestNode::start_with(config, home, vec![]).await
}

async fn tls_node(files: TlsFiles) -> TestNode {
    let home = tempfile::tempdir().expect("home");
    start_tls(files, ([127, 0, 0, 1], 0).into(), home).await
}

/// Stops `node` and starts it again on the same address and home, serving `files`.
async fn restart_tls(node: TestNode, files: TlsFiles) -> TestNode {
    let TestNode { node, home } = node;
    let addr = node.local_addr();
    node.shutdown().await;
    start_tls(files, addr, home).await
}

/// The node's wss URL by the name its certificate is for.
fn url(node: &TestNode) -> String {
    format!("wss://localhost:{}/", node.addr().port())
}

fn trusting(ca: Option<&TestCa>) -> Options {
    Options {
        ca_pem: ca.map(|ca| ca.pem().into_bytes()),
        encrypted: true,
        reconnect: Some(Backoff {
            initial: Duration::from_millis(20),
            max: Duration::from_millis(200),
            max_attempts: None,
        }),
        ..Options::default()
    }
}

async fn refusal(node: &TestNode, options: Options) -> TlsError {
    let result = tokio::time::timeout(
        WAIT,
        connect_with(&url(node), &node.token(), "echo:echo:sys", options),
    )
    .await
    .expect("an answer in time");
    match result {
        Err(ClientError::Tls {
            url: refused,
            source,
        }) => {
            assert_eq!(refused, url(node));
            source
        }
        other => panic!("expected a TLS refusal, got {other:?}"),
    }
}

async fn next_state(states: &mut UnboundedReceiver<ConnectionState>) -> ConnectionState {
    tokio::time::timeout(WAIT, states.recv())
        .await
        .expect("a state change in time")
        .expect("the state stream is open")
}

async fn echo(conn: &mut Connection, text: &str) {
    conn.send_text(text).await.expect("send");
    match conn.receive_timeout(WAIT).await.expect("an echo in time") {
        Received::Text(echoed) => assert_eq!(echoed, text),
        other => panic!("expected the echo, got {other:?}"),
    }
}

#[tokio::test]
async fn with_the_ca_given_frames_go_over_wss_and_a_restart_is_reconnected_to() {
    let ca = TestCa::new();
    let node = tls_node(ca.issue("localhost")).await;
    // `encrypted: true` is refused on plain ws: being registered means the socket is TLS.
    let mut conn = connect_with(
        &url(&node),
        &node.token(),
        "echo:echo:sys",
        trusting(Some(&ca)),
    )
    .await
    .expect("the CA makes the node's certificate trusted");
    let mut states = conn.take_states().expect("states");
    assert!(matches!(
        next_state(&mut states).await,
        ConnectionState::Connected { .. }
    ));
    echo(&mut conn, "over tls").await;

    let node = restart_tls(node, ca.issue("localhost")).await;
    match next_state(&mut states).await {
        ConnectionState::Disconnected(close) => assert_eq!(close.code, 1001, "{close:?}"),
        other => panic!("expected Disconnected, got {other:?}"),
    }
    loop {
        match next_state(&mut states).await {
            ConnectionState::Reconnecting { .. } => {}
            ConnectionState::Connected { .. } => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    echo(&mut conn, "after the restart").await;
    assert_eq!(node.node.channel_count(), 1);
    conn.close().await;
}

#[tokio::test]
async fn without_the_ca_the_certificate_is_refused_as_an_unknown_issuer() {
    let ca = TestCa::new();
    let node = tls_node(ca.issue("localhost")).await;
    let error = refusal(&node, trusting(None)).await;
    assert_eq!(error, TlsError::UnknownIssuer);
    assert_eq!(
        error.to_string(),
        "the node's certificate is signed by an unknown issuer (not a trusted CA)"
    );
    // Another CA is no better.
    let error = refusal(&node, trusting(Some(&TestCa::named("Another CA")))).await;
    assert_eq!(error, TlsError::UnknownIssuer);
    // Nor is another CA of the same name (a CA made again): its key did not sign.
    let error = refusal(&node, trusting(Some(&TestCa::new()))).await;
    assert_eq!(error, TlsError::BadSignature);
    assert_eq!(
        error.to_string(),
        "the node's certificate is not signed by the trusted CA of its issuer's name \
         (a CA made again with the same name?)"
    );
}

#[tokio::test]
async fn a_certificate_for_another_name_is_refused_as_a_name_mismatch() {
    let ca = TestCa::new();
    let node = tls_node(ca.issue("elsewhere.example")).await;
    let error = refusal(&node, trusting(Some(&ca))).await;
    assert_eq!(
        error,
        TlsError::NameMismatch {
            expected: "localhost".to_owned(),
            presented: vec!["elsewhere.example".to_owned()],
        }
    );
    assert_eq!(
        error.to_string(),
        "the node's certificate is not valid for localhost (it is for elsewhere.example)"
    );
}

#[tokio::test]
async fn an_expired_certificate_is_refused_as_expired() {
    let ca = TestCa::new();
    let node = tls_node(ca.issue_expired("localhost")).await;
    let error = refusal(&node, trusting(Some(&ca))).await;
    assert_eq!(
        error.to_string(),
        "the node's certificate has expired (valid until Wed, 01 Jan 2020 00:00:00 GMT)"
    );
    assert!(
        matches!(error, TlsError::Expired { not_after: Some(_) }),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_certificate_refused_while_reconnecting_ends_the_connection() {
    let ca = TestCa::new();
    let node = tls_node(ca.issue("localhost")).await;
    let mut conn = connect_with(
        &url(&node),
        &node.token(),
        "echo:echo:sys",
        trusting(Some(&ca)),
    )
    .await
    .expect("connect");
    let mut states = conn.take_states().expect("states");

    // The node comes back with a certificate that has expired: retrying cannot help.
    let _node = restart_tls(node, ca.issue_expired("localhost")).await;
    match conn.receive_timeout(WAIT).await.expect("the end in time") {
        Received::Error(error) => {
            assert!(!error.is_retryable());
            assert!(
                matches!(
                    error,
                    ClientError::Tls {
                        source: TlsError::Expired { .. },
                        ..
                    }
                ),
                "{error:?}"
            );
        }
        other => panic!("expected the TLS error, got {other:?}"),
    }
    let mut last = next_state(&mut states).await;
    while last != ConnectionState::Closed {
        assert!(
            matches!(
                last,
                ConnectionState::Connected { .. }
                    | ConnectionState::Disconnected(_)
                    | ConnectionState::Reconnecting { .. }
            ),
            "{last:?}"
        );
        last = next_state(&mut states).await;
    }
    assert!(matches!(
        conn.receive().await,
        Received::Error(ClientError::Closed)
    ));
}

#[tokio::test]
async fn a_plain_ws_url_never_reads_the_ca_option() {
    let node = TestNode::start(vec![]).await;
    let options = Options {
        ca_pem: Some(b"not a certificate".to_vec()),
        ..Options::default()
    };
    let mut conn = connect_with(&node.url(), &node.token(), "echo:echo:sys", options)
        .await
        .expect("ws:// runs no TLS code");
    echo(&mut conn, "plain").await;
    conn.close().await;
}

#[tokio::test]
async fn an_unusable_ca_certificate_is_refused_before_connecting() {
    let ca = TestCa::new();
    let node = tls_node(ca.issue("localhost")).await;
    let options = Options {
        ca_pem: Some(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_vec()),
        ..Options::default()
    };
    let error = refusal(&node, options).await;
    assert!(matches!(error, TlsError::BadCaCertificate(_)), "{error:?}");
    assert!(
        error
            .to_string()
            .starts_with("the CA certificate given is not usable: "),
        "{error}"
    );
}
