//! The commands: each opens the store, does one thing, prints what it did.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, IsTerminal, Read, Write};

use serde_json::{json, Value};
use tessera::{
    support, EventKind, ExportedToken, IssueRequest, Outcome, Record, Requirements, RevokeScope,
    Store, TokenId, TokenState,
};

use crate::args::{
    parse_id, BackupArgs, Command, EventsArgs, ExportArgs, ImportArgs, IssueKeyArgs, ListArgs,
    PurgeArgs, RevokeArgs, ShowArgs, VerifyArgs,
};
use crate::context::{must_not_exist, Context};
use crate::failure::{Code, Failure, Result};
use crate::output::{
    self, counts_json, key_values, out, out_json, record_fields, record_json, record_json_at,
    records_table, Table,
};
use crate::progress::Progress;
use crate::transfer;

/// Runs one command.
pub fn run(ctx: &Context, command: Command) -> Result {
    match command {
        Command::Stats => stats(ctx),
        Command::List(a) => list(ctx, a),
        Command::Show(a) => show(ctx, a),
        Command::Revoke(a) => revoke(ctx, a),
        Command::IssueKey(a) => issue_key(ctx, a),
        Command::Verify(a) => verify(ctx, a),
        Command::Purge(a) => purge(ctx, a),
        Command::Compact => compact(ctx),
        Command::Check => check(ctx),
        Command::Backup(a) => backup(ctx, a),
        Command::Export(a) => export(ctx, a),
        Command::Import(a) => import(ctx, a),
        Command::Events(a) => events(ctx, a),
    }
}

/// Closes the store, reporting an error in writing pending uses.
fn close(store: Store) -> Result {
    Ok(store.close()?)
}

fn stats(ctx: &Context) -> Result {
    let store = ctx.open_existing()?;
    let s = store.stats()?;
    close(store)?;
    if ctx.json {
        let by_kind: serde_json::Map<String, Value> = s
            .by_kind
            .iter()
            .map(|(k, c)| (k.as_str().to_string(), counts_json(c)))
            .collect();
        let by_tenant: serde_json::Map<String, Value> = s
            .by_tenant
            .iter()
            .map(|(t, c)| (t.clone(), counts_json(c)))
            .collect();
        return out_json(&json!({
            "store": ctx.path.display().to_string(),
            "schema_version": s.schema_version,
            "file_bytes": s.file_bytes,
            "due_for_purge": s.due_for_purge,
            "all": counts_json(&s.all),
            "by_kind": by_kind,
            "by_tenant": by_tenant,
        }));
    }
    let mut text = key_values(&[
        ("store", ctx.path.display().to_string()),
        ("schema version", s.schema_version.to_string()),
        ("file size", output::size(s.file_bytes)),
        ("tokens", s.all.total().to_string()),
        ("due for purge", s.due_for_purge.to_string()),
    ]);
    let numeric = ["LIVE", "EXPIRED", "REVOKED", "TOTAL"];
    let counts = |c: &tessera::Counts| {
        [c.live, c.expired, c.revoked, c.total()]
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
    };
    let mut kinds = Table::new(&["KIND", "LIVE", "EXPIRED", "REVOKED", "TOTAL"], &numeric);
    for (k, c) in &s.by_kind {
        let mut row = vec![k.to_string()];
        row.extend(counts(c));
        kinds.row(row);
    }
    let mut all = vec!["all".to_string()];
    all.extend(counts(&s.all));
    kinds.row(all);
    let mut tenants = Table::new(&["TENANT", "LIVE", "EXPIRED", "REVOKED", "TOTAL"], &numeric);
    for (t, c) in &s.by_tenant {
        let mut row = vec![output::tenant(t)];
        row.extend(counts(c));
        tenants.row(row);
    }
    text.push('\n');
    text.push_str(&kinds.render());
    if !s.by_tenant.is_empty() {
        text.push('\n');
        text.push_str(&tenants.render());
    }
    if s.due_for_purge > 0 {
        text.push_str(&format!(
            "\n{} tokens are expired or past their revocation retention: `tessera purge` removes \
             them, then `tessera compact` gives the space back to the file system.\n",
            s.due_for_purge
        ));
    }
    out(&text)
}

