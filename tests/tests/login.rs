//! Password login as a browser or a script meets it: `/login` and `/logout` over a real
//! socket, the raw `Set-Cookie` header, the token it gives working, and brute force slowed
//! for one address while another still logs in.

use std::net::IpAddr;
use std::sync::Arc;

use tokio::net::TcpSocket;
use tokio::sync::Barrier;

use serde_json::json;
use switchboard_tests::web::{self, cookie_pair, RawRequest};
use switchboard_tests::TestNode;

const PASSWORD: &str = "correct horse battery staple";

async fn node_with_password() -> TestNode {
    let node = TestNode::start(vec![]).await;
    node.set_password(PASSWORD);
    node
}

#[tokio::test]
async fn the_right_password_gives_a_token_and_one_cookie_header() {
    let node = node_with_password().await;
    let response = web::send(
        node.addr(),
        &RawRequest::post_json("/login", &json!({ "password": PASSWORD })),
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.text());
    let body = response.json();
    let token = body["token"]
        .as_str()
        .expect("token in the body")
        .to_owned();
    assert_eq!(body["node"], "local.os");
    assert_eq!(body["expires_in"], 7 * 24 * 3600);

    let cookies = response.all("set-cookie");
    assert_eq!(
        cookies.len(),
        1,
        "exactly one Set-Cookie header: {cookies:?}"
    );
    assert_eq!(
        cookies[0],
        format!("kinode-auth_local.os={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age=604800")
    );
    assert!(!cookies[0].contains("Secure"), "no Secure on plain http");
    node.node
        .auth()
        .verify(&token)
        .expect("the token is this node's");

    // The token opens a channel through the register flow.
    let mut client = switchboard_tests::WsClient::connect(&node.url()).await;
    let id = client.register(&token, "echo:echo:sys").await;
    assert!(id > 0);
}

#[tokio::test]
async fn a_wrong_password_is_a_401_with_a_sentence_and_no_cookie() {
    let node = node_with_password().await;
    let response = web::send(
        node.addr(),
        &RawRequest::post_json(
            "/login",
            &json!({ "password": "Correct horse battery staple" }),
        ),
    )
    .await;
    assert_eq!(response.status, 401);
    assert_eq!(response.json(), json!({ "error": "wrong password" }));
    assert!(response.all("set-cookie").is_empty());
}

#[tokio::test]
async fn a_form_post_logs_in_too_and_bad_bodies_are_400() {
    let node = node_with_password().await;
    let form = format!("password={}", PASSWORD.replace(' ', "+"));
    let response = web::send(
        node.addr(),
        &RawRequest::new("POST", "/login")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form),
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert!(response.header("set-cookie").is_some());

    let response = web::send(
        node.addr(),
        &RawRequest::post_json("/login", &json!({ "pass": PASSWORD })),
    )
    .await;
    assert_eq!(response.status, 400);
    let message = response.json()["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(message.contains("{\"password\":\"…\"}"), "{message}");

    let huge = json!({ "password": "x".repeat(8 * 1024) });
    let response = web::send(node.addr(), &RawRequest::post_json("/login", &huge)).await;
    assert_eq!(response.status, 413);
    assert_eq!(response.json()["error"], "the request body is too large");
}

#[tokio::test]
async fn logout_clears_the_cookie() {
    let node = node_with_password().await;
    let response = web::send(node.addr(), &RawRequest::new("POST", "/logout")).await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.all("set-cookie"),
        vec!["kinode-auth_local.os=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"]
    );
}

