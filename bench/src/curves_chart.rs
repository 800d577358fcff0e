//! `curves.png`: the cost curves, one line per server at the medians over runs, both axes
//! logarithmic: fan-out deliveries/s and p99 against subscribers (one line per server and
//! depth: solid for the deepest, dashed for each shallower one), echo msgs/s and p99
//! against clients, server RSS against idle connections, and the open loop's latency
//! percentiles at the fixed offered rate.

use std::path::Path;

use anyhow::Context;
use plotters::coord::combinators::LogCoord;
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;

use crate::chart::{color, register_font, si};
use crate::compare::{Comparison, ServerRun};
use crate::curves::IdleSize;
use crate::report::curves::curve_servers;
use crate::report::{values, Spread};
use crate::scenario::fanout::FanoutResult;
use crate::servers::ServerKind;

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// One line: (x, y) at each point a server measured.
struct Line {
    /// The server, which sets the colour.
    kind: ServerKind,
    /// The legend's text.
    label: String,
    /// 0 for a solid line with circles; 1, 2, ... for ever shorter dashes and other marks.
    dash: usize,
    points: Vec<(f64, f64)>,
}

impl Line {
    /// A solid line labelled with the server's short name.
    fn solid(kind: ServerKind, points: Vec<(f64, f64)>) -> Self {
        Self {
            kind,
            label: kind.short().to_owned(),
            dash: 0,
            points,
        }
    }
}

/// Whether any curve ran, so there is something to draw.
pub fn has_curves(c: &Comparison) -> bool {
    c.runs.iter().flatten().any(|r| {
        let k = &r.curves;
        !k.fanout.is_empty() || !k.echo.is_empty() || !k.idle.is_empty() || k.open_loop.is_some()
    })
}

fn median(
    c: &Comparison,
    kind: ServerKind,
    metric: impl Fn(&ServerRun) -> Option<f64>,
) -> Option<f64> {
    Spread::of(&values(c, kind, metric)).map(|s| s.median)
}

/// `kind`'s points through `xs`, at the median of `y` over runs.
fn points_of(
    c: &Comparison,
    kind: ServerKind,
    xs: &[usize],
    y: impl Fn(&ServerRun, usize) -> Option<f64> + Copy,
) -> Vec<(f64, f64)> {
    xs.iter()
        .filter_map(|&n| Some((n as f64, median(c, kind, |r| y(r, n))?)))
        .filter(|&(_, v)| v > 0.0)
        .collect()
}

/// Each server's line through `xs`, at the median of `y` over runs.
fn lines(
    c: &Comparison,
    xs: &[usize],
    y: impl Fn(&ServerRun, usize) -> Option<f64> + Copy,
) -> Vec<Line> {
    curve_servers(c)
        .into_iter()
        .map(|k| Line::solid(k, points_of(c, k, xs, y)))
        .collect()
}

/// The fan-out curve's depths, deepest first (it gets the solid line).
fn depths(c: &Comparison) -> Vec<u64> {
    let mut windows: Vec<u64> = c
        .runs
        .iter()
        .flatten()
        .flat_map(|r| r.curves.fanout.iter().map(|p| p.window))
        .collect();
    windows.sort_unstable_by(|a, b| b.cmp(a));
    windows.dedup();
    windows
}

/// One line per depth and server through `xs` (subscriber counts), at the median of
/// `y` over runs; a depth's dash is its place among the depths, deepest first.
fn depth_lines(c: &Comparison, xs: &[usize], y: fn(&FanoutResult) -> f64) -> Vec<Line> {
    let mut out = Vec::new();
    for (dash, window) in depths(c).into_iter().enumerate() {
        for kind in curve_servers(c) {
            let points = points_of(c, kind, xs, |r, n| r.curves.fanout_at(n, window).map(y));
            out.push(Line {
                kind,
                label: format!("{}, {window} in flight", kind.short()),
                dash,
                points,
            });
        }
    }
    out
}

/// The counts any server measured, ascending.
fn counts(c: &Comparison, of: impl Fn(&ServerRun) -> Vec<usize>) -> Vec<usize> {
    let mut ns: Vec<usize> = c.runs.iter().flatten().flat_map(of).collect();
    ns.sort_unstable();
    ns.dedup();
    ns
}