fn list(ctx: &Context, a: ListArgs) -> Result {
    let store = ctx.open_existing()?;
    let now = store.now();
    let mut records = match (&a.subject, &a.tenant) {
        (Some(s), tenant) => {
            let mut r = store.list_subject(s)?;
            if let Some(t) = tenant {
                r.retain(|r| &r.tenant == t);
            }
            r
        }
        (None, Some(t)) => store.list_tenant(t, a.kind)?,
        (None, None) => Vec::new(),
    };
    close(store)?;
    if let Some(k) = a.kind {
        records.retain(|r| r.kind == k);
    }
    if ctx.json {
        let list: Vec<Value> = records.iter().map(|r| record_json_at(r, now)).collect();
        return out_json(&json!({ "tokens": list }));
    }
    if records.is_empty() {
        return out(&format!("no live tokens {}\n", describe_owner(&a)));
    }
    out(&records_table(&records))
}

fn describe_owner(a: &ListArgs) -> String {
    let mut parts = Vec::new();
    if let Some(k) = a.kind {
        parts.push(format!("of kind {k}"));
    }
    if let Some(s) = &a.subject {
        parts.push(format!("of subject {s:?}"));
    }
    if let Some(t) = &a.tenant {
        parts.push(format!("in tenant {}", output::tenant(t)));
    }
    parts.join(" ")
}

fn show(ctx: &Context, a: ShowArgs) -> Result {
    let id = parse_id("ID", &a.id).map_err(Failure::usage)?;
    let store = ctx.open_existing()?;
    let now = store.now();
    let Some(r) = store.get(id)? else {
        return Err(unknown(id));
    };
    let state = state_now(&store, &r, now)?;
    let children = store.children(id)?;
    let mut child_states = Vec::with_capacity(children.len());
    for c in &children {
        child_states.push(state_now(&store, c, now)?);
    }
    let family = family_of(&store, &r)?;
    let mut family_states = Vec::with_capacity(family.len());
    for f in &family {
        family_states.push(state_now(&store, f, now)?);
    }
    close(store)?;
    if ctx.json {
        let with_state = |r: &Record, st: State| {
            let mut v = record_json(r);
            v["state"] = json!(st.name());
            v
        };
        let mut v = with_state(&r, state);
        v["revoked_by_cutoff"] = json!(state == State::Cutoff);
        v["children"] = children
            .iter()
            .zip(&child_states)
            .map(|(c, s)| with_state(c, *s))
            .collect();
        v["family_members"] = family
            .iter()
            .zip(&family_states)
            .map(|(f, s)| with_state(f, *s))
            .collect();
        return out_json(&v);
    }
    let mut fields = record_fields(&r, now);
    for (k, v) in fields.iter_mut() {
        if *k == "state" {
            *v = state.describe().to_string();
        }
    }
    let mut text = key_values(&fields);
    if !children.is_empty() {
        text.push_str(&format!("\nchildren ({}):\n", children.len()));
        text.push_str(&states_table(&children, &child_states, None));
    }
    if family.len() > 1 {
        text.push_str(&format!(
            "\nrotation family ({} generations, oldest first):\n",
            family.len()
        ));
        text.push_str(&states_table(&family, &family_states, Some(r.id)));
    }
    out(&text)
}

/// The state of a token now, as the store judges it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Live,
    Expired,
    Revoked,
    /// Revoked by a `revoke --before` cutoff: the record itself does not say so.
    Cutoff,
    /// Rotated, and past the grace window: presenting it now is reuse.
    Rotated,
}

impl State {
    fn name(self) -> &'static str {
        match self {
            State::Live => "live",
            State::Expired => "expired",
            State::Revoked | State::Cutoff => "revoked",
            State::Rotated => "rotated",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            State::Cutoff => "revoked (issued before a `revoke --before` cutoff)",
            State::Rotated => {
                "rotated (replaced by its successor; presenting it now is reuse, which revokes \
                 the whole family)"
            }
            other => other.name(),
        }
    }
}

