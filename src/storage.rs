//! Every read and write of token rows and their index rows goes through this module, so that a
//! second storage backend would need no change to the token logic.

use std::collections::HashMap;
use std::ops::Bound;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use redb::{
    ReadOnlyTable, ReadTransaction, ReadableTable, ReadableTableMetadata, Table, WriteTransaction,
};

use crate::clock::{earliest, Timestamp};
use crate::error::{Error, Result};
use crate::journal::{Log, T};

use crate::record::{Replacement, ScopeSetId, Scopes, Stored};
use crate::schema::{
    BY_DEADLINE, BY_SUBJECT, BY_TENANT, CHILDREN, CLEANUP, EPOCHS, EVENTS, META, SCOPE_SETS, TOKENS,
};
use crate::token_text::TokenId;

type Key24 = [u8; 24];

/// A row of the deadline index and its token (`None`: the row points at nothing).
pub(crate) type DueRow = (Key24, Option<Stored>);

/// A key of the deadline index: the purge deadline in ms, big-endian (8), and the id (16).
pub(crate) type DeadlineKey = Key24;

/// The index rows a record has.
#[derive(PartialEq, Eq, Clone, Copy)]
struct IndexRows {
    subject: Option<Key24>,
    tenant: Option<Key24>,
    deadline: Option<Key24>,
}

impl IndexRows {
    /// The keys, in the order of [`WriteTables::indexes`].
    fn keys(rows: Option<IndexRows>) -> [Option<Key24>; 3] {
        rows.map_or([None, None, None], |r| [r.subject, r.tenant, r.deadline])
    }
}

type IndexTable<'t> = Table<'t, &'static [u8; 24], ()>;

fn name_hash(domain: u8, name: &str) -> [u8; 8] {
    let mut h = blake3::Hasher::new();
    h.update(&[domain]);
    h.update(name.as_bytes());
    let mut out = [0u8; 8];
    out.copy_from_slice(&h.finalize().as_bytes()[..8]);
    out
}

fn key24(head: [u8; 8], id: &TokenId) -> Key24 {
    let mut k = [0u8; 24];
    k[..8].copy_from_slice(&head);
    k[8..].copy_from_slice(&id.0);
    k
}

fn subject_head(subject: &str) -> [u8; 8] {
    name_hash(b's', subject)
}

fn tenant_head(tenant: &str) -> [u8; 8] {
    name_hash(b't', tenant)
}

fn time_head(t: Timestamp) -> [u8; 8] {
    (t.as_unix_millis().max(0) as u64).to_be_bytes()
}

/// How long the purge keeps a token past what its record alone says: both from the store's
/// options, for every rule that places or judges a row of the deadline index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Keep {
    /// [`crate::Options::revoked_retention`]: tombstones and rotated-out generations.
    pub(crate) retention: Duration,
    /// Twice [`crate::Options::flush_interval`]: how far past its idle deadline a token stays.
    /// A use may still be on its way to the file then: one that a verify recorded in memory
    /// an instant before the deadline, or another process's, which its flusher writes within
    /// a flush interval after its last round ended, plus the time of the round that writes it.
    /// Purged at the deadline itself, such a token would be gone although it was used in time.
    pub(crate) idle_grace: Duration,
}

/// When the purge may remove a record: its deadline (an idle deadline [`Keep::idle_grace`]
/// later), or for a revoked token the end of the retention of its tombstone (which answers
/// "revoked" that long, also past the token's own expiry: a host watching for revoked tokens
/// presented again sees them as such). A token that was already past that deadline when it was
/// revoked (a tenant's revocation reaches expired tokens not yet purged) keeps its deadline: it
/// was no longer valid to revoke. A rotated-out generation stays for the same retention past its
/// deadline or its grace window, whichever ends later (past its grace window alone if it has
/// no deadline: a session that never expires is rotated too): presented again, it is reuse,
/// which revokes the thief's branch of the family; purged, it would only be unknown. (The purge
/// keeps one longer while an earlier generation of its family stays: `held_back_until` in
/// `expiry.rs`.)
pub(crate) fn purge_deadline(s: &Stored, keep: Keep) -> Option<Timestamp> {
    let r = &s.record;
    let own = earliest(
        r.expires_at,
        r.idle_deadline().map(|d| d.saturating_add(keep.idle_grace)),
    );
    match (r.revoked, own, r.successor) {
        (Some(rv), Some(own), _) if own <= rv.at => Some(own),
        (Some(rv), _, _) => Some(rv.at.saturating_add(keep.retention)),
        (None, own, Some(sc)) if sc.how == Replacement::Rotated => Some(
            own.map_or(sc.grace_until, |own| own.max(sc.grace_until))
                .saturating_add(keep.retention),
        ),
        (None, own, _) => own,
    }
}

/// A key of the subject or the tenant index: the name's hash (8) and the id (16).
pub(crate) type NameKey = Key24;

/// The rows of the subject index and of the tenant index that a record has.
pub(crate) fn name_rows(s: &Stored) -> (Option<NameKey>, NameKey) {
    let r = &s.record;
    (
        r.subject
            .as_deref()
            .map(|sub| key24(subject_head(sub), &r.id)),
        key24(tenant_head(&r.tenant), &r.id),
    )
}

