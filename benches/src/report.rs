//! Aggregation (median over rounds), the markdown table and the final JSON line.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::backend::{BackendInfo, TESSERA};
use crate::child::RoundResult;
use crate::stats::median;
use crate::workload::Plan;

/// Until the tessera backend is registered, the ratio keys are computed for this backend
/// instead (a placeholder, flagged as such in the JSON).
pub const RATIO_PLACEHOLDER: &str = "redb";

/// Every round's figures of one backend, by figure name.
#[derive(Default)]
pub struct Collected {
    /// figure name -> value per round (in round order).
    pub per_round: BTreeMap<String, Vec<f64>>,
}

impl Collected {
    /// Adds one round.
    pub fn add(&mut self, r: &RoundResult) {
        for (k, v) in &r.figures {
            self.per_round.entry(k.clone()).or_default().push(*v);
        }
    }

    /// The median of a figure over the rounds.
    pub fn median(&self, key: &str) -> Option<f64> {
        self.per_round.get(key).and_then(|v| median(v))
    }
}

/// Inputs of the report.
pub struct Report<'a> {
    /// Backends that ran, in column order.
    pub backends: Vec<&'static BackendInfo>,
    /// Their figures.
    pub results: &'a BTreeMap<&'static str, Collected>,
    /// Backends skipped, with the reason.
    pub skipped: Vec<(&'static str, String)>,
    /// Phase sizes.
    pub plan: &'a Plan,
    /// Rounds run.
    pub rounds: u32,
    /// Whether `--quick` was given.
    pub quick: bool,
}