/// The state of `r` now, as the store judges it (cutoffs and uses not yet written included).
fn state_now(store: &Store, r: &Record, now: tessera::Timestamp) -> Result<State> {
    Ok(match store.state(r.id)? {
        Some(TokenState::Live) => State::Live,
        // The store counts a generation rotated past its grace as expired: say which.
        Some(TokenState::Expired) if output::state(r, now) == "rotated" => State::Rotated,
        Some(TokenState::Revoked) if r.revoked.is_none() => State::Cutoff,
        Some(TokenState::Revoked) => State::Revoked,
        // Purged since it was read, or expired.
        _ => State::Expired,
    })
}

/// The tokens from `first` on, following successors (as far as they are still stored).
fn chain(store: &Store, first: TokenId) -> Result<Vec<Record>> {
    let mut out = Vec::new();
    let mut next = Some(first);
    // A family is a chain; the bound only guards against a damaged one that loops.
    while let Some(id) = next.filter(|_| out.len() < 100_000) {
        let Some(member) = store.get(id)? else { break };
        next = member.successor.map(|s| s.id);
        out.push(member);
    }
    Ok(out)
}

/// The generations of `r`'s rotation family, oldest first, by following successors from the
/// family's first token (as far as they are still stored). Just `r` if it was never rotated.
fn family_of(store: &Store, r: &Record) -> Result<Vec<Record>> {
    let Some(first) = r.family.or(r.successor.map(|_| r.id)) else {
        return Ok(vec![r.clone()]);
    };
    let mut out = chain(store, first)?;
    if !out.iter().any(|m| m.id == r.id) {
        // The first generations were purged: start from `r` itself.
        out = chain(store, r.id)?;
    }
    Ok(out)
}

/// A short table of tokens with their states; `mark` flags one row.
fn states_table(records: &[Record], states: &[State], mark: Option<TokenId>) -> String {
    let mut table = Table::new(
        &[
            "ID", "KIND", "STATE", "SUBJECT", "LABEL", "CREATED", "REPLACED", "",
        ],
        &[],
    );
    for (r, st) in records.iter().zip(states) {
        table.row(vec![
            r.id.to_string(),
            r.kind.to_string(),
            st.name().to_string(),
            r.subject.clone().unwrap_or_else(|| "-".into()),
            r.label.clone().unwrap_or_else(|| "-".into()),
            output::time(r.created_at),
            r.successor.map_or_else(
                || "-".into(),
                |s| format!("{} {}", output::replacement(s.how), output::time(s.at)),
            ),
            if mark == Some(r.id) {
                "<- this token".into()
            } else {
                String::new()
            },
        ]);
    }
    table.render()
}

fn revoke_before(
    ctx: &Context,
    store: Store,
    a: &RevokeArgs,
    before: tessera::Timestamp,
) -> Result {
    if before > store.now() {
        return Err(Failure::usage(format!(
            "--before {} is in the future: every token issued until then would be revoked as it \
             is issued",
            before.to_rfc3339()
        )));
    }
    let (scope, what) = match (&a.subject, &a.tenant) {
        (Some(s), _) => (RevokeScope::Subject(s.clone()), format!("of subject {s:?}")),
        (None, Some(t)) => (
            RevokeScope::Tenant(t.clone()),
            format!("of tenant {}", output::tenant(t)),
        ),
        (None, None) => (RevokeScope::Store, "of the store".to_string()),
    };
    let live = |store: &Store| -> Result<Option<Vec<Record>>> {
        Ok(match &scope {
            RevokeScope::Subject(s) => Some(store.list_subject(s)?),
            RevokeScope::Tenant(t) => Some(store.list_tenant(t, None)?),
            _ => None,
        })
    };
    let count_live = |store: &Store| -> Result<u64> { Ok(store.stats()?.all.live) };
    let (listed, counted) = match live(&store)? {
        Some(l) => (Some(l), 0),
        None => (None, count_live(&store)?),
    };
    store.revoke_issued_before(scope.clone(), before)?;
    let (revoked, n) = match listed {
        Some(l) => {
            let still = live(&store)?.unwrap_or_default();
            let gone: Vec<Record> = l
                .into_iter()
                .filter(|r| !still.iter().any(|s| s.id == r.id))
                .collect();
            let n = gone.len() as u64;
            (Some(gone), n)
        }
        None => (None, counted.saturating_sub(count_live(&store)?)),
    };
    close(store)?;
    let scope_name = match &scope {
        RevokeScope::Subject(s) => format!("subject:{s}"),
        RevokeScope::Tenant(t) => format!("tenant:{t}"),
        _ => "store".to_string(),
    };
    if ctx.json {
        return out_json(&json!({
            "revoked": n,
            "before": before.to_rfc3339(),
            "scope": scope_name,
            "ids": revoked.as_ref().map(|r| r.iter().map(|r| r.id.to_string()).collect::<Vec<_>>()),
        }));
    }
    let mut text = format!(
        "revoked {n} live token{} {what} issued before {}; tokens issued from then on are \
         untouched\n",
        if n == 1 { "" } else { "s" },
        output::time(before),
    );
    if let Some(r) = revoked.filter(|r| !r.is_empty()) {
        text.push_str(&records_table(&r));
    }
    out(&text)
}

