//! The per-scenario tables of `RESULTS.md`: one row per server, medians with min–max.

use std::fmt::Write;

use super::{baselines, cell, group, median_cell, ratios, values, Spread};
use crate::compare::{Comparison, ServerRun};
use crate::scenario::ceiling::CeilingResult;
use crate::scenario::chat::ChatResult;
use crate::scenario::fanout::FanoutResult;
use crate::scenario::mixed::MixedResult;
use crate::servers::ServerKind;

/// Echo: messages/s, round-trip percentiles, each side's CPU.
pub fn echo(out: &mut String, c: &Comparison) {
    let p = &c.params;
    let echo_rate = |r: &ServerRun| r.echo.map(|e| e.msgs_per_s);
    let _ = writeln!(
        out,
        "## Echo: {} clients × {} B, one frame in flight each, {:.0} s{} after {:.0} s warm-up\n",
        p.echo.clients,
        p.echo.size,
        p.echo.duration.as_secs_f64(),
        in_slices(p.slices),
        p.echo.warmup.as_secs_f64()
    );
    if p.slices > 1 {
        let _ = writeln!(
            out,
            "Each later slice starts with 0.2 s of round trips that are not counted.\n"
        );
    }
    let _ = writeln!(out, "| server | msgs/s median [min–max] | RTT p50 | p99 | p99.9 | server CPU % | generator CPU % |\n|---|---|---|---|---|---|---|");
    for &kind in &p.servers {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            kind.label(),
            cell(c, kind, 0, echo_rate),
            median_cell(c, kind, 0, |r| r.echo.map(|e| e.rtt.p50_us)),
            median_cell(c, kind, 0, |r| r.echo.map(|e| e.rtt.p99_us)),
            median_cell(c, kind, 0, |r| r.echo.map(|e| e.rtt.p999_us)),
            median_cell(c, kind, 0, |r| r.echo.map(|e| e.cpu.server_pct)),
            median_cell(c, kind, 0, |r| r.echo.map(|e| e.cpu.client_pct)),
        );
    }
    out.push('\n');
}

/// Idle: connections held, RSS per connection, connect rate.
pub fn idle(out: &mut String, c: &Comparison) {
    let p = &c.params;
    let idle_rss = |r: &ServerRun| r.idle.map(|i| i.rss_per_conn);
    let _ = writeln!(
        out,
        "## Idle: {} connections, each registered (Switchboard) and past one round trip\n",
        group(p.idle.connections as f64, 0)
    );
    let _ = writeln!(out, "| server | held | RSS bytes per connection median [min–max] | connects/s (median) | server RSS before → after, MiB (median) |\n|---|---|---|---|---|");
    for &kind in &p.servers {
        let mib = |x: Option<f64>| x.map_or("—".to_owned(), |x| format!("{:.1}", x / 1048576.0));
        let before =
            Spread::of(&values(c, kind, |r| r.idle.map(|i| i.rss_before as f64))).map(|s| s.median);
        let after =
            Spread::of(&values(c, kind, |r| r.idle.map(|i| i.rss_after as f64))).map(|s| s.median);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} → {} |",
            kind.label(),
            median_cell(c, kind, 0, |r| r.idle.map(|i| i.held as f64)),
            cell(c, kind, 0, idle_rss),
            median_cell(c, kind, 0, |r| r.idle.map(|i| i.connects_per_s)),
            mib(before),
            mib(after),
        );
    }
    out.push('\n');
}

/// How a scenario's time was cut, for its heading.
fn in_slices(slices: u32) -> String {
    if slices > 1 {
        format!(" in {slices} slices taken in turn with the other servers")
    } else {
        String::new()
    }
}

/// Fan-out: deliveries/s, delivery latency, missing deliveries, CPU.
pub fn fanout(out: &mut String, c: &Comparison) {
    fanout_table(out, c, "Fan-out", c.params.fanout.window, None, |r| {
        r.fanout
    });
}