/// The row of the deadline index that a record has, if any.
pub(crate) fn deadline_key(s: &Stored, keep: Keep) -> Option<Key24> {
    purge_deadline(s, keep).map(|d| deadline_row(d, &s.record.id))
}

/// A row of the deadline index: token `id`, due at `at`.
pub(crate) fn deadline_row(at: Timestamp, id: &TokenId) -> DeadlineKey {
    key24(time_head(at), id)
}

/// The index rows of a record. A revoked token keeps its subject and tenant rows until the purge
/// removes it (readers of those indexes skip it): a revocation then changes the token's row and
/// at most its deadline row, not two more rows in random leaves of the other indexes. Measured at
/// 1,000,000 tokens, durable one at a time: revocations 5,800/s with the rows moved, 7,200/s with
/// them kept; revocations of a subject's 10 tokens 1,900/s and 2,700/s.
fn index_rows(s: &Stored, keep: Keep) -> IndexRows {
    let (subject, tenant) = name_rows(s);
    IndexRows {
        subject,
        tenant: Some(tenant),
        deadline: deadline_key(s, keep),
    }
}

/// Interned scope sets: a token row holds the 8-byte id of its scope string instead of the
/// string, once the string is longer than that. Applications use a few distinct scope sets
/// (the benchmark's 47-byte string is 40 % of a session's row), so this shrinks the tokens
/// table, the file and the pages a verify reads.
///
/// The id is a keyed hash of the string (key derived from the store's secret-hash key), so a
/// string's id never depends on the order of writes, and a transaction that is dropped and
/// applied again interns it under the same id. A string whose id is taken by another string
/// (a collision), and every new string once [`MAX_SCOPE_SETS`] are interned, stay inline in
/// the row. The ids known to this process are kept in memory; rows of the table are never
/// removed or changed.
pub(crate) struct ScopeSets {
    key: [u8; 32],
    known: crate::sync::RwLock<HashMap<ScopeSetId, Scopes>>,
}

/// The most scope sets a store interns; later ones stay inline (a store whose every token has
/// its own scopes gains nothing from interning and must not grow the table without bound).
const MAX_SCOPE_SETS: u64 = 10_000;

/// Scope strings up to this long stay inline (an id is as long).
const INLINE_SCOPES: usize = 8;

impl ScopeSets {
    pub(crate) fn new(hash_key: &[u8; 32]) -> ScopeSets {
        ScopeSets {
            key: blake3::derive_key("tessera 2026-11 scope set id", hash_key),
            known: Default::default(),
        }
    }

    fn id_of(&self, scopes: &str) -> ScopeSetId {
        let mut id = [0u8; 8];
        id.copy_from_slice(&blake3::keyed_hash(&self.key, scopes.as_bytes()).as_bytes()[..8]);
        id
    }

    /// The scopes of an interned set, from memory or else from `table`.
    fn resolve(
        &self,
        table: &impl ReadableTable<&'static [u8; 8], &'static [u8]>,
        id: &ScopeSetId,
    ) -> Result<Scopes> {
        if let Some(s) = self.known.read().get(id) {
            return Ok(s.clone());
        }
        let Some(found) = table.get(id)? else {
            return Err(Error::Corrupt(
                "a token refers to a scope set the file does not have".into(),
            ));
        };
        let text = std::str::from_utf8(found.value())
            .map_err(|_| Error::Corrupt("a scope set is not UTF-8".into()))?;
        let scopes = Scopes::from_stored(text.to_owned());
        self.known.write().insert(*id, scopes.clone());
        Ok(scopes)
    }
}

impl Drop for ScopeSets {
    fn drop(&mut self) {
        crate::token_text::wipe(&mut self.key);
    }
}

/// The token tables, opened in a write transaction.
pub(crate) struct WriteTables<'t> {
    tokens: Table<'t, &'static [u8; 16], &'static [u8]>,
    by_subject: IndexTable<'t>,
    by_tenant: IndexTable<'t>,
    by_deadline: IndexTable<'t>,
    children: Table<'t, &'static [u8; 32], ()>,
    epochs: Table<'t, &'static str, i64>,
    cleanup: Table<'t, &'static str, &'static [u8]>,
    events: Table<'t, u64, &'static [u8]>,
    scope_sets: Table<'t, &'static [u8; 8], &'static [u8]>,
    /// For the rare reads of `meta` (where the event sequence starts).
    tx: &'t WriteTransaction,
    sets: &'t ScopeSets,
    keep: Keep,
    /// The rows this transaction changed, when a journal is kept.
    pub(crate) log: Option<Log>,
}

impl<'t> WriteTables<'t> {
    pub(crate) fn open(
        tx: &'t WriteTransaction,
        sets: &'t ScopeSets,
        keep: Keep,
        journaled: bool,
    ) -> Result<Self> {
        Ok(WriteTables {
            tokens: tx.open_table(TOKENS)?,
            by_subject: tx.open_table(BY_SUBJECT)?,
            by_tenant: tx.open_table(BY_TENANT)?,
            by_deadline: tx.open_table(BY_DEADLINE)?,
            children: tx.open_table(CHILDREN)?,
            epochs: tx.open_table(EPOCHS)?,
            cleanup: tx.open_table(CLEANUP)?,
            events: tx.open_table(EVENTS)?,
            scope_sets: tx.open_table(SCOPE_SETS)?,
            tx,
            sets,
            keep,
            log: journaled.then(Log::default),
        })
    }

