//! How things are printed: tables and key-value blocks for people, JSON for scripts.

use std::fmt::Write as _;
use std::io::Write;
use std::time::Duration;

use serde_json::{json, Value};
use tessera::{Counts, Record, Replacement, Timestamp};

use crate::failure::{Code, Failure, Result};

/// Writes `text` to standard output.
pub fn out(text: &str) -> Result {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| {
            Failure::new(
                Code::Failed,
                format!("cannot write to standard output: {e}"),
            )
        })
}

/// Writes a JSON value and a newline to standard output.
pub fn out_json(value: &Value) -> Result {
    out(&format!("{value}\n"))
}

/// A table: a header row and rows of cells, columns padded to their widest cell.
pub struct Table {
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
    right: Vec<bool>,
}

impl Table {
    /// A table with these column names; columns named in `numeric` are right-aligned.
    pub fn new(header: &[&'static str], numeric: &[&str]) -> Table {
        Table {
            right: header.iter().map(|h| numeric.contains(h)).collect(),
            header: header.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as text, one line per row, no trailing spaces.
    pub fn render(&self) -> String {
        let width = |i: usize| {
            self.rows
                .iter()
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .chain([self.header[i].chars().count()])
                .max()
                .unwrap_or(0)
        };
        let widths: Vec<usize> = (0..self.header.len()).map(width).collect();
        let mut text = String::new();
        let header = self.header.iter().map(|h| h.to_string()).collect();
        for row in std::iter::once(&header).chain(&self.rows) {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                let w = widths.get(i).copied().unwrap_or(0);
                if self.right.get(i).copied().unwrap_or(false) {
                    let _ = write!(line, "{cell:>w$}");
                } else {
                    let _ = write!(line, "{cell:<w$}");
                }
            }
            text.push_str(line.trim_end());
            text.push('\n');
        }
        text
    }
}

/// Lines of `key  value`, keys padded to the widest.
pub fn key_values(pairs: &[(&str, String)]) -> String {
    let w = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut text = String::new();
    for (k, v) in pairs {
        let _ = writeln!(text, "{k:<w$}  {v}");
    }
    text
}

/// A time for people: RFC 3339 to the second; `@<milliseconds since the epoch>ms` (as
/// [`Timestamp::to_rfc3339`] writes them) for instants outside RFC 3339's years 0 to 9999.
pub fn time(t: Timestamp) -> String {
    let ms = t.as_unix_millis();
    let raw = || format!("@{ms}ms");
    // Truncated to the second: near the smallest instant, that would go below it.
    let Some(second) = ms.checked_sub(ms.rem_euclid(1000)) else {
        return raw();
    };
    let text = Timestamp::from_unix_millis(second).to_rfc3339();
    if text.starts_with('@') {
        // Out of RFC 3339's range: the exact instant, not the truncated one.
        raw()
    } else {
        text
    }
}

/// An optional time for people, with the word for `None`.
pub fn time_or(t: Option<Timestamp>, none: &str) -> String {
    t.map_or_else(|| none.to_string(), time)
}

/// A duration for people, in the largest unit that divides it (`30m`, `7d`, `1500ms`).
pub fn duration(d: Duration) -> String {
    let ms = d.as_millis();
    if !ms.is_multiple_of(1000) || ms == 0 {
        return format!("{ms}ms");
    }
    let s = ms / 1000;
    for (unit, len) in [("w", 7 * 86_400), ("d", 86_400), ("h", 3600), ("m", 60)] {
        if s.is_multiple_of(len) {
            return format!("{}{unit}", s / len);
        }
    }
    format!("{s}s")
}

/// A size for people: `12.3 MiB (12901234 bytes)`.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {} ({bytes} bytes)", UNITS[unit])
}

/// A tenant for people: the default tenant `""` is shown as `(default)`.
pub fn tenant(t: &str) -> String {
    if t.is_empty() {
        "(default)".into()
    } else {
        t.to_string()
    }
}

/// `live`, `expired`, `revoked` or `rotated` at `now`, as far as the record tells (a
/// `revoke --before` cutoff does not show in it).
pub fn state(r: &Record, now: Timestamp) -> &'static str {
    if r.revoked.is_some() {
        "revoked"
    } else if !r.is_live(now) {
        "expired"
    } else if r
        .successor
        .is_some_and(|s| s.how == Replacement::Rotated && s.grace_until <= now)
    {
        "rotated"
    } else {
        "live"
    }
}

/// The public fields of a record as JSON (never a secret, never its hash). Times are RFC 3339,
/// durations whole milliseconds, metadata hexadecimal.
pub fn record_json(r: &Record) -> Value {
    json!({
        "id": r.id.to_string(),
        "kind": r.kind.as_str(),
        "tenant": r.tenant,
        "subject": r.subject,
        "scopes": r.scopes.iter().collect::<Vec<_>>(),
        "label": r.label,
        "metadata_hex": hex(&r.metadata),
        "created_at": r.created_at.to_rfc3339(),
        "expires_at": r.expires_at.map(Timestamp::to_rfc3339),
        "idle_timeout_ms": r.idle_timeout.map(|d| d.as_millis() as u64),
        "max_lifetime_ms": r.max_lifetime.map(|d| d.as_millis() as u64),
        "last_used_at": r.last_used_at.map(Timestamp::to_rfc3339),
        "uses": r.uses,
        "max_uses": r.max_uses,
        "parent": r.parent.map(|p| p.to_string()),
        "family": r.family.map(|f| f.to_string()),
        "family_created_at": r.family_created_at.map(Timestamp::to_rfc3339),
        "successor": r.successor.map(|s| json!({
            "id": s.id.to_string(),
            "at": s.at.to_rfc3339(),
            "grace_until": s.grace_until.to_rfc3339(),
            "how": replacement(s.how),
        })),
        "revoked": r.revoked.map(|rv| json!({
            "at": rv.at.to_rfc3339(),
            "reason": rv.reason.as_str(),
        })),
    })
}