/// Fan-out again with the deep window, when it ran: the same table.
pub fn fanout_deep(out: &mut String, c: &Comparison) {
    if c.params.deep_window == 0 {
        return;
    }
    let note = "The same scenario with a window deep enough that more frames wait at each \
                subscriber; latencies grow with the window.";
    fanout_table(
        out,
        c,
        "Fan-out, deep",
        c.params.deep_window,
        Some(note),
        |r| r.fanout_deep,
    );
}

/// Picks one fan-out result out of a server's run.
type Pick = Box<dyn Fn(&ServerRun) -> Option<FanoutResult>>;

/// Every fan-out depth that ran, side by side: Switchboard's deliveries/s and its ratios to
/// each bare server, rate and p99, computed within each run.
pub fn fanout_depths(out: &mut String, c: &Comparison) {
    let p = &c.params;
    let mut depths: Vec<(u64, Pick)> = Vec::new();
    for (at, &window) in p.shallow_windows.iter().enumerate() {
        depths.push((
            window,
            Box::new(move |r: &ServerRun| r.fanout_shallow.get(at).copied().flatten()),
        ));
    }
    depths.push((p.fanout.window, Box::new(|r: &ServerRun| r.fanout)));
    if p.deep_window > 0 {
        depths.push((p.deep_window, Box::new(|r: &ServerRun| r.fanout_deep)));
    }
    if depths.len() < 2 {
        return;
    }
    let _ = writeln!(
        out,
        "## Fan-out at every depth: {} subscribers × {} B\n",
        group(p.fanout.subscribers as f64, 0),
        p.fanout.size
    );
    let _ = writeln!(
        out,
        "Ratios are Switchboard / the bare server, computed within each run: median [min–max].\n"
    );
    let baselines = baselines(c);
    let mut head = "| frames in flight | Switchboard deliveries/s |".to_owned();
    let mut rule = "|---|---|".to_owned();
    for kind in &baselines {
        let _ = write!(head, " / {0} rate | / {0} p99 |", kind.short());
        rule.push_str("---|---|");
    }
    let _ = writeln!(out, "{head}\n{rule}");
    for (window, pick) in &depths {
        let rate = |r: &ServerRun| pick(r).map(|f| f.deliveries_per_s);
        let p99 = |r: &ServerRun| pick(r).map(|f| f.latency.p99_us);
        let _ = write!(
            out,
            "| {window} | {} |",
            median_cell(c, ServerKind::Switchboard, 0, rate)
        );
        for &kind in &baselines {
            let show = |v: Vec<f64>| Spread::of(&v).map_or_else(|| "—".to_owned(), |s| s.show(2));
            let _ = write!(
                out,
                " {} | {} |",
                show(ratios(c, kind, rate)),
                show(ratios(c, kind, p99))
            );
        }
        out.push('\n');
    }
    out.push('\n');
}

/// A fan-out table: `window` frames in flight, `note` under the heading, rows from `pick`.
fn fanout_table(
    out: &mut String,
    c: &Comparison,
    title: &str,
    window: u64,
    note: Option<&str>,
    pick: fn(&ServerRun) -> Option<FanoutResult>,
) {
    let p = &c.params;
    let _ = writeln!(
        out,
        "## {title}: {} subscribers × {} B, at most {window} frames in flight, {:.0} s{}\n",
        group(p.fanout.subscribers as f64, 0),
        p.fanout.size,
        p.fanout.duration.as_secs_f64(),
        in_slices(p.slices)
    );
    if let Some(note) = note {
        let _ = writeln!(out, "{note}\n");
    }
    if p.slices > 1 {
        let _ = writeln!(
            out,
            "A slice ends when everything it published has been delivered; that wait is part \
             of the slice's time.\n"
        );
    }
    let _ = writeln!(out, "| server | deliveries/s median [min–max] | latency p50 | p99 | frames published (median) | deliveries missing (all runs) | server CPU % | generator CPU % |\n|---|---|---|---|---|---|---|---|");
    for &kind in &p.servers {
        fanout_row(out, c, kind, pick);
    }
    out.push('\n');
}

