//! Peer: raw redb + blake3 + getrandom, the physical limit of the storage engine tessera
//! builds on. Three tables written in one transaction: `tokens[id] -> record`,
//! `by_subject[(subject, id)] -> ()`, `by_expiry[(expires_at, id)] -> ()`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction,
};

use crate::backend::{
    Backend, BackendInfo, IssueRequest, IssuedToken, Issuer, OpenArgs, Secret, TokenId, TokenSpec,
    Verifier,
};
use crate::record::{self, NewToken, Record};

const TOKENS: TableDefinition<&[u8; 16], &[u8]> = TableDefinition::new("tokens");
const BY_SUBJECT: TableDefinition<(u64, &[u8; 16]), ()> = TableDefinition::new("by_subject");
const BY_EXPIRY: TableDefinition<(u64, &[u8; 16]), ()> = TableDefinition::new("by_expiry");

/// Registry entry.
pub const INFO: BackendInfo = BackendInfo {
    name: "redb",
    label: "redb + blake3 (raw)",
    needs_redis: false,
    open,
};

fn open(args: &OpenArgs<'_>) -> Result<Box<dyn Backend>> {
    let path = args.dir.join("tokens.redb");
    let db = Database::create(&path).with_context(|| format!("creating {}", path.display()))?;
    let txn = db.begin_write().context("redb begin_write")?;
    {
        txn.open_table(TOKENS).context("redb open tokens")?;
        txn.open_table(BY_SUBJECT).context("redb open by_subject")?;
        txn.open_table(BY_EXPIRY).context("redb open by_expiry")?;
    }
    txn.commit().context("redb commit")?;
    Ok(Box::new(RawRedb {
        db: Arc::new(db),
        path,
    }))
}

/// The raw redb store of one round.
pub struct RawRedb {
    db: Arc<Database>,
    path: PathBuf,
}

fn begin_durable(db: &Database) -> Result<WriteTransaction> {
    let mut txn = db.begin_write().context("redb begin_write")?;
    txn.set_durability(Durability::Immediate)
        .context("redb set_durability")?;
    Ok(txn)
}

/// Inserts a record and both index entries into an open write transaction.
fn insert(txn: &WriteTransaction, id: &TokenId, rec: &Record<'_>) -> Result<()> {
    txn.open_table(TOKENS)?
        .insert(id, rec.encode().as_slice())?;
    txn.open_table(BY_SUBJECT)?.insert((rec.subject, id), ())?;
    txn.open_table(BY_EXPIRY)?
        .insert((rec.expires_at, id), ())?;
    Ok(())
}

/// Removes a record and both index entries; returns whether it existed.
fn remove(txn: &WriteTransaction, id: &TokenId) -> Result<bool> {
    let removed = txn
        .open_table(TOKENS)?
        .remove(id)?
        .map(|v| -> Result<(u64, u64)> {
            let bytes = v.value();
            Ok((record::subject_of(bytes)?, record::expires_of(bytes)?))
        })
        .transpose()?;
    let Some((subject, expires_at)) = removed else {
        return Ok(false);
    };
    txn.open_table(BY_SUBJECT)?.remove((subject, id))?;
    txn.open_table(BY_EXPIRY)?.remove((expires_at, id))?;
    Ok(true)
}

impl Backend for RawRedb {
    fn load(&mut self, batch: &[TokenSpec]) -> Result<()> {
        let txn = begin_durable(&self.db)?;
        {
            let mut tokens = txn.open_table(TOKENS)?;
            let mut by_subject = txn.open_table(BY_SUBJECT)?;
            let mut by_expiry = txn.open_table(BY_EXPIRY)?;
            for spec in batch {
                let rec = Record::from_spec(spec);
                tokens.insert(&spec.id, rec.encode().as_slice())?;
                by_subject.insert((spec.subject, &spec.id), ())?;
                by_expiry.insert((spec.expires_at, &spec.id), ())?;
            }
        }
        txn.commit().context("redb load commit")?;
        Ok(())
    }

    /// Compacts once after the bulk load, like the tessera backend (same engine, same state).
    fn finish_load(&mut self) -> Result<()> {
        Arc::get_mut(&mut self.db)
            .context("redb handle still shared after the load")?
            .compact()
            .context("redb compact")?;
        Ok(())
    }

    fn verifier(&self) -> Result<Box<dyn Verifier + Send>> {
        Ok(Box::new(RedbHandle(self.db.clone())))
    }

    fn issuer(&self) -> Result<Box<dyn Issuer + Send>> {
        Ok(Box::new(RedbHandle(self.db.clone())))
    }

    fn revoke(&mut self, id: &TokenId) -> Result<bool> {
        let txn = begin_durable(&self.db)?;
        let existed = remove(&txn, id)?;
        txn.commit().context("redb revoke commit")?;
        Ok(existed)
    }

    fn revoke_subject(&mut self, subject: u64) -> Result<u64> {
        let txn = begin_durable(&self.db)?;
        let ids: Vec<TokenId> = {
            let by_subject = txn.open_table(BY_SUBJECT)?;
            let lo = (subject, &[0u8; 16]);
            let hi = (subject, &[0xffu8; 16]);
            let mut ids = Vec::new();
            for entry in by_subject.range(lo..=hi)? {
                let (key, _) = entry?;
                ids.push(*key.value().1);
            }
            ids
        };
        let mut removed = 0;
        for id in &ids {
            removed += u64::from(remove(&txn, id)?);
        }
        txn.commit().context("redb revoke_subject commit")?;
        Ok(removed)
    }

    fn purge_expired(&mut self, now: u64) -> Result<u64> {
        let txn = begin_durable(&self.db)?;
        let expired: Vec<(u64, TokenId)> = {
            let by_expiry = txn.open_table(BY_EXPIRY)?;
            let mut out = Vec::new();
            for entry in by_expiry.range(..(now, &[0u8; 16]))? {
                let (key, _) = entry?;
                let (expires_at, id) = key.value();
                out.push((expires_at, *id));
            }
            out
        };
        let mut removed = 0;
        {
            let mut tokens = txn.open_table(TOKENS)?;
            let mut by_subject = txn.open_table(BY_SUBJECT)?;
            let mut by_expiry = txn.open_table(BY_EXPIRY)?;
            for (expires_at, id) in &expired {
                let subject = match tokens.remove(id)? {
                    Some(v) => record::subject_of(v.value())?,
                    None => continue,
                };
                by_subject.remove((subject, id))?;
                by_expiry.remove((*expires_at, id))?;
                removed += 1;
            }
        }
        txn.commit().context("redb purge commit")?;
        Ok(removed)
    }

    fn disk_bytes(&self) -> Result<u64> {
        Ok(std::fs::metadata(&self.path)
            .with_context(|| format!("stat {}", self.path.display()))?
            .len())
    }
}

/// A per-thread handle: a clone of the shared `Database`.
struct RedbHandle(Arc<Database>);

impl Verifier for RedbHandle {
    fn verify(&mut self, id: &TokenId, secret: &Secret) -> Result<bool> {
        let txn = self.0.begin_read()?;
        let table = txn.open_table(TOKENS)?;
        let Some(value) = table.get(id)? else {
            return Ok(false);
        };
        record::verify_packed(value.value(), secret, record::now_secs())
    }
}

impl Issuer for RedbHandle {
    fn issue(&mut self, req: &IssueRequest) -> Result<IssuedToken> {
        let new = NewToken::draw(req)?;
        let txn = begin_durable(&self.0)?;
        insert(&txn, &new.token.id, &new.record(req))?;
        txn.commit().context("redb issue commit")?;
        Ok(new.token)
    }
}
