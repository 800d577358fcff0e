//! Reading a process's resident memory and CPU time from `/proc/PID/status` and
//! `/proc/PID/stat`, so each side's cost is measured, not guessed.

use std::time::{Duration, Instant};

/// Resident set size of `pid` in bytes (`VmRSS`).
pub fn rss_bytes(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .ok_or_else(|| anyhow::anyhow!("no VmRSS for pid {pid}"))?;
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("malformed VmRSS line {line:?}"))?
        .parse()?;
    Ok(kb * 1024)
}

/// Files `pid` has open (sockets included): the entries of `/proc/PID/fd`.
pub fn open_files(pid: u32) -> anyhow::Result<u64> {
    Ok(std::fs::read_dir(format!("/proc/{pid}/fd"))?.count() as u64)
}

/// User plus system CPU time `pid` has used, all threads together.
pub fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may hold spaces and parentheses; the fields follow the last ')'.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| anyhow::anyhow!("malformed stat for pid {pid}"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of stat(5) are utime and stime; `rest` starts at field 3.
    let ticks: u64 = fields
        .get(11)
        .zip(fields.get(12))
        .ok_or_else(|| anyhow::anyhow!("short stat for pid {pid}"))
        .and_then(|(u, s)| Ok(u.parse::<u64>()? + s.parse::<u64>()?))?;
    Ok(Duration::from_secs_f64(ticks as f64 / clock_ticks() as f64))
}

fn clock_ticks() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100)
    })
}

/// A point in time with the CPU time two processes had used by then.
#[derive(Debug, Clone, Copy)]
pub struct CpuMark {
    at: Instant,
    server: Duration,
    client: Duration,
}

/// Share of one core each side used between two marks, in percent.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub struct CpuUse {
    /// The server under test.
    pub server_pct: f64,
    /// The load generator.
    pub client_pct: f64,
}

impl CpuMark {
    /// Marks now for `server` and this process.
    pub fn now(server: u32) -> Self {
        Self::now_of(&[server])
    }

    /// Marks now for `servers`, counted together, and this process.
    pub fn now_of(servers: &[u32]) -> Self {
        Self {
            at: Instant::now(),
            server: servers
                .iter()
                .map(|&pid| cpu_time(pid).unwrap_or_default())
                .sum(),
            client: cpu_time(std::process::id()).unwrap_or_default(),
        }
    }

    /// CPU use from this mark to `later`.
    pub fn until(&self, later: &CpuMark) -> CpuUse {
        let wall = later.at.duration_since(self.at).as_secs_f64().max(1e-9);
        CpuUse {
            server_pct: 100.0 * later.server.saturating_sub(self.server).as_secs_f64() / wall,
            client_pct: 100.0 * later.client.saturating_sub(self.client).as_secs_f64() / wall,
        }
    }
}

/// CPU use summed over several measured spans, as if they were one.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuSpans {
    wall: Duration,
    server: Duration,
    client: Duration,
}

impl CpuSpans {
    /// Adds the span from `start` to `stop`.
    pub fn add(&mut self, start: &CpuMark, stop: &CpuMark) {
        self.wall += stop.at.duration_since(start.at);
        self.server += stop.server.saturating_sub(start.server);
        self.client += stop.client.saturating_sub(start.client);
    }

    /// Wall time of all spans together.
    pub fn wall(&self) -> Duration {
        self.wall
    }

    /// Share of one core each side used over all spans, in percent.
    pub fn usage(&self) -> CpuUse {
        let wall = self.wall.as_secs_f64().max(1e-9);
        CpuUse {
            server_pct: 100.0 * self.server.as_secs_f64() / wall,
            client_pct: 100.0 * self.client.as_secs_f64() / wall,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_our_own_rss_and_cpu() {
        let pid = std::process::id();
        assert!(rss_bytes(pid).expect("rss") > 0);
        cpu_time(pid).expect("cpu time");
        assert!(open_files(pid).expect("open files") >= 3);
    }
}