/// One server's row of a fan-out-shaped table (fan-out, net), from the result `pick` reads.
fn fanout_row(
    out: &mut String,
    c: &Comparison,
    kind: ServerKind,
    pick: fn(&ServerRun) -> Option<FanoutResult>,
) {
    let of = |f: fn(&FanoutResult) -> f64| move |r: &ServerRun| pick(r).as_ref().map(f);
    let missing: f64 = values(c, kind, of(|f| f.missing as f64)).iter().sum();
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} | {} | {} | {} | {} |",
        kind.label(),
        cell(c, kind, 0, of(|f| f.deliveries_per_s)),
        median_cell(c, kind, 0, of(|f| f.latency.p50_us)),
        median_cell(c, kind, 0, of(|f| f.latency.p99_us)),
        median_cell(c, kind, 0, of(|f| f.published as f64)),
        group(missing, 0),
        median_cell(c, kind, 0, of(|f| f.cpu.server_pct)),
        median_cell(c, kind, 0, of(|f| f.cpu.client_pct)),
    );
}

/// Idle at the file limit (Switchboard only).
pub fn idle_max(out: &mut String, c: &Comparison) {
    let kind = ServerKind::Switchboard;
    let at_limit = |f: fn(&crate::scenario::idle_max::IdleMaxResult) -> f64| {
        move |r: &ServerRun| r.idle_max.as_ref().map(f)
    };
    if values(c, kind, at_limit(|m| m.asked as f64)).is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "## Idle at the file limit: as many registered idle connections as Switchboard's open-file limit allows\n\n\
         The count asked for is the server's limit less the descriptors it already had open and {} spare; \
         the generator holds them from several worker processes, since it has the same per-process limit.\n",
        crate::scenario::idle_max::SPARE
    );
    let _ = writeln!(out, "| server | open-file limit | asked | held median [min–max] | failed (all runs) | RSS bytes per connection median [min–max] | connects/s (median) | server RSS after, MiB (median) |\n|---|---|---|---|---|---|---|---|");
    let failed: f64 = values(c, kind, at_limit(|m| m.idle.failed as f64))
        .iter()
        .sum();
    let after = Spread::of(&values(c, kind, at_limit(|m| m.idle.rss_after as f64)))
        .map_or("—".to_owned(), |s| format!("{:.1}", s.median / 1048576.0));
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
        kind.label(),
        median_cell(c, kind, 0, at_limit(|m| m.fd_limit as f64)),
        median_cell(c, kind, 0, at_limit(|m| m.asked as f64)),
        cell(c, kind, 0, at_limit(|m| m.idle.held as f64)),
        group(failed, 0),
        cell(c, kind, 0, at_limit(|m| m.idle.rss_per_conn)),
        median_cell(c, kind, 0, at_limit(|m| m.idle.connects_per_s)),
        after,
    );
}

/// Net: pushes/s between two linked nodes (Switchboard only).
pub fn net(out: &mut String, c: &Comparison) {
    let p = &c.params;
    let kind = ServerKind::Switchboard;
    let rate = |r: &ServerRun| r.net.map(|n| n.deliveries_per_s);
    if values(c, kind, rate).is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "## Net: {} subscribers on alice.os, the publisher on bob.os, {} B, at most {} frames in flight, {:.0} s\n\n\
         Bob's `broadcast:broadcast:sys` pushes every frame to each of alice's subscribers with `send_ws_push_many`, \
         one node-to-node push per subscriber over the Noise link; alice's http-server hands each to its channel. \
         Both nodes share the server core; their CPU is counted together.\n",
        p.net.subscribers,
        p.net.size,
        p.net.window,
        p.net.duration.as_secs_f64()
    );
    let _ = writeln!(out, "| server | pushes/s median [min–max] | latency p50 | p99 | frames published (median) | pushes missing (all runs) | both nodes' CPU % | generator CPU % |\n|---|---|---|---|---|---|---|---|");
    fanout_row(out, c, kind, |r| r.net);
    out.push('\n');
}