    /// Records `child` under `parent`.
    pub(crate) fn add_child(&mut self, parent: &TokenId, child: &TokenId) -> Result<()> {
        let k = key32(parent, child);
        self.children.insert(&k, ())?;
        if let Some(log) = &mut self.log {
            log.insert(T::Children, &k, &[]);
        }
        Ok(())
    }

    /// The ids of `parent`'s children.
    pub(crate) fn children_of(&self, parent: &TokenId) -> Result<Vec<TokenId>> {
        children_of(&self.children, parent)
    }

    /// The epoch stored under `key`, if any.
    pub(crate) fn epoch(&self, key: &str) -> Result<Option<Timestamp>> {
        epoch_in(&self.epochs, key)
    }

    /// Raises the epoch under `key` to `t` (never lowers it) and queues the cleanup of the rows
    /// it kills. Returns the epoch now in force.
    pub(crate) fn raise_epoch(&mut self, key: &str, t: Timestamp) -> Result<Timestamp> {
        // The key carries a subject's or tenant's name: the same limits as at issue (a name of
        // 64 KiB or more did not fit the journal's key length).
        if let Some((_, name)) = key.split_once(':') {
            crate::issue::check_name("scope name", name, true)?;
        }
        let now_in_force = match self.epoch(key)? {
            Some(old) if old >= t => old,
            _ => {
                self.epochs.insert(key, t.as_unix_millis())?;
                if let Some(log) = &mut self.log {
                    log.insert(T::Epochs, key.as_bytes(), &t.as_unix_millis().to_le_bytes());
                }
                self.queue_cleanup(key)?;
                t
            }
        };
        Ok(now_in_force)
    }

    /// Queues a cleanup of the rows the epoch under `key` kills, from the first.
    pub(crate) fn queue_cleanup(&mut self, key: &str) -> Result<()> {
        self.cleanup.insert(key, [].as_slice())?;
        if let Some(log) = &mut self.log {
            log.insert(T::Cleanup, key.as_bytes(), &[]);
        }
        Ok(())
    }

    /// The first pending epoch cleanup: its key and the id it stopped after.
    pub(crate) fn next_cleanup(&self) -> Result<Option<(String, Option<TokenId>)>> {
        let Some(row) = self.cleanup.iter()?.next() else {
            return Ok(None);
        };
        let (k, v) = row?;
        let after = <[u8; 16]>::try_from(v.value()).ok().map(TokenId);
        Ok(Some((k.value().to_owned(), after)))
    }

    /// Records progress of an epoch cleanup (`None`: done).
    pub(crate) fn set_cleanup(&mut self, key: &str, after: Option<TokenId>) -> Result<()> {
        match after {
            Some(id) => self.cleanup.insert(key, id.0.as_slice())?,
            None => self.cleanup.remove(key)?,
        };
        if let Some(log) = &mut self.log {
            match after {
                Some(id) => log.insert(T::Cleanup, key.as_bytes(), &id.0),
                None => log.remove(T::Cleanup, key.as_bytes()),
            }
        }
        Ok(())
    }

    /// Up to `limit` stored tokens after `after`, in id order (for the store-wide cleanup).
    pub(crate) fn tokens_after(&self, after: Option<TokenId>, limit: usize) -> Result<Vec<Stored>> {
        rows_after(&self.tokens, after, limit, &|set| self.scope_set(set))
    }

    /// Appends an audit event; returns its sequence number.
    pub(crate) fn append_event(&mut self, bytes: &[u8]) -> Result<u64> {
        let seq = match self.events.last()? {
            Some((k, _)) => k.value() + 1,
            // The first event: after those of the store it was imported from, if any.
            None => crate::schema::events_base(&self.tx.open_table(META)?)? + 1,
        };
        self.events.insert(seq, bytes)?;
        if let Some(log) = &mut self.log {
            log.insert(T::Events, &seq.to_le_bytes(), bytes);
        }
        Ok(seq)
    }

    /// Removes events with a sequence number `<= upto`, at most `limit` of them.
    pub(crate) fn trim_events(&mut self, upto: u64, limit: usize) -> Result<usize> {
        let mut n = 0;
        while n < limit {
            let first = match self.events.first()? {
                Some((k, _)) => k.value(),
                None => break,
            };
            if first > upto {
                break;
            }
            self.events.remove(first)?;
            if let Some(log) = &mut self.log {
                log.remove(T::Events, &first.to_le_bytes());
            }
            n += 1;
        }
        Ok(n)
    }

    pub(crate) fn get(&self, id: &TokenId) -> Result<Option<Stored>> {
        get(&self.tokens, id, &|set| self.scope_set(set))
    }

    fn scope_set(&self, id: &ScopeSetId) -> Result<Scopes> {
        self.sets.resolve(&self.scope_sets, id)
    }

