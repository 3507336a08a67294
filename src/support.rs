//! Support for the benchmark and for migrations of existing tokens: loading tokens whose id and
//! secret were drawn elsewhere, and forming the text of such a token. Hidden from the docs: no
//! stability promise. Timed benchmark operations use the public API only.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::clock::Timestamp;
use crate::error::Result;
use crate::issue::IssueRequest;
use crate::record::{Kind, Stored};
use crate::store::Store;
use crate::token_text::{self, Secret, TokenId, MAX_TOKEN_LEN};
use crate::verify::secret_hash;
use crate::write::Commit;

/// One token to load.
pub struct Preloaded {
    /// What it is.
    pub request: IssueRequest,
    /// Its id.
    pub id: [u8; 16],
    /// Its secret (hashed on load, never stored).
    pub secret: [u8; 32],
    /// When it was issued.
    pub created_at: Timestamp,
    /// When it expires (overrides the request's TTL).
    pub expires_at: Option<Timestamp>,
}

/// Loads tokens in one durable write transaction of the file itself (a bulk load is not worth
/// journaling).
pub fn load(store: &Store, tokens: Vec<Preloaded>) -> Result<usize> {
    let inner = store.checked()?;
    let mut rows = Vec::with_capacity(tokens.len());
    for t in tokens {
        let id = TokenId(t.id);
        let secret = Secret(t.secret);
        let mut record = t.request.build(&inner.opts, id, t.created_at)?;
        record.expires_at = t.expires_at;
        rows.push(Stored {
            record,
            key_version: inner.key.version,
            hash: secret_hash(&inner.key, &id, &secret),
        });
    }
    let n = rows.len();
    inner.write(Commit::Checkpoint, move |tx| {
        for s in &rows {
            tx.tables.put(None, s)?;
        }
        Ok(())
    })?;
    Ok(n)
}

/// Writes the text of the token `(id, secret)` of `kind` for this store into `out`; returns its
/// length.
pub fn token_text(
    store: &Store,
    kind: Kind,
    id: &[u8; 16],
    secret: &[u8; 32],
    out: &mut [u8; MAX_TOKEN_LEN],
) -> Result<usize> {
    let inner = store.checked()?;
    let prefix = match kind {
        Kind::Session => &inner.opts.session_prefix,
        Kind::ApiKey => &inner.opts.api_key_prefix,
    };
    Ok(token_text::format_into(
        prefix,
        &TokenId(*id),
        &Secret(*secret),
        out,
    ))
}

/// The step of [`write_whole`] that failed with an input/output error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WholeFileStep<'p> {
    /// Creating the temporary file, at this path (`AlreadyExists`: a write to the same
    /// destination is running, or was killed and left it).
    Create(&'p Path),
    /// Writing the file's data to disk.
    Sync,
    /// Giving it its name (`AlreadyExists`: a file appeared there meanwhile).
    Place,
}

/// Writes a new file at `out`, whole or not at all, as [`Store::backup`] and the CLI's
/// `export -o` do: under a temporary name next to it (`<out>.partial-<pid>`, readable and
/// writable by its owner only: both hold the store's key), then synced, then given the name
/// `out` without replacing a file there (a hard link, or where there are none a rename once
/// `out` is seen free), then the directory synced (best effort). `write` gets the temporary
/// file's path and an open handle to it. A failed write leaves no file (the temporary one is
/// removed); a killed process leaves only the temporary one, never a partial file at `out`.
/// `fail` turns the input/output error of a step into the caller's error.
pub fn write_whole<T, E>(
    out: &Path,
    write: impl FnOnce(&Path, &File) -> std::result::Result<T, E>,
    fail: impl Fn(WholeFileStep<'_>, std::io::Error) -> E,
) -> std::result::Result<T, E> {
    let mut partial = out.as_os_str().to_owned();
    partial.push(format!(".partial-{}", std::process::id()));
    let partial = PathBuf::from(partial);
    let file = crate::schema::create_owner_only(&partial)
        .map_err(|e| fail(WholeFileStep::Create(&partial), e))?;
    let done = write(&partial, &file).and_then(|t| {
        file.sync_all().map_err(|e| fail(WholeFileStep::Sync, e))?;
        crate::admin::put_in_place(&partial, out).map_err(|e| fail(WholeFileStep::Place, e))?;
        Ok(t)
    });
    drop(file);
    let _ = std::fs::remove_file(&partial);
    if done.is_ok() {
        // The new name on disk (best effort: the file's own data is synced already).
        let _ = crate::schema::sync_dir_of(out);
    }
    done
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut n: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        n.sort();
        n
    }

    /// A whole file appears at its name; a failed write leaves nothing; a file that appeared
    /// at the name meanwhile is never replaced, and the failure names the step.
    #[test]
    fn a_file_is_written_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let fail = |step: WholeFileStep<'_>, e: std::io::Error| format!("{step:?}: {e}");
        let written = write_whole(
            &out,
            |_, mut f| f.write_all(b"whole").map_err(|e| e.to_string()),
            fail,
        );
        assert_eq!(written, Ok(()));
        assert_eq!(std::fs::read(&out).unwrap(), b"whole");
        assert_eq!(names(dir.path()), ["out"]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&out).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }

        let other = dir.path().join("other");
        let failed: std::result::Result<(), String> = write_whole(
            &other,
            |partial, mut f| {
                f.write_all(b"half").unwrap();
                assert!(partial.exists());
                Err("the writer failed".into())
            },
            fail,
        );
        assert_eq!(failed, Err("the writer failed".into()));
        assert_eq!(names(dir.path()), ["out"]);

        let raced = write_whole(
            &other,
            |_, mut f| {
                f.write_all(b"mine").unwrap();
                std::fs::write(&other, b"theirs").unwrap();
                Ok(())
            },
            fail,
        );
        assert!(raced.unwrap_err().starts_with("Place: "));
        assert_eq!(std::fs::read(&other).unwrap(), b"theirs");
        assert_eq!(names(dir.path()), ["other", "out"]);
    }
}
