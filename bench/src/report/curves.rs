//! The cost curves' tables in `RESULTS.md`: one row per point (per depth and subscriber
//! count for fan-out), one column per server (medians over runs), then Switchboard/baseline
//! ratios computed within each run (median [min–max]); and the fan-out curve's targets at
//! 10,000 subscribers.

use std::fmt::Write;

use super::{group, ratios, ratios_of, values, Spread, Target};
use crate::compare::{Comparison, ServerRun};
use crate::curves::{IdleSize, OpenLoop};
use crate::procfs::CpuUse;
use crate::scenario::idle_max::IdleMaxResult;
use crate::servers::ServerKind;

/// Reads one figure of a server's run at one point.
type At<K> = fn(&ServerRun, K) -> Option<f64>;

/// The subscriber count of the fan-out curve's targets.
pub(crate) const TARGET_SUBSCRIBERS: usize = 10_000;

/// The depths (frames in flight) of the fan-out curve's targets.
pub(crate) const TARGET_WINDOWS: [u64; 2] = [1, 16];

/// `3 s` as `3`, `0.5 s` as `0.5`.
fn secs(d: std::time::Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0}")
    } else {
        format!("{s:.1}")
    }
}

/// The points measured by any server in any run, in the order first seen.
fn points<K: PartialEq + Copy>(c: &Comparison, of: impl Fn(&ServerRun) -> Vec<K>) -> Vec<K> {
    let mut seen = Vec::new();
    for r in c.runs.iter().flatten() {
        for k in of(r) {
            if !seen.contains(&k) {
                seen.push(k);
            }
        }
    }
    seen
}

fn median(c: &Comparison, kind: ServerKind, metric: impl Fn(&ServerRun) -> Option<f64>) -> String {
    Spread::of(&values(c, kind, metric)).map_or_else(|| "—".to_owned(), |s| group(s.median, 0))
}

/// Switchboard/`baseline` within each run, at one point: median [min–max] over runs.
fn ratio(
    c: &Comparison,
    baseline: ServerKind,
    metric: impl Fn(&ServerRun) -> Option<f64>,
) -> String {
    Spread::of(&ratios_of(c, ServerKind::Switchboard, baseline, metric))
        .map_or_else(|| "—".to_owned(), |s| s.show(2))
}

/// The servers the curves ran for, in the comparison's order.
pub(crate) fn curve_servers(c: &Comparison) -> Vec<ServerKind> {
    c.params
        .servers
        .iter()
        .copied()
        .filter(|k| c.params.curves.servers.contains(k))
        .collect()
}

/// The servers Switchboard's figures are divided by: every other one the curves ran for.
fn baselines(c: &Comparison) -> Vec<ServerKind> {
    let servers = curve_servers(c);
    if !servers.contains(&ServerKind::Switchboard) {
        return Vec::new();
    }
    servers
        .into_iter()
        .filter(|&k| k != ServerKind::Switchboard)
        .collect()
}