/// Cluster: one node as several instances on NATS against the same node as one process
/// (Switchboard only).
pub fn cluster(out: &mut String, c: &Comparison) {
    use crate::scenario::cluster::{cpu_us_per_delivery, ClusterResult};
    let p = &c.params;
    let kind = ServerKind::Switchboard;
    if values(c, kind, |r| r.cluster.map(|k| k.single.deliveries_per_s)).is_empty() {
        return;
    }
    let f = &p.cluster.fanout;
    let _ = writeln!(
        out,
        "## Cluster: {} instances of one node on a NATS server against the node as one process, \
         {} subscribers, {} B, at most {} frames in flight, {:.0} s{}\n\n\
         A publishing process run outside each node (`fanout:bench:ext`) pushes every frame to every \
         subscriber with one `send_ws_push_many`: the publisher's instance delivers to its own subscribers \
         and sends one NATS message to each other instance. The instances, their publishing processes and \
         NATS share the server core and their CPU is counted together; the single node's is the node's and \
         its publishing process's.\n",
        p.cluster.instances,
        f.subscribers,
        f.size,
        f.window,
        f.duration.as_secs_f64(),
        in_slices(p.slices),
    );
    let _ = writeln!(out, "| setting | deliveries/s median [min–max] | latency p50 | p99 | frames published (median) | deliveries missing (all runs) | servers' CPU % | generator CPU % | CPU µs per delivery (median) |\n|---|---|---|---|---|---|---|---|---|");
    type Pick = fn(&ClusterResult) -> FanoutResult;
    let rows: [(&str, Pick); 4] = [
        ("one node", |k| k.single),
        ("cluster, subscribers spread over the instances", |k| {
            k.spread
        }),
        (
            "cluster, every subscriber on the publisher's instance",
            |k| k.local,
        ),
        ("cluster, every subscriber on another instance", |k| {
            k.remote
        }),
    ];
    for (label, pick) in rows {
        let of = move |f: fn(&FanoutResult) -> f64| {
            move |r: &ServerRun| r.cluster.as_ref().map(|k| f(&pick(k)))
        };
        let missing: f64 = values(c, kind, of(|f| f.missing as f64)).iter().sum();
        let _ = writeln!(
            out,
            "| {label} | {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(c, kind, 0, of(|f| f.deliveries_per_s)),
            median_cell(c, kind, 0, of(|f| f.latency.p50_us)),
            median_cell(c, kind, 0, of(|f| f.latency.p99_us)),
            median_cell(c, kind, 0, of(|f| f.published as f64)),
            group(missing, 0),
            median_cell(c, kind, 0, of(|f| f.cpu.server_pct)),
            median_cell(c, kind, 0, of(|f| f.cpu.client_pct)),
            median_cell(c, kind, 2, of(cpu_us_per_delivery)),
        );
    }
    out.push('\n');
}

/// Reads one chat result of a run.
type PickChat = fn(&ServerRun) -> Option<ChatResult>;