#[tokio::test]
async fn the_login_page_is_served() {
    let node = node_with_password().await;
    let response = web::send(node.addr(), &RawRequest::new("GET", "/login")).await;
    assert_eq!(response.status, 200);
    assert!(response
        .header("content-type")
        .is_some_and(|t| t.starts_with("text/html")));
    let page = response.text();
    assert!(page.contains("Log in to local.os"), "{page}");
    assert!(page.contains(r#"type="password""#));
}

#[tokio::test]
async fn a_node_without_a_password_says_how_to_set_one() {
    let node = TestNode::start(vec![]).await;
    let response = web::send(
        node.addr(),
        &RawRequest::post_json("/login", &json!({ "password": "anything" })),
    )
    .await;
    assert_eq!(response.status, 503);
    let message = response.json()["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(message.contains("switchboard passwd"), "{message}");
}

#[tokio::test]
async fn token_lifetime_is_configurable() {
    let (mut config, home) = TestNode::config();
    config.token_ttl = std::time::Duration::from_secs(90);
    let node = TestNode::start_with(config, home, vec![]).await;
    node.set_password(PASSWORD);
    let response = web::send(
        node.addr(),
        &RawRequest::post_json("/login", &json!({ "password": PASSWORD })),
    )
    .await;
    assert_eq!(response.json()["expires_in"], 90);
    assert!(response
        .header("set-cookie")
        .unwrap_or_default()
        .ends_with("; Max-Age=90"));
}

#[tokio::test]
async fn brute_force_is_slowed_while_another_address_still_logs_in() {
    let (mut config, home) = TestNode::config();
    config.login_burst = 3;
    config.login_attempts_per_minute = 1;
    let node = TestNode::start_with(config, home, vec![]).await;
    node.set_password(PASSWORD);
    let attacker: IpAddr = [127, 0, 0, 2].into();
    let user: IpAddr = [127, 0, 0, 3].into();
    let guess =
        |n: usize| RawRequest::post_json("/login", &json!({ "password": format!("guess {n}") }));

    // The burst's attempts are checked and answered as failures; those past it are refused
    // unchecked.
    let mut statuses = Vec::new();
    for n in 0..6 {
        let response = web::send_from(attacker, node.addr(), &guess(n)).await;
        statuses.push(response.status);
        if response.status == 429 {
            let retry: u64 = response
                .header("retry-after")
                .and_then(|v| v.parse().ok())
                .expect("Retry-After in seconds");
            assert!((1..=60).contains(&retry), "Retry-After {retry}");
            let message = response.json()["error"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            assert!(message.contains("too many login attempts"), "{message}");
        }
    }
    assert_eq!(statuses, vec![401, 401, 401, 429, 429, 429]);

    // Even the right password waits, from that address.
    let right = RawRequest::post_json("/login", &json!({ "password": PASSWORD }));
    assert_eq!(
        web::send_from(attacker, node.addr(), &right).await.status,
        429
    );

    // Another address is not affected.
    let response = web::send_from(user, node.addr(), &right).await;
    assert_eq!(response.status, 200, "{}", response.text());
    let cookie = response.header("set-cookie").unwrap_or_default();
    assert!(
        cookie_pair(cookie).starts_with("kinode-auth_local.os=ey"),
        "{cookie}"
    );
}

#[tokio::test]
async fn a_crowd_of_logins_does_not_stall_the_node() {
    let node = node_with_password().await;
    let (mut client, _) = node.register("echo:echo:sys").await;
    // Twenty wrong passwords at once, each from its own address so none is rate-limited.
    let logins: Vec<_> = (10..30u8)
        .map(|n| {
            let addr = node.addr();
            tokio::spawn(async move {
                let guess = RawRequest::post_json("/login", &json!({ "password": "wrong" }));
                web::send_from([127, 0, 0, n].into(), addr, &guess)
                    .await
                    .status
            })
        })
        .collect();
    // Meanwhile the node keeps serving channels.
    for n in 0..20 {
        client.send_text(&format!("ping {n}")).await;
        assert_eq!(client.next_text().await, format!("ping {n}"));
    }
    for login in logins {
        let status = login.await.expect("login task");
        // Each is checked (401) or, if the checkers stay busy too long, told to retry (503).
        assert!(status == 401 || status == 503, "status {status}");
    }
    let right = RawRequest::post_json("/login", &json!({ "password": PASSWORD }));
    assert_eq!(web::send(node.addr(), &right).await.status, 200);
}

#[tokio::test]
async fn concurrent_wrong_passwords_are_checked_no_more_than_the_burst() {
    let (mut config, home) = TestNode::config();
    config.login_burst = 5;
    config.login_attempts_per_minute = 1;
    let node = TestNode::start_with(config, home, vec![]).await;
    node.set_password(PASSWORD);
    let addr = node.addr();
    const ATTEMPTS: usize = 200;

    // Every attempt has its socket open before any of them sends: all 200 are in flight at once.
    let ready = Arc::new(Barrier::new(ATTEMPTS + 1));
    let attempts: Vec<_> = (0..ATTEMPTS)
        .map(|n| {
            let ready = ready.clone();
            tokio::spawn(async move {
                let socket = TcpSocket::new_v4().expect("socket");
                socket
                    .bind(([127, 0, 0, 2], 0).into())
                    .expect("bind 127.0.0.2");
                let stream = socket.connect(addr).await.expect("connect");
                ready.wait().await;
                let guess =
                    RawRequest::post_json("/login", &json!({ "password": format!("guess {n}") }));
                web::exchange(stream, &addr.to_string(), &guess).await
            })
        })
        .collect();
    ready.wait().await;

    // Meanwhile, the owner logs in from another address.
    let right = RawRequest::post_json("/login", &json!({ "password": PASSWORD }));
    let response = web::send_from([127, 0, 0, 3].into(), addr, &right).await;
    assert_eq!(response.status, 200, "{}", response.text());

    let mut checked = 0;
    let mut refused = 0;
    for attempt in attempts {
        let response = attempt.await.expect("attempt task");
        match response.status {
            401 => checked += 1,
            429 => {
                refused += 1;
                let retry: u64 = response
                    .header("retry-after")
                    .and_then(|v| v.parse().ok())
                    .expect("Retry-After in seconds");
                assert!((1..=60).contains(&retry), "Retry-After {retry}");
            }
            status => panic!("status {status}: {}", response.text()),
        }
    }
    assert_eq!(checked, 5, "wrong passwords checked, with a burst of 5");
    assert_eq!(refused, ATTEMPTS - 5);
}