fn unknown(id: TokenId) -> Failure {
    Failure::new(
        Code::Token,
        format!("no token has the id {id} (never issued, or purged)"),
    )
}

fn revoke(ctx: &Context, a: RevokeArgs) -> Result {
    let id = a.id.as_deref().map(|t| parse_id("ID", t)).transpose();
    let except = a
        .except
        .as_deref()
        .map(|t| parse_id("--except", t))
        .transpose();
    let (id, except) = (id.map_err(Failure::usage)?, except.map_err(Failure::usage)?);
    if id.is_some() && (a.subject.is_some() || a.tenant.is_some() || a.before.is_some()) {
        return Err(Failure::usage(
            "give an id, or --subject, --tenant or --before, not both",
        ));
    }
    if a.subject.is_some() && a.tenant.is_some() {
        return Err(Failure::usage(
            "--subject and --tenant cannot be used together: a subject's tokens are revoked in \
             every tenant",
        ));
    }
    if except.is_some() && (a.subject.is_none() || a.before.is_some()) {
        return Err(Failure::usage(
            "--except goes with --subject only (and not with --before)",
        ));
    }
    let store = ctx.open_existing()?;
    if let Some(before) = a.before {
        return revoke_before(ctx, store, &a, before);
    }
    if let Some(id) = id {
        let Some(before) = store.get(id)? else {
            return Err(unknown(id));
        };
        let n = store.revoke(id)?;
        let after = store.get(id)?;
        close(store)?;
        if ctx.json {
            let ids: Vec<String> = if n > 0 { vec![id.to_string()] } else { vec![] };
            return out_json(&json!({
                "revoked": n,
                "ids": ids,
                "already_revoked": n == 0,
            }));
        }
        let r = after.unwrap_or(before);
        return out(&if n > 0 {
            format!("revoked {}\n", describe(&r))
        } else {
            let when = r.revoked.map_or_else(String::new, |rv| {
                format!(" at {} ({})", output::time(rv.at), rv.reason)
            });
            format!(
                "{} was already revoked{when}: nothing to do\n",
                describe(&r)
            )
        });
    }
    let (live, what): (Vec<Record>, String) = if let Some(subject) = &a.subject {
        let live = store.list_subject(subject)?;
        if let Some(keep) = except {
            if !live.iter().any(|r| r.id == keep) {
                return Err(Failure::new(
                    Code::Token,
                    format!(
                        "--except {keep}: not a live token of subject {subject:?}; nothing was revoked"
                    ),
                ));
            }
        }
        (live, format!("subject {subject:?}"))
    } else if let Some(tenant) = &a.tenant {
        (
            store.list_tenant(tenant, None)?,
            format!("tenant {}", output::tenant(tenant)),
        )
    } else {
        return Err(Failure::usage("revoke needs an id, --subject or --tenant"));
    };
    let n = match (&a.subject, &a.tenant) {
        (Some(subject), _) => store.revoke_subject(subject, except)?,
        (None, Some(tenant)) => store.revoke_tenant(tenant)?,
        (None, None) => 0,
    };
    // The ids this call revoked among the tokens that were live just before (the count is the
    // store's: it also includes tokens that had expired but were not purged yet).
    let mut revoked = Vec::new();
    for r in live.into_iter().filter(|r| Some(r.id) != except) {
        if let Some(now) = store.get(r.id)? {
            if now.revoked.is_some() {
                revoked.push(now);
            }
        }
    }
    close(store)?;
    if ctx.json {
        let ids: Vec<String> = revoked.iter().map(|r| r.id.to_string()).collect();
        return out_json(&json!({
            "revoked": n,
            "ids": ids,
            "kept": except.map(|k| k.to_string()),
        }));
    }
    let mut text = format!(
        "revoked {n} token{} of {what}{}\n",
        if n == 1 { "" } else { "s" },
        except.map_or_else(String::new, |k| format!(", kept {k}")),
    );
    if n > revoked.len() {
        // The store's count also takes tokens past a deadline and not purged yet, and the
        // descendants of the revoked tokens (children and later generations, also of other
        // subjects or tenants), which the table below does not list.
        text.push_str(&format!(
            "({} of them expired or descendants, not listed)\n",
            n - revoked.len()
        ));
    }
    if !revoked.is_empty() {
        text.push_str(&records_table(&revoked));
    }
    out(&text)
}