/// Chat: messages/s stored and shown to every member, at the configured depth and at one
/// say in flight (Switchboard only).
pub fn chat(out: &mut String, c: &Comparison) {
    let p = &c.params;
    let kind = ServerKind::Switchboard;
    let depths: [(u64, PickChat); 2] = [(p.chat.window, |r| r.chat), (1, |r| r.chat_one)];
    if depths
        .iter()
        .all(|(_, pick)| values(c, kind, |r| pick(r).map(|x| x.published as f64)).is_empty())
    {
        return;
    }
    let _ = writeln!(
        out,
        "## Chat: {} members of `chat:chat:sys` in JSON mode, {} of them saying, {:.0} s per depth\n\n\
         Every message is stored in SQLite (WAL, synchronous FULL) before it is shown; a say is \
         complete when its `message` event has reached every member, the sender included. \
         Latency is from a say's send to its delivery to one member. *Disordered* counts \
         members whose ids skipped or whose order differed from the first member's. Each depth \
         runs on a fresh node.\n",
        group(p.chat.members as f64, 0),
        p.chat.publishers,
        p.chat.duration.as_secs_f64()
    );
    let _ = writeln!(out, "| says in flight | messages/s median [min–max] | deliveries/s (median) | latency p50 | p99 | says (median) | deliveries missing (all runs) | disordered (all runs) | server CPU % | generator CPU % |\n|---|---|---|---|---|---|---|---|---|---|");
    for (window, pick) in depths {
        let of = move |f: fn(&ChatResult) -> f64| move |r: &ServerRun| pick(r).as_ref().map(f);
        let missing: f64 = values(c, kind, of(|x| x.missing as f64)).iter().sum();
        let disordered: f64 = values(c, kind, of(|x| x.disordered as f64)).iter().sum();
        let _ = writeln!(
            out,
            "| {window} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(c, kind, 0, of(|x| x.messages_per_s)),
            median_cell(c, kind, 0, of(|x| x.deliveries_per_s)),
            median_cell(c, kind, 0, of(|x| x.latency.p50_us)),
            median_cell(c, kind, 0, of(|x| x.latency.p99_us)),
            median_cell(c, kind, 0, of(|x| x.published as f64)),
            group(missing, 0),
            group(disordered, 0),
            median_cell(c, kind, 0, of(|x| x.cpu.server_pct)),
            median_cell(c, kind, 0, of(|x| x.cpu.client_pct)),
        );
    }
    out.push('\n');
    chat_ceiling(out, c);
}

/// The loopback ceiling under the chat, and the most it lets any server show the room.
fn chat_ceiling(out: &mut String, c: &Comparison) {
    let p = &c.params;
    let kind = ServerKind::Switchboard;
    let of = |f: fn(&CeilingResult) -> f64| move |r: &ServerRun| r.chat_ceiling.as_ref().map(f);
    if values(c, kind, of(|x| x.writes_per_s)).is_empty() {
        return;
    }
    let (members, window) = (p.chat.members, p.chat.window);
    let short: f64 = values(
        c,
        kind,
        of(|x| (x.bytes_written - x.bytes_read.min(x.bytes_written)) as f64),
    )
    .iter()
    .sum();
    let _ = writeln!(
        out,
        "**The loopback ceiling under it**, in the same run: a plain program on the servers' \
         core writes one ready-made chunk of {window} message frames ({} B) to each of {} \
         loopback sockets in turn, blocking writes with nothing between them, no WebSocket and \
         no scheduler; the generator's readers take the bytes on the other core. Any server \
         showing a room of {} makes at least one write per member for each batch of messages, \
         and with {window} says in flight a batch holds at most {window}; so writes/s × \
         {window} / {} is the most messages/s any server could show that room here.\n\n\
         | writes/s median [min–max] | messages/s bound for the room (median) | writer CPU % | readers' CPU % | bytes not read (all runs) |\n|---|---|---|---|---|\n\
         | {} | {} | {} | {} | {} |\n",
        median_cell(c, kind, 0, of(|x| x.chunk_bytes as f64)),
        group(members as f64, 0),
        group(members as f64, 0),
        group(members as f64, 0),
        cell(c, kind, 0, of(|x| x.writes_per_s)),
        median_cell(c, kind, 0, move |r: &ServerRun| {
            r.chat_ceiling.map(|x| x.room_bound(members, window))
        }),
        median_cell(c, kind, 0, of(|x| x.cpu.server_pct)),
        median_cell(c, kind, 0, of(|x| x.cpu.client_pct)),
        group(short, 0),
    );
}

