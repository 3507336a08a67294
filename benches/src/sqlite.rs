//! Peer: SQLite (bundled by rusqlite) in WAL mode with `synchronous=FULL`. One
//! `WITHOUT ROWID` table keyed by the id blob, plus indexes on subject and expiry.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use rusqlite::{params, Connection, OptionalExtension};

use crate::backend::{
    Backend, BackendInfo, IssueRequest, IssuedToken, Issuer, OpenArgs, Secret, TokenId, TokenSpec,
    Verifier,
};
use crate::record::{self, NewToken, Record};

/// Registry entry.
pub const INFO: BackendInfo = BackendInfo {
    name: "sqlite",
    label: "SQLite (WAL)",
    needs_redis: false,
    open,
};

const SCHEMA: &str = "
    CREATE TABLE tokens (
        id          BLOB PRIMARY KEY,
        version     INTEGER NOT NULL,
        secret_hash BLOB NOT NULL,
        created_at  INTEGER NOT NULL,
        expires_at  INTEGER NOT NULL,
        flags       INTEGER NOT NULL,
        tenant      INTEGER NOT NULL,
        subject     INTEGER NOT NULL,
        scope       TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX tokens_subject ON tokens(subject);
    CREATE INDEX tokens_expiry ON tokens(expires_at);
";

const INSERT: &str = "INSERT INTO tokens
    (id, version, secret_hash, created_at, expires_at, flags, tenant, subject, scope)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

/// How long a writer waits for the write lock before failing (8 concurrent writers).
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

/// Opens a connection with the per-connection settings every handle uses.
fn connect(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .context("PRAGMA journal_mode=WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")
        .context("PRAGMA synchronous=FULL")?;
    conn.busy_timeout(BUSY_TIMEOUT).context("busy_timeout")?;
    Ok(conn)
}

fn open(args: &OpenArgs<'_>) -> Result<Box<dyn Backend>> {
    let path = args.dir.join("tokens.sqlite3");
    let conn = connect(&path)?;
    conn.execute_batch(SCHEMA)
        .context("creating the SQLite schema")?;
    // Bulk load only: a 256 MiB page cache. The connection is replaced after the load.
    conn.pragma_update(None, "cache_size", -262_144)
        .context("PRAGMA cache_size")?;
    Ok(Box::new(Sqlite { conn, path }))
}

/// The SQLite store of one round.
pub struct Sqlite {
    conn: Connection,
    path: PathBuf,
}

fn insert_row(conn: &Connection, id: &TokenId, rec: &Record<'_>) -> Result<()> {
    conn.prepare_cached(INSERT)?.execute(params![
        &id[..],
        record::VERSION,
        &rec.secret_hash[..],
        rec.created_at as i64,
        rec.expires_at as i64,
        rec.flags,
        rec.tenant,
        rec.subject as i64,
        rec.scope
    ])?;
    Ok(())
}

impl Backend for Sqlite {
    fn load(&mut self, batch: &[TokenSpec]) -> Result<()> {
        let txn = self.conn.transaction().context("SQLite BEGIN")?;
        for spec in batch {
            insert_row(&txn, &spec.id, &Record::from_spec(spec))?;
        }
        txn.commit().context("SQLite load COMMIT")?;
        Ok(())
    }

    fn finish_load(&mut self) -> Result<()> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .context("wal_checkpoint(TRUNCATE)")?;
        // Back to a default connection (default ~2 MiB page cache) for the timed phases.
        self.conn = connect(&self.path)?;
        Ok(())
    }

    fn verifier(&self) -> Result<Box<dyn Verifier + Send>> {
        Ok(Box::new(SqliteHandle(connect(&self.path)?)))
    }

    fn issuer(&self) -> Result<Box<dyn Issuer + Send>> {
        Ok(Box::new(SqliteHandle(connect(&self.path)?)))
    }

    fn revoke(&mut self, id: &TokenId) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached("DELETE FROM tokens WHERE id = ?1")?
            .execute(params![&id[..]])?;
        Ok(n == 1)
    }

    fn revoke_subject(&mut self, subject: u64) -> Result<u64> {
        let n = self
            .conn
            .prepare_cached("DELETE FROM tokens WHERE subject = ?1")?
            .execute(params![subject as i64])?;
        Ok(n as u64)
    }

    fn purge_expired(&mut self, now: u64) -> Result<u64> {
        let n = self
            .conn
            .prepare_cached("DELETE FROM tokens WHERE expires_at < ?1")?
            .execute(params![now as i64])?;
        Ok(n as u64)
    }

    fn disk_bytes(&self) -> Result<u64> {
        // The database file plus whatever the WAL holds (0 right after a TRUNCATE checkpoint).
        let mut total = 0;
        for suffix in ["", "-wal"] {
            let mut p = self.path.clone().into_os_string();
            p.push(suffix);
            if let Ok(meta) = std::fs::metadata(&p) {
                total += meta.len();
            }
        }
        Ok(total)
    }
}

/// A per-thread connection.
struct SqliteHandle(Connection);

impl Verifier for SqliteHandle {
    fn verify(&mut self, id: &TokenId, secret: &Secret) -> Result<bool> {
        let mut stmt = self
            .0
            .prepare_cached("SELECT secret_hash, expires_at FROM tokens WHERE id = ?1")?;
        let row = stmt
            .query_row(params![&id[..]], |r| {
                Ok((r.get::<_, [u8; 32]>(0)?, r.get::<_, i64>(1)?))
            })
            .optional()?;
        Ok(match row {
            Some((hash, expires_at)) => {
                record::check_hash_and_expiry(&hash, expires_at as u64, secret, record::now_secs())
            }
            None => false,
        })
    }
}

impl Issuer for SqliteHandle {
    fn issue(&mut self, req: &IssueRequest) -> Result<IssuedToken> {
        let new = NewToken::draw(req)?;
        insert_row(&self.0, &new.token.id, &new.record(req))?;
        Ok(new.token)
    }
}