/// A throughput curve: `rate` and `p99` per server at each row's point, the ratios, and
/// each side's CPU. A row is its label cells (one per entry of `labels`) and its point.
fn throughput_table<K: Copy>(
    out: &mut String,
    c: &Comparison,
    (labels, unit): (&[&str], &str),
    rows: &[(Vec<String>, K)],
    (rate, p99): (At<K>, At<K>),
    cpu: fn(&ServerRun, K) -> Option<CpuUse>,
) {
    let servers = &curve_servers(c);
    let bases = baselines(c);
    let mut head = "|".to_owned();
    for label in labels {
        let _ = write!(head, " {label} |");
    }
    for k in servers {
        let _ = write!(head, " {} {unit} |", k.short());
    }
    for k in servers {
        let _ = write!(head, " {} p99 µs |", k.short());
    }
    for b in &bases {
        let _ = write!(head, " switchboard / {} {unit} |", b.short());
    }
    for b in &bases {
        let _ = write!(head, " switchboard / {} p99 |", b.short());
    }
    for k in servers {
        let _ = write!(head, " {} CPU % server / generator |", k.short());
    }
    let columns = head.matches(" |").count();
    let _ = writeln!(out, "{head}\n|{}", "---|".repeat(columns));
    for (cells, point) in rows {
        let point = *point;
        let mut row = "|".to_owned();
        for cell in cells {
            let _ = write!(row, " {cell} |");
        }
        for &k in servers {
            let _ = write!(row, " {} |", median(c, k, |r| rate(r, point)));
        }
        for &k in servers {
            let _ = write!(row, " {} |", median(c, k, |r| p99(r, point)));
        }
        for &b in &bases {
            let _ = write!(row, " {} |", ratio(c, b, |r| rate(r, point)));
        }
        for &b in &bases {
            let _ = write!(row, " {} |", ratio(c, b, |r| p99(r, point)));
        }
        for &k in servers {
            let _ = write!(
                row,
                " {} / {} |",
                median(c, k, |r| cpu(r, point).map(|u| u.server_pct)),
                median(c, k, |r| cpu(r, point).map(|u| u.client_pct)),
            );
        }
        let _ = writeln!(out, "{row}");
    }
    out.push('\n');
}

/// The fan-out curve's points, ordered by depth and then by subscriber count.
fn fanout_points(c: &Comparison) -> Vec<(usize, u64)> {
    let mut seen = points(c, |r| {
        r.curves.fanout.iter().map(|p| (p.n, p.window)).collect()
    });
    seen.sort_by_key(|&(n, window)| (window, n));
    seen
}

/// The fan-out curve's targets: at 10,000 subscribers and each of 1 and 16 frames in
/// flight, Switchboard's deliveries/s at least and its p99 at most the bare
/// tokio-tungstenite server's (default settings), ratios within each run. None when the
/// fan-out curve did not run.
pub(super) fn targets(c: &Comparison) -> Vec<Target> {
    if !c.params.runs_scenario("fanout-curve") {
        return Vec::new();
    }
    let n = TARGET_SUBSCRIBERS;
    let mut targets = Vec::new();
    for window in TARGET_WINDOWS {
        let at = move |r: &ServerRun| r.curves.fanout_at(n, window).copied();
        for is_rate in [true, false] {
            let metric = if is_rate { "deliveries/s" } else { "p99" };
            targets.push(Target {
                what: format!(
                    "fan-out curve {metric} at {} subscribers, Switchboard / tokio-tungstenite \
                     default ({window} in flight)",
                    group(n as f64, 0)
                ),
                per_run: ratios(c, ServerKind::TtDefault, move |r| {
                    at(r).map(|f| {
                        if is_rate {
                            f.deliveries_per_s
                        } else {
                            f.latency.p99_us
                        }
                    })
                }),
                bound: 1.0,
                at_least: is_rate,
            });
        }
    }
    targets
}

fn echo_at(r: &ServerRun, n: usize) -> Option<&crate::scenario::echo::EchoResult> {
    r.curves.echo.iter().find(|p| p.n == n).map(|p| &p.result)
}

fn idle_at(r: &ServerRun, size: IdleSize) -> Option<&IdleMaxResult> {
    r.curves
        .idle
        .iter()
        .find(|p| p.size == size)
        .map(|p| &p.result)
}