    /// The id `scopes` are interned under, interning them if they are new; `None`: they stay
    /// inline.
    fn intern(&mut self, scopes: &Scopes) -> Result<Option<ScopeSetId>> {
        let text = scopes.as_str();
        if text.len() <= INLINE_SCOPES {
            return Ok(None);
        }
        let id = self.sets.id_of(text);
        // The table says whether this transaction has the row, not the sets known in memory: a
        // set interned by a transaction that was then dropped (a failed job, a failed commit) is
        // known but in no file, and a row written without it would not decode after a restart.
        if let Some(found) = self.scope_sets.get(&id)? {
            let same = found.value() == text.as_bytes();
            drop(found);
            if same && !self.sets.known.read().contains_key(&id) {
                self.sets.known.write().insert(id, scopes.clone());
            }
            return Ok(same.then_some(id));
        }
        if self.scope_sets.len()? >= MAX_SCOPE_SETS {
            return Ok(None);
        }
        self.scope_sets.insert(&id, text.as_bytes())?;
        if let Some(log) = &mut self.log {
            log.insert(T::ScopeSets, &id, text.as_bytes());
        }
        // Known before the row is visible to verify (the overlay), which looks it up here.
        self.sets.known.write().insert(id, scopes.clone());
        Ok(Some(id))
    }

    /// Overwrites a token's row with `bytes` as they are (for tests that damage a row).
    #[cfg(test)]
    pub(crate) fn put_raw(&mut self, id: &TokenId, bytes: &[u8]) -> Result<()> {
        self.tokens.insert(&id.0, bytes)?;
        Ok(())
    }

    /// Writes `new`, replacing `old` (the same token as currently stored, if any), and moves its
    /// index rows accordingly.
    pub(crate) fn put(&mut self, old: Option<&Stored>, new: &Stored) -> Result<()> {
        let set = self.intern(&new.record.scopes)?;
        let bytes = new.encode(set);
        self.tokens.insert(&new.record.id.0, bytes.as_slice())?;
        if let Some(log) = &mut self.log {
            log.insert(T::Tokens, &new.record.id.0, &bytes);
        }
        let mut before = old.map(|o| index_rows(o, self.keep));
        let after = index_rows(new, self.keep);
        // A revocation that brings the purge deadline forward adds the tombstone's deadline row
        // (near the end of the index, where the other recent ones are) and leaves the token's old
        // row where it was (in a random leaf). The purge removes the tombstone at its own row,
        // and the old row, which then points at nothing, once it reaches it.
        if let (Some(rows), Some(o)) = (&mut before, old) {
            if o.record.revoked.is_none()
                && new.record.revoked.is_some()
                && rows.deadline != after.deadline
            {
                rows.deadline = None;
            }
        }
        self.move_index(before, Some(after))
    }

    /// Removes many tokens with all their rows, like [`Self::delete`] on each, one tree at a
    /// time in key order: a batch of random ids then walks each tree once from left to right
    /// instead of jumping between cold leaves (purging 100,000 of 1,000,000 tokens with random
    /// deadlines: 25,600 tokens/s one by one, 34,700/s sorted).
    pub(crate) fn delete_all(&mut self, olds: &mut [Stored]) -> Result<()> {
        self.delete_many(olds, true, &[])
    }

    /// Like [`Self::delete_all`], for tokens whose row [`Self::take`] already took out, and
    /// whose subject and tenant rows are gone too if their id is in `named_gone` (sorted; see
    /// [`Self::remove_name_rows`]).
    pub(crate) fn delete_taken(
        &mut self,
        olds: &mut [Stored],
        named_gone: &[TokenId],
    ) -> Result<()> {
        self.delete_many(olds, false, named_gone)
    }

    /// Removes rows of the subject index (`subject`) or of the tenant index, in the order given.
    pub(crate) fn remove_name_rows(&mut self, subject: bool, keys: &[NameKey]) -> Result<()> {
        let (table, t) = if subject {
            (&mut self.by_subject, T::BySubject)
        } else {
            (&mut self.by_tenant, T::ByTenant)
        };
        for k in keys {
            table.remove(k)?;
            if let Some(log) = &mut self.log {
                log.remove(t, k);
            }
        }
        Ok(())
    }

    fn delete_many(
        &mut self,
        olds: &mut [Stored],
        token_rows: bool,
        named_gone: &[TokenId],
    ) -> Result<()> {
        olds.sort_unstable_by_key(|s| s.record.id);
        for old in olds.iter() {
            if token_rows {
                self.remove_token_row(&old.record.id)?;
            }
            self.delete_child_rows(old)?;
        }
        let rows: Vec<[Option<Key24>; 3]> = olds
            .iter()
            .map(|s| {
                let mut rows = IndexRows::keys(Some(index_rows(s, self.keep)));
                if named_gone.binary_search(&s.record.id).is_ok() {
                    (rows[0], rows[1]) = (None, None);
                }
                rows
            })
            .collect();
        let (indexes, log) = self.indexes();
        for (i, (table, t)) in indexes.into_iter().enumerate() {
            let mut keys: Vec<Key24> = rows.iter().filter_map(|r| r[i]).collect();
            keys.sort_unstable();
            for k in &keys {
                table.remove(k)?;
                if let Some(log) = log.as_mut() {
                    log.remove(t, k);
                }
            }
        }
        Ok(())
    }

