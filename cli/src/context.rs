//! Opening the store named on the command line, with the options the command line gives.

use std::path::{Path, PathBuf};

use tessera::{Concurrency, Options, Pepper, Store};

use crate::args::Global;
use crate::failure::{Code, Failure, Result};

/// What every command needs: where the store is, how to open it, how to print.
pub struct Context {
    /// The store file.
    pub path: PathBuf,
    /// Print JSON instead of tables.
    pub json: bool,
    global: Global,
}

impl Context {
    /// Checks the global options (a store path is required).
    pub fn new(global: Global) -> Result<Context> {
        let path = global.store.clone().ok_or_else(|| {
            Failure::usage("no store given: pass --store PATH or set TESSERA_STORE")
        })?;
        Ok(Context {
            path,
            json: global.json,
            global,
        })
    }

    /// The options to open the store with.
    pub fn options(&self) -> Result<Options> {
        let g = &self.global;
        let mut options = Options::new()
            .prefixes(&g.session_prefix, &g.key_prefix)
            .revoked_retention(g.revoked_retention)
            .event_retention(g.event_retention)
            .max_metadata_len(g.max_metadata_len);
        if g.multi_process {
            options = options.concurrency(Concurrency::MultiProcess);
        }
        if let Some(var) = &g.pepper_env {
            let value = std::env::var_os(var).ok_or_else(|| {
                Failure::new(
                    Code::Pepper,
                    format!(
                        "--pepper-env: the environment variable {} is not set (give the name of \
                         the variable that holds the pepper, never the pepper itself)",
                        variable_name(var)
                    ),
                )
            })?;
            let pepper = Pepper::new(value.into_encoded_bytes())
                .map_err(|e| Failure::new(Code::Pepper, format!("--pepper-env {var}: {e}")))?;
            options = options.pepper(pepper);
        }
        Ok(options)
    }

    /// Opens the store, which must exist: read commands never create one.
    pub fn open_existing(&self) -> Result<Store> {
        self.open_existing_with(self.options()?)
    }

    /// Opens the store, which must exist, with these options.
    pub fn open_existing_with(&self, options: Options) -> Result<Store> {
        must_exist(&self.path)?;
        Ok(Store::open(&self.path, options)?)
    }

    /// Opens the store, creating it if it does not exist.
    pub fn open_or_create(&self) -> Result<Store> {
        if self.path.is_dir() {
            return Err(not_a_file(&self.path));
        }
        Ok(Store::open(&self.path, self.options()?)?)
    }
}

/// The name of the environment variable given to `--pepper-env`, to print when it is not set:
/// unless it is shorter than the shortest pepper (16 bytes), it is not repeated, since an
/// operator may have given the pepper itself.
fn variable_name(var: &str) -> String {
    if var.len() < 16 {
        var.to_string()
    } else {
        format!(
            "given ({} characters, not repeated here)",
            var.chars().count()
        )
    }
}

/// Fails with exit code 3 unless `path` is an existing file.
pub fn must_exist(path: &Path) -> Result {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Err(not_a_file(path)),
        Ok(m) if m.len() == 0 => Err(Failure::new(
            Code::NoStore,
            format!("{} is an empty file, not a store", path.display()),
        )),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Failure::new(
            Code::NoStore,
            format!(
                "no store at {}: check --store (or TESSERA_STORE); read commands never create one",
                path.display()
            ),
        )),
        Err(e) => Err(Failure::new(
            Code::Failed,
            format!("{}: {e}", path.display()),
        )),
    }
}

fn not_a_file(path: &Path) -> Failure {
    Failure::new(
        Code::NoStore,
        format!("{} is a directory, not a store file", path.display()),
    )
}

/// Fails with a usage error if `path` exists: commands that write a new file never overwrite.
pub fn must_not_exist(path: &Path, what: &str) -> Result {
    if path.exists() {
        return Err(Failure::usage(format!(
            "{} exists; {what} writes a new file and never overwrites one",
            path.display()
        )));
    }
    Ok(())
}
