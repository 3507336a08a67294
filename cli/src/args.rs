//! The command line: global options, subcommands and the parsers of their values.

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, ArgGroup, Args, Parser, Subcommand};
use tessera::{Kind, Timestamp, TokenId};

use crate::failure::EXIT_CODES_HELP;

/// `tessera`: look into and look after a tessera token store.
#[derive(Debug, Parser)]
#[command(
    name = "tessera",
    version,
    about = "Inspect and maintain a tessera token store: who is logged in, revoke a leaked key, \
             why the file is this big.",
    after_help = EXIT_CODES_HELP,
    after_long_help = EXIT_CODES_HELP
)]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes (before or after the command's name).
#[derive(Debug, Args)]
pub struct Global {
    /// The store file.
    #[arg(long, global = true, env = "TESSERA_STORE", value_name = "PATH")]
    pub store: Option<PathBuf>,

    /// Open the store in the multi-process mode, sharing it with running server workers that
    /// open it in that mode too (without it, a store in use fails with exit code 4).
    #[arg(
        long,
        global = true,
        env = "TESSERA_MULTI_PROCESS",
        action = ArgAction::SetTrue,
        value_parser = BoolishValueParser::new()
    )]
    pub multi_process: bool,

    /// Read the store's pepper from this environment variable (a store created with a pepper
    /// opens only with it).
    #[arg(long, global = true, value_name = "VAR")]
    pub pepper_env: Option<String>,

    /// The prefix of session tokens, if the application changed it.
    #[arg(
        long,
        global = true,
        env = "TESSERA_SESSION_PREFIX",
        value_name = "PREFIX",
        default_value = "tss"
    )]
    pub session_prefix: String,

    /// The prefix of API keys, if the application changed it.
    #[arg(
        long,
        global = true,
        env = "TESSERA_KEY_PREFIX",
        value_name = "PREFIX",
        default_value = "tsk"
    )]
    pub key_prefix: String,

    /// How long a revoked token keeps answering "revoked" before the purge removes it; give the
    /// application's setting if it changed it.
    #[arg(
        long,
        global = true,
        env = "TESSERA_REVOKED_RETENTION",
        value_name = "DURATION",
        default_value = "7d",
        value_parser = parse_duration
    )]
    pub revoked_retention: Duration,

    /// How many audit events the store keeps; give the application's setting if it changed it
    /// (writes of this tool trim the feed to it).
    #[arg(
        long,
        global = true,
        env = "TESSERA_EVENT_RETENTION",
        value_name = "N",
        default_value_t = 100_000
    )]
    pub event_retention: usize,

    /// The longest metadata a token may carry, in bytes; give the application's setting if it
    /// changed it (an import refuses longer metadata).
    #[arg(
        long,
        global = true,
        env = "TESSERA_MAX_METADATA_LEN",
        value_name = "BYTES",
        default_value_t = 4096
    )]
    pub max_metadata_len: usize,

    /// Print JSON (one object; JSON lines for `export`) instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Counts of tokens by kind and tenant (live, expired, revoked), file size, schema version.
    Stats,

    /// The live tokens of a subject or a tenant: ids, labels, created, last used, expires.
    ///
    /// Never shows a secret. `--tenant ''` is the default tenant (applications without tenants).
    List(ListArgs),

    /// Everything the store knows about one token, by its id (never its secret).
    Show(ShowArgs),

    /// Revoke one token by id, or every token of a subject or a tenant, and say what was revoked.
    Revoke(RevokeArgs),

    /// Issue an API key and print it once (on standard output; the details go to standard error).
    IssueKey(IssueKeyArgs),

    /// Verify a token read from standard input (never from the command line, where it would
    /// land in the shell's history) and print the outcome.
    ///
    /// This is a real verify: a valid token counts as used (its "last used" time moves, and an
    /// idle timeout restarts).
    Verify(VerifyArgs),

    /// Remove expired tokens, and revoked ones past their retention, batch by batch.
    Purge(PurgeArgs),

    /// Compact the file: rewrite half-empty tables into full pages and return the free space
    /// to the file system.
    ///
    /// Needs the store not to be in use by another process.
    Compact,

    /// Check the integrity of the file: every page's checksum and every token's record.
    Check,

    /// Write a consistent copy of the store to a new file, also while server workers use it in
    /// the multi-process mode.
    Backup(BackupArgs),

    /// Export every token (records and hashes of secrets, never a secret) as JSON lines.
    ///
    /// The first line holds the store key that the hashes depend on: treat an export like the
    /// store file itself.
    Export(ExportArgs),

    /// Create a new store from an export; exported tokens keep working.
    Import(ImportArgs),

    /// The audit feed: what happened to tokens (issued, revoked, rotated, purged...), oldest
    /// first, after a cursor.
    ///
    /// Read on from where the last call stopped with `--since <the last seq printed>`.
    Events(EventsArgs),
}

/// Arguments of `list`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("owner").required(true).multiple(true).args(["subject", "tenant"])))]
pub struct ListArgs {
    /// The user whose tokens to list (in every tenant, unless --tenant is given too).
    #[arg(long)]
    pub subject: Option<String>,
    /// The tenant whose tokens to list.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Only tokens of this kind: session or api_key.
    #[arg(long, value_parser = parse_kind)]
    pub kind: Option<Kind>,
}

/// Arguments of `show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The token's id (22 characters; the part after the prefix's `_`).
    pub id: String,
}

