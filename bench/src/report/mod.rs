//! `RESULTS.md`: the machine and command, the issue's targets as Switchboard/baseline ratios
//! computed run by run, and one table per scenario ([`tables`]: medians over runs with
//! min–max).
//! Hand-written findings are kept in `findings.md` and included as they are.

use std::fmt::Write;

pub(crate) mod curves;
mod soak;
mod tables;

use crate::compare::{Comparison, ServerRun};
use crate::servers::ServerKind;

/// Median, minimum and maximum of some values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    /// The median (mean of the middle two for an even count).
    pub median: f64,
    /// The smallest.
    pub min: f64,
    /// The largest.
    pub max: f64,
}

impl Spread {
    /// The spread of `values`; `None` when there are none.
    pub fn of(values: &[f64]) -> Option<Self> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Self {
            median,
            min: v[0],
            max: v[n - 1],
        })
    }

    fn show(&self, digits: usize) -> String {
        format!(
            "{} [{}–{}]",
            group(self.median, digits),
            group(self.min, digits),
            group(self.max, digits)
        )
    }
}

/// `12345.6` as `12,346` (or with `digits` decimals).
fn group(x: f64, digits: usize) -> String {
    let s = format!("{x:.digits$}");
    let (int, frac) = s
        .split_once('.')
        .map_or((s.as_str(), None), |(i, f)| (i, Some(f)));
    let (sign, int) = int.strip_prefix('-').map_or(("", int), |i| ("-", i));
    let mut out = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    match frac {
        Some(f) => format!("{sign}{out}.{f}"),
        None => format!("{sign}{out}"),
    }
}

/// The servers of a comparison other than Switchboard, in their order.
pub fn baselines(c: &Comparison) -> Vec<ServerKind> {
    c.params
        .servers
        .iter()
        .copied()
        .filter(|&k| k != ServerKind::Switchboard)
        .collect()
}

/// Values of one metric for `kind`, one per run where it was measured.
pub fn values(
    c: &Comparison,
    kind: ServerKind,
    metric: impl Fn(&ServerRun) -> Option<f64>,
) -> Vec<f64> {
    c.runs
        .iter()
        .filter_map(|run| run.iter().find(|r| r.kind == kind).and_then(&metric))
        .collect()
}

/// Switchboard/`baseline` for one metric, computed within each run.
pub fn ratios(
    c: &Comparison,
    baseline: ServerKind,
    metric: impl Fn(&ServerRun) -> Option<f64>,
) -> Vec<f64> {
    ratios_of(c, ServerKind::Switchboard, baseline, metric)
}

/// `ours`/`baseline` for one metric, computed within each run.
pub fn ratios_of(
    c: &Comparison,
    ours: ServerKind,
    baseline: ServerKind,
    metric: impl Fn(&ServerRun) -> Option<f64>,
) -> Vec<f64> {
    c.runs
        .iter()
        .filter_map(|run| {
            let ours = run.iter().find(|r| r.kind == ours).and_then(&metric)?;
            let theirs = run.iter().find(|r| r.kind == baseline).and_then(&metric)?;
            (theirs > 0.0).then(|| ours / theirs)
        })
        .collect()
}

fn cell(
    c: &Comparison,
    kind: ServerKind,
    digits: usize,
    metric: impl Fn(&ServerRun) -> Option<f64>,
) -> String {
    Spread::of(&values(c, kind, metric)).map_or_else(|| "—".to_owned(), |s| s.show(digits))
}

fn median_cell(
    c: &Comparison,
    kind: ServerKind,
    digits: usize,
    metric: impl Fn(&ServerRun) -> Option<f64>,
) -> String {
    Spread::of(&values(c, kind, metric)).map_or_else(|| "—".to_owned(), |s| group(s.median, digits))
}

/// A target: a ratio (or an absolute figure) and the bound it must meet.
struct Target {
    what: String,
    per_run: Vec<f64>,
    bound: f64,
    at_least: bool,
}