/// Reads one measure of a mixed result.
type PickMixed = fn(&MixedResult) -> f64;

/// Mixed: each server's broadcast and echo at once, each beside what it did alone in the
/// same run, and Switchboard against each bare server.
pub fn mixed(out: &mut String, c: &Comparison) {
    let p = &c.params;
    if p.servers
        .iter()
        .all(|&kind| values(c, kind, |r| r.mixed.map(|m| m.echo.msgs_per_s)).is_empty())
    {
        return;
    }
    let _ = writeln!(
        out,
        "## Mixed: a broadcast of {} frames/s to {} subscribers ({} B, at most {} frames in \
         flight) and {} echo clients ({} B, one frame in flight each) on one server at once, \
         {:.0} s{}\n\n\
         The publisher keeps to its rate through the echo clients' warm-up and counted time, \
         so every server and the generator carry the same broadcast (a server that falls \
         behind is held to the window and shows a lower rate). *Alone* is the same server's \
         figure from the echo and fan-out scenarios of the same run; a latency growing from \
         alone to mixed is what the other traffic costs.\n",
        group(p.mixed_rate, 0),
        group(p.fanout.subscribers as f64, 0),
        p.fanout.size,
        p.fanout.window,
        p.echo.clients,
        p.echo.size,
        p.echo.duration.as_secs_f64(),
        in_slices(p.slices)
    );
    let _ = writeln!(out, "| server | echo msgs/s median [min–max] | echo p50 | echo p99 | echo p99 alone | fan-out deliveries/s | fan-out p99 | fan-out p99 alone | deliveries missing (all runs) | server CPU % | generator CPU % |\n|---|---|---|---|---|---|---|---|---|---|---|");
    for &kind in &p.servers {
        let of = |f: PickMixed| move |r: &ServerRun| r.mixed.as_ref().map(f);
        let missing: f64 = values(c, kind, of(|m| m.fanout.missing as f64))
            .iter()
            .sum();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            kind.label(),
            cell(c, kind, 0, of(|m| m.echo.msgs_per_s)),
            median_cell(c, kind, 0, of(|m| m.echo.rtt.p50_us)),
            median_cell(c, kind, 0, of(|m| m.echo.rtt.p99_us)),
            median_cell(c, kind, 0, |r| r.echo.map(|e| e.rtt.p99_us)),
            median_cell(c, kind, 0, of(|m| m.fanout.deliveries_per_s)),
            median_cell(c, kind, 0, of(|m| m.fanout.latency.p99_us)),
            median_cell(c, kind, 0, |r| r.fanout.map(|f| f.latency.p99_us)),
            group(missing, 0),
            median_cell(c, kind, 0, of(|m| m.echo.cpu.server_pct)),
            median_cell(c, kind, 0, of(|m| m.echo.cpu.client_pct)),
        );
    }
    let baselines = baselines(c);
    if baselines.is_empty() {
        out.push('\n');
        return;
    }
    let _ = writeln!(
        out,
        "\nSwitchboard / the bare server, computed within each run: median [min–max].\n\n\
         | against | echo msgs/s | echo p99 | fan-out deliveries/s | fan-out p99 |\n|---|---|---|---|---|"
    );
    let measures: [PickMixed; 4] = [
        |m| m.echo.msgs_per_s,
        |m| m.echo.rtt.p99_us,
        |m| m.fanout.deliveries_per_s,
        |m| m.fanout.latency.p99_us,
    ];
    for kind in baselines {
        let _ = write!(out, "| {} |", kind.label());
        for measure in measures {
            let spread = Spread::of(&ratios(c, kind, |r| r.mixed.as_ref().map(measure)));
            let _ = write!(
                out,
                " {} |",
                spread.map_or_else(|| "—".to_owned(), |s| s.show(2))
            );
        }
        out.push('\n');
    }
    out.push('\n');
}