/// Arguments of `revoke`: an id; or `--subject` (with `--except`); or `--tenant`; or `--before`,
/// alone (the whole store) or with `--subject` or `--tenant`.
#[derive(Debug, Args)]
#[command(group(
    ArgGroup::new("what")
        .required(true)
        .multiple(true)
        .args(["id", "subject", "tenant", "before"])
))]
pub struct RevokeArgs {
    /// The id of the token to revoke.
    pub id: Option<String>,
    /// Revoke every live token of this subject (in every tenant).
    #[arg(long)]
    pub subject: Option<String>,
    /// With --subject: keep this token (for example the operator's own session).
    #[arg(long, value_name = "ID")]
    pub except: Option<String>,
    /// Revoke every live token of this tenant.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Revoke every token issued before this time (RFC 3339, or `now`): in the whole store, or
    /// only those of --subject or --tenant. Tokens issued later are untouched.
    #[arg(long, value_parser = parse_before, value_name = "TIME")]
    pub before: Option<Timestamp>,
}

/// Arguments of `issue-key`.
#[derive(Debug, Args)]
pub struct IssueKeyArgs {
    /// The tenant that owns the key.
    #[arg(long)]
    pub tenant: String,
    /// A scope the key grants (repeat for several).
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
    /// A human-readable name ("CI deploy key").
    #[arg(long)]
    pub label: Option<String>,
    /// The user who owns the key, if any.
    #[arg(long)]
    pub subject: Option<String>,
    /// Expire after this long (90s, 30m, 12h, 7d, 2w); default: never (or the store's default).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub ttl: Option<Duration>,
}

/// Arguments of `verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Also require the token to belong to this tenant.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Also require this scope (repeat for several).
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
}

/// Arguments of `purge`.
#[derive(Debug, Args)]
pub struct PurgeArgs {
    /// Show a progress bar on standard error even when it is not a terminal.
    #[arg(long)]
    pub progress: bool,
    /// Tokens removed per write transaction (1 to 100,000).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub batch: u32,
}

/// Arguments of `backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The copy to write (must not exist).
    pub out: PathBuf,
}

/// Arguments of `export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write to this file (must not exist) instead of standard output.
    #[arg(long, short)]
    pub out: Option<PathBuf>,
}

/// Arguments of `events`.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Print the events after this cursor (the `seq` of the last event seen; 0: from the oldest
    /// kept).
    #[arg(long, default_value_t = 0, value_name = "CURSOR")]
    pub since: u64,
    /// Print at most this many events (1 to 10,000).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub limit: u32,
}

/// Arguments of `import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The export to read (`-`: standard input). The store given by --store must not exist.
    pub input: PathBuf,
}

/// Parses a token id, with a warning when a whole token was given instead. Ids are parsed after
/// clap, so that a usage error never repeats what was given (it may be a whole token). The
/// message never quotes the text, not even a short one (it may be a piece of a secret): it
/// gives its length only.
pub fn parse_id(what: &str, text: &str) -> Result<TokenId, String> {
    if text.len() > tessera::ID_TEXT_LEN && text.contains('_') {
        return Err(format!(
            "{what}: this looks like a whole token (with its secret), not an id: never put a \
             token on the command line; pipe it to `tessera verify` instead (its id is the 22 \
             characters after the prefix's `_`)"
        ));
    }
    text.parse().map_err(|e: tessera::BadTokenId| {
        let given = text.chars().count();
        let mut message = format!(
            "{what}: not a token id (the text given, not repeated here, is {given} character{}): \
             {e}",
            if given == 1 { "" } else { "s" }
        );
        if text.len() > tessera::ID_TEXT_LEN {
            message.push_str(
                "; if it is a token or a piece of one, never put it on the command line: pipe \
                 the token to `tessera verify`, which prints its id",
            );
        }
        message
    })
}

/// Parses an instant for `--before`: RFC 3339 (`2026-11-23T16:00:00Z`) or `now`.
pub fn parse_before(text: &str) -> Result<Timestamp, String> {
    if text == "now" {
        return Ok(Timestamp::from(std::time::SystemTime::now()));
    }
    Timestamp::parse_rfc3339(text)
        .ok_or_else(|| "not a time: use RFC 3339, as in 2026-11-23T16:00:00Z, or now".to_string())
}

/// Parses a kind name: `session` or `api_key`.
pub fn parse_kind(text: &str) -> Result<Kind, String> {
    Kind::from_name(text).ok_or_else(|| "a kind is session or api_key".to_string())
}

/// Parses a duration: a whole number and a unit, `s`, `m`, `h`, `d` or `w` (`90s`, `30m`,
/// `12h`, `7d`, `2w`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad =
        || "not a duration: use a number and a unit, as in 90s, 30m, 12h, 7d or 2w".to_string();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .filter(|&i| i > 0)
        .ok_or_else(bad)?;
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(bad()),
    };
    if n == 0 {
        return Err("a duration must be longer than zero".to_string());
    }
    n.checked_mul(seconds)
        .map(Duration::from_secs)
        .ok_or_else(|| "too long a duration".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_a_number_and_a_unit() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("12h"), Ok(Duration::from_secs(12 * 3600)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_duration("2w"), Ok(Duration::from_secs(14 * 86_400)));
        for bad in [
            "",
            "7",
            "d",
            "7x",
            "-7d",
            "7 d",
            "1.5h",
            "0s",
            "99999999999999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn before_takes_rfc3339_or_now() {
        assert_eq!(
            parse_before("2026-11-23T16:00:00Z").map(Timestamp::as_unix_millis),
            Ok(1_795_449_600_000)
        );
        assert!(parse_before("now").is_ok());
        assert!(parse_before("yesterday").is_err());
        assert!(parse_before("2026-11-23").is_err());
    }

    #[test]
    fn a_whole_token_is_refused_as_an_id() {
        let err = parse_id("ID", "tsk_0123456789012345678901abcdef").unwrap_err();
        assert!(
            err.contains("whole token") && !err.contains("abcdef"),
            "{err}"
        );
        assert!(parse_id("ID", "short").is_err());
    }
}