/// The whole "Cost curves" section, when any curve ran.
pub fn curves(out: &mut String, c: &Comparison) {
    let fan_points = fanout_points(c);
    let echo_ns = points(c, |r| r.curves.echo.iter().map(|p| p.n).collect());
    let idle_sizes = points(c, |r| r.curves.idle.iter().map(|p| p.size).collect());
    let open = c
        .runs
        .iter()
        .flatten()
        .any(|r| r.curves.open_loop.is_some());
    if fan_points.is_empty() && echo_ns.is_empty() && idle_sizes.is_empty() && !open {
        return;
    }
    let p = &c.params.curves;
    let _ = writeln!(
        out,
        "## Cost curves\n\n\
         How each server's cost grows with the work. Every point runs on a fresh process of one \
         server at a time (at 10,000 connections the server and the generator each hold 10,000 \
         sockets), the servers taking turns point by point. Figures are medians over runs; a \
         ratio is Switchboard/baseline within one run, then its median [min–max] over runs. \
         The generator has one \
         core: where its CPU nears 100 % the figure is the generator's limit, not the server's.\n\n\
         ![the cost curves](curves.png)\n"
    );
    if !fan_points.is_empty() {
        let depths: Vec<String> = p.windows.iter().map(u64::to_string).collect();
        let _ = writeln!(
            out,
            "### Fan-out against subscribers: {} B, at most {} frames in flight, {} s per point\n\n\
             Each subscriber count runs at every depth on a fresh server; with one frame in \
             flight each published frame waits for all its deliveries before the next.\n",
            p.size,
            depths.join(" and "),
            secs(p.duration)
        );
        let rows: Vec<(Vec<String>, (usize, u64))> = fan_points
            .iter()
            .map(|&(n, window)| (vec![window.to_string(), group(n as f64, 0)], (n, window)))
            .collect();
        throughput_table(
            out,
            c,
            (&["in flight", "subscribers"], "deliveries/s"),
            &rows,
            (
                |r, (n, w)| r.curves.fanout_at(n, w).map(|f| f.deliveries_per_s),
                |r, (n, w)| r.curves.fanout_at(n, w).map(|f| f.latency.p99_us),
            ),
            |r, (n, w)| r.curves.fanout_at(n, w).map(|f| f.cpu),
        );
        let missing: f64 = c
            .runs
            .iter()
            .flatten()
            .flat_map(|r| r.curves.fanout.iter().map(|p| p.result.missing as f64))
            .sum();
        let _ = writeln!(
            out,
            "Deliveries missing or out of order, all servers, points and runs: {}.\n",
            group(missing, 0)
        );
    }
    if !echo_ns.is_empty() {
        let _ = writeln!(
            out,
            "### Echo against clients: {} B, one frame in flight each, {} s per point after {} s warm-up\n",
            p.size,
            secs(p.duration),
            secs(p.warmup)
        );
        let rows: Vec<(Vec<String>, usize)> = echo_ns
            .iter()
            .map(|&n| (vec![group(n as f64, 0)], n))
            .collect();
        throughput_table(
            out,
            c,
            (&["clients"], "msgs/s"),
            &rows,
            (
                |r, n| echo_at(r, n).map(|e| e.msgs_per_s),
                |r, n| echo_at(r, n).map(|e| e.rtt.p99_us),
            ),
            |r, n| echo_at(r, n).map(|e| e.cpu),
        );
    }
    if !idle_sizes.is_empty() {
        idle_table(out, c, &idle_sizes);
    }
    if open {
        open_loop_table(out, c);
    }
}

