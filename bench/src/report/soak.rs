//! The soak's section of `RESULTS.md`: what ran, the verdict, the end-of-run checks, memory
//! first quarter against last, and the samples (`soak.png` draws them).

use std::fmt::Write;

use super::group;
use crate::compare::Comparison;
use crate::scenario::soak::SoakResult;

fn mib(bytes: f64) -> String {
    format!("{:.1} MiB", bytes / (1u64 << 20) as f64)
}

/// Writes the soak's section for every run that soaked.
pub fn soak(out: &mut String, c: &Comparison) {
    let p = &c.params.soak;
    for (run, soak) in c
        .runs
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.iter().find_map(|s| s.soak.as_ref()).map(|s| (i + 1, s)))
    {
        let _ = writeln!(
            out,
            "## Soak (run {run}): {:.0} s on two linked nodes\n\n\
             On the measured node: {} echo clients connecting, doing {} round trips and closing, \
             over and over; {} chat members in JSON mode each saying something every {} ms; a \
             slow reader every {:.0} s that stops reading and must be cut with `slow_consumer` / \
             1008; {} broadcast subscribers fed across the link from a publisher on the second \
             node, which is killed and started again every {:.0} s. Sampled every {:.0} s; \
             latency is each interval's. ![soak](soak.png)\n",
            p.duration.as_secs_f64(),
            p.churners,
            p.trips,
            p.chat_members,
            p.chat_every.as_millis(),
            p.slow_every.as_secs_f64(),
            p.net_subscribers,
            p.flap_every.as_secs_f64(),
            p.sample_every.as_secs_f64(),
        );
        verdict(out, soak);
        samples(out, soak);
    }
}

fn verdict(out: &mut String, s: &SoakResult) {
    let verdict = if s.failures.is_empty() {
        "**passed**".to_owned()
    } else {
        format!("**failed**: {}", s.failures.join("; "))
    };
    let growth = if s.rss_first_quarter > 0.0 {
        100.0 * (s.rss_last_quarter / s.rss_first_quarter - 1.0)
    } else {
        0.0
    };
    let _ = writeln!(
        out,
        "Verdict: {verdict}.\n\n\
         | check | value |\n|---|---|\n\
         | channels held at the end | {} |\n\
         | node's open files before any client / after all closed | {} / {} |\n\
         | node RSS, mean of first quarter / last quarter | {} / {} ({growth:+.1} %) |\n\
         | echo connections completed | {} |\n\
         | chat says shown back to their sender | {} |\n\
         | slow readers cut with 1008 (expected) | {} |\n\
         | link flaps (second node restarted) | {} |\n\
         | frames published across the link / delivered (each to every subscriber) / after the last flap | {} / {} / {} |\n\
         | errors beyond the slow readers' closes | {} |\n",
        s.channels_after,
        s.open_files_before,
        s.open_files_after,
        mib(s.rss_first_quarter),
        mib(s.rss_last_quarter),
        group(s.cycles as f64, 0),
        group(s.chat_seen as f64, 0),
        s.slow_cut,
        s.flaps,
        group(s.net_published as f64, 0),
        group(s.net_delivered as f64, 0),
        group(s.net_delivered_after_last_flap as f64, 0),
        s.errors,
    );
    if !s.error_lines.is_empty() {
        let _ = writeln!(out, "First errors:\n");
        for line in &s.error_lines {
            let _ = writeln!(out, "- {line}");
        }
        out.push('\n');
    }
}

fn samples(out: &mut String, s: &SoakResult) {
    let _ = writeln!(
        out,
        "| t (s) | RSS | open files | channels | echo p50 / p99 (µs) | chat p50 / p99 (µs) | echo connections | frames across the link |\n|---|---|---|---|---|---|---|---|"
    );
    for x in &s.samples {
        let _ = writeln!(
            out,
            "| {:.0} | {} | {} | {} | {} / {} | {} / {} | {} | {} |",
            x.t_s,
            mib(x.rss_bytes as f64),
            x.open_files,
            x.channels,
            group(x.echo.p50_us, 0),
            group(x.echo.p99_us, 0),
            group(x.chat.p50_us, 0),
            group(x.chat.p99_us, 0),
            x.cycles,
            x.net_delivered,
        );
    }
    out.push('\n');
}
