//! The export format: JSON lines.
//!
//! The first line is the header, then one line per token, then the end line with the count:
//!
//! ```text
//! {"tessera_export":2,"schema_version":2,"header":"0:<store key>:<key check>","peppered":false,"exported_at":"..."}
//! {"id":"...","kind":"session","tenant":"","subject":"alice",...,"secret_hash":"v1:<64 hex digits>"}
//! {"tessera_export_end":true,"tokens":1}
//! ```
//!
//! The end line tells a whole export from one cut short (a killed `export > file`, a full disk):
//! every line before the cut is valid JSON, so without it an import would take the first part
//! for the whole. Format 1 had no end line; its exports still import.
//!
//! A token line holds the record's public fields (as `show --json` prints them) and the keyed
//! hash of its secret, never the secret: imported tokens keep working because the header carries
//! the store key the hashes were made with.

use std::io::BufRead;
use std::time::Duration;

use serde_json::{json, Map, Value};
use tessera::{
    Error, ExportHeader, ExportedToken, Kind, Record, Replacement, Revocation, RevokeReason,
    Scopes, SecretHash, Successor, Timestamp, TokenId,
};

use crate::output::record_json;

/// The version of this format, in the header line.
pub const FORMAT_VERSION: u64 = 2;

/// The oldest format this tool reads (format 1: no end line).
const OLDEST_FORMAT: u64 = 1;

/// The field that marks the end line.
const END_FIELD: &str = "tessera_export_end";

/// The header line of an export.
pub fn header_line(header: &ExportHeader, now: Timestamp) -> Value {
    json!({
        "tessera_export": FORMAT_VERSION,
        "schema_version": tessera::SCHEMA_VERSION,
        "header": header.to_text(),
        "peppered": header.peppered(),
        "exported_at": now.to_rfc3339(),
    })
}

/// The line of one exported token.
pub fn token_line(t: &ExportedToken) -> Value {
    let mut v = record_json(&t.record);
    v["secret_hash"] = json!(t.secret_hash.to_text());
    v
}

/// The end line of an export of `tokens` tokens.
pub fn end_line(tokens: u64) -> Value {
    json!({ END_FIELD: true, "tokens": tokens })
}

/// What the header line of an export says.
pub struct Opening {
    /// The store header (key, cutoffs, last event).
    pub header: ExportHeader,
    /// The format version: from 2 on, the export ends with an end line.
    pub format: u64,
}

/// Parses the header line.
pub fn parse_header(line: &str) -> Result<Opening, Error> {
    let bad = |m: &str| Error::InvalidArgument(format!("line 1 (the export header): {m}"));
    let v: Value = serde_json::from_str(line).map_err(|e| bad(&e.to_string()))?;
    let obj = v.as_object().ok_or_else(|| bad("not a JSON object"))?;
    let format = match obj.get("tessera_export").and_then(Value::as_u64) {
        Some(v) if (OLDEST_FORMAT..=FORMAT_VERSION).contains(&v) => v,
        Some(other) => {
            return Err(bad(&format!(
                "export format {other}; this tessera reads formats {OLDEST_FORMAT} to \
                 {FORMAT_VERSION}"
            )))
        }
        None => return Err(bad("not a tessera export (no \"tessera_export\" field)")),
    };
    if let Some(schema) = obj.get("schema_version").and_then(Value::as_u64) {
        if schema > u64::from(tessera::SCHEMA_VERSION) {
            return Err(bad(&format!(
                "the export comes from a store of schema version {schema}; this tessera knows \
                 up to {}",
                tessera::SCHEMA_VERSION
            )));
        }
    }
    let text = obj
        .get("header")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("no \"header\" field"))?;
    let header = ExportHeader::from_text(text).map_err(|e| bad(&e.to_string()))?;
    Ok(Opening { header, format })
}

