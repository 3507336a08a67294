//! The commands: each opens the store, does one thing, prints what it did.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, IsTerminal, Read, Write};

use serde_json::{json, Value};
use tessera::{ExportedToken, IssueRequest, Outcome, Record, Requirements, Store, TokenId};

use crate::args::{
    parse_id, BackupArgs, Command, ExportArgs, ImportArgs, IssueKeyArgs, ListArgs, PurgeArgs,
    RevokeArgs, ShowArgs, VerifyArgs,
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
    let store = ctx.open_existing()?;
    let now = store.now();
    let id = parse_id("ID", &a.id).map_err(Failure::usage)?;
    let record = store.get(id)?;
    close(store)?;
    let Some(r) = record else {
        return Err(unknown(id));
    };
    if ctx.json {
        return out_json(&record_json_at(&r, now));
    }
    out(&key_values(&record_fields(&r, now)))
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
    if except.is_some() && a.subject.is_none() {
        // clap's `requires` is not enforced next to the required group, so check it here.
        return Err(Failure::usage("--except goes with --subject only"));
    }
    let store = ctx.open_existing()?;
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
        text.push_str(&format!(
            "({} of them had already expired)\n",
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
    close(store)?;
    let r = &issued.record;
    if ctx.json {
        return out_json(&json!({
            "token": issued.token.as_str(),
            "record": record_json(r),
        }));
    }
    eprintln!(
        "issued API key {}; expires {}. It is shown once, below: store it now.",
        describe(r),
        output::time_or(r.expires_at, "never"),
    );
    out(&format!("{}\n", issued.token.as_str()))
}

/// The longest input `verify` reads: far more than any token, far less than a memory problem.
const MAX_VERIFY_INPUT: u64 = 16 * 1024;

fn verify(ctx: &Context, a: VerifyArgs) -> Result {
    // Open first: a missing or locked store is reported before waiting for input.
    let store = ctx.open_existing()?;
    let stdin = std::io::stdin();
    let mut input = Vec::new();
    if stdin.is_terminal() {
        eprintln!("paste the token, then press Enter:");
        stdin
            .lock()
            .take(MAX_VERIFY_INPUT)
            .read_until(b'\n', &mut input)?;
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
    let n = match store.backup(&a.out) {
        Ok(n) => n,
        Err(e) => {
            // Leave no partial copy behind (the file did not exist before).
            let _ = std::fs::remove_file(&a.out);
            return Err(e.into());
        }
    };
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
    if let Some(path) = &a.out {
        must_not_exist(path, "an export")?;
    }
    let store = ctx.open_existing()?;
    let target: Box<dyn Write> = match &a.out {
        Some(path) => Box::new(
            File::create_new(path)
                .map_err(|e| Failure::new(Code::Failed, format!("{}: {e}", path.display())))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let written = write_export(&store, BufWriter::new(target));
    let n = match written.and_then(|n| close(store).map(|()| n)) {
        Ok(n) => n,
        Err(e) => {
            if let Some(path) = &a.out {
                // Leave no partial export behind.
                let _ = std::fs::remove_file(path);
            }
            return Err(e);
        }
    };
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

/// Writes the header line and every token's line; returns how many tokens were written.
fn write_export(store: &Store, mut sink: impl Write) -> Result<u64> {
    let header = transfer::header_line(&store.export_header()?, store.now());
    writeln!(sink, "{header}")?;
    let n = store.export(|t: ExportedToken| {
        writeln!(sink, "{}", transfer::token_line(&t)).map_err(tessera::Error::from)
    })?;
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
    let header = transfer::read_header(&mut reader)?;
    let result = tessera::Store::import(
        &ctx.path,
        options,
        &header,
        transfer::tokens(reader.lines())?,
    );
    let (store, n) = match result {
        Ok(done) => done,
        Err(e) => {
            // The import stopped half-way: leave no half-filled store behind.
            let _ = std::fs::remove_file(&ctx.path);
            return Err(Failure::from(e).with_context("nothing was imported"));
        }
    };
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
