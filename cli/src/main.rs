//! `tessera`: the command-line tool for operators of a tessera token store.
//!
//! It answers "who is logged in", "revoke that leaked key now" and "why is the file this big"
//! without writing code: `stats`, `list`, `show`, `revoke`, `issue-key`, `verify`, `purge`,
//! `compact`, `check`, `backup`, `export` and `import`, on the store named by `--store PATH` (or
//! `TESSERA_STORE`). Tables for people, `--json` for scripts, and stable exit codes (see
//! [`failure::EXIT_CODES_HELP`] and the README).

use std::process::ExitCode;

use clap::Parser;

mod args;
mod commands;
mod context;
mod failure;
mod output;
mod progress;
mod transfer;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    let result = context::Context::new(cli.global).and_then(|ctx| commands::run(&ctx, cli.command));
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