/// One line naming a token: `<id> (api_key, tenant acme, label "CI")`.
fn describe(r: &Record) -> String {
    let mut parts = vec![
        r.kind.to_string(),
        format!("tenant {}", output::tenant(&r.tenant)),
    ];
    if let Some(s) = &r.subject {
        parts.push(format!("subject {s:?}"));
    }
    if let Some(l) = &r.label {
        parts.push(format!("label {l:?}"));
    }
    format!("{} ({})", r.id, parts.join(", "))
}

fn issue_key(ctx: &Context, a: IssueKeyArgs) -> Result {
    let mut req = IssueRequest::api_key(a.tenant).scopes(a.scopes);
    if let Some(l) = a.label {
        req = req.label(l);
    }
    if let Some(s) = a.subject {
        req = req.subject(s);
    }
    if let Some(ttl) = a.ttl {
        req = req.ttl(ttl);
    }
    let store = ctx.open_or_create()?;
    let issued = store.issue(&req)?;
    let r = &issued.record;
    let shown = if ctx.json {
        out_json(&json!({
            "token": issued.token.as_str(),
            "record": record_json(r),
        }))
    } else {
        eprintln!(
            "issued API key {}; expires {}. It is shown once, below: store it now.",
            describe(r),
            output::time_or(r.expires_at, "never"),
        );
        out(&format!("{}\n", issued.token.as_str()))
    };
    if let Err(e) = shown {
        // Nobody got the key (a full disk behind `> key.txt`, a closed pipe): a live key that
        // nobody holds is not left behind.
        let undone = store.revoke(r.id);
        let _ = close(store);
        return Err(Failure::new(
            Code::Failed,
            match undone {
                Ok(_) => format!("{e}; the key {} was revoked", r.id),
                Err(_) => format!("{e}; revoke the key: tessera revoke {}", r.id),
            },
        ));
    }
    close(store)
}

/// The terminal on standard input with its echo off, through `stty` (no dependency for a
/// terminal library): on again, as it was, when dropped. A signal that kills the process
/// meanwhile leaves it off (`stty sane` or `reset` brings it back).
struct Unechoed {
    saved: String,
}

impl Unechoed {
    /// Turns the echo off; `None` where `stty` is missing or fails (the input is then shown).
    fn start() -> Option<Unechoed> {
        let saved = String::from_utf8(stty("-g")?.stdout)
            .ok()?
            .trim()
            .to_string();
        stty("-echo")?;
        Some(Unechoed { saved })
    }
}

impl Drop for Unechoed {
    fn drop(&mut self) {
        stty(&self.saved);
    }
}