impl Target {
    fn row(&self) -> String {
        let runs = self
            .per_run
            .iter()
            .map(|&r| group(r, 2))
            .collect::<Vec<_>>()
            .join(", ");
        let relation = if self.at_least { "≥" } else { "≤" };
        let Some(spread) = Spread::of(&self.per_run) else {
            return format!(
                "| {} | {relation} {} | — | — | not measured |\n",
                self.what, self.bound
            );
        };
        let ok = |x: f64| {
            if self.at_least {
                x >= self.bound
            } else {
                x <= self.bound
            }
        };
        let verdict = match (ok(spread.median), self.per_run.iter().all(|&x| ok(x))) {
            (true, true) => "**met** in every run",
            (true, false) => "met by the median, not in every run",
            (false, _) => "**missed**",
        };
        format!(
            "| {} | {relation} {} | {runs} | {} | {verdict} |\n",
            self.what,
            group(self.bound, if self.bound.fract() == 0.0 { 0 } else { 1 }),
            spread.show(2)
        )
    }
}

/// The report as Markdown; `findings` is included under its own heading.
pub fn render(c: &Comparison, findings: &str) -> String {
    let p = &c.params;
    let m = &c.machine;
    let mut out = String::new();
    let _ = writeln!(out, "# Switchboard benchmarks, side by side\n");
    let _ = writeln!(
        out,
        "Written by the command below from its own runs; every figure is from the same invocation, \
         and every ratio is Switchboard/baseline computed within one run, then summarised as \
         median [min–max] over {} runs. Latencies are in µs. CPU is the share of one core each side \
         used while the scenario was measured: a generator near 100 % means the figure is a lower \
         bound set by the load generator, not by the server.{}\n",
        p.runs,
        if p.slices > 1 && (p.runs_scenario("echo") || p.runs_scenario("fanout")) {
            " For echo and fan-out all servers of a run are up at once, each with its clients \
             connected, and they take turns: each server's time is cut into slices taken one \
             after another, the first server rotating, so a machine whose speed drifts slows \
             every server alike."
        } else {
            ""
        }
    );
    let _ = writeln!(out, "```sh\n{}\n```\n", c.command);
    let _ = writeln!(
        out,
        "- Machine: {} × {}, kernel {}, open-file limit {}, Node {}\n- Servers pinned to core {}, the load generator to the other core; loopback only, client sockets spread over 127.0.0.1–127.0.0.{}\n- Whole comparison took {:.0} s\n",
        m.nproc,
        m.cpu,
        m.kernel,
        m.fd_limit,
        m.node,
        p.server_core.map_or("(none)".to_owned(), |c| c.to_string()),
        crate::client::SOURCE_ADDRESSES,
        c.elapsed_s
    );
    if !m.load_start.is_empty() {
        let _ = writeln!(
            out,
            "- Load average (1 / 5 / 15 min) at the start {}, at the end {}: the machine is \
             shared, and anything above the servers' and generator's own 2 means others ran too\n",
            m.load_start, c.load_end
        );
    }
    if crate::chart::has_bars(c) {
        let _ = writeln!(
            out,
            "![throughput and memory per connection](results.png)\n"
        );
    }

    let echo_rate = |r: &ServerRun| r.echo.map(|e| e.msgs_per_s);
    let fan_rate = |r: &ServerRun| r.fanout.map(|f| f.deliveries_per_s);
    let fan_p99 = |r: &ServerRun| r.fanout.map(|f| f.latency.p99_us);
    let deep_rate = |r: &ServerRun| r.fanout_deep.map(|f| f.deliveries_per_s);
    let deep_p99 = |r: &ServerRun| r.fanout_deep.map(|f| f.latency.p99_us);
    let deep = |what: &str| format!("{what} ({} frames in flight)", p.deep_window);
    let idle_rss = |r: &ServerRun| r.idle.map(|i| i.rss_per_conn);
    let mut targets = vec![
        Target {
            what: "echo msgs/s, echo outside the node / echo inside (issue 16)".into(),
            per_run: ratios_of(
                c,
                ServerKind::SwitchboardOutside,
                ServerKind::Switchboard,
                echo_rate,
            ),
            bound: 0.5,
            at_least: true,
        },
        Target {
            what: "echo msgs/s, Switchboard / tokio-tungstenite 4 KiB".into(),
            per_run: ratios(c, ServerKind::Tt4k, echo_rate),
            bound: 0.9,
            at_least: true,
        },
        Target {
            what: "echo msgs/s, Switchboard / Node ws".into(),
            per_run: ratios(c, ServerKind::NodeWs, echo_rate),
            bound: 1.5,
            at_least: true,
        },
        Target {
            what: "idle: Switchboard RSS bytes per connection".into(),
            per_run: values(c, ServerKind::Switchboard, idle_rss),
            bound: 4096.0,
            at_least: false,
        },
        Target {
            what: "fan-out deliveries/s, Switchboard / tokio-tungstenite default".into(),
            per_run: ratios(c, ServerKind::TtDefault, fan_rate),
            bound: 1.0,
            at_least: true,
        },
        Target {
            what: "fan-out p99, Switchboard / tokio-tungstenite default".into(),
            per_run: ratios(c, ServerKind::TtDefault, fan_p99),
            bound: 1.0,
            at_least: false,
        },
        Target {
            what: "fan-out deliveries/s, Switchboard / tokio-tungstenite 4 KiB".into(),
            per_run: ratios(c, ServerKind::Tt4k, fan_rate),
            bound: 1.0,
            at_least: true,
        },
        Target {
            what: "fan-out p99, Switchboard / tokio-tungstenite 4 KiB".into(),
            per_run: ratios(c, ServerKind::Tt4k, fan_p99),
            bound: 1.0,
            at_least: false,
        },
        Target {
            what: "fan-out deliveries/s, Switchboard / Node ws".into(),
            per_run: ratios(c, ServerKind::NodeWs, fan_rate),
            bound: 4.0,
            at_least: true,
        },
        Target {
            what: "idle at the file limit: connections held / asked (the limit less the server's own descriptors)".into(),
            per_run: values(c, ServerKind::Switchboard, |r| {
                r.idle_max
                    .map(|m| m.idle.held as f64 / m.asked.max(1) as f64)
            }),
            bound: 1.0,
            at_least: true,
        },
        Target {
            what: "net: pushes/s from a process on one node to channels on another".into(),
            per_run: values(c, ServerKind::Switchboard, |r| r.net.map(|n| n.deliveries_per_s)),
            bound: 100_000.0,
            at_least: true,
        },
        Target {
            what: format!(
                "chat: messages/s stored and shown to {} members, {} says in flight",
                group(p.chat.members as f64, 0),
                p.chat.window
            ),
            per_run: values(c, ServerKind::Switchboard, |r| {
                r.chat.map(|n| n.messages_per_s)
            }),
            bound: 5_000.0,
            at_least: true,
        },
        Target {
            what: format!(
                "chat's loopback ceiling: the most messages/s any server could show {} members \
                 with {} says in flight here (writes/s one core makes to their sockets × {} / {})",
                group(p.chat.members as f64, 0),
                p.chat.window,
                p.chat.window,
                group(p.chat.members as f64, 0),
            ),
            per_run: values(c, ServerKind::Switchboard, |r| {
                r.chat_ceiling
                    .map(|x| x.room_bound(p.chat.members, p.chat.window))
            }),
            bound: 5_000.0,
            at_least: true,
        },
    ];
    if p.deep_window > 0 {
        let at = targets.len() - 4;
        let deep_targets = [
            (
                deep("fan-out deliveries/s, Switchboard / tokio-tungstenite default"),
                ServerKind::TtDefault,
                true,
            ),
            (
                deep("fan-out p99, Switchboard / tokio-tungstenite default"),
                ServerKind::TtDefault,
                false,
            ),
            (
                deep("fan-out deliveries/s, Switchboard / tokio-tungstenite 4 KiB"),
                ServerKind::Tt4k,
                true,
            ),
            (
                deep("fan-out p99, Switchboard / tokio-tungstenite 4 KiB"),
                ServerKind::Tt4k,
                false,
            ),
        ]
        .map(|(what, kind, rate)| Target {
            what,
            per_run: ratios(c, kind, if rate { deep_rate } else { deep_p99 }),
            bound: 1.0,
            at_least: rate,
        });
        targets.splice(at..at, deep_targets);
    }
    for (at, &window) in p.shallow_windows.iter().enumerate() {
        let pick = move |r: &ServerRun| r.fanout_shallow.get(at).copied().flatten();
        let rate = move |r: &ServerRun| pick(r).map(|f| f.deliveries_per_s);
        let p99 = move |r: &ServerRun| pick(r).map(|f| f.latency.p99_us);
        for (metric, is_rate) in [("deliveries/s", true), ("p99", false)] {
            targets.push(Target {
                what: format!(
                    "fan-out {metric}, Switchboard / tokio-tungstenite 4 KiB ({window} in flight)"
                ),
                per_run: if is_rate {
                    ratios(c, ServerKind::Tt4k, rate)
                } else {
                    ratios(c, ServerKind::Tt4k, p99)
                },
                bound: 1.0,
                at_least: is_rate,
            });
        }
    }
    targets.push(Target {
        what: format!(
            "cluster: deliveries/s of {} instances on NATS / one node, subscribers spread",
            p.cluster.instances
        ),
        per_run: values(c, ServerKind::Switchboard, |r| {
            r.cluster
                .map(|k| k.spread.deliveries_per_s / k.single.deliveries_per_s.max(1e-9))
        }),
        bound: 0.5,
        at_least: true,
    });
    targets.extend(curves::targets(c));
    // A run that measured none of these (the soak, the curves below 10,000 subscribers)
    // has no table to show.
    if targets.iter().any(|t| !t.per_run.is_empty()) {
        let _ = writeln!(out, "## Targets (issue 6)\n");
        let _ = writeln!(out, "| target | bound | ratio in each run | median [min–max] | verdict |\n|---|---|---|---|---|");
        for target in &targets {
            out.push_str(&target.row());
        }
        out.push('\n');
    }
    if p.runs_scenario("echo") {
        tables::echo(&mut out, c);
    }
    if p.runs_scenario("idle") {
        tables::idle(&mut out, c);
    }
    if p.runs_scenario("fanout") {
        tables::fanout_depths(&mut out, c);
        tables::fanout(&mut out, c);
        tables::fanout_deep(&mut out, c);
    }
    if p.runs_scenario("mixed") {
        tables::mixed(&mut out, c);
    }
    tables::idle_max(&mut out, c);
    tables::net(&mut out, c);
    tables::chat(&mut out, c);
    curves::curves(&mut out, c);
    tables::cluster(&mut out, c);
    soak::soak(&mut out, c);

    let errors: Vec<String> = c
        .runs
        .iter()
        .enumerate()
        .flat_map(|(i, run)| {
            run.iter().flat_map(move |r| {
                r.errors
                    .iter()
                    .map(move |e| format!("- run {}, {}: {e}", i + 1, r.kind.short()))
            })
        })
        .collect();
    if !errors.is_empty() {
        let _ = writeln!(out, "\n## Errors during the runs\n\n{}", errors.join("\n"));
    }
    if !findings.trim().is_empty() {
        let _ = writeln!(out, "\n{}", findings.trim());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads_and_grouping() {
        let s = Spread::of(&[3.0, 1.0, 2.0]).expect("values");
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        assert_eq!(
            Spread::of(&[1.0, 2.0, 3.0, 4.0]).map(|s| s.median),
            Some(2.5)
        );
        assert_eq!(Spread::of(&[]), None);
        assert_eq!(group(1234567.4, 0), "1,234,567");
        assert_eq!(group(999.0, 1), "999.0");
        assert_eq!(group(-1000.0, 0), "-1,000");
    }
}