/// An axis label: `20000` as `20k`, `1500` as `1.5k`, `0.25` as `0.25`.
fn axis(v: f64) -> String {
    let trim = |s: String| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            s
        }
    };
    if v >= 1e6 {
        format!("{}M", trim(format!("{:.1}", v / 1e6)))
    } else if v >= 1e3 {
        format!("{}k", trim(format!("{:.1}", v / 1e3)))
    } else {
        trim(format!("{v:.2}"))
    }
}

/// A log range around `values` from one power of ten to another, so the axis always has
/// labelled decades (a range inside one decade would have none).
fn range(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (lo, hi) = values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        return 1.0..10.0;
    }
    let lo = 10f64.powf((lo / 1.2).max(1e-3).log10().floor());
    let hi = 10f64.powf((hi * 1.2).log10().ceil());
    lo..hi.max(lo * 10.0)
}

/// Raises a log range's top by whole decades until `highest` sits below the top `share`
/// of the axis, the band the legend covers.
fn room_for_legend(r: std::ops::Range<f64>, highest: f64, share: f64) -> std::ops::Range<f64> {
    let (lo, mut hi) = (r.start.log10(), r.end.log10());
    while highest > 0.0 && highest.log10() > hi - share * (hi - lo) {
        hi += 1.0;
    }
    r.start..10f64.powi(hi.round() as i32)
}

/// About how many pixels high and wide a panel's plotting area is; how high a legend
/// entry is, and how wide a character of its text (plus the sample line and padding).
const PLOT_PX: (f64, f64) = (340.0, 400.0);
const LEGEND_ENTRY_PX: f64 = 20.0;
const LEGEND_CHAR_PX: f64 = 7.5;
const LEGEND_PAD_PX: f64 = 50.0;

/// Where along a log axis over `r` the value `v` lies, from 0 to 1.
fn along(r: &std::ops::Range<f64>, v: f64) -> f64 {
    (v.log10() - r.start.log10()) / (r.end.log10() - r.start.log10())
}