/// Runs `stty arg` on the terminal of standard input; its output if it succeeded.
fn stty(arg: &str) -> Option<std::process::Output> {
    std::process::Command::new("stty")
        .arg(arg)
        .stdin(std::process::Stdio::inherit())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
}

/// The longest input `verify` reads: far more than any token, far less than a memory problem.
const MAX_VERIFY_INPUT: u64 = 16 * 1024;

fn verify(ctx: &Context, a: VerifyArgs) -> Result {
    // Open first: a missing or locked store is reported before waiting for input.
    let store = ctx.open_existing()?;
    let stdin = std::io::stdin();
    let mut input = Vec::new();
    if stdin.is_terminal() {
        // A pasted token is not shown: it would stay on the screen and in its scrollback.
        let hidden = Unechoed::start();
        if hidden.is_some() {
            eprintln!("paste the token (it is not shown), then press Enter:");
        } else {
            eprintln!("paste the token, then press Enter (the terminal will show it):");
        }
        stdin
            .lock()
            .take(MAX_VERIFY_INPUT)
            .read_until(b'\n', &mut input)?;
        if hidden.is_some() {
            // The Enter was not echoed either.
            eprintln!();
        }
    } else {
        stdin
            .lock()
            .take(MAX_VERIFY_INPUT)
            .read_to_end(&mut input)?;
    }
    if input.last() == Some(&b'\n') {
        input.pop();
        if input.last() == Some(&b'\r') {
            input.pop();
        }
    }
    if input.is_empty() {
        return Err(Failure::usage(
            "no token on standard input: pipe it in, as in `tessera verify < token.txt`",
        ));
    }
    let mut need = Requirements::new();
    if let Some(t) = a.tenant {
        need = need.tenant(t);
    }
    for s in a.scopes {
        need = need.scope(s);
    }
    let result = store.verify_with(&input, &need);
    wipe(&mut input);
    let outcome = result?;
    let now = store.now();
    close(store)?;
    match outcome {
        Outcome::Valid(r) => {
            if ctx.json {
                return out_json(&json!({
                    "outcome": "valid",
                    "valid": true,
                    "record": record_json_at(&r, now),
                }));
            }
            let mut fields = vec![("outcome", "valid".to_string())];
            fields.extend(record_fields(&r, now));
            out(&key_values(&fields))
        }
        Outcome::Invalid(why) => {
            if ctx.json {
                out_json(&json!({
                    "outcome": why.as_str(),
                    "valid": false,
                    "reason": why.to_string(),
                }))?;
            } else {
                out(&key_values(&[
                    ("outcome", why.as_str().to_string()),
                    ("reason", why.to_string()),
                ]))?;
            }
            Err(Failure::silent(Code::Token))
        }
    }
}

/// Overwrites a buffer that held a token.
fn wipe(buf: &mut [u8]) {
    buf.fill(0);
    std::hint::black_box(&buf);
}

fn purge(ctx: &Context, a: PurgeArgs) -> Result {
    let store = ctx.open_existing_with(ctx.options()?.purge_batch(a.batch as usize))?;
    let total = store.stats()?.due_for_purge;
    let show = a.progress || std::io::stderr().is_terminal();
    let mut bar = Progress::new(show && total > 0, "purging", total);
    let mut removed = 0u64;
    loop {
        let b = match store.purge_batch() {
            Ok(b) => b,
            Err(e) => {
                bar.finish();
                return Err(
                    Failure::from(e).with_context(&format!("after purging {removed} tokens"))
                );
            }
        };
        removed += b.removed as u64;
        bar.set(removed);
        if !b.more {
            break;
        }
    }
    bar.finish();
    close(store)?;
    let bytes = std::fs::metadata(&ctx.path).map(|m| m.len()).unwrap_or(0);
    if ctx.json {
        return out_json(&json!({ "purged": removed, "file_bytes": bytes }));
    }
    out(&format!(
        "purged {removed} token{} (expired, or revoked longer ago than the retention); the file \
         is {}: `tessera compact` gives the freed space back to the file system\n",
        if removed == 1 { "" } else { "s" },
        output::size(bytes)
    ))
}

