//! A short smoke of the cost curves: a real Switchboard node and the bare tokio-tungstenite
//! baseline, each curve at two tiny sizes (fan-out at each of two depths) on fresh
//! processes, one server at a time, and the
//! open loop at half the baseline's best echo rate. It checks every point produced sane
//! figures, every frame and reply arrived, and the report and chart show them; it asserts
//! no time or rate.

mod common;

use std::time::Duration;

use switchboard_bench::compare::{self, CompareParams, Machine};
use switchboard_bench::curves::{CurveParams, IdleSize};
use switchboard_bench::scenario::chat::ChatParams;
use switchboard_bench::scenario::echo::EchoParams;
use switchboard_bench::scenario::fanout::FanoutParams;
use switchboard_bench::scenario::idle::IdleParams;
use switchboard_bench::servers::ServerKind;
use switchboard_bench::{curves_chart, report};

fn params() -> CompareParams {
    let fanout = FanoutParams {
        subscribers: 1,
        size: 32,
        window: 1,
        duration: Duration::from_millis(100),
    };
    CompareParams {
        runs: 1,
        servers: vec![ServerKind::Switchboard, ServerKind::TtDefault],
        echo: EchoParams {
            clients: 1,
            size: 32,
            warmup: Duration::from_millis(100),
            duration: Duration::from_millis(100),
        },
        idle: IdleParams {
            connections: 1,
            concurrency: 1,
        },
        fanout,
        idle_max_cap: None,
        net: fanout,
        server_core: None,
        chat: ChatParams::default(),
        soak: Default::default(),
        cluster: Default::default(),
        curves: CurveParams {
            servers: vec![ServerKind::Switchboard, ServerKind::TtDefault],
            subscribers: vec![2, 6],
            echo_clients: vec![1, 4],
            idle: vec![IdleSize::Count(5), IdleSize::Count(12)],
            windows: vec![1, 4],
            size: 32,
            warmup: Duration::from_millis(200),
            duration: Duration::from_millis(500),
            open_clients: 3,
            open_share: 0.5,
        },
        scenarios: vec!["curves".to_owned()],
        slices: 1,
        deep_window: 0,
        mixed_rate: 400.0,
        shallow_windows: Vec::new(),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn every_curve_runs_point_by_point_against_a_node_and_a_baseline() {
    let programs = common::programs();
    let comparison = compare::run(params(), &programs, Machine::default(), "curves".into()).await;
    let run = &comparison.runs[0];
    for server in run {
        let kind = server.kind;
        assert!(server.errors.is_empty(), "{kind:?}: {:?}", server.errors);
        // Only the curves ran.
        assert!(server.echo.is_none() && server.fanout.is_none() && server.idle.is_none());
        let curves = &server.curves;

        let fanned: Vec<(usize, u64)> = curves.fanout.iter().map(|p| (p.n, p.window)).collect();
        assert_eq!(fanned, [(2, 1), (2, 4), (6, 1), (6, 4)], "{kind:?}");
        for point in &curves.fanout {
            let f = point.result;
            assert!(
                f.published > 0 && f.deliveries_per_s > 0.0,
                "{kind:?}: {f:?}"
            );
            assert_eq!(f.missing, 0, "{kind:?} at {}: every frame arrives", point.n);
        }

        let echoed: Vec<usize> = curves.echo.iter().map(|p| p.n).collect();
        assert_eq!(echoed, [1, 4], "{kind:?}");
        for point in &curves.echo {
            let e = point.result;
            assert!(e.msgs_per_s > 0.0, "{kind:?}: {e:?}");
            assert!(
                0.0 < e.rtt.p50_us && e.rtt.p50_us <= e.rtt.p99_us,
                "{kind:?}: {e:?}"
            );
        }

        let held: Vec<(IdleSize, usize, usize)> = curves
            .idle
            .iter()
            .map(|p| (p.size, p.result.idle.held, p.result.idle.failed))
            .collect();
        assert_eq!(
            held,
            [(IdleSize::Count(5), 5, 0), (IdleSize::Count(12), 12, 0)],
            "{kind:?}"
        );
        assert!(curves.idle.iter().all(|p| p.result.idle.rss_after > 0));

        let open = curves.open_loop.expect("an open-loop result");
        assert!(open.result.sent > 0, "{kind:?}: {open:?}");
        assert_eq!(open.result.missing, 0, "{kind:?}: every reply comes back");
        assert!(open.result.latency.p50_us > 0.0, "{kind:?}: {open:?}");
    }

    // The offered rate is half the baseline's best closed-loop echo rate, for both servers.
    let baseline = run
        .iter()
        .find(|r| r.kind == ServerKind::TtDefault)
        .expect("the baseline's run");
    let best = baseline
        .curves
        .echo
        .iter()
        .map(|p| p.result.msgs_per_s)
        .fold(0.0, f64::max);
    for server in run {
        let open = server.curves.open_loop.expect("an open-loop result");
        assert_eq!(open.basis.kind, ServerKind::TtDefault);
        assert_eq!(open.basis.msgs_per_s, best);
        assert_eq!(open.result.offered_per_s, best * 0.5);
    }

    let text = report::render(&comparison, "");
    for heading in [
        "## Cost curves",
        "### Fan-out against subscribers",
        "### Echo against clients",
        "### Server RSS against idle connections",
        "### Echo at a fixed offered rate",
    ] {
        assert!(text.contains(heading), "no {heading:?} in:\n{text}");
    }
    assert!(text.contains("| 12 |"), "{text}");
    // Fan-out rows name their depth, then their subscribers, the shallow depth first.
    let one = text
        .find("| 1 | 6 |")
        .expect("a row at 1 in flight and 6 subscribers");
    let four = text
        .find("| 4 | 2 |")
        .expect("a row at 4 in flight and 2 subscribers");
    assert!(one < four, "{text}");
    assert!(
        !text.contains("## Targets") && !text.contains("## Echo:"),
        "only what ran is reported:\n{text}"
    );
    let dir = tempfile::tempdir().expect("a temporary directory");
    let png = dir.path().join("curves.png");
    curves_chart::draw(&comparison, &png).expect("the chart");
    let bytes = std::fs::read(&png).expect("the chart's file");
    assert!(bytes.starts_with(b"\x89PNG"), "a PNG");
}