/// A log-log panel of `lines`; the y axis leaves room above the lines for the legend.
fn panel(
    area: &Area<'_>,
    title: &str,
    (x_desc, y_desc): (&str, &str),
    lines: &[Line],
) -> anyhow::Result<()> {
    let all = || lines.iter().flat_map(|l| l.points.iter().copied());
    // The legend sits in the upper left: only the points beneath it need room above them.
    let drawn: Vec<&Line> = lines.iter().filter(|l| !l.points.is_empty()).collect();
    let chars = drawn.iter().map(|l| l.label.len()).max().unwrap_or(0);
    let legend_wide = (chars as f64 * LEGEND_CHAR_PX + LEGEND_PAD_PX) / PLOT_PX.1;
    let legend_high = (drawn.len() as f64 * LEGEND_ENTRY_PX + 16.0) / PLOT_PX.0;
    let x = range(all().map(|(x, _)| x));
    let highest = all()
        .filter(|&(v, _)| along(&x, v) <= legend_wide)
        .map(|(_, y)| y)
        .fold(0.0, f64::max);
    let y = room_for_legend(range(all().map(|(_, y)| y)), highest, legend_high.min(0.6));
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d(x.log_scale(), y.log_scale())?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_labels(8)
        .y_labels(8)
        .light_line_style(RGBColor(238, 238, 238))
        .x_label_formatter(&|v| axis(*v))
        .y_label_formatter(&|v| axis(*v))
        .label_style(("sans-serif", 14))
        .draw()?;
    for line in lines {
        draw_line(&mut chart, line)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()?;
    Ok(())
}

type Chart<'a, 'b> = ChartContext<'a, BitMapBackend<'b>, Cartesian2d<LogCoord<f64>, LogCoord<f64>>>;

/// The dash length and gap (pixels) of dash style `dash` (0 is solid).
fn dashes(dash: usize) -> (u32, u32) {
    match dash {
        0 => (0, 0),
        1 => (10, 6),
        _ => (3, 4),
    }
}

/// Draws `line` with its marks, and gives the legend its entry.
fn draw_line(chart: &mut Chart<'_, '_>, line: &Line) -> anyhow::Result<()> {
    if line.points.is_empty() {
        return Ok(());
    }
    let colour = color(line.kind);
    let style = colour.stroke_width(2);
    let points = line.points.iter().copied();
    let drawn = match dashes(line.dash) {
        (0, _) => chart.draw_series(LineSeries::new(points, style))?,
        (size, gap) => chart.draw_series(DashedLineSeries::new(points, size, gap, style))?,
    };
    // The legend's sample is 24 pixels: one dash of 24 is a solid line.
    let (size, gap) = match dashes(line.dash) {
        (0, _) => (24, 1),
        (size, gap) => (size.div_ceil(2), gap.div_ceil(2)),
    };
    drawn
        .label(line.label.as_str())
        .legend(move |(x, y)| DashedPathElement::new(vec![(x, y), (x + 24, y)], size, gap, style));
    match line.dash {
        0 => chart.draw_series(
            line.points
                .iter()
                .map(|&p| Circle::new(p, 4, colour.filled())),
        )?,
        1 => chart.draw_series(
            line.points
                .iter()
                .map(|&p| TriangleMarker::new(p, 6, colour.filled())),
        )?,
        _ => chart.draw_series(
            line.points
                .iter()
                .map(|&p| Cross::new(p, 5, colour.stroke_width(2))),
        )?,
    };
    Ok(())
}

/// The open loop's p50, p99 and p99.9 for each server (x: 1, 2, 3; y: µs, log).
fn open_loop_panel(area: &Area<'_>, c: &Comparison) -> anyhow::Result<()> {
    type Pick = fn(&crate::curves::OpenLoop) -> f64;
    let quantiles: [Pick; 3] = [
        |o| o.result.latency.p50_us,
        |o| o.result.latency.p99_us,
        |o| o.result.latency.p999_us,
    ];
    let lines: Vec<Line> = curve_servers(c)
        .into_iter()
        .map(|k| {
            let points = quantiles
                .iter()
                .enumerate()
                .filter_map(|(i, q)| {
                    let v = median(c, k, |r| r.curves.open_loop.as_ref().map(q))?;
                    (v > 0.0).then_some((i as f64 + 1.0, v))
                })
                .collect();
            Line::solid(k, points)
        })
        .collect();
    let offered: Vec<f64> = c
        .runs
        .iter()
        .flatten()
        .filter_map(|r| r.curves.open_loop.map(|o| o.result.offered_per_s))
        .collect();
    let rate = Spread::of(&offered).map_or(0.0, |s| s.median);
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!(
                "echo latency, {} msgs/s offered (median; open loop)",
                si(rate)
            ),
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d(
            0.5..3.5,
            range(lines.iter().flat_map(|l| l.points.iter().map(|&(_, y)| y))).log_scale(),
        )?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(3)
        .x_desc("percentile")
        .y_desc("µs from the due time")
        .x_label_formatter(&|v: &f64| match v.round() as i64 {
            1 => "p50".to_owned(),
            2 => "p99".to_owned(),
            3 => "p99.9".to_owned(),
            _ => String::new(),
        })
        .y_labels(8)
        .light_line_style(RGBColor(238, 238, 238))
        .y_label_formatter(&|v| axis(*v))
        .label_style(("sans-serif", 14))
        .draw()?;
    for Line { kind, points, .. } in &lines {
        if points.is_empty() {
            continue;
        }
        let style = color(*kind).stroke_width(2);
        chart
            .draw_series(LineSeries::new(points.iter().copied(), style))?
            .label(kind.short())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        chart.draw_series(
            points
                .iter()
                .map(|&p| Circle::new(p, 4, color(*kind).filled())),
        )?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()?;
    Ok(())
}

/// Draws the curves of `c` into `path`.
pub fn draw(c: &Comparison, path: &Path) -> anyhow::Result<()> {
    register_font()?;
    let root = BitMapBackend::new(path, (1500, 940)).into_drawing_area();
    root.fill(&WHITE)?;
    let (head, body) = root.split_vertically(44);
    head.draw(&Text::new(
        format!(
            "Cost curves — medians of {} runs, each point on a fresh server, one server at a time (log-log)",
            c.params.runs
        ),
        (14, 12),
        ("sans-serif", 18).into_font().color(&BLACK),
    ))?;
    let panels = body.split_evenly((2, 3));
    let fan = counts(c, |r| r.curves.fanout.iter().map(|p| p.n).collect());
    let echo = counts(c, |r| r.curves.echo.iter().map(|p| p.n).collect());
    let echo_at =
        |r: &ServerRun, n: usize| r.curves.echo.iter().find(|p| p.n == n).map(|p| p.result);
    panel(
        &panels[0],
        "fan-out deliveries/s",
        ("subscribers", "deliveries/s"),
        &depth_lines(c, &fan, |f| f.deliveries_per_s),
    )?;
    panel(
        &panels[1],
        "fan-out delivery latency p99",
        ("subscribers", "µs"),
        &depth_lines(c, &fan, |f| f.latency.p99_us),
    )?;
    panel(
        &panels[2],
        "server RSS with idle connections",
        ("connections held", "MiB"),
        &idle_lines(c),
    )?;
    panel(
        &panels[3],
        "echo round trips/s",
        ("clients", "msgs/s"),
        &lines(c, &echo, |r, n| echo_at(r, n).map(|e| e.msgs_per_s)),
    )?;
    panel(
        &panels[4],
        "echo round-trip latency p99",
        ("clients", "µs"),
        &lines(c, &echo, |r, n| echo_at(r, n).map(|e| e.rtt.p99_us)),
    )?;
    open_loop_panel(&panels[5], c)?;
    root.present().context("writing the PNG")?;
    Ok(())
}

/// Each server's RSS (MiB) against the connections it held, at the median of each size.
fn idle_lines(c: &Comparison) -> Vec<Line> {
    let mut sizes: Vec<IdleSize> = Vec::new();
    for r in c.runs.iter().flatten() {
        for p in &r.curves.idle {
            if !sizes.contains(&p.size) {
                sizes.push(p.size);
            }
        }
    }
    curve_servers(c)
        .into_iter()
        .map(|k| {
            let at = |size: IdleSize, f: fn(&crate::scenario::idle_max::IdleMaxResult) -> f64| {
                median(c, k, move |r| {
                    r.curves
                        .idle
                        .iter()
                        .find(|p| p.size == size)
                        .map(|p| f(&p.result))
                })
            };
            let mut points: Vec<(f64, f64)> = sizes
                .iter()
                .filter_map(|&size| {
                    let held = at(size, |m| m.idle.held as f64)?;
                    let rss = at(size, |m| m.idle.rss_after as f64 / 1048576.0)?;
                    (held > 0.0 && rss > 0.0).then_some((held, rss))
                })
                .collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            Line::solid(k, points)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{along, axis, range, room_for_legend};

    #[test]
    fn axis_labels_are_short() {
        assert_eq!(axis(20_000.0), "20k");
        assert_eq!(axis(1_500.0), "1.5k");
        assert_eq!(axis(2_500_000.0), "2.5M");
        assert_eq!(axis(300.0), "300");
        assert_eq!(axis(0.25), "0.25");
    }

    #[test]
    fn ranges_run_from_decade_to_decade() {
        assert_eq!(
            range([180_000.0, 280_000.0].into_iter()),
            100_000.0..1_000_000.0
        );
        assert_eq!(range([95.0, 10_500.0].into_iter()), 10.0..100_000.0);
        assert_eq!(range(std::iter::empty()), 1.0..10.0);
    }

    #[test]
    fn the_legend_gets_the_top_of_the_axis_to_itself() {
        // 450k on 10k..1M is 83 % of the way up: above a legend's top quarter.
        assert_eq!(room_for_legend(1e4..1e6, 4.5e5, 0.25), 1e4..1e7);
        // 60k on 10k..1M is 39 % up: it stays.
        assert_eq!(room_for_legend(1e4..1e6, 6e4, 0.25), 1e4..1e6);
        assert_eq!(room_for_legend(1.0..10.0, 0.0, 0.25), 1.0..10.0);
        assert_eq!(along(&(10.0..100_000.0), 1_000.0), 0.5);
    }
}