/// Reads the token lines after the header, numbering lines from 2. From format 2 on, the input
/// must end with the end line, whose count must match the tokens read, and nothing may follow
/// it (blank lines aside): an export cut short, or two glued together, is an error at its
/// last line.
pub fn tokens(
    lines: impl Iterator<Item = std::io::Result<String>>,
    format: u64,
) -> impl Iterator<Item = Result<ExportedToken, Error>> {
    let mut lines = lines
        .enumerate()
        .map(|(i, line)| (i + 2, line))
        .filter(|(_, line)| !matches!(line, Ok(l) if l.trim().is_empty()));
    let mut read = 0u64;
    let mut last = 1;
    let mut ended = false;
    let mut done = false;
    std::iter::from_fn(move || loop {
        if done {
            return None;
        }
        let bad =
            |n: usize, m: &str| Error::InvalidArgument(format!("line {n} of the export: {m}"));
        let item = match lines.next() {
            None => {
                done = true;
                if format >= 2 && !ended {
                    return Some(Err(Error::InvalidArgument(format!(
                        "the export ends at line {last} without its end line: it was cut short \
                         (an interrupted export?)"
                    ))));
                }
                return None;
            }
            Some((n, Err(e))) => Err(Error::Io(format!("line {n}: {e}"))),
            Some((n, Ok(_))) if ended => Err(bad(n, "a line after the end line")),
            Some((n, Ok(line))) => {
                last = n;
                match parse_line(&line, format) {
                    Ok(Line::Token(t)) => {
                        read += 1;
                        Ok(*t)
                    }
                    Ok(Line::End(count)) if count == read => {
                        ended = true;
                        continue;
                    }
                    Ok(Line::End(count)) => Err(bad(
                        n,
                        &format!("the end line counts {count} tokens, the lines before it {read}"),
                    )),
                    Err(m) => Err(bad(n, &m)),
                }
            }
        };
        done = item.is_err();
        return Some(item);
    })
}

/// One line after the header.
enum Line {
    /// A token's line (boxed: the end line is a number).
    Token(Box<ExportedToken>),
    /// The end line, with the count it gives.
    End(u64),
}

fn parse_line(line: &str, format: u64) -> Result<Line, String> {
    let v: Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
    match v.get(END_FIELD) {
        Some(Value::Bool(true)) if format >= 2 => v
            .get("tokens")
            .and_then(Value::as_u64)
            .map(Line::End)
            .ok_or_else(|| "the end line's \"tokens\" must be a whole number".into()),
        Some(_) => Err(format!(
            "an end line (\"{END_FIELD}\") in a format {format} export"
        )),
        None => token_from(v).map(|t| Line::Token(Box::new(t))),
    }
}

/// Splits a reader into its header line and the rest.
pub fn read_header(reader: &mut impl BufRead) -> Result<Opening, Error> {
    let mut first = String::new();
    reader
        .read_line(&mut first)
        .map_err(|e| Error::Io(format!("line 1: {e}")))?;
    if first.trim().is_empty() {
        return Err(Error::InvalidArgument(
            "the export is empty (no header line)".into(),
        ));
    }
    parse_header(first.trim_end())
}

#[cfg(test)]
fn parse_token(line: &str) -> Result<ExportedToken, String> {
    token_from(serde_json::from_str(line).map_err(|e| e.to_string())?)
}

/// The fields a token line may have: those this version writes (older versions wrote fewer).
/// A field this version does not know may restrict the token (written by a newer tessera): it
/// is refused, never dropped.
fn known_fields() -> &'static [String] {
    static KNOWN: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    KNOWN.get_or_init(|| {
        let sample = Record::new(
            TokenId::from_bytes([0; 16]),
            Kind::Session,
            Timestamp::from_unix_millis(0),
        );
        let mut fields: Vec<String> = match record_json(&sample) {
            Value::Object(o) => o.keys().cloned().collect(),
            _ => Vec::new(),
        };
        fields.push("secret_hash".into());
        fields
    })
}