    /// The three index tables with their journal numbers, and the log.
    fn indexes(&mut self) -> ([(&mut IndexTable<'t>, T); 3], &mut Option<Log>) {
        (
            [
                (&mut self.by_subject, T::BySubject),
                (&mut self.by_tenant, T::ByTenant),
                (&mut self.by_deadline, T::ByDeadline),
            ],
            &mut self.log,
        )
    }

    /// Removes a token, all of its index rows and its rows in the children table.
    pub(crate) fn delete(&mut self, old: &Stored) -> Result<()> {
        self.remove_token_row(&old.record.id)?;
        self.delete_child_rows(old)?;
        self.move_index(Some(index_rows(old, self.keep)), None)
    }

    fn remove_token_row(&mut self, id: &TokenId) -> Result<()> {
        self.tokens.remove(&id.0)?;
        if let Some(log) = &mut self.log {
            log.remove(T::Tokens, &id.0);
        }
        Ok(())
    }

    /// Removes a token's rows in the children table.
    fn delete_child_rows(&mut self, old: &Stored) -> Result<()> {
        let id = old.record.id;
        let mut gone = Vec::new();
        if let Some(parent) = old.record.parent {
            gone.push(key32(&parent, &id));
        }
        for child in self.children_of(&id)? {
            gone.push(key32(&id, &child));
        }
        for k in &gone {
            self.children.remove(k)?;
        }
        if let Some(log) = &mut self.log {
            for k in &gone {
                log.remove(T::Children, k);
            }
        }
        Ok(())
    }

    fn move_index(&mut self, before: Option<IndexRows>, after: Option<IndexRows>) -> Result<()> {
        if before == after {
            return Ok(());
        }
        let (old, new) = (IndexRows::keys(before), IndexRows::keys(after));
        let (indexes, log) = self.indexes();
        for (((table, t), o), n) in indexes.into_iter().zip(old).zip(new) {
            if o == n {
                continue;
            }
            if let Some(k) = o {
                table.remove(&k)?;
                if let Some(log) = log.as_mut() {
                    log.remove(t, &k);
                }
            }
            if let Some(k) = n {
                table.insert(&k, ())?;
                if let Some(log) = log.as_mut() {
                    log.insert(t, &k, &[]);
                }
            }
        }
        Ok(())
    }

    /// Tokens of `subject` (any tenant) that are not revoked, as stored.
    pub(crate) fn of_subject(&self, subject: &str) -> Result<Vec<Stored>> {
        let ids = scan(&self.by_subject, subject_head(subject), usize::MAX)?;
        self.load(ids, |s| of_subject(s, subject))
    }

    /// Tokens of `tenant` that are not revoked, as stored.
    pub(crate) fn of_tenant(&self, tenant: &str) -> Result<Vec<Stored>> {
        let ids = scan(&self.by_tenant, tenant_head(tenant), usize::MAX)?;
        self.load(ids, |s| of_tenant(s, tenant))
    }

    /// A window of [`Self::of_subject`] (`subject`) or [`Self::of_tenant`]: the tokens of the
    /// next `limit` index rows after the id `after`, and the last id read if the window was
    /// full (where the next one starts).
    pub(crate) fn of_name_after(
        &self,
        subject: bool,
        name: &str,
        after: Option<TokenId>,
        limit: usize,
    ) -> Result<(Vec<Stored>, Option<TokenId>)> {
        let (table, head, keep): (_, _, fn(&Stored, &str) -> bool) = if subject {
            (&self.by_subject, subject_head(name), of_subject)
        } else {
            (&self.by_tenant, tenant_head(name), of_tenant)
        };
        let end = key24(head, &TokenId([0xFF; 16]));
        let start = after.map(|a| key24(head, &a));
        let first = key24(head, &TokenId([0; 16]));
        let range = match &start {
            Some(k) => (Bound::Excluded(k), Bound::Included(&end)),
            None => (Bound::Included(&first), Bound::Included(&end)),
        };
        let mut ids = Vec::new();
        for row in table.range::<&[u8; 24]>(range)?.take(limit) {
            ids.push(id_of(row?.0.value()));
        }
        let resume = (ids.len() == limit).then(|| ids.last().copied()).flatten();
        Ok((self.load(ids, |s| keep(s, name))?, resume))
    }

    /// Up to `limit` rows of the deadline index that are `<= now`, in id order, and whether more
    /// were due.
    pub(crate) fn due_by_id(&self, now: Timestamp, limit: usize) -> Result<(Vec<Key24>, bool)> {
        let mut keys = due_keys(&self.by_deadline, now, limit.saturating_add(1))?;
        let more = keys.len() > limit;
        keys.truncate(limit);
        keys.sort_unstable_by_key(id_of);
        Ok((keys, more))
    }

    /// The token of each row of the deadline index in `keys` (`None` if the row points at
    /// nothing: the row a revocation left behind, see [`Self::put`]), taken out of the tokens
    /// table as it is read. With `keys` in id order that is one pass over the tree's leaves,
    /// where reading and then removing took two (the leaves of a batch outnumber what the cache
    /// holds, so the second pass read them again). The caller removes the other rows of each
    /// token it purges ([`Self::delete_taken`]) and writes back the others ([`Self::put`] with no
    /// old row).
    pub(crate) fn take(&mut self, keys: Vec<Key24>) -> Result<Vec<DueRow>> {
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let id = id_of(&key);
            let (sets, scope_sets) = (&self.sets, &self.scope_sets);
            let taken = match self.tokens.remove(&id.0)? {
                Some(v) => Some(Stored::decode(id, v.value(), |set: &ScopeSetId| {
                    sets.resolve(scope_sets, set)
                })?),
                None => None,
            };
            if taken.is_some() {
                if let Some(log) = &mut self.log {
                    log.remove(T::Tokens, &id.0);
                }
            }
            out.push((key, taken));
        }
        Ok(out)
    }

    fn load(&self, ids: Vec<TokenId>, keep: impl Fn(&Stored) -> bool) -> Result<Vec<Stored>> {
        load(|id| self.get(id), ids, keep)
    }

    /// Adds a row of the deadline index, unless it is there.
    pub(crate) fn ensure_deadline_row(&mut self, key: &Key24) -> Result<()> {
        if self.by_deadline.get(key)?.is_none() {
            self.by_deadline.insert(key, ())?;
            if let Some(log) = &mut self.log {
                log.insert(T::ByDeadline, key, &[]);
            }
        }
        Ok(())
    }

    /// Removes one row of the deadline index.
    pub(crate) fn remove_deadline_row(&mut self, key: &Key24) -> Result<()> {
        self.by_deadline.remove(key)?;
        if let Some(log) = &mut self.log {
            log.remove(T::ByDeadline, key);
        }
        Ok(())
    }
}

/// Looks up the scopes of an interned scope set.
type Resolve<'a> = dyn Fn(&ScopeSetId) -> Result<Scopes> + 'a;

fn get(
    table: &impl ReadableTable<&'static [u8; 16], &'static [u8]>,
    id: &TokenId,
    sets: &Resolve<'_>,
) -> Result<Option<Stored>> {
    match table.get(&id.0)? {
        Some(v) => Ok(Some(Stored::decode(*id, v.value(), sets)?)),
        None => Ok(None),
    }
}

/// Up to `limit` token rows after `after`, in id order. Callers page through the table with the
/// last id they got, so a damaged tree that hands out an id again, or out of order, is an error
/// (it would make them loop forever), not a row.
fn rows_after(
    table: &impl ReadableTable<&'static [u8; 16], &'static [u8]>,
    after: Option<TokenId>,
    limit: usize,
    sets: &Resolve<'_>,
) -> Result<Vec<Stored>> {
    let mut out = Vec::new();
    let mut last = after.map(|a| a.0);
    let mut skipped_after = after.is_none();
    for row in table.range::<&[u8; 16]>(&last.unwrap_or([0u8; 16])..)? {
        let (k, v) = row?;
        let key = *k.value();
        if !skipped_after && last == Some(key) {
            skipped_after = true;
            continue;
        }
        skipped_after = true;
        if last.is_some_and(|l| key <= l) {
            return Err(Error::Corrupt(
                "the token table hands out ids out of order (a damaged file?)".into(),
            ));
        }
        if out.len() >= limit {
            break;
        }
        last = Some(key);
        out.push(Stored::decode(TokenId(key), v.value(), sets)?);
    }
    Ok(out)
}

fn epoch_in(table: &impl ReadableTable<&'static str, i64>, key: &str) -> Result<Option<Timestamp>> {
    Ok(table
        .get(key)?
        .map(|v| Timestamp::from_unix_millis(v.value())))
}

fn key32(parent: &TokenId, child: &TokenId) -> [u8; 32] {
    let mut k = [0u8; 32];
    k[..16].copy_from_slice(&parent.0);
    k[16..].copy_from_slice(&child.0);
    k
}

fn children_of(
    table: &impl ReadableTable<&'static [u8; 32], ()>,
    parent: &TokenId,
) -> Result<Vec<TokenId>> {
    let start = key32(parent, &TokenId([0; 16]));
    let end = key32(parent, &TokenId([0xFF; 16]));
    let mut out = Vec::new();
    for row in table.range::<&[u8; 32]>(&start..=&end)? {
        let mut id = [0u8; 16];
        id.copy_from_slice(&row?.0.value()[16..]);
        out.push(TokenId(id));
    }
    Ok(out)
}

/// The token id of an index key.
pub(crate) fn id_of(key: &Key24) -> TokenId {
    let mut id = [0u8; 16];
    id.copy_from_slice(&key[8..]);
    TokenId(id)
}

/// Index keys from `(head, 0..)` to `(last_head, ff..)`, at most `limit`.
fn keys_between(
    table: &impl ReadableTable<&'static [u8; 24], ()>,
    head: [u8; 8],
    last_head: [u8; 8],
    limit: usize,
) -> Result<Vec<Key24>> {
    let start = key24(head, &TokenId([0; 16]));
    let end = key24(last_head, &TokenId([0xFF; 16]));
    let mut out = Vec::new();
    for row in table.range::<&[u8; 24]>(&start..=&end)?.take(limit) {
        out.push(*row?.0.value());
    }
    Ok(out)
}

fn scan(
    table: &impl ReadableTable<&'static [u8; 24], ()>,
    head: [u8; 8],
    limit: usize,
) -> Result<Vec<TokenId>> {
    Ok(keys_between(table, head, head, limit)?
        .iter()
        .map(id_of)
        .collect())
}

fn due_keys(
    table: &impl ReadableTable<&'static [u8; 24], ()>,
    now: Timestamp,
    limit: usize,
) -> Result<Vec<Key24>> {
    // Deadlines before 1970 share the index's first time (`time_head`): before then the purge
    // could not tell which are due, and would find the same rows again and again. Nothing is
    // purged until the clock passes 1970 (verify judges every token by the clock regardless).
    if now.as_unix_millis() < 0 {
        return Ok(Vec::new());
    }
    keys_between(table, [0; 8], time_head(now), limit)
}

/// Rows whose room the overlay keeps once emptied (what the batches between two checkpoints
/// write, at most, in the usual case).
const OVERLAY_KEPT: usize = 8_192;

/// Token rows written by journaled batches that redb has not committed yet (they sit in the
/// write transaction kept open across batches, see `write`), for verify, whose snapshots cannot
/// see that transaction. `None`: the row was removed. Emptied right after each redb commit, once
/// the snapshots that predate the commit are dropped.
#[derive(Default)]
pub(crate) struct Overlay {
    rows: crate::sync::RwLock<HashMap<TokenId, Option<Vec<u8>>>>,
    /// Rows held: lets verify skip the lock while nothing is pending (the common case).
    len: AtomicUsize,
}

impl Overlay {
    /// The pending state of a token row: `None` if redb's committed row is current.
    pub(crate) fn get(&self, id: &TokenId) -> Option<Option<Vec<u8>>> {
        if self.len.load(Ordering::Acquire) == 0 {
            return None;
        }
        self.rows.read().get(id).cloned()
    }