fn compact(ctx: &Context) -> Result {
    let store = ctx.open_existing()?;
    let before = std::fs::metadata(&ctx.path)?.len();
    let changed = store.compact()?;
    close(store)?;
    let after = std::fs::metadata(&ctx.path)?.len();
    if ctx.json {
        return out_json(&json!({
            "compacted": changed,
            "bytes_before": before,
            "bytes_after": after,
        }));
    }
    out(&format!(
        "{}: {} -> {}\n",
        if changed {
            "compacted"
        } else {
            "already compact"
        },
        output::size(before),
        output::size(after)
    ))
}

fn check(ctx: &Context) -> Result {
    let store = ctx.open_existing()?;
    let intact = store.check_integrity()?;
    // Reading every record checks that each one decodes.
    let tokens = store.stats()?.all.total();
    close(store)?;
    if ctx.json {
        out_json(&json!({ "ok": intact, "repaired": !intact, "tokens": tokens }))?;
    } else if intact {
        out(&format!(
            "ok: every page checksum matches and all {tokens} token records decode\n"
        ))?;
    } else {
        out(
            "damaged: the store was repaired, but the latest commits may be lost; compare it with \
             your last backup\n",
        )?;
    }
    if intact {
        Ok(())
    } else {
        Err(Failure::silent(Code::NoStore))
    }
}

fn backup(ctx: &Context, a: BackupArgs) -> Result {
    must_not_exist(&a.out, "a backup")?;
    let store = ctx.open_existing()?;
    // A backup that fails leaves nothing at `out`, and never touches a file that another
    // process put there meanwhile (the copy appears at its name only once complete).
    // The copy holds the store key: the core creates it readable by its owner only.
    let n = store.backup(&a.out)?;
    close(store)?;
    let bytes = std::fs::metadata(&a.out)?.len();
    if ctx.json {
        return out_json(&json!({
            "out": a.out.display().to_string(),
            "tokens": n,
            "file_bytes": bytes,
        }));
    }
    out(&format!(
        "backed up {n} token{} to {}: {}\n",
        if n == 1 { "" } else { "s" },
        a.out.display(),
        output::size(bytes)
    ))
}

fn export(ctx: &Context, a: ExportArgs) -> Result {
    match &a.out {
        Some(path) => must_not_exist(path, "an export")?,
        // The export holds the store key: on a terminal it would stay in the scrollback, a
        // terminal log or a screen share, where whoever sees it can forge every token's hash.
        None if std::io::stdout().is_terminal() => {
            return Err(Failure::usage(
                "an export holds the store key and is not printed to a terminal: give -o FILE \
                 or redirect standard output",
            ))
        }
        None => {}
    }
    let store = ctx.open_existing()?;
    let written = match &a.out {
        // Written under a temporary name next to the destination, which it takes only once
        // complete and synced (never replacing a file that appeared there meanwhile): an
        // interrupted export leaves no file that an import would take for a whole one.
        Some(path) => support::write_whole(
            path,
            |_, file| write_export(&store, BufWriter::new(file)),
            |step, e| {
                let at = match step {
                    support::WholeFileStep::Create(partial) => partial,
                    _ => path.as_path(),
                };
                Failure::new(Code::Failed, format!("{}: {e}", at.display()))
            },
        ),
        None => write_export(&store, BufWriter::new(std::io::stdout().lock())),
    };
    // A failed export left nothing at the destination.
    let n = written?;
    if let Err(e) = close(store) {
        if let Some(path) = &a.out {
            // This export put the file there.
            let _ = std::fs::remove_file(path);
        }
        return Err(e);
    }
    let dest = a.out.as_ref().map_or_else(
        || "standard output".to_string(),
        |p| p.display().to_string(),
    );
    eprintln!(
        "exported {n} token{} to {dest}. The export holds the store key: keep it as safe as the \
         store file.",
        if n == 1 { "" } else { "s" }
    );
    Ok(())
}