fn token_from(v: Value) -> Result<ExportedToken, String> {
    let o = v.as_object().ok_or("not a JSON object")?;
    if let Some(unknown) = o.keys().find(|k| !known_fields().contains(k)) {
        return Err(format!(
            "field {unknown:?} is not known to this version of tessera (an export from a newer \
             one?)"
        ));
    }
    let id: TokenId = req_str(o, "id")?
        .parse()
        .map_err(|e: tessera::BadTokenId| format!("\"id\": {e}"))?;
    let kind = Kind::from_name(req_str(o, "kind")?).ok_or("\"kind\" is session or api_key")?;
    let created_at = time(req_str(o, "created_at")?, "created_at")?;
    let mut r = Record::new(id, kind, created_at);
    r.tenant = req_str(o, "tenant")?.to_string();
    r.subject = opt_str(o, "subject")?;
    r.label = opt_str(o, "label")?;
    let names: Vec<String> = match o.get("scopes") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|s| s.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or("\"scopes\" must be an array of strings")?,
        Some(_) => return Err("\"scopes\" must be an array of strings".into()),
    };
    r.scopes = Scopes::from_names(names).map_err(|e| format!("\"scopes\": {e}"))?;
    r.family = opt_id(o, "family")?;
    r.family_created_at = opt_time(o, "family_created_at")?;
    r.successor = match o.get("successor") {
        None | Some(Value::Null) => None,
        Some(Value::Object(s)) => Some(Successor {
            id: req_str(s, "id")?
                .parse()
                .map_err(|e: tessera::BadTokenId| format!("\"successor.id\": {e}"))?,
            at: time(req_str(s, "at")?, "successor.at")?,
            grace_until: time(req_str(s, "grace_until")?, "successor.grace_until")?,
            how: replacement(req_str(s, "how")?)?,
        }),
        Some(_) => return Err("\"successor\" must be an object or null".into()),
    };
    r.metadata = match opt_str(o, "metadata_hex")? {
        Some(h) => unhex(&h).ok_or("\"metadata_hex\" is not hexadecimal")?,
        None => Vec::new(),
    };
    r.expires_at = opt_time(o, "expires_at")?;
    r.last_used_at = opt_time(o, "last_used_at")?;
    r.idle_timeout = opt_u64(o, "idle_timeout_ms")?.map(Duration::from_millis);
    r.max_lifetime = opt_u64(o, "max_lifetime_ms")?.map(Duration::from_millis);
    r.uses = opt_u64(o, "uses")?.unwrap_or(0);
    r.max_uses = opt_u64(o, "max_uses")?;
    r.parent = opt_id(o, "parent")?;
    r.revoked = match o.get("revoked") {
        None | Some(Value::Null) => None,
        Some(Value::Object(rv)) => Some(Revocation {
            at: time(req_str(rv, "at")?, "revoked.at")?,
            reason: reason(req_str(rv, "reason")?)?,
        }),
        Some(_) => return Err("\"revoked\" must be an object or null".into()),
    };
    let secret_hash = SecretHash::from_text(req_str(o, "secret_hash")?)
        .map_err(|e| format!("\"secret_hash\": {e}"))?;
    Ok(ExportedToken {
        record: r,
        secret_hash,
    })
}

fn req_str<'a>(o: &'a Map<String, Value>, key: &str) -> Result<&'a str, String> {
    o.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{key:?} is missing or not a string"))
}

fn opt_str(o: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("{key:?} must be a string or null")),
    }
}

fn opt_id(o: &Map<String, Value>, key: &str) -> Result<Option<TokenId>, String> {
    opt_str(o, key)?
        .map(|p| {
            p.parse()
                .map_err(|e: tessera::BadTokenId| format!("{key:?}: {e}"))
        })
        .transpose()
}

fn opt_u64(o: &Map<String, Value>, key: &str) -> Result<Option<u64>, String> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| format!("{key:?} must be a whole number or null")),
    }
}

fn opt_time(o: &Map<String, Value>, key: &str) -> Result<Option<Timestamp>, String> {
    opt_str(o, key)?.map(|t| time(&t, key)).transpose()
}

/// Parses a time as [`Timestamp::to_rfc3339`] writes it: RFC 3339, or `@<ms>ms` for instants
/// outside RFC 3339's years.
fn time(text: &str, key: &str) -> Result<Timestamp, String> {
    if let Some(ms) = text.strip_prefix('@').and_then(|t| t.strip_suffix("ms")) {
        if let Ok(ms) = ms.parse() {
            return Ok(Timestamp::from_unix_millis(ms));
        }
    }
    Timestamp::parse_rfc3339(text).ok_or_else(|| format!("{key:?} is not an RFC 3339 time"))
}

fn reason(name: &str) -> Result<RevokeReason, String> {
    RevokeReason::from_name(name).ok_or_else(|| format!("unknown revocation reason {name:?}"))
}