/// RSS against idle connections: held, RSS and bytes per connection for each server.
fn idle_table(out: &mut String, c: &Comparison, sizes: &[IdleSize]) {
    let servers = &curve_servers(c);
    let bases = baselines(c);
    let _ = writeln!(
        out,
        "### Server RSS against idle connections\n\n\
         Each connection did one round trip (registered, for Switchboard) and then sits; worker \
         processes hold them. `max` is the server's open-file limit less what it already had open \
         and {} spare. Each cell: connections held, server RSS, RSS growth per connection.\n",
        crate::scenario::idle_max::SPARE
    );
    let mut head = "| idle connections asked |".to_owned();
    for k in servers {
        let _ = write!(head, " {} held · RSS · per connection |", k.short());
    }
    for b in &bases {
        let _ = write!(head, " switchboard / {} per connection |", b.short());
    }
    let columns = head.matches(" |").count();
    let _ = writeln!(out, "{head}\n|{}", "---|".repeat(columns));
    for &size in sizes {
        let at = move |f: fn(&IdleMaxResult) -> f64| move |r: &ServerRun| idle_at(r, size).map(f);
        let label = match size {
            IdleSize::Count(n) => group(n as f64, 0),
            IdleSize::FileLimit => "max".to_owned(),
        };
        let mut row = format!("| {label} |");
        for &k in servers {
            let rss = Spread::of(&values(c, k, at(|m| m.idle.rss_after as f64))).map_or_else(
                || "—".to_owned(),
                |s| format!("{:.1} MiB", s.median / 1048576.0),
            );
            let _ = write!(
                row,
                " {} · {rss} · {} B |",
                median(c, k, at(|m| m.idle.held as f64)),
                median(c, k, at(|m| m.idle.rss_per_conn)),
            );
        }
        for &b in &bases {
            let _ = write!(row, " {} |", ratio(c, b, at(|m| m.idle.rss_per_conn)));
        }
        let _ = writeln!(out, "{row}");
    }
    let failed: f64 = c
        .runs
        .iter()
        .flatten()
        .flat_map(|r| r.curves.idle.iter().map(|p| p.result.idle.failed as f64))
        .sum();
    let _ = writeln!(
        out,
        "\nConnections that failed, all servers, points and runs: {}.\n",
        group(failed, 0)
    );
}

