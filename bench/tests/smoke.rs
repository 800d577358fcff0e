//! A short smoke of the harness: a real Switchboard node and the bare tokio-tungstenite
//! baseline, through the whole comparison with every scenario for about a second and a few
//! clients (echo and fan-out in slices taken in turn, as in the real comparison; idle at
//! the limit capped at a few connections; net on two real linked nodes; chat with a few members
//! and publishers, at two depths; cluster on three instances and a real NATS server beside
//! one node). It checks that each
//! produced sane, non-zero results and that every fan-out, net and cluster frame arrived; it asserts
//! no time or rate.

mod common;

use std::time::Duration;

use switchboard_bench::compare::{self, CompareParams, Machine};
use switchboard_bench::scenario::chat::{ChatParams, ChatResult};
use switchboard_bench::scenario::cluster::ClusterParams;
use switchboard_bench::scenario::echo::EchoParams;
use switchboard_bench::scenario::fanout::{FanoutParams, FanoutResult};
use switchboard_bench::scenario::idle::IdleParams;
use switchboard_bench::servers::ServerKind;

/// A fan-out-shaped result exists, published something, and every frame reached every
/// subscriber.
fn complete(what: &str, result: Option<FanoutResult>) {
    let result = result.unwrap_or_else(|| panic!("{what}: no result"));
    assert!(result.published > 0, "{what}: {result:?}");
    assert_eq!(
        result.missing, 0,
        "{what}: every frame reaches every subscriber"
    );
    assert!(result.deliveries_per_s > 0.0, "{what}: {result:?}");
}

/// A chat result exists, said something, and every member was shown every message, with
/// consecutive ids, in the same order.
fn chat_complete(what: &str, result: Option<ChatResult>) {
    let result = result.unwrap_or_else(|| panic!("{what}: no result"));
    assert!(result.published > 0, "{what}: {result:?}");
    assert_eq!(
        (result.missing, result.disordered),
        (0, 0),
        "{what}: {result:?}"
    );
    assert!(
        result.messages_per_s > 0.0 && result.latency.p50_us > 0.0,
        "{what}: {result:?}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn every_scenario_runs_against_a_node_and_a_baseline() {
    let programs = common::programs();
    let params = CompareParams {
        runs: 1,
        servers: vec![ServerKind::Switchboard, ServerKind::TtDefault],
        echo: EchoParams {
            clients: 4,
            size: 32,
            warmup: Duration::from_millis(200),
            duration: Duration::from_secs(1),
        },
        idle: IdleParams {
            connections: 50,
            concurrency: 8,
        },
        fanout: FanoutParams {
            subscribers: 10,
            size: 32,
            window: 4,
            duration: Duration::from_secs(1),
        },
        idle_max_cap: Some(60),
        net: FanoutParams {
            subscribers: 5,
            size: 32,
            window: 4,
            duration: Duration::from_secs(1),
        },
        chat: ChatParams {
            members: 6,
            publishers: 3,
            window: 4,
            duration: Duration::from_secs(1),
        },
        soak: Default::default(),
        curves: Default::default(),
        cluster: ClusterParams {
            instances: 3,
            fanout: FanoutParams {
                subscribers: 9,
                size: 32,
                window: 4,
                duration: Duration::from_secs(1),
            },
        },
        server_core: None,
        scenarios: [
            "idle", "echo", "fanout", "mixed", "idle-max", "net", "chat", "cluster",
        ]
        .map(String::from)
        .to_vec(),
        slices: 2,
        deep_window: 8,
        mixed_rate: 200.0,
        shallow_windows: vec![1],
    };
    let comparison = compare::run(params, &programs, Machine::default(), "smoke".into()).await;
    assert_eq!(comparison.runs.len(), 1);
    for run in &comparison.runs[0] {
        let kind = run.kind;
        assert!(run.errors.is_empty(), "{kind:?}: {:?}", run.errors);
        let idle = run.idle.as_ref().expect("idle result");
        assert_eq!((idle.held, idle.failed), (50, 0), "{kind:?}");
        assert!(
            idle.rss_after > 0 && idle.connects_per_s > 0.0,
            "{kind:?}: {idle:?}"
        );
        let echo = run.echo.expect("echo result");
        assert!(
            echo.msgs_per_s > 0.0 && echo.rtt.p50_us > 0.0,
            "{kind:?}: {echo:?}"
        );
        assert!(echo.rtt.p50_us <= echo.rtt.p99_us, "{kind:?}: {echo:?}");
        complete(&format!("{kind:?} fan-out"), run.fanout);
        complete(&format!("{kind:?} deep fan-out"), run.fanout_deep);
        assert_eq!(run.fanout_shallow.len(), 1, "{kind:?}");
        complete(&format!("{kind:?} shallow fan-out"), run.fanout_shallow[0]);
        let mixed = run.mixed.expect("mixed result");
        complete(
            &format!("{kind:?} mixed: the broadcast"),
            Some(mixed.fanout),
        );
        assert!(
            mixed.echo.msgs_per_s > 0.0 && mixed.echo.rtt.p50_us > 0.0,
            "{kind:?} mixed: the echo clients: {mixed:?}"
        );
        if kind != ServerKind::Switchboard {
            assert!(
                run.idle_max.is_none()
                    && run.net.is_none()
                    && run.chat.is_none()
                    && run.chat_ceiling.is_none(),
                "{kind:?}"
            );
            continue;
        }
        let at_limit = run.idle_max.as_ref().expect("idle-max result");
        assert_eq!(at_limit.asked, 60, "{at_limit:?}");
        assert_eq!(
            (at_limit.idle.held, at_limit.idle.failed),
            (60, 0),
            "{at_limit:?}"
        );
        assert!(at_limit.fd_limit > 60, "{at_limit:?}");
        complete("net, subscribers on the other node", run.net);
        chat_complete("chat", run.chat);
        chat_complete("chat, one say in flight", run.chat_one);
        let ceiling = run.chat_ceiling.expect("loopback ceiling result");
        assert!(ceiling.writes_per_s > 0.0, "{ceiling:?}");
        assert!(ceiling.bytes_written > 0, "{ceiling:?}");
        assert_eq!(
            ceiling.bytes_read, ceiling.bytes_written,
            "the readers took every byte written: {ceiling:?}"
        );
        let cluster = run.cluster.expect("cluster result");
        complete("cluster: one node", Some(cluster.single));
        complete("cluster: subscribers spread", Some(cluster.spread));
        complete(
            "cluster: subscribers on the publisher's instance",
            Some(cluster.local),
        );
        complete(
            "cluster: subscribers on another instance",
            Some(cluster.remote),
        );
    }
    let report = switchboard_bench::report::render(&comparison, "");
    for heading in [
        "## Mixed: a broadcast of 200 frames/s to 10 subscribers",
        "| tokio-tungstenite (default) | ",
        "**The loopback ceiling under it**",
        "chat's loopback ceiling: the most messages/s",
    ] {
        assert!(report.contains(heading), "no {heading:?} in:\n{report}");
    }
}