    /// Records the token rows a journaled batch wrote.
    pub(crate) fn record(&self, log: &Log) -> Result<()> {
        let changes = log.token_rows()?;
        if changes.is_empty() {
            return Ok(());
        }
        let mut rows = self.rows.write();
        for (id, value) in changes {
            rows.insert(TokenId(id), value.map(<[u8]>::to_vec));
        }
        self.len.store(rows.len(), Ordering::Release);
        Ok(())
    }

    /// Forgets every row: redb has committed them.
    pub(crate) fn clear(&self) {
        let mut rows = self.rows.write();
        if rows.capacity() > OVERLAY_KEPT {
            // A large batch (a tenant's revocation) does not keep its table's memory.
            *rows = HashMap::new();
        } else {
            rows.clear();
        }
        self.len.store(0, Ordering::Release);
    }
}

/// The token table opened in a read transaction: what a verify needs.
pub(crate) struct Snapshot {
    tokens: ReadOnlyTable<&'static [u8; 16], &'static [u8]>,
    epochs: Option<ReadOnlyTable<&'static str, i64>>,
    scope_sets: ReadOnlyTable<&'static [u8; 8], &'static [u8]>,
    sets: Arc<ScopeSets>,
    _tx: ReadTransaction,
}

impl Snapshot {
    /// A snapshot for verify; `with_epochs` reads the epochs from it (when another process may
    /// have written them).
    pub(crate) fn new(
        tx: ReadTransaction,
        with_epochs: bool,
        sets: &Arc<ScopeSets>,
    ) -> Result<Snapshot> {
        let epochs = if with_epochs {
            let t = tx.open_table(EPOCHS)?;
            (!t.is_empty()?).then_some(t)
        } else {
            None
        };
        Ok(Snapshot {
            tokens: tx.open_table(TOKENS)?,
            epochs,
            scope_sets: tx.open_table(SCOPE_SETS)?,
            sets: sets.clone(),
            _tx: tx,
        })
    }

