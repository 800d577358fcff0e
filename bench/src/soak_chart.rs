//! `soak.png`: the soak's samples over time in four panels — the node's RSS, its open
//! files, the channels the generator holds, and the echo and chat p99 of each interval.

use std::path::Path;

use anyhow::Context;
use plotters::prelude::*;

use crate::chart::register_font;
use crate::scenario::soak::{Sample, SoakResult};

type Series = (&'static str, RGBColor, fn(&Sample) -> f64);

fn panel(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    samples: &[Sample],
    title: &str,
    unit: &str,
    series: &[Series],
) -> anyhow::Result<()> {
    let t_end = samples.last().map_or(1.0, |s| s.t_s).max(1.0);
    let top = series
        .iter()
        .flat_map(|(_, _, f)| samples.iter().map(f))
        .fold(0.0f64, f64::max)
        .max(1.0)
        * 1.15;
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..t_end, 0.0..top)?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .y_desc(unit)
        .label_style(("sans-serif", 14))
        .draw()?;
    for &(name, color, f) in series {
        chart
            .draw_series(LineSeries::new(
                samples.iter().map(|s| (s.t_s, f(s))),
                color.stroke_width(2),
            ))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
    }
    if series.len() > 1 {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()?;
    }
    Ok(())
}

/// Draws the soak's samples into `path`.
pub fn draw(soak: &SoakResult, path: &Path) -> anyhow::Result<()> {
    register_font()?;
    let root = BitMapBackend::new(path, (1400, 800)).into_drawing_area();
    root.fill(&WHITE)?;
    let (head, body) = root.split_vertically(44);
    head.draw(&Text::new(
        format!(
            "Switchboard soak — {} samples; {} echo connections, {} slow readers cut, {} link flaps, {} errors",
            soak.samples.len(),
            soak.cycles,
            soak.slow_cut,
            soak.flaps,
            soak.errors
        ),
        (14, 12),
        ("sans-serif", 18).into_font().color(&BLACK),
    ))?;
    let panels = body.split_evenly((2, 2));
    let blue = RGBColor(31, 119, 180);
    let orange = RGBColor(255, 127, 14);
    let s = &soak.samples;
    panel(
        &panels[0],
        s,
        "node RSS",
        "MiB",
        &[("rss", blue, |x| x.rss_bytes as f64 / (1u64 << 20) as f64)],
    )?;
    panel(
        &panels[1],
        s,
        "node open files",
        "files",
        &[("files", blue, |x| x.open_files as f64)],
    )?;
    panel(
        &panels[2],
        s,
        "channels held by the generator",
        "channels",
        &[("channels", blue, |x| x.channels as f64)],
    )?;
    panel(
        &panels[3],
        s,
        "p99 latency per interval",
        "ms",
        &[
            ("echo round trip", blue, |x| x.echo.p99_us / 1000.0),
            ("chat say to own message", orange, |x| {
                x.chat.p99_us / 1000.0
            }),
        ],
    )?;
    root.present().context("writing the PNG")?;
    Ok(())
}