/// Echo at a fixed offered rate: one row per server.
fn open_loop_table(out: &mut String, c: &Comparison) {
    let p = &c.params.curves;
    let first: Option<OpenLoop> = c.runs.iter().flatten().find_map(|r| r.curves.open_loop);
    let Some(first) = first else { return };
    let _ = writeln!(
        out,
        "### Echo at a fixed offered rate: {} clients, {} B, {} s after {} s warm-up\n\n\
         Frames are sent on a schedule, {} of the highest closed-loop echo rate a bare \
         tokio-tungstenite server reached in the same run (in the first run: {}, {} msgs/s at \
         {} clients), whether or not earlier replies are back; latency is from each frame's due \
         time, so a stall shows in every frame that should have gone out during it.\n",
        p.open_clients,
        p.size,
        secs(p.duration),
        secs(p.warmup),
        group(p.open_share, 2),
        first.basis.kind.label(),
        group(first.basis.msgs_per_s, 0),
        group(first.basis.clients as f64, 0),
    );
    let _ = writeln!(
        out,
        "| server | offered msgs/s | achieved msgs/s | latency p50 | p99 | p99.9 | replies missing (all runs) | server CPU % | generator CPU % |\n|---|---|---|---|---|---|---|---|---|"
    );
    let of = |f: fn(&OpenLoop) -> f64| move |r: &ServerRun| r.curves.open_loop.as_ref().map(f);
    for k in curve_servers(c) {
        let missing: f64 = values(c, k, of(|o| o.result.missing as f64)).iter().sum();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            k.label(),
            median(c, k, of(|o| o.result.offered_per_s)),
            median(c, k, of(|o| o.result.achieved_per_s)),
            median(c, k, of(|o| o.result.latency.p50_us)),
            median(c, k, of(|o| o.result.latency.p99_us)),
            median(c, k, of(|o| o.result.latency.p999_us)),
            group(missing, 0),
            median(c, k, of(|o| o.result.cpu.server_pct)),
            median(c, k, of(|o| o.result.cpu.client_pct)),
        );
    }
    out.push('\n');
    for b in baselines(c) {
        let _ = writeln!(
            out,
            "- p99 at the offered rate, Switchboard / {}: {}",
            b.label(),
            ratio(c, b, of(|o| o.result.latency.p99_us))
        );
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::compare::{CompareParams, Machine};
    use crate::curves::{CurveParams, FanoutPoint};
    use crate::scenario::echo::EchoParams;
    use crate::scenario::fanout::{FanoutParams, FanoutResult};
    use crate::scenario::idle::IdleParams;

    const SERVERS: [ServerKind; 3] = [
        ServerKind::Switchboard,
        ServerKind::TtDefault,
        ServerKind::Tt4k,
    ];

    fn params(scenarios: &[&str]) -> CompareParams {
        let fanout = FanoutParams {
            subscribers: 1,
            size: 32,
            window: 1,
            duration: Duration::from_secs(1),
        };
        CompareParams {
            runs: 3,
            servers: SERVERS.to_vec(),
            echo: EchoParams {
                clients: 1,
                size: 32,
                warmup: Duration::from_secs(1),
                duration: Duration::from_secs(1),
            },
            idle: IdleParams {
                connections: 1,
                concurrency: 1,
            },
            fanout,
            idle_max_cap: None,
            net: fanout,
            server_core: None,
            chat: Default::default(),
            soak: Default::default(),
            curves: CurveParams {
                servers: SERVERS.to_vec(),
                ..CurveParams::default()
            },
            cluster: Default::default(),
            scenarios: scenarios.iter().map(|s| (*s).to_owned()).collect(),
            slices: 1,
            deep_window: 0,
            mixed_rate: 400.0,
            shallow_windows: Vec::new(),
        }
    }

    /// A fan-out result of `rate` deliveries/s with a p99 of `p99` µs.
    fn fanned(rate: f64, p99: f64) -> FanoutResult {
        let mut f = FanoutResult {
            deliveries_per_s: rate,
            ..FanoutResult::default()
        };
        f.latency.p99_us = p99;
        f
    }

    /// Three runs; `at(kind, run)` gives each server's points in that run as
    /// (subscribers, window, rate, p99).
    fn comparison(
        scenarios: &[&str],
        at: impl Fn(ServerKind, usize) -> Vec<(usize, u64, f64, f64)>,
    ) -> Comparison {
        let runs = (0..3)
            .map(|run| {
                SERVERS
                    .iter()
                    .map(|&kind| {
                        let mut r = ServerRun::new(kind);
                        for (n, window, rate, p99) in at(kind, run) {
                            r.curves.fanout.push(FanoutPoint {
                                n,
                                window,
                                result: fanned(rate, p99),
                            });
                        }
                        r
                    })
                    .collect()
            })
            .collect();
        Comparison {
            params: params(scenarios),
            machine: Machine::default(),
            command: "compare".into(),
            runs,
            elapsed_s: 1.0,
            load_end: String::new(),
        }
    }

    /// Switchboard: at 10,000 subscribers and one in flight 90, 120, 110 deliveries/s and
    /// a p99 of 500, 400, 300 µs; at 16 in flight 200, 210, 220 and 800, 900, 1,000. Both
    /// bare servers: 100 deliveries/s and 400 µs throughout. Also 100 subscribers at one in
    /// flight, where Switchboard is level.
    fn ten_thousand() -> Comparison {
        comparison(&["fanout-curve"], |kind, run| {
            if kind == ServerKind::Switchboard {
                vec![
                    (
                        10_000,
                        16,
                        [200.0, 210.0, 220.0][run],
                        [800.0, 900.0, 1_000.0][run],
                    ),
                    (
                        10_000,
                        1,
                        [90.0, 120.0, 110.0][run],
                        [500.0, 400.0, 300.0][run],
                    ),
                    (100, 1, 100.0, 400.0),
                ]
            } else {
                vec![
                    (100, 1, 100.0, 400.0),
                    (10_000, 1, 100.0, 400.0),
                    (10_000, 16, 100.0, 400.0),
                ]
            }
        })
    }

    fn rows(c: &Comparison) -> Vec<String> {
        targets(c).iter().map(Target::row).collect()
    }

    #[test]
    fn the_targets_at_ten_thousand_take_each_runs_ratio_and_say_met_or_missed() {
        let rows = rows(&ten_thousand());
        let expected = [
            "| fan-out curve deliveries/s at 10,000 subscribers, Switchboard / tokio-tungstenite \
             default (1 in flight) | ≥ 1 | 0.90, 1.20, 1.10 | 1.10 [0.90–1.20] | met by the \
             median, not in every run |\n",
            "| fan-out curve p99 at 10,000 subscribers, Switchboard / tokio-tungstenite default \
             (1 in flight) | ≤ 1 | 1.25, 1.00, 0.75 | 1.00 [0.75–1.25] | met by the median, not \
             in every run |\n",
            "| fan-out curve deliveries/s at 10,000 subscribers, Switchboard / tokio-tungstenite \
             default (16 in flight) | ≥ 1 | 2.00, 2.10, 2.20 | 2.10 [2.00–2.20] | **met** in \
             every run |\n",
            "| fan-out curve p99 at 10,000 subscribers, Switchboard / tokio-tungstenite default \
             (16 in flight) | ≤ 1 | 2.00, 2.25, 2.50 | 2.25 [2.00–2.50] | **missed** |\n",
        ];
        assert_eq!(rows, expected);
    }

    #[test]
    fn a_run_without_the_baseline_at_a_point_gives_no_ratio() {
        // The bare server failed its 16-in-flight point in the second run.
        let c = comparison(&["fanout-curve"], |kind, run| match kind {
            ServerKind::Switchboard => vec![(10_000, 16, 150.0, 400.0)],
            _ if run == 1 => Vec::new(),
            _ => vec![(10_000, 16, 100.0, 400.0)],
        });
        let rows = rows(&c);
        assert!(
            rows[2].contains("| 1.50, 1.50 | 1.50 [1.50–1.50] |"),
            "{}",
            rows[2]
        );
        assert!(
            rows[0].ends_with("| — | — | not measured |\n"),
            "{}",
            rows[0]
        );
    }

    #[test]
    fn no_curve_targets_unless_the_fanout_curve_ran() {
        assert!(targets(&comparison(&["echo"], |_, _| Vec::new())).is_empty());
        let text = super::super::render(&ten_thousand(), "");
        assert!(text.contains("## Targets"), "{text}");
        assert!(text.contains("(16 in flight) | ≤ 1 |"), "{text}");
    }

    #[test]
    fn the_fanout_table_has_a_row_per_depth_and_count_with_ratio_spreads() {
        let mut out = String::new();
        curves(&mut out, &ten_thousand());
        let table: Vec<&str> = out
            .lines()
            .skip_while(|l| !l.starts_with("| in flight | subscribers |"))
            .take_while(|l| l.starts_with('|'))
            .collect();
        assert_eq!(table.len(), 5, "{out}");
        assert!(table[0].contains(
            "| switchboard / tt-default deliveries/s | switchboard / tt-4k deliveries/s |"
        ));
        // The shallow depth first, then by subscribers.
        let labels: Vec<String> = table[2..]
            .iter()
            .map(|row| row.split('|').skip(1).take(2).collect::<Vec<_>>().join("|"))
            .collect();
        assert_eq!(labels, [" 1 | 100 ", " 1 | 10,000 ", " 16 | 10,000 "]);
        // Medians over runs of each server, then each ratio's median [min–max].
        assert!(table[3].starts_with("| 1 | 10,000 | 110 | 100 | 100 | 400 | 400 | 400 |"));
        assert!(table[3].contains(
            "| 1.10 [0.90–1.20] | 1.10 [0.90–1.20] | 1.00 [0.75–1.25] | 1.00 [0.75–1.25] |"
        ));
        assert!(table[2].contains("| 1.00 [1.00–1.00] |"), "{}", table[2]);
        assert!(out.contains("at most 1 and 16 frames in flight"), "{out}");
    }
}
