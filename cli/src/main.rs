//! `tessera`: the command-line tool for operators of a tessera token store.
//!
//! It answers "who is logged in", "revoke that leaked key now" and "why is the file this big"
//! without writing code: `stats`, `list`, `show`, `revoke`, `issue-key`, `verify`, `purge`,
//! `compact`, `check`, `backup`, `export`, `import` and `events`, on the store named by `--store PATH` (or
//! `TESSERA_STORE`). Tables for people, `--json` for scripts, and stable exit codes (see
//! [`failure::EXIT_CODES_HELP`] and the README).

use std::process::ExitCode;
use std::sync::Mutex;

use clap::Parser;

use crate::failure::{Code, Failure};

mod args;
mod commands;
mod context;
mod failure;
mod output;
mod progress;
mod transfer;

/// Where and why the program panicked, recorded by the panic hook.
static PANIC: Mutex<Option<(String, String)>> = Mutex::new(None);

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    std::panic::set_hook(Box::new(|info| {
        let place = info
            .location()
            .map_or_else(String::new, |l| format!("{}:{}", l.file(), l.line()));
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        if let Ok(mut p) = PANIC.lock() {
            *p = Some((place, what));
        }
    }));
    let result = std::panic::catch_unwind(|| {
        context::Context::new(cli.global).and_then(|ctx| commands::run(&ctx, cli.command))
    })
    .unwrap_or_else(|_| Err(panicked()));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            if !failure.message.is_empty() {
                eprintln!("error: {}", failure.message);
            }
            failure.code.into()
        }
    }
}

/// The failure for a panic: the storage engine meeting a damaged file (it does not always return
/// an error for one), or a bug.
fn panicked() -> Failure {
    let (place, what) = PANIC
        .lock()
        .ok()
        .and_then(|mut p| p.take())
        .unwrap_or_default();
    if place.contains("redb") {
        Failure::new(
            Code::NoStore,
            format!(
                "the storage engine stopped on an inconsistency in the file ({what} at {place}): \
                 the store is probably corrupt; restore it from a backup"
            ),
        )
    } else {
        Failure::new(
            Code::Failed,
            format!("internal error (a bug in tessera; please report it): {what} at {place}"),
        )
    }
}