    pub(crate) fn get(&self, id: &TokenId) -> Result<Option<Stored>> {
        get(&self.tokens, id, &|set| self.scope_set(set))
    }

    /// The scopes of an interned set.
    pub(crate) fn scope_set(&self, id: &ScopeSetId) -> Result<Scopes> {
        self.sets.resolve(&self.scope_sets, id)
    }

    /// The epoch under `key`, if the snapshot reads epochs.
    pub(crate) fn epoch(&self, key: &str) -> Result<Option<Timestamp>> {
        match &self.epochs {
            Some(t) => epoch_in(t, key),
            None => Ok(None),
        }
    }
}

/// The token tables opened in a read transaction, for listing.
pub(crate) struct ReadTables {
    tokens: ReadOnlyTable<&'static [u8; 16], &'static [u8]>,
    by_subject: ReadOnlyTable<&'static [u8; 24], ()>,
    by_tenant: ReadOnlyTable<&'static [u8; 24], ()>,
    by_deadline: ReadOnlyTable<&'static [u8; 24], ()>,
    children: ReadOnlyTable<&'static [u8; 32], ()>,
    epochs: ReadOnlyTable<&'static str, i64>,
    events: ReadOnlyTable<u64, &'static [u8]>,
    scope_sets: ReadOnlyTable<&'static [u8; 8], &'static [u8]>,
    sets: Arc<ScopeSets>,
}

// Handles are shared between threads by the store.
const _: () = {
    const fn shared<T: Send + Sync>() {}
    shared::<Snapshot>();
    shared::<ReadTables>();
};

impl ReadTables {
    pub(crate) fn new(tx: &ReadTransaction, sets: &Arc<ScopeSets>) -> Result<ReadTables> {
        Ok(ReadTables {
            tokens: tx.open_table(TOKENS)?,
            by_subject: tx.open_table(BY_SUBJECT)?,
            by_tenant: tx.open_table(BY_TENANT)?,
            by_deadline: tx.open_table(BY_DEADLINE)?,
            children: tx.open_table(CHILDREN)?,
            epochs: tx.open_table(EPOCHS)?,
            events: tx.open_table(EVENTS)?,
            scope_sets: tx.open_table(SCOPE_SETS)?,
            sets: sets.clone(),
        })
    }