fn thousands(x: f64) -> String {
    let s = format!("{:.0}", x.max(0.0));
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn duration_us(us: f64) -> String {
    if us < 1_000.0 {
        format!("{us:.1} µs")
    } else if us < 1_000_000.0 {
        format!("{:.2} ms", us / 1_000.0)
    } else {
        format!("{:.2} s", us / 1_000_000.0)
    }
}

enum Row {
    /// ops/s · p50 / p99 of a phase.
    Throughput(&'static str),
    /// purge: tokens/s · total time.
    Purge,
    /// A figure formatted by a function.
    Figure(&'static str, fn(f64) -> String),
}

const ROWS: &[(&str, Row)] = &[
    (
        "verify, 1 thread (random id over the full set)",
        Row::Throughput("verify_1t"),
    ),
    ("verify, 2 threads", Row::Throughput("verify_2t")),
    ("issue, durable, 1 writer", Row::Throughput("issue_1w")),
    (
        "issue, durable, 8 concurrent writers",
        Row::Throughput("issue_8w"),
    ),
    ("revoke one token, durable", Row::Throughput("revoke")),
    (
        "revoke a subject's 10 tokens, durable",
        Row::Throughput("revoke_subject"),
    ),
    ("purge expired tokens (~10 %), durable", Row::Purge),
    (
        "disk bytes per token after load",
        Row::Figure("disk_bytes_per_token", |v| format!("{v:.0} B")),
    ),
    (
        "data on disk after load",
        Row::Figure("disk_bytes_after_load", fmt_bytes),
    ),
    (
        "… before the load's last step (redb: compaction; SQLite: WAL checkpoint; Redis: AOF on)",
        Row::Figure("disk_bytes_before_finish", fmt_bytes),
    ),
    (
        "data on disk at end of run",
        Row::Figure("disk_bytes_end", fmt_bytes),
    ),
    (
        "bulk load (setup, untimed)",
        Row::Figure("load_secs", |v| format!("{v:.2} s")),
    ),
    (
        "peak RSS of the benchmark process (whole round)",
        Row::Figure("peak_rss_mib", fmt_mib),
    ),
    (
        "peak RSS during the timed operations",
        Row::Figure("rss_ops_peak_mib", fmt_mib),
    ),
    (
        "peak RSS during the bulk load",
        Row::Figure("rss_load_peak_mib", fmt_mib),
    ),
    (
        "harness-only RSS before opening the store",
        Row::Figure("rss_harness_mib", fmt_mib),
    ),
    (
        "peak RSS, redis-server",
        Row::Figure("server_peak_rss_mib", fmt_mib),
    ),
    (
        "Redis used_memory at end",
        Row::Figure("server_used_memory_mib", fmt_mib),
    ),
    (
        "commits caused by verifies",
        Row::Figure("verify_commits", thousands),
    ),
    (
        "… out of this many verifies",
        Row::Figure("verify_commit_sample", thousands),
    ),
    (
        "tokens removed by purge",
        Row::Figure("purge_removed", thousands),
    ),
];

fn fmt_mib(v: f64) -> String {
    format!("{v:.0} MiB")
}

fn fmt_bytes(v: f64) -> String {
    format!("{:.1} MiB", v / (1024.0 * 1024.0))
}

/// The ratio keys: (key, numerator backend figure, denominator backend, denominator figure).
/// `None` as denominator backend = the subject's own figure; a numerator alone (no
/// denominator) is reported as-is.
const RATIOS: &[(&str, &str, Option<&str>, &str)] = &[
    (
        "verify_1t_vs_raw",
        "verify_1t_ops",
        Some("redb"),
        "verify_1t_ops",
    ),
    (
        "verify_1t_vs_sqlite",
        "verify_1t_ops",
        Some("sqlite"),
        "verify_1t_ops",
    ),
    (
        "verify_1t_vs_redis",
        "verify_1t_ops",
        Some("redis"),
        "verify_1t_ops",
    ),
    ("verify_2t_vs_1t", "verify_2t_ops", None, "verify_1t_ops"),
    (
        "issue_1w_vs_sqlite",
        "issue_1w_ops",
        Some("sqlite"),
        "issue_1w_ops",
    ),
    (
        "issue_8w_vs_sqlite",
        "issue_8w_ops",
        Some("sqlite"),
        "issue_8w_ops",
    ),
    (
        "revoke_vs_sqlite",
        "revoke_ops",
        Some("sqlite"),
        "revoke_ops",
    ),
    (
        "revoke_subject_vs_redis",
        "revoke_subject_ops",
        Some("redis"),
        "revoke_subject_ops",
    ),
    (
        "purge_vs_redis",
        "purge_tokens_per_sec",
        Some("redis"),
        "purge_tokens_per_sec",
    ),
    (
        "disk_vs_sqlite",
        "disk_bytes_per_token",
        Some("sqlite"),
        "disk_bytes_per_token",
    ),
    ("peak_rss_mib", "peak_rss_mib", None, ""),
    ("verify_commits", "verify_commits", None, ""),
];

impl Report<'_> {
    fn cell(&self, backend: &str, row: &Row) -> String {
        let Some(c) = self.results.get(backend) else {
            return "–".into();
        };
        match row {
            Row::Throughput(p) => match c.median(&format!("{p}_ops")) {
                Some(ops) => format!(
                    "**{}/s** · {} / {}",
                    thousands(ops),
                    c.median(&format!("{p}_p50_us"))
                        .map_or("?".into(), duration_us),
                    c.median(&format!("{p}_p99_us"))
                        .map_or("?".into(), duration_us),
                ),
                None => "–".into(),
            },
            Row::Purge => match (c.median("purge_tokens_per_sec"), c.median("purge_secs")) {
                (Some(tps), Some(secs)) => {
                    format!(
                        "{} tokens/s · {} total",
                        thousands(tps),
                        duration_us(secs * 1e6)
                    )
                }
                _ => "–".into(),
            },
            Row::Figure(key, f) => c.median(key).map_or("–".into(), f),
        }
    }

    /// The backend the ratio keys are computed for (tessera, else the placeholder).
    pub fn ratio_subject(&self) -> Option<&'static str> {
        [TESSERA, RATIO_PLACEHOLDER]
            .into_iter()
            .find(|b| self.results.contains_key(b))
    }

    fn ratios(&self) -> Vec<(&'static str, Option<f64>)> {
        let subject = self.ratio_subject().and_then(|s| self.results.get(s));
        RATIOS
            .iter()
            .map(|&(key, num, den_backend, den)| {
                let n = subject.and_then(|c| c.median(num));
                let value = if den.is_empty() {
                    n
                } else {
                    let d = match den_backend {
                        Some(b) => self.results.get(b).and_then(|c| c.median(den)),
                        None => subject.and_then(|c| c.median(den)),
                    };
                    match (n, d) {
                        (Some(n), Some(d)) if d != 0.0 => Some(n / d),
                        _ => None,
                    }
                };
                (key, value)
            })
            .collect()
    }

    /// The markdown report (table, ratios, notes).
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!(
            "## tessera-bench: {} tokens, median of {} round(s){}\n\n",
            thousands(self.plan.tokens as f64),
            self.rounds,
            if self.quick { " (--quick)" } else { "" }
        ));
        out.push_str("| operation |");
        for b in &self.backends {
            out.push_str(&format!(" {} |", b.label));
        }
        out.push_str("\n|---|");
        for _ in &self.backends {
            out.push_str("---|");
        }
        out.push('\n');
        for (label, row) in ROWS {
            if let Row::Figure(key, _) = row {
                let any = self
                    .results
                    .values()
                    .any(|c| c.per_round.contains_key(*key));
                if !any {
                    continue;
                }
            }
            out.push_str(&format!("| {label} |"));
            for b in &self.backends {
                out.push_str(&format!(" {} |", self.cell(b.name, row)));
            }
            out.push('\n');
        }
        out.push_str(&format!(
            "\nThroughput cells: ops/s over the wall time · p50 / p99 latency per call. Verify: \
             {} lookups on 1 thread, {} × {} on 2 threads, after {} warm-up lookups.\n",
            thousands(self.plan.verify_1t as f64),
            crate::workload::VERIFY_THREADS,
            thousands(self.plan.verify_2t_per_thread as f64),
            thousands(self.plan.warmup as f64),
        ));
        match self.ratio_subject() {
            Some(s) => {
                out.push_str(&format!("\n### Ratios ({s}"));
                if s != TESSERA {
                    out.push_str(", placeholder: the tessera backend is not registered");
                }
                out.push_str(")\n\n| key | value |\n|---|---|\n");
                for (k, v) in self.ratios() {
                    let v = v.map_or("n/a".to_string(), |v| format!("{v:.3}"));
                    out.push_str(&format!("| {k} | {v} |\n"));
                }
            }
            None => out.push_str("\nNo ratios: neither tessera nor redb ran.\n"),
        }
        for (name, why) in &self.skipped {
            out.push_str(&format!("\nNote: backend {name} skipped: {why}.\n"));
        }
        out
    }

    /// The one-line JSON with every figure and the ratio keys.
    pub fn json(&self) -> Value {
        let mut top = Map::new();
        top.insert("bench".into(), json!("tessera-bench"));
        top.insert("tokens".into(), json!(self.plan.tokens));
        top.insert("rounds".into(), json!(self.rounds));
        top.insert("quick".into(), json!(self.quick));
        top.insert("plan".into(), json!(self.plan));
        let names: Vec<&str> = self.backends.iter().map(|b| b.name).collect();
        top.insert("backends".into(), json!(names));
        let skipped: Map<String, Value> = self
            .skipped
            .iter()
            .map(|(n, why)| (n.to_string(), json!(why)))
            .collect();
        top.insert("skipped".into(), Value::Object(skipped));
        let subject = self.ratio_subject();
        top.insert("ratio_subject".into(), json!(subject));
        top.insert(
            "ratio_subject_is_placeholder".into(),
            json!(subject != Some(TESSERA)),
        );
        for (k, v) in self.ratios() {
            top.insert(k.into(), json!(v));
        }
        let mut figures = Map::new();
        let mut per_round = Map::new();
        for (name, c) in self.results {
            let medians: Map<String, Value> = c
                .per_round
                .keys()
                .map(|k| (k.clone(), json!(c.median(k))))
                .collect();
            figures.insert(name.to_string(), Value::Object(medians));
            per_round.insert(name.to_string(), json!(c.per_round));
        }
        top.insert("figures".into(), Value::Object(figures));
        top.insert("per_round".into(), Value::Object(per_round));
        Value::Object(top)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting() {
        assert_eq!(thousands(441_367.4), "441,367");
        assert_eq!(thousands(12.0), "12");
        assert_eq!(thousands(1_000.0), "1,000");
        assert_eq!(duration_us(2.24), "2.2 µs");
        assert_eq!(duration_us(1_230.0), "1.23 ms");
        assert_eq!(duration_us(1_520_000.0), "1.52 s");
    }
}
