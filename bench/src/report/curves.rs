//! The cost curves' tables in `RESULTS.md`: one row per point, one column per server
//! (medians over runs), then Switchboard/baseline ratios computed within each run (their
//! median).

use std::fmt::Write;

use super::{group, ratios_of, values, Spread};
use crate::compare::{Comparison, ServerRun};
use crate::curves::{IdleSize, OpenLoop};
use crate::procfs::CpuUse;
use crate::scenario::idle_max::IdleMaxResult;
use crate::servers::ServerKind;

/// Reads one figure of a server's run at one point.
type At<K> = fn(&ServerRun, K) -> Option<f64>;

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

/// The median of Switchboard/`baseline` within each run, at one point.
fn ratio(
    c: &Comparison,
    baseline: ServerKind,
    metric: impl Fn(&ServerRun) -> Option<f64>,
) -> String {
    Spread::of(&ratios_of(c, ServerKind::Switchboard, baseline, metric))
        .map_or_else(|| "—".to_owned(), |s| group(s.median, 2))
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

/// A throughput curve: `rate` and `p99` per server at each of `ns`, the ratios, and each
/// side's CPU.
fn throughput_table(
    out: &mut String,
    c: &Comparison,
    (what, unit): (&str, &str),
    ns: &[usize],
    (rate, p99): (At<usize>, At<usize>),
    cpu: fn(&ServerRun, usize) -> Option<CpuUse>,
) {
    let servers = &curve_servers(c);
    let bases = baselines(c);
    let mut head = format!("| {what} |");
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
    for &n in ns {
        let mut row = format!("| {} |", group(n as f64, 0));
        for &k in servers {
            let _ = write!(row, " {} |", median(c, k, |r| rate(r, n)));
        }
        for &k in servers {
            let _ = write!(row, " {} |", median(c, k, |r| p99(r, n)));
        }
        for &b in &bases {
            let _ = write!(row, " {} |", ratio(c, b, |r| rate(r, n)));
        }
        for &b in &bases {
            let _ = write!(row, " {} |", ratio(c, b, |r| p99(r, n)));
        }
        for &k in servers {
            let _ = write!(
                row,
                " {} / {} |",
                median(c, k, |r| cpu(r, n).map(|u| u.server_pct)),
                median(c, k, |r| cpu(r, n).map(|u| u.client_pct)),
            );
        }
        let _ = writeln!(out, "{row}");
    }
    out.push('\n');
}

fn fanout_at(r: &ServerRun, n: usize) -> Option<&crate::scenario::fanout::FanoutResult> {
    r.curves.fanout.iter().find(|p| p.n == n).map(|p| &p.result)
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
    let fan_ns = points(c, |r| r.curves.fanout.iter().map(|p| p.n).collect());
    let echo_ns = points(c, |r| r.curves.echo.iter().map(|p| p.n).collect());
    let idle_sizes = points(c, |r| r.curves.idle.iter().map(|p| p.size).collect());
    let open = c
        .runs
        .iter()
        .flatten()
        .any(|r| r.curves.open_loop.is_some());
    if fan_ns.is_empty() && echo_ns.is_empty() && idle_sizes.is_empty() && !open {
        return;
    }
    let p = &c.params.curves;
    let _ = writeln!(
        out,
        "## Cost curves\n\n\
         How each server's cost grows with the work. Every point runs on a fresh process of one \
         server at a time (at 10,000 connections the server and the generator each hold 10,000 \
         sockets), the servers taking turns point by point. Figures are medians over runs; a \
         ratio is Switchboard/baseline within one run, then its median. The generator has one \
         core: where its CPU nears 100 % the figure is the generator's limit, not the server's.\n\n\
         ![the cost curves](curves.png)\n"
    );
    if !fan_ns.is_empty() {
        let _ = writeln!(
            out,
            "### Fan-out against subscribers: {} B, at most {} frames in flight, {} s per point\n",
            p.size,
            p.window,
            secs(p.duration)
        );
        throughput_table(
            out,
            c,
            ("subscribers", "deliveries/s"),
            &fan_ns,
            (
                |r, n| fanout_at(r, n).map(|f| f.deliveries_per_s),
                |r, n| fanout_at(r, n).map(|f| f.latency.p99_us),
            ),
            |r, n| fanout_at(r, n).map(|f| f.cpu),
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
        throughput_table(
            out,
            c,
            ("clients", "msgs/s"),
            &echo_ns,
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
