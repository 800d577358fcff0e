//! `results.png`: three bar panels — echo messages/s, fan-out deliveries/s, and server RSS
//! per idle connection — one bar per server at its median, with a min–max whisker. Text is
//! drawn with Debian's DejaVu Sans (package fonts-dejavu-core, installed by scripts/setup).

use std::path::Path;

use anyhow::Context;
use plotters::prelude::*;

use crate::compare::{Comparison, ServerRun};
use crate::report::{values, Spread};
use crate::servers::ServerKind;

const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

pub(crate) fn register_font() -> anyhow::Result<()> {
    static DONE: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    DONE.get_or_init(|| {
        let bytes =
            std::fs::read(FONT).map_err(|e| format!("{FONT}: {e} (install fonts-dejavu-core)"))?;
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
            .map_err(|_| format!("{FONT} is not a usable font"))
    })
    .clone()
    .map_err(|e| anyhow::anyhow!(e))
}

pub(crate) fn color(kind: ServerKind) -> RGBColor {
    match kind {
        ServerKind::Switchboard => RGBColor(31, 119, 180),
        ServerKind::SwitchboardOutside => RGBColor(23, 190, 207),
        ServerKind::SwitchboardPython => RGBColor(188, 189, 34),
        ServerKind::SwitchboardBase => RGBColor(127, 127, 127),
        ServerKind::TtDefault => RGBColor(255, 127, 14),
        ServerKind::Tt4k => RGBColor(44, 160, 44),
        ServerKind::NodeWs => RGBColor(148, 103, 189),
    }
}

type Metric = fn(&ServerRun) -> Option<f64>;

fn panel(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    c: &Comparison,
    title: &str,
    unit: &str,
    metric: Metric,
) -> anyhow::Result<()> {
    let bars: Vec<(ServerKind, Spread)> = c
        .params
        .servers
        .iter()
        .filter_map(|&k| Spread::of(&values(c, k, metric)).map(|s| (k, s)))
        .collect();
    // One bar far above the rest (tokio-tungstenite's default 128 KiB read buffer, in the
    // memory panel) would flatten the others: cut the axis above the second-highest and
    // say so on that bar.
    let mut tops: Vec<f64> = bars.iter().map(|(_, s)| s.max).collect();
    tops.sort_by(f64::total_cmp);
    let highest = tops.last().copied().unwrap_or(1.0);
    let second = tops.iter().rev().nth(1).copied().unwrap_or(highest);
    let top = if highest > 4.0 * second && second > 0.0 {
        second * 1.6
    } else {
        highest * 1.25
    }
    .max(1.0);
    let n = bars.len().max(1);
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..n as f64, 0.0..top)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .disable_x_axis()
        .y_desc(unit)
        .y_label_formatter(&|v| {
            if *v >= 1e6 {
                format!("{:.1}M", v / 1e6)
            } else if *v >= 1e3 {
                format!("{:.0}k", v / 1e3)
            } else {
                format!("{v:.0}")
            }
        })
        .label_style(("sans-serif", 15))
        .draw()?;
    for (i, (kind, spread)) in bars.iter().enumerate() {
        let x0 = i as f64 + 0.15;
        let x1 = i as f64 + 0.85;
        let mid = i as f64 + 0.5;
        let off_scale = spread.max > top;
        let height = spread.median.min(top * 0.9);
        chart.draw_series([Rectangle::new(
            [(x0, 0.0), (x1, height)],
            color(*kind).filled(),
        )])?;
        if !off_scale {
            chart.draw_series([PathElement::new(
                vec![(mid, spread.min), (mid, spread.max)],
                BLACK.stroke_width(2),
            )])?;
            for y in [spread.min, spread.max] {
                chart.draw_series([PathElement::new(
                    vec![(mid - 0.1, y), (mid + 0.1, y)],
                    BLACK.stroke_width(2),
                )])?;
            }
        }
        let label_y = if off_scale {
            top * 0.99
        } else {
            spread.max + top * 0.12
        };
        let value = format!(
            "{}{}",
            si(spread.median),
            if off_scale { " (off scale)" } else { "" }
        );
        for (text, dy) in [(kind.short().to_owned(), 0.0), (value, top * 0.05)] {
            chart.draw_series([Text::new(
                text,
                (x0, label_y - dy),
                ("sans-serif", 15).into_font().color(&BLACK),
            )])?;
        }
    }
    Ok(())
}

/// `1234567` as `1.23M`, `4021` as `4.02k`.
pub(crate) fn si(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.2}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// Whether `c` has any figure for the bar chart (echo, fan-out or idle ran).
pub fn has_bars(c: &Comparison) -> bool {
    ["echo", "fanout", "idle"]
        .iter()
        .any(|s| c.params.runs_scenario(s))
}

/// Draws the chart for `c` into `path`.
pub fn draw(c: &Comparison, path: &Path) -> anyhow::Result<()> {
    register_font()?;
    let root = BitMapBackend::new(path, (1500, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let (head, body) = root.split_vertically(50);
    head.draw(&Text::new(
        format!(
            "Switchboard vs baselines — medians of {} runs, whiskers min–max ({} clients x {} B echo; {} subscribers fan-out; {} idle)",
            c.params.runs, c.params.echo.clients, c.params.echo.size, c.params.fanout.subscribers, c.params.idle.connections
        ),
        (14, 14),
        ("sans-serif", 18).into_font().color(&BLACK),
    ))?;
    let panels = body.split_evenly((1, 3));
    panel(
        &panels[0],
        c,
        "echo round trips / s (higher is better)",
        "msgs/s",
        |r| r.echo.map(|e| e.msgs_per_s),
    )?;
    panel(
        &panels[1],
        c,
        "fan-out deliveries / s (higher is better)",
        "deliveries/s",
        |r| r.fanout.map(|f| f.deliveries_per_s),
    )?;
    panel(
        &panels[2],
        c,
        "server RSS per idle connection (lower is better)",
        "bytes",
        |r| r.idle.map(|i| i.rss_per_conn),
    )?;
    root.present().context("writing the PNG")?;
    Ok(())
}
