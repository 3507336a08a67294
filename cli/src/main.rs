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

use tessera::ID_TEXT_LEN;

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
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return command_line_error(e),
    };
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

/// Reports a bad command line (or prints `--help` and `--version`) as clap does, except that a
/// word that may be a token or a piece of one is not repeated: clap quotes what it could not
/// parse, and an operator may have pasted a token in the wrong place.
fn command_line_error(e: clap::Error) -> ExitCode {
    if !e.use_stderr() {
        // --help or --version.
        e.exit();
    }
    let text = e.render().to_string();
    let redacted = redact_tokens(&text);
    if redacted == text {
        // Nothing to hide: clap's own report, in colour on a terminal.
        e.exit();
    }
    eprint!("{redacted}");
    ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(Code::Usage as u8))
}

/// `text` with every run of more than [`ID_TEXT_LEN`] ASCII letters, digits and `_` (what a
/// token, its body or its secret is made of; an id is exactly that long) replaced by its length.
fn redact_tokens(text: &str) -> String {
    let is_token_char = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() > ID_TEXT_LEN {
            out.push_str(&format!(
                "<{} characters, not shown: they may be a token>",
                run.len()
            ));
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if is_token_char(c) {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_words_that_may_be_tokens_are_redacted() {
        let token = format!("tsk_{}", "aB3".repeat(24));
        assert_eq!(
            redact_tokens(&format!("unrecognized subcommand '{token}'\n")),
            "unrecognized subcommand '<76 characters, not shown: they may be a token>'\n"
        );
        let id = "0123456789012345678901";
        let text = format!("unexpected argument '{id}' for '--before <TIME>': not a time\n");
        assert_eq!(redact_tokens(&text), text);
    }
}