fn replacement(name: &str) -> Result<Replacement, String> {
    match name {
        "rotated" => Ok(Replacement::Rotated),
        "rolled" => Ok(Replacement::Rolled),
        _ => Err(format!("unknown replacement {name:?} (rotated or rolled)")),
    }
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    // `from_str_radix` alone would take "+a" for 0x0a: every character must be a hex digit.
    if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_line_round_trips() {
        let id: TokenId = "0000000000000000000001".parse().unwrap();
        let mut r = Record::new(
            id,
            Kind::ApiKey,
            Timestamp::from_unix_millis(1_700_000_000_123),
        );
        r.tenant = "acme".into();
        r.scopes = Scopes::from_names(["a", "b:c"]).unwrap();
        r.family = Some(id);
        r.family_created_at = Some(Timestamp::from_unix_millis(1_699_000_000_000));
        r.successor = Some(Successor {
            id,
            at: Timestamp::from_unix_millis(1_700_000_000_500),
            grace_until: Timestamp::from_unix_millis(1_700_000_060_500),
            how: Replacement::Rolled,
        });
        r.label = Some("CI".into());
        r.metadata = vec![0, 1, 254, 255];
        r.expires_at = Some(Timestamp::from_unix_millis(i64::MAX));
        r.idle_timeout = Some(Duration::from_millis(1500));
        r.uses = 3;
        r.max_uses = Some(9);
        r.parent = Some(id);
        r.revoked = Some(Revocation {
            at: Timestamp::from_unix_millis(1_700_000_001_000),
            reason: RevokeReason::Cascade,
        });
        let hash = SecretHash::from_text(&format!("v1:{}", "ab".repeat(32))).unwrap();
        let t = ExportedToken {
            record: r.clone(),
            secret_hash: hash.clone(),
        };
        let back = parse_token(&token_line(&t).to_string()).unwrap();
        assert_eq!(back.record, r);
        assert_eq!(back.secret_hash, hash);
    }

    #[test]
    fn a_bad_line_says_what_is_wrong() {
        let err = parse_token(r#"{"id":"nope"}"#).unwrap_err();
        assert!(err.contains("\"id\""), "{err}");
        assert!(parse_header(r#"{"hello":1}"#)
            .err()
            .unwrap()
            .to_string()
            .contains("not a tessera export"));
        assert!(parse_header(r#"{"tessera_export":3,"header":""}"#)
            .err()
            .unwrap()
            .to_string()
            .contains("formats 1 to 2"));
    }

    /// What `tokens` makes of the lines after a header of `format`: the ids it yields, or the
    /// first error.
    fn read(lines: &[String], format: u64) -> Result<Vec<TokenId>, String> {
        tokens(lines.iter().cloned().map(Ok), format)
            .map(|t| t.map(|t| t.record.id).map_err(|e| e.to_string()))
            .collect()
    }

    fn line(n: u8) -> (TokenId, String) {
        let id = TokenId::from_bytes([n; 16]);
        let t = ExportedToken {
            record: Record::new(id, Kind::Session, Timestamp::from_unix_millis(0)),
            secret_hash: SecretHash::from_text(&format!("v1:{}", "cd".repeat(32))).unwrap(),
        };
        (id, token_line(&t).to_string())
    }

    #[test]
    fn an_export_is_whole_only_with_its_end_line() {
        let (a, la) = line(1);
        let (b, lb) = line(2);
        let end = |n| end_line(n).to_string();
        assert_eq!(read(&[la.clone(), lb.clone(), end(2)], 2), Ok(vec![a, b]));
        assert_eq!(read(&[end(0)], 2), Ok(vec![]));
        // Blank lines anywhere are skipped, after the end line too.
        assert_eq!(
            read(&[la.clone(), String::new(), end(1), "  ".into()], 2),
            Ok(vec![a])
        );
        let cut = read(&[la.clone(), lb.clone()], 2).unwrap_err();
        assert!(cut.contains("ends at line 3 without its end line"), "{cut}");
        assert!(read(&[], 2).unwrap_err().contains("at line 1"));
        let count = read(&[la.clone(), end(2)], 2).unwrap_err();
        assert!(
            count.contains("line 3") && count.contains("counts 2"),
            "{count}"
        );
        let glued = read(&[la.clone(), end(1), lb.clone(), end(1)], 2).unwrap_err();
        assert!(
            glued.contains("line 4 of the export: a line after the end line"),
            "{glued}"
        );
        // Format 1 had no end line, and has none to give.
        assert_eq!(read(&[la.clone(), lb], 1), Ok(vec![a, b]));
        let stray = read(&[la, end(1)], 1).unwrap_err();
        assert!(stray.contains("format 1"), "{stray}");
    }

    #[test]
    fn a_field_or_schema_from_a_newer_version_is_refused() {
        let (_, good) = line(1);
        let mut v: Value = serde_json::from_str(&good).unwrap();
        v["allowed_ips"] = json!(["10.0.0.0/8"]);
        let err = parse_token(&v.to_string()).unwrap_err();
        assert!(err.contains("\"allowed_ips\" is not known"), "{err}");
        let newer = format!(
            r#"{{"tessera_export":2,"schema_version":{},"header":""}}"#,
            tessera::SCHEMA_VERSION + 1
        );
        let err = parse_header(&newer).err().unwrap().to_string();
        assert!(err.contains("schema version"), "{err}");
    }

    #[test]
    fn metadata_hex_is_hexadecimal_digits_only() {
        assert_eq!(unhex("00fF"), Some(vec![0, 255]));
        // "+a" parses as a number on its own; as two digits of a byte it is refused.
        assert_eq!(unhex("+a"), None);
        assert_eq!(unhex("0"), None);
    }
}
