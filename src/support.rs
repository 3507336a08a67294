//! Support for the benchmark and for migrations of existing tokens: loading tokens whose id and
//! secret were drawn elsewhere, and forming the text of such a token. Hidden from the docs: no
//! stability promise. Timed benchmark operations use the public API only.

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

/// Creates a new file that only its owner may read and write, for a copy of the store's key
/// (the CLI's `export -o`), as the store creates its own files and backups. Fails if it exists.
pub fn create_owner_only(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    crate::schema::create_owner_only(path)
}

/// Gives the complete file `partial` the name `out`, never replacing a file there, as
/// [`Store::backup`] does (a hard link, or where there are none a rename once `out` is seen
/// free). After a link, `partial` is left to the caller.
pub fn put_in_place(partial: &std::path::Path, out: &std::path::Path) -> std::io::Result<()> {
    crate::admin::put_in_place(partial, out)
}

/// Writes the directory holding `path` to disk (the name of a file just placed there), where
/// directories can be synced.
pub fn sync_dir_of(path: &std::path::Path) -> std::io::Result<()> {
    crate::schema::sync_dir_of(path)
}