    pub(crate) fn get(&self, id: &TokenId) -> Result<Option<Stored>> {
        get(&self.tokens, id, &|set| self.scope_set(set))
    }

    fn scope_set(&self, id: &ScopeSetId) -> Result<Scopes> {
        self.sets.resolve(&self.scope_sets, id)
    }

    pub(crate) fn children_of(&self, parent: &TokenId) -> Result<Vec<TokenId>> {
        children_of(&self.children, parent)
    }

    pub(crate) fn epoch(&self, key: &str) -> Result<Option<Timestamp>> {
        epoch_in(&self.epochs, key)
    }

    /// Every epoch, for loading into memory.
    pub(crate) fn all_epochs(&self) -> Result<Vec<(String, Timestamp)>> {
        let mut out = Vec::new();
        for row in self.epochs.iter()? {
            let (k, v) = row?;
            out.push((k.value().to_owned(), Timestamp::from_unix_millis(v.value())));
        }
        Ok(out)
    }

    /// Events with a sequence number greater than `since`, at most `limit`.
    pub(crate) fn events_after(&self, since: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>> {
        let mut out = Vec::new();
        for row in self.events.range(since.saturating_add(1)..)?.take(limit) {
            let (k, v) = row?;
            out.push((k.value(), v.value().to_vec()));
        }
        Ok(out)
    }

    pub(crate) fn of_subject(&self, subject: &str) -> Result<Vec<Stored>> {
        let ids = scan(&self.by_subject, subject_head(subject), usize::MAX)?;
        self.load(ids, |s| of_subject(s, subject))
    }

    pub(crate) fn of_tenant(&self, tenant: &str) -> Result<Vec<Stored>> {
        let ids = scan(&self.by_tenant, tenant_head(tenant), usize::MAX)?;
        self.load(ids, |s| of_tenant(s, tenant))
    }

    /// How many tokens are due for purging at `now`: the tokens that rows of the deadline index
    /// up to `now` point at and whose deadline has come (a revoked token's old row points at
    /// nothing once it is purged, at a tombstone kept for its retention, or at the token that
    /// another row names too).
    pub(crate) fn count_due(&self, now: Timestamp, keep: Keep) -> Result<usize> {
        let mut ids: Vec<TokenId> = due_keys(&self.by_deadline, now, usize::MAX)?
            .iter()
            .map(id_of)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let mut n = 0;
        for id in &ids {
            let due = self
                .get(id)?
                .is_some_and(|s| purge_deadline(&s, keep).is_some_and(|d| d <= now));
            n += usize::from(due);
        }
        Ok(n)
    }

    /// Every stored token, in id order, from `after` (exclusive), at most `limit`.
    pub(crate) fn all(&self, after: Option<TokenId>, limit: usize) -> Result<Vec<Stored>> {
        rows_after(&self.tokens, after, limit, &|set| self.scope_set(set))
    }

    fn load(&self, ids: Vec<TokenId>, keep: impl Fn(&Stored) -> bool) -> Result<Vec<Stored>> {
        load(|id| self.get(id), ids, keep)
    }
}

/// Whether a row found through the subject index is a token of `subject` that is not revoked
/// (the index keeps tombstones, and its 64-bit name hashes may collide).
fn of_subject(s: &Stored, subject: &str) -> bool {
    s.record.revoked.is_none() && s.record.subject.as_deref() == Some(subject)
}

/// Like [`of_subject`], for the tenant index.
fn of_tenant(s: &Stored, tenant: &str) -> bool {
    s.record.revoked.is_none() && s.record.tenant == tenant
}

fn load(
    get: impl Fn(&TokenId) -> Result<Option<Stored>>,
    ids: Vec<TokenId>,
    keep: impl Fn(&Stored) -> bool,
) -> Result<Vec<Stored>> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(s) = get(&id)? {
            if keep(&s) {
                out.push(s);
            }
        }
    }
    Ok(out)
}
