//! Latency summaries, medians and process memory figures.

use std::time::Duration;

/// Per-call latencies of one phase plus its wall time.
pub struct Phase {
    /// Calls made.
    pub calls: u64,
    /// Wall time of the whole loop (all threads).
    pub wall: Duration,
    /// Per-call latencies in nanoseconds (unsorted).
    pub latencies_ns: Vec<u64>,
}

impl Phase {
    /// Calls per second over the wall time.
    pub fn ops_per_sec(&self) -> f64 {
        self.calls as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    /// (p50, p99) latency in microseconds (nearest rank).
    pub fn p50_p99_us(&mut self) -> (f64, f64) {
        self.latencies_ns.sort_unstable();
        (
            percentile(&self.latencies_ns, 50.0) / 1_000.0,
            percentile(&self.latencies_ns, 99.0) / 1_000.0,
        )
    }
}

/// Nearest-rank percentile of sorted values (0 for an empty slice).
pub fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64
}

/// Median of the values (mean of the two middle ones for an even count); `None` if empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// Reads a `kB` field (e.g. `VmHWM`, `VmRSS`) of `/proc/<pid>/status`, in bytes.
pub fn proc_status_bytes(pid: &str, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        let kib: u64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kib * 1024)
    })
}

/// Peak resident set size of this process so far (`VmHWM`), in bytes.
pub fn peak_rss_bytes() -> u64 {
    proc_status_bytes("self", "VmHWM").unwrap_or(0)
}

/// Current resident set size of this process (`VmRSS`), in bytes.
pub fn rss_bytes() -> u64 {
    proc_status_bytes("self", "VmRSS").unwrap_or(0)
}

/// Resets this process's peak RSS to its current RSS (Linux `clear_refs` value 5).
/// Returns false if the kernel refused.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Bytes to MiB.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Total size of the regular files under `path` (recursively), in bytes.
pub fn dir_bytes(path: &std::path::Path) -> std::io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(path)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        if meta.is_dir() {
            total += dir_bytes(&entry.path())?;
        } else if meta.is_file() {
            total += meta.len();
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_median() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }
}