/// A record as JSON with its state at `now`.
pub fn record_json_at(r: &Record, now: Timestamp) -> Value {
    let mut v = record_json(r);
    v["state"] = json!(state(r, now));
    v
}

/// The stable name of how a token was replaced.
pub fn replacement(how: Replacement) -> &'static str {
    match how {
        Replacement::Rotated => "rotated",
        Replacement::Rolled => "rolled",
        _ => "replaced",
    }
}

/// Counts as JSON.
pub fn counts_json(c: &Counts) -> Value {
    json!({ "live": c.live, "expired": c.expired, "revoked": c.revoked, "total": c.total() })
}

/// The table of a list of records.
pub fn records_table(records: &[Record]) -> String {
    let mut table = Table::new(
        &[
            "ID",
            "KIND",
            "TENANT",
            "SUBJECT",
            "LABEL",
            "SCOPES",
            "CREATED",
            "LAST USED",
            "EXPIRES",
        ],
        &[],
    );
    for r in records {
        table.row(vec![
            r.id.to_string(),
            r.kind.to_string(),
            tenant(&r.tenant),
            r.subject.clone().unwrap_or_else(|| "-".into()),
            r.label.clone().unwrap_or_else(|| "-".into()),
            if r.scopes.is_empty() {
                "-".into()
            } else {
                r.scopes.iter().collect::<Vec<_>>().join(",")
            },
            time(r.created_at),
            time_or(r.last_used_at, "never"),
            time_or(r.deadline(), "never"),
        ]);
    }
    table.render()
}

/// The fields of one record, one per line, as `show` and `verify` print them.
pub fn record_fields(r: &Record, now: Timestamp) -> Vec<(&'static str, String)> {
    let mut v = vec![
        ("id", r.id.to_string()),
        ("kind", r.kind.to_string()),
        ("state", state(r, now).to_string()),
        ("tenant", tenant(&r.tenant)),
        ("subject", r.subject.clone().unwrap_or_else(|| "-".into())),
        ("label", r.label.clone().unwrap_or_else(|| "-".into())),
        (
            "scopes",
            if r.scopes.is_empty() {
                "-".into()
            } else {
                r.scopes.iter().collect::<Vec<_>>().join(" ")
            },
        ),
        ("created", time(r.created_at)),
        ("expires", time_or(r.expires_at, "never")),
        ("last used", time_or(r.last_used_at, "never")),
        (
            "idle timeout",
            r.idle_timeout.map_or_else(|| "-".into(), duration),
        ),
        (
            "max lifetime",
            r.max_lifetime.map_or_else(|| "-".into(), duration),
        ),
        (
            "uses",
            match r.max_uses {
                Some(m) => format!("{} of {m}", r.uses),
                None => r.uses.to_string(),
            },
        ),
        (
            "parent",
            r.parent.map_or_else(|| "-".into(), |p| p.to_string()),
        ),
        (
            "family",
            r.family.map_or_else(|| "-".into(), |f| f.to_string()),
        ),
        (
            "successor",
            r.successor.map_or_else(
                || "-".into(),
                |s| {
                    format!(
                        "{} ({} at {}; this one works until {})",
                        s.id,
                        replacement(s.how),
                        time(s.at),
                        time(s.grace_until)
                    )
                },
            ),
        ),
        (
            "revoked",
            r.revoked.map_or_else(
                || "-".into(),
                |rv| format!("{} ({})", time(rv.at), rv.reason),
            ),
        ),
    ];
    if !r.metadata.is_empty() {
        v.push(("metadata", format!("{} bytes", r.metadata.len())));
    }
    v
}

/// Lowercase hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_to_the_second_or_as_milliseconds_out_of_range() {
        let at = |ms| time(Timestamp::from_unix_millis(ms));
        assert_eq!(at(1_795_449_600_999), "2026-11-23T16:00:00Z");
        assert_eq!(at(-1), "1969-12-31T23:59:59Z");
        assert_eq!(at(i64::MIN), "@-9223372036854775808ms");
        assert_eq!(at(i64::MIN + 191), "@-9223372036854775617ms");
        assert_eq!(at(i64::MAX), "@9223372036854775807ms");
        assert_eq!(at(253_402_300_800_001), "@253402300800001ms");
        assert_eq!(time_or(None, "never"), "never");
    }

    #[test]
    fn durations_print_in_their_largest_whole_unit() {
        assert_eq!(duration(Duration::from_secs(1800)), "30m");
        assert_eq!(duration(Duration::from_secs(7 * 86_400)), "1w");
        assert_eq!(duration(Duration::from_secs(90)), "90s");
        assert_eq!(duration(Duration::from_millis(1500)), "1500ms");
    }

    #[test]
    fn tables_pad_columns_and_drop_trailing_spaces() {
        let mut t = Table::new(&["NAME", "N"], &["N"]);
        t.row(vec!["alpha".into(), "1".into()]);
        t.row(vec!["b".into(), "100".into()]);
        assert_eq!(t.render(), "NAME     N\nalpha    1\nb      100\n");
    }

    #[test]
    fn sizes_show_a_unit_and_the_bytes() {
        assert_eq!(size(512), "512 bytes");
        assert_eq!(size(1536), "1.5 KiB (1536 bytes)");
        assert_eq!(size(3 * 1024 * 1024), "3.0 MiB (3145728 bytes)");
    }
}