/// Writes the header line, every token's line and the end line; returns how many tokens were
/// written. An export that fails midway has no end line, which is how an import tells it from a
/// whole one.
fn write_export(store: &Store, mut sink: impl Write) -> Result<u64> {
    let header = store.export_header()?;
    writeln!(sink, "{}", transfer::header_line(&header, store.now()))?;
    let n = store.export(|t: ExportedToken| {
        writeln!(sink, "{}", transfer::token_line(&t)).map_err(tessera::Error::from)
    })?;
    // Another process (the multi-process mode) may have raised a cutoff after the header was
    // read: the export would bring back what it revoked.
    if store.export_header()?.cutoffs() != header.cutoffs() {
        return Err(Failure::new(
            Code::Failed,
            "a cutoff was raised while exporting (revoke --before, by another process): the \
             export does not hold it (an output file is removed; what went to standard output \
             has no end line, so no import takes it): run the export again",
        ));
    }
    writeln!(sink, "{}", transfer::end_line(n))?;
    sink.flush()?;
    Ok(n)
}

fn import(ctx: &Context, a: ImportArgs) -> Result {
    must_not_exist(&ctx.path, "an import")?;
    let options = ctx.options()?;
    let reader: Box<dyn BufRead> = if a.input.as_os_str() == "-" {
        Box::new(BufReader::new(std::io::stdin().lock()))
    } else {
        must_exist_input(&a.input)?;
        Box::new(BufReader::new(File::open(&a.input)?))
    };
    let mut reader = reader;
    let opening = transfer::read_header(&mut reader)?;
    let result = tessera::Store::import(
        &ctx.path,
        options,
        &opening.header,
        transfer::tokens(reader.lines(), opening.format),
    );
    // On a failure the library removes the store it was creating, and never a file it did not
    // create (the target may have been created meanwhile by another process): nothing to clean
    // up here.
    let (store, n) = result.map_err(|e| Failure::from(e).with_context("nothing was imported"))?;
    close(store)?;
    if ctx.json {
        return out_json(&json!({ "imported": n, "store": ctx.path.display().to_string() }));
    }
    out(&format!(
        "imported {n} token{} into {}\n",
        if n == 1 { "" } else { "s" },
        ctx.path.display()
    ))
}

fn must_exist_input(path: &std::path::Path) -> Result {
    if !path.is_file() {
        return Err(Failure::usage(format!(
            "{}: no such file to import",
            path.display()
        )));
    }
    Ok(())
}

fn events(ctx: &Context, a: EventsArgs) -> Result {
    let store = ctx.open_existing()?;
    let events = store.events(a.since, a.limit as usize)?;
    close(store)?;
    let next = events.last().map_or(a.since, |e| e.seq);
    if ctx.json {
        let list: Vec<Value> = events
            .iter()
            .map(|e| {
                json!({
                    "seq": e.seq,
                    "at": e.at.to_rfc3339(),
                    "kind": e.kind.as_str(),
                    "token": e.token.map(|t| t.to_string()),
                    "reason": e.reason.map(|r| r.as_str()),
                    "scope": e.scope,
                    "count": e.count,
                })
            })
            .collect();
        return out_json(&json!({ "events": list, "next": next }));
    }
    if events.is_empty() {
        return out(&format!("no events after {}\n", a.since));
    }
    let mut table = Table::new(&["SEQ", "TIME", "EVENT", "TOKEN", "DETAIL"], &["SEQ"]);
    for e in &events {
        let detail = match (e.reason, &e.scope) {
            (Some(r), _) => format!("reason {r}"),
            (None, Some(s)) => format!("scope {s}"),
            (None, None) if e.kind == EventKind::Purged => format!("{} tokens", e.count),
            _ => "-".into(),
        };
        table.row(vec![
            e.seq.to_string(),
            output::time(e.at),
            e.kind.to_string(),
            e.token.map_or_else(|| "-".into(), |t| t.to_string()),
            detail,
        ]);
    }
    out(&table.render())?;
    if events.len() == a.limit as usize {
        eprintln!("more may follow: tessera events --since {next}");
    } else {
        eprintln!("to read on later: tessera events --since {next}");
    }
    Ok(())
}
