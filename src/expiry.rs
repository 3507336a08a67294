//! Expiry and cleanup: purging expired and long-revoked tokens through the deadline index in
//! bounded batches, by an explicit call or a background thread that stops with the store.
//!
//! Verify never depends on the purge: it judges every token against the clock itself.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Weak};
use std::thread::{self, JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use crate::sync::{Condvar, Mutex};

use crate::clock::{earliest, Timestamp};
use crate::error::{Error, Result};
use crate::events::{EventKind, NewEvent};
use crate::lifecycle::{killed, line_of, Line, MAX_ANCESTORS};
use crate::record::{Record, Replacement, Revocation, RevokeReason, Stored};
use crate::storage::{
    deadline_key, deadline_row, id_of, name_rows, purge_deadline, DeadlineKey, Keep, NameKey,
};
use crate::store::Inner;
use crate::token_text::TokenId;
use crate::write::{Commit, Tx};

/// What one purge batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PurgeBatch {
    /// Tokens removed.
    pub removed: usize,
    /// Whether more tokens were due when the batch ended.
    pub more: bool,
}

/// A plan of at least this many batches' worth of due rows commits each batch durably in the
/// store file itself rather than through the journal: journaled, each of its rows was encoded
/// into a record, synced, held in memory with its overlay entry until the next checkpoint, and
/// then written to the file anyway (at 1,000,000 tokens, purging 100,000 raised the peak RSS by
/// 19 MiB, committed in the file by 9 MiB, at the same speed). A smaller purge stays journaled:
/// a durable redb commit per batch costs more than the journal's append (10,000 of 100,000
/// tokens: 183,000-208,000 tokens/s journaled, 139,000-144,000/s committed in the file).
const BULK_PURGE_BATCHES: usize = 10;

/// Rows of the deadline index that [`Inner::purge_all`] reads at once (24 bytes each).
const PURGE_PLAN: usize = 100_000;

impl Inner {
    /// Removes up to one batch of due tokens.
    pub(crate) fn purge_batch(&self) -> Result<PurgeBatch> {
        let limit = self.opts.purge_batch;
        self.write(Commit::Issue, move |tx| {
            let (keys, more) = tx.tables.due_by_id(tx.now, limit)?;
            purge_keys(tx, keys, more, limit, &[])
        })
    }

    /// Removes every due token, and the rows killed by epochs. While many are due, it reads a
    /// plan of up to [`PURGE_PLAN`] due rows and removes, batch by batch
    /// ([`crate::Options::purge_batch`] rows each, so that other writers wait for one batch at
    /// most), first the subject rows of the plan's tokens in key order, then their tenant rows,
    /// then the tokens with their other rows in id order: each tree is walked once from left to
    /// right over the plan, where batches taken by deadline each touched leaves all over the
    /// four trees. Then batch by batch. Measured at 1,000,000 tokens, 100,000 expired, batches
    /// of 5,000: 77,000 tokens/s by deadline, 100,000/s with the tokens in id order, 115,000/s
    /// with the index rows first.
    ///
    /// Only tokens past their deadline for good (past their absolute expiry, or tombstones past
    /// their retention: [`past_for_good`]), and not held back for an earlier generation
    /// ([`held_back_until`]), lose their subject and tenant rows ahead of the last step; no
    /// listing or revocation needs them, and no use or write can make them valid again.
    /// A token due by its idle timeout alone keeps them until the last step judges it (with the
    /// uses verify recorded meanwhile). A crash between the steps leaves such tokens for the
    /// next purge, which removes them; a token the last step finds not due after all (a wall
    /// clock stepped back across its expiry) gets its rows written back.
    pub(crate) fn purge_all(&self) -> Result<usize> {
        self.purge_all_while(&|| true)
    }

    /// [`Self::purge_all`], stopping between batches once `go` says so (what a stop between
    /// steps leaves, the next purge removes).
    pub(crate) fn purge_all_while(&self, go: &dyn Fn() -> bool) -> Result<usize> {
        let limit = self.opts.purge_batch;
        let mut total = 0;
        while go() {
            let (keys, _) =
                self.write(Commit::Issue, |tx| tx.tables.due_by_id(tx.now, PURGE_PLAN))?;
            if keys.len() <= limit {
                break;
            }
            let commit = if keys.len() >= BULK_PURGE_BATCHES * limit {
                Commit::Checkpoint
            } else {
                Commit::Issue
            };
            // Read a batch at a time too (each read is a random leaf of the tokens tree).
            let (mut subjects, mut tenants, mut gone) = (Vec::new(), Vec::new(), Vec::new());
            // A stop is honoured between any two transactions, planning included (what a stop
            // leaves between the steps, the next purge removes, as after a crash).
            for chunk in keys.chunks(limit) {
                if !go() {
                    return Ok(total);
                }
                let chunk = chunk.to_vec();
                let (s, t, g) = self.write(Commit::Issue, move |tx| dead_name_rows(tx, &chunk))?;
                subjects.extend(s);
                tenants.extend(t);
                gone.extend(g);
            }
            for rows in [&mut subjects, &mut tenants] {
                rows.sort_unstable();
                rows.dedup();
            }
            gone.sort_unstable();
            gone.dedup();
            let gone = Arc::new(gone);
            for (subject, rows) in [(true, subjects), (false, tenants)] {
                for chunk in rows.chunks(limit) {
                    if !go() {
                        return Ok(total);
                    }
                    let chunk = chunk.to_vec();
                    self.write(commit, move |tx| {
                        tx.tables.remove_name_rows(subject, &chunk)
                    })?;
                }
            }
            for chunk in keys.chunks(limit) {
                if !go() {
                    return Ok(total);
                }
                let chunk = chunk.to_vec();
                // Rows that are gone or moved since the plan was read are judged again by
                // `purge_keys`, like any row. A job may run again (when another in its batch
                // fails): it keeps its keys.
                let gone = gone.clone();
                let b = self.write(commit, move |tx| {
                    purge_keys(tx, chunk.clone(), true, limit, &gone)
                })?;
                total += b.removed;
            }
        }
        while go() {
            let b = self.purge_batch()?;
            total += b.removed;
            if !b.more {
                break;
            }
        }
        Ok(total)
    }
}

/// The token behind a row of the deadline index, with the use verify recorded in memory and
/// not yet written, if that is later than the stored one (it may have moved an idle deadline,
/// of a revoked token too: verify records uses of valid tokens only, so it came before).
fn with_pending_use(tx: &Tx<'_, '_>, s: &Stored) -> Option<Stored> {
    let at = tx.inner.touches.latest(&s.record.id)?;
    s.record.last_used_at.is_none_or(|t| t < at).then(|| {
        let mut used = s.clone();
        used.record.last_used_at = Some(at);
        used
    })
}

/// The subject and tenant rows of the tokens of `keys` that are past their deadline for good (see
/// [`past_for_good`]), and the ids of those tokens.
fn dead_name_rows(tx: &Tx<'_, '_>, keys: &[DeadlineKey]) -> Result<NameRows> {
    let keep = tx.inner.opts.keep();
    let (mut subjects, mut tenants, mut ids) = (Vec::new(), Vec::new(), Vec::new());
    for key in keys {
        let Some(s) = tx.tables.get(&id_of(key))? else {
            continue;
        };
        if past_for_good(&s, keep, tx.now)
            && held_back_until(tx, &s, keep, &HashMap::new())?.is_none()
        {
            let (subject, tenant) = name_rows(&s);
            subjects.extend(subject);
            tenants.push(tenant);
            ids.push(s.record.id);
        }
    }
    Ok((subjects, tenants, ids))
}

/// Whether a token is due for purging in a way that nothing can undo: past its absolute expiry
/// (a tombstone: past its retention, or its deadline if that came before the revocation). A
/// token due by its idle timeout alone is not: a verify that judged it valid just before its
/// idle deadline may record that use after this read, and move the deadline.
fn past_for_good(s: &Stored, keep: Keep, now: Timestamp) -> bool {
    let r = &s.record;
    // A tombstone takes no more uses: its deadline moves no more. A rotated-out generation is
    // kept for the retention past a deadline its last uses may still move (they only move it
    // later, so a deadline already past is past for good).
    if retained(r) {
        purge_deadline(s, keep).is_some_and(|d| d <= now)
    } else {
        r.expires_at.is_some_and(|t| t <= now)
    }
}

/// Until when the purge keeps a due rotated-out generation for the generations it was rotated
/// from: presented again, any of them is reuse, and the family it revokes is walked from it
/// through this one to the newest. Purged first (its deadline can come up to a grace window
/// before the earlier one's, when that one was used late in its grace window), this one would
/// cut that walk, and the newest generation, the thief's perhaps, would live on. It is kept
/// until the nearest earlier one that is not due yet is; one due now goes in this purge
/// (`None`, as when nothing earlier is stored, or the earlier one met is revoked: presented
/// again, a tombstone walks nothing). Not for a generation dead through an epoch or its line,
/// which the epoch cleanup removes whatever its family. `taken`: generations the purge's batch
/// took out of the table, which the walk reads too (a family's rows may share a batch).
fn held_back_until(
    tx: &Tx<'_, '_>,
    s: &Stored,
    keep: Keep,
    taken: &HashMap<TokenId, Stored>,
) -> Result<Option<Timestamp>> {
    let r = &s.record;
    if r.revoked.is_some() || !r.successor.is_some_and(|sc| sc.how == Replacement::Rotated) {
        return Ok(None);
    }
    let earlier = tx.earlier_generations_with(s, |id| match tx.tables.get(id)? {
        Some(g) => Ok(Some(g)),
        None => Ok(taken.get(id).cloned()),
    })?;
    if earlier.is_empty() || tx.line(r)? == Line::Revoked {
        return Ok(None);
    }
    for g in earlier {
        if g.record.revoked.is_some() {
            return Ok(None);
        }
        if let Some(d) = purge_deadline(&g, keep).filter(|&d| d > tx.now) {
            return Ok(Some(d));
        }
    }
    Ok(None)
}

/// Whether the purge keeps a token for the revocation retention (see
/// [`crate::storage::purge_deadline`]): a tombstone, or a rotated-out generation (presented
/// again, it is reuse).
fn retained(r: &Record) -> bool {
    r.revoked.is_some() || r.successor.is_some_and(|sc| sc.how == Replacement::Rotated)
}

/// Rows of the subject index, rows of the tenant index, and the ids they belong to.
type NameRows = (Vec<NameKey>, Vec<NameKey>, Vec<TokenId>);

/// Purges the tokens of `keys` (rows of the deadline index, in id order) that are due; `more`:
/// whether other rows were due beyond these (if not, and the batch has room left, the cleanup of
/// epochs goes on in it); `named_gone`: the ids, sorted, whose subject and tenant rows are gone
/// already (see [`Inner::purge_all`]).
fn purge_keys(
    tx: &mut Tx<'_, '_>,
    keys: Vec<DeadlineKey>,
    more: bool,
    limit: usize,
    named_gone: &[TokenId],
) -> Result<PurgeBatch> {
    let now = tx.now;
    // Each token's row comes out of the tree as it is read; one that stays is written back.
    let rows = tx.tables.take(keys)?;
    let keep = tx.inner.opts.keep();
    // The generations of rotation families among them, for the walks along a family (their
    // rows are out of the table now).
    let generations: HashMap<TokenId, Stored> = rows
        .iter()
        .filter_map(|(_, s)| s.as_ref())
        .filter(|s| s.record.family.is_some() || s.record.successor.is_some())
        .map(|s| (s.record.id, s.clone()))
        .collect();
    // Purged tokens whose row is already out, and those whose row was written back meanwhile.
    let (mut taken, mut dead) = (Vec::new(), Vec::new());
    for (key, stored) in rows {
        let Some(mut s) = stored else {
            tx.tables.remove_deadline_row(&key)?;
            continue;
        };
        let mut written = false;
        if let Some(used) = with_pending_use(tx, &s) {
            tx.tables.put(Some(&s), &used)?;
            s = used;
            written = true;
        }
        let due = purge_deadline(&s, keep).is_some_and(|d| d <= now);
        let held_back = if due {
            held_back_until(tx, &s, keep, &generations)?
        } else {
            None
        };
        if due && held_back.is_none() {
            // Found through another row than its own (one a revocation left behind): that row
            // goes too, the token's own goes with its other rows.
            if deadline_key(&s, keep) != Some(key) {
                tx.tables.remove_deadline_row(&key)?;
            }
            if written {
                dead.push(s);
            } else {
                taken.push(s);
            }
        } else {
            // Not due (the row was stale), or held back: drop the row and put the token back.
            // A row other than the token's
            // own (the expiry row a revocation left, a tombstone being kept for its retention;
            // an idle deadline a pending use just moved) leaves the token's other rows as they
            // are: only its row goes back. Otherwise (the clock stepped back across the
            // deadline, and the plan may have taken the subject and tenant rows) all of them
            // are written as they should be.
            tx.tables.remove_deadline_row(&key)?;
            let own = deadline_key(&s, keep);
            let intact = own != Some(key) && named_gone.binary_search(&s.record.id).is_err();
            tx.tables.put(intact.then_some(&s), &s)?;
            if let Some(until) = held_back {
                // Due itself, held back for an earlier generation: its own row stays out (due,
                // it would be planned again by every purge) and a row at the earlier one's
                // deadline brings it back then.
                if let Some(own) = own {
                    tx.tables.remove_deadline_row(&own)?;
                }
                tx.tables
                    .ensure_deadline_row(&deadline_row(until, &s.record.id))?;
            } else if let Some(own) = own.filter(|_| intact) {
                // Its own row may be missing: a file written by a version whose rule put the
                // row elsewhere (a rotated-out generation's row at its own deadline).
                tx.tables.ensure_deadline_row(&own)?;
            }
        }
    }
    // The children of a token purged dead (expired, or a tombstone) or dead through an epoch
    // or its line are dead through it: they go with it, before the rows that link them to
    // it go (a child of an idle token lives on). The rows of this batch are out of the tree
    // already: a token's line is read through them.
    // Children of a parent dead through a revocation or an epoch, of one dead otherwise (its
    // expiry), and of one purged for its idle timeout or its retention alone.
    let (mut killed_orphans, mut orphans, mut heirs) = (Vec::new(), Vec::new(), Vec::new());
    let mut batch: Option<HashMap<TokenId, Record>> = None;
    for s in taken.iter().chain(&dead) {
        let children = tx.tables.children_of(&s.record.id)?;
        if children.is_empty() {
            continue;
        }
        let batch = batch.get_or_insert_with(|| {
            taken
                .iter()
                .chain(&dead)
                .map(|s| (s.record.id, s.record.clone()))
                .collect()
        });
        let tables = &tx.tables;
        // Dead itself (revoked, or expired: a child never outlives its parent's expiry), not
        // merely at the end of a retention: a rotated-out generation purged at the retention
        // past its idle deadline leaves its children as an idle parent does.
        let r = &s.record;
        let line = line_of(
            &s.record,
            now,
            |id| match batch.get(id) {
                Some(r) => Ok(Some(r.clone())),
                None => Ok(tables.get(id)?.map(|s| s.record)),
            },
            |a| killed(a, |k| tables.epoch(k)),
        )?;
        if r.revoked.is_some() || line == Line::Revoked {
            killed_orphans.extend(children);
        } else if r.expires_at.is_some_and(|t| t <= now) || line != Line::Alive {
            orphans.extend(children);
        } else {
            heirs.push((s.record.clone(), children));
        }
    }
    // A parent removed for its idle timeout alone leaves its children to their own use, and
    // hands them its place in the line: they take its parent as theirs and its expiry as a
    // bound on their own (set by a roll, say, after they were issued), so that they end where
    // they would have ended with it still stored. A generation rotated out of a session hands
    // them to the session instead, its first later generation that stays: revoking the session
    // (a logout with its newest token, a reuse) revokes them, as it did with the parent stored.
    for (parent, children) in heirs {
        // The first ancestor that stays (or the session that one removed in this batch was
        // rotated into), and the earliest expiry on the way to it: ancestors removed in this
        // batch too, for their idle timeout, hand theirs down as well.
        let mut end = parent.expires_at;
        let mut gone = parent.clone();
        let mut above = None;
        // At most as far as every check walks: a parent cycle in a damaged file ends here.
        for _ in 0..MAX_ANCESTORS {
            if let Some(session) = later_generation_that_stays(tx, &gone, batch.as_ref())? {
                above = Some(session);
                break;
            }
            above = gone.parent;
            let Some(r) = above.and_then(|a| batch.as_ref().and_then(|b| b.get(&a))) else {
                break;
            };
            end = earliest(end, r.expires_at);
            gone = r.clone();
        }
        for id in children {
            if batch.as_ref().is_some_and(|b| b.contains_key(&id)) {
                continue;
            }
            let Some(child) = tx.tables.get(&id)? else {
                continue;
            };
            let mut heir = child.clone();
            let r = &mut heir.record;
            r.parent = above;
            if let Some(end) = end {
                r.expires_at = earliest(r.expires_at, Some(end));
                // A renewal or a rotation stays within it too.
                let life = end.saturating_duration_since(r.created_at);
                if r.max_lifetime.is_none_or(|m| m > life) {
                    r.max_lifetime = Some(life);
                }
            }
            tx.tables.put(Some(&child), &heir)?;
            if let Some(ancestor) = above {
                tx.tables.add_child(&ancestor, &id)?;
            }
        }
    }
    for s in taken.iter().chain(&dead) {
        reroot_family(tx, s)?;
    }
    let mut removed = taken.len() + dead.len();
    tx.tables.delete_taken(&mut taken, named_gone)?;
    tx.tables.delete_all(&mut dead)?;
    removed += delete_descendants(tx, killed_orphans, true)?;
    removed += delete_descendants(tx, orphans, false)?;
    let mut more = more;
    if !more && removed < limit {
        let (n, pending) = clean_epochs(tx, limit - removed)?;
        removed += n;
        more = pending;
    }
    if removed > 0 {
        tx.event(NewEvent {
            kind: EventKind::Purged,
            token: None,
            reason: None,
            scope: None,
            count: removed as u64,
            cutoff: None,
        })?;
    }
    Ok(PurgeBatch { removed, more })
}

/// The first generation that rotations made from `r` and that stays (the session it continues):
/// read through the generations that this batch removes (`batch`), up to one stored in the
/// table. Not a roll's: a rolled key is a new key, which revoking the old one leaves alone.
fn later_generation_that_stays(
    tx: &Tx<'_, '_>,
    r: &Record,
    batch: Option<&HashMap<TokenId, Record>>,
) -> Result<Option<TokenId>> {
    let rotated = |r: &Record| {
        r.successor
            .filter(|sc| sc.how == Replacement::Rotated)
            .map(|sc| sc.id)
    };
    let mut seen = HashSet::from([r.id]);
    let mut next = rotated(r);
    while let Some(id) = next.filter(|id| seen.insert(*id)) {
        match batch.and_then(|b| b.get(&id)) {
            Some(removed) => next = rotated(removed),
            None => return Ok(tx.tables.get(&id)?.map(|_| id)),
        }
    }
    Ok(None)
}

/// Before `s` is removed: the generations made from it (those stored, by rotations and rolls
/// alike) start their family at the first of them, so that revoking any of them, a logout or
/// a detected reuse, still finds the earlier ones (a family is walked from its first
/// generation, and `s` was that, or on the way to it). A rolled key's successor names the old
/// key's family too: a key rolled and then rotated is walked through it.
fn reroot_family(tx: &mut Tx<'_, '_>, s: &Stored) -> Result<()> {
    let later = tx.successors(s, false)?;
    let Some(first) = later.first().map(|g| g.record.id) else {
        return Ok(());
    };
    for g in &later {
        let family = (g.record.id != first).then_some(first);
        if g.record.family != family {
            let mut moved = g.clone();
            moved.record.family = family;
            tx.tables.put(Some(g), &moved)?;
        }
    }
    Ok(())
}

/// Removes the tokens `ids` (those still stored) and all their descendants, dead through an
/// ancestor that is being removed (`by_kill`: through a revocation or an epoch; else through its
/// expiry). A tombstone or a rotated-out generation among them stays, with its descendants,
/// until its retention ends. One killed through that ancestor alone gets the death written
/// into its record (revoked, as a cascade, with its event): the line that told it goes with the
/// ancestor, and a rotated-out generation presented again would be taken for reuse, where it
/// answered "revoked" before. Then it is kept as any tombstone is, or removed now if it was past
/// its own deadline already (a token revoked then keeps that deadline). One that an epoch kills
/// itself is left to the epoch's cleanup, which removes it. Returns how many were removed.
fn delete_descendants(tx: &mut Tx<'_, '_>, mut ids: Vec<TokenId>, by_kill: bool) -> Result<usize> {
    let keep = tx.inner.opts.keep();
    let mut removed = 0;
    while let Some(id) = ids.pop() {
        let Some(s) = tx.tables.get(&id)? else {
            continue;
        };
        // Kept for its retention, whatever became of its parent.
        if retained(&s.record) && !past_for_good(&s, keep, tx.now) {
            let mark = by_kill
                && s.record.revoked.is_none()
                && !killed(&s.record, |k| tx.tables.epoch(k))?;
            if !mark {
                continue;
            }
            let mut dead = s.clone();
            dead.record.revoked = Some(Revocation {
                at: tx.now,
                reason: RevokeReason::Cascade,
            });
            tx.event(NewEvent {
                reason: Some(RevokeReason::Cascade),
                ..NewEvent::token(EventKind::Revoked, s.record.id)
            })?;
            if purge_deadline(&dead, keep).is_some_and(|d| d > tx.now) {
                tx.tables.put(Some(&s), &dead)?;
                continue;
            }
        }
        ids.extend(tx.tables.children_of(&id)?);
        reroot_family(tx, &s)?;
        tx.tables.delete(&s)?;
        removed += 1;
    }
    Ok(removed)
}

/// Removes rows killed by an epoch (`revoke_issued_before`), at most `budget` of them (and the
/// descendants of each, which may go past it). Returns
/// how many were removed and whether cleanup work remains.
fn clean_epochs(tx: &mut Tx<'_, '_>, budget: usize) -> Result<(usize, bool)> {
    let Some((key, after)) = tx.tables.next_cleanup()? else {
        return Ok((0, false));
    };
    let Some(epoch) = tx.tables.epoch(&key)? else {
        tx.tables.set_cleanup(&key, None)?;
        return Ok((0, true));
    };
    // Candidates: a window of the scope's tokens by id (store-wide: of the token table; else of
    // the subject or tenant index), from where the last batch stopped: each batch reads only
    // its window, however many tokens the scope has.
    let (candidates, resume) = if key == "*" {
        let batch = tx.tables.tokens_after(after, budget)?;
        let resume = (batch.len() == budget)
            .then(|| batch.last().map(|s| s.record.id))
            .flatten();
        (batch, resume)
    } else if let Some(subject) = key.strip_prefix("s:") {
        tx.tables.of_name_after(true, subject, after, budget)?
    } else if let Some(tenant) = key.strip_prefix("t:") {
        tx.tables.of_name_after(false, tenant, after, budget)?
    } else {
        (Vec::new(), None)
    };
    let mut removed = 0;
    let mut left_over = false;
    // The last candidate looked at, where the store-wide cleanup goes on if it stops early.
    let mut last = after;
    for c in candidates {
        // Read again: removed already as a descendant of an earlier one?
        let Some(s) = tx.tables.get(&c.record.id)? else {
            continue;
        };
        // Revoked tombstones keep their own retention, whatever the scope.
        if s.record.issued_for_cutoffs() >= epoch || s.record.revoked.is_some() {
            continue;
        }
        if removed >= budget {
            left_over = true;
            break;
        }
        let children = tx.tables.children_of(&s.record.id)?;
        reroot_family(tx, &s)?;
        tx.tables.delete(&s)?;
        removed += 1 + delete_descendants(tx, children, true)?;
        last = Some(s.record.id);
    }
    // The cleanup goes on after the last id it removed if it stopped early (descendants count
    // against the budget), else after the window.
    let next = if left_over { last } else { resume };
    if next.is_none() && !left_over {
        tx.tables.set_cleanup(&key, None)?;
    } else if next.is_some() {
        tx.tables.set_cleanup(&key, next)?;
    }
    Ok((removed, true))
}

/// The background thread: writes pending uses of idle-timeout tokens every flush interval, and
/// purges every sweep interval if a sweeper was asked for.
pub(crate) struct Maintenance {
    signal: Arc<StopSignal>,
    thread: Mutex<Option<(ThreadId, JoinHandle<()>)>>,
    last_error: Mutex<Option<Error>>,
    /// Taken by [`crate::Store::close`] for its whole call, dropping its handle included.
    pub(crate) closing: Arc<Mutex<()>>,
}

impl Maintenance {
    pub(crate) fn new() -> Self {
        Maintenance {
            signal: Arc::new(StopSignal {
                state: Mutex::new(Thread::default()),
                wake: Condvar::new(),
            }),
            thread: Mutex::new(None),
            last_error: Mutex::new(None),
            closing: Arc::new(Mutex::new(())),
        }
    }

    pub(crate) fn start(inner: &Arc<Inner>) -> Result<()> {
        let weak: Weak<Inner> = Arc::downgrade(inner);
        let flush = inner.opts.flush_interval;
        let sweep = inner.opts.sweep_interval;
        let tick = sweep.map_or(flush, |s| s.min(flush));
        let signal = inner.maintenance.signal.clone();
        let handle = thread::Builder::new()
            .name("tessera-maintenance".into())
            .spawn(move || run(&signal, weak, tick, sweep))
            .map_err(|e| Error::Internal(format!("cannot start the maintenance thread: {e}")))?;
        *inner.maintenance.thread.lock() = Some((handle.thread().id(), handle));
        Ok(())
    }

    /// Keeps the thread from starting work, and waits for the work it is doing (which holds the
    /// store; a purge stops between its batches): a close then knows whether its handle is the
    /// last one. Closes on several threads pause it each.
    pub(crate) fn pause(&self) {
        let mut st = self.signal.state.lock();
        st.paused += 1;
        while st.busy {
            st = self.signal.wake.wait(st);
        }
    }

    /// Lets the thread work again after [`Self::pause`] (once every pause is resumed).
    pub(crate) fn resume(&self) {
        let mut st = self.signal.state.lock();
        st.paused = st.paused.saturating_sub(1);
    }

    /// Lets the thread work again whatever paused it: a new handle on the store.
    pub(crate) fn resume_all(&self) {
        self.signal.state.lock().paused = 0;
    }

    /// Stops the thread and waits for it, unless called from it.
    pub(crate) fn stop(&self) {
        self.signal.state.lock().stop = true;
        self.signal.wake.notify_all();
        if let Some((id, handle)) = self.thread.lock().take() {
            if id != thread::current().id() {
                let _ = handle.join();
            }
        }
    }

    /// The last error the background thread met, if any (taken).
    pub(crate) fn take_error(&self) -> Option<Error> {
        self.last_error.lock().take()
    }
}

/// Shared with the thread, which must not keep the store alive while it sleeps.
struct StopSignal {
    state: Mutex<Thread>,
    wake: Condvar,
}

/// What the thread is asked to do, and whether it works (holding the store) now.
#[derive(Default)]
struct Thread {
    stop: bool,
    /// Closes waiting to know whether theirs is the last handle.
    paused: u32,
    busy: bool,
}

/// Clears `busy` when a round ends, also by a panic (a close waits for it).
struct Busy<'a>(&'a StopSignal);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.state.lock().busy = false;
        self.0.wake.notify_all();
    }
}

fn run(signal: &StopSignal, weak: Weak<Inner>, tick: Duration, sweep: Option<Duration>) {
    let mut last_sweep = Instant::now();
    loop {
        {
            let mut st = signal.state.lock();
            if !st.stop {
                st = signal.wake.wait_for(st, tick);
            }
            if st.stop {
                return;
            }
            if st.paused > 0 {
                continue;
            }
            st.busy = true;
        }
        let _busy = Busy(signal);
        work(signal, &weak, sweep, &mut last_sweep);
    }
}

/// Whether recorded uses wait that the thread writes every flush interval: those of tokens with
/// an idle timeout, and all of them where other processes rank tokens by their last use
/// ([`crate::Options::subject_cap`]).
fn uses_due(inner: &Inner) -> bool {
    inner.touches.idle_pending() || (inner.opts.writes_every_use() && !inner.touches.is_empty())
}

/// One round of the thread's work, holding the store meanwhile.
fn work(
    signal: &StopSignal,
    weak: &Weak<Inner>,
    sweep: Option<Duration>,
    last_sweep: &mut Instant,
) {
    {
        let Some(inner) = weak.upgrade() else { return };
        let mut result = Ok(());
        if uses_due(&inner) {
            result = inner.flush_uses();
        }
        if let Some(every) = sweep {
            if last_sweep.elapsed() >= every {
                *last_sweep = Instant::now();
                // Between batches: the uses of idle-timeout tokens still reach the file within
                // the flush interval during a long sweep, and a close or a stop ends it.
                let flushed = std::cell::Cell::new(Instant::now());
                let go = || {
                    if uses_due(&inner) && flushed.get().elapsed() >= inner.opts.flush_interval {
                        flushed.set(Instant::now());
                        if let Err(e) = inner.flush_uses() {
                            *inner.maintenance.last_error.lock() = Some(e);
                        }
                    }
                    let st = signal.state.lock();
                    st.paused == 0 && !st.stop
                };
                result = result.and_then(|()| inner.purge_all_while(&go).map(|_| ()));
            }
        }
        if let Err(e) = result {
            *inner.maintenance.last_error.lock() = Some(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Kind, Record, Revocation, RevokeReason};

    fn at(minutes: i64) -> Timestamp {
        Timestamp::from_unix_millis(minutes * 60_000)
    }

    fn token(expires: Option<i64>, idle: Option<u64>, revoked: Option<i64>) -> Stored {
        let mut record = Record::new(TokenId([1; 16]), Kind::Session, at(0));
        record.expires_at = expires.map(at);
        record.idle_timeout = idle.map(|m| Duration::from_secs(m * 60));
        record.revoked = revoked.map(|m| Revocation {
            at: at(m),
            reason: RevokeReason::ById,
        });
        Stored {
            record,
            key_version: 1,
            hash: [0; 32],
        }
    }

    /// Only a deadline that no later use can move lets the purge drop a token's subject and
    /// tenant rows ahead of the token.
    #[test]
    fn only_an_expiry_or_a_spent_retention_is_for_good() {
        let keep = Keep {
            retention: Duration::from_secs(60 * 60),
            idle_grace: Duration::from_secs(60),
        };
        let now = at(100);
        // Past its expiry, with or without an idle timeout.
        assert!(past_for_good(&token(Some(90), None, None), keep, now));
        assert!(past_for_good(&token(Some(90), Some(10), None), keep, now));
        // Idle by its stored last use only: a use in flight may move that deadline.
        assert!(!past_for_good(&token(Some(500), Some(10), None), keep, now));
        assert!(!past_for_good(&token(None, Some(10), None), keep, now));
        // Tombstones: past their retention, or not yet.
        assert!(past_for_good(&token(Some(500), None, Some(30)), keep, now));
        assert!(!past_for_good(&token(Some(500), None, Some(50)), keep, now));
        assert!(!past_for_good(&token(None, None, None), keep, now));
        // A tombstone stays for its retention, also past the token's expiry.
        assert!(!past_for_good(&token(Some(90), None, Some(80)), keep, now));
    }

    /// A token due by its idle timeout is purged its grace after its idle deadline (a use may be
    /// on its way to the file), one due by its expiry at the expiry.
    #[test]
    fn an_idle_deadline_is_purged_its_grace_late() {
        let keep = Keep {
            retention: Duration::from_secs(60 * 60),
            idle_grace: Duration::from_secs(60),
        };
        let due = |expires, idle| purge_deadline(&token(expires, idle, None), keep);
        assert_eq!(due(None, Some(10)), Some(at(11)));
        assert_eq!(due(Some(500), Some(10)), Some(at(11)));
        // The expiry comes first, or inside the grace: nothing can move it.
        assert_eq!(due(Some(5), Some(10)), Some(at(5)));
        assert_eq!(due(Some(10), Some(10)), Some(at(10)));
        assert_eq!(due(Some(90), None), Some(at(90)));
        assert_eq!(due(None, None), None);
        // Revoked inside the grace: it may have been valid still, it stays as a tombstone.
        let revoked = token(Some(500), Some(10), Some(10));
        assert_eq!(purge_deadline(&revoked, keep), Some(at(70)));
        let revoked = token(Some(500), Some(10), Some(30));
        assert_eq!(purge_deadline(&revoked, keep), Some(at(11)));
    }

    /// A stop is honoured during the planning too: a close waits for the sweeper's round, and
    /// the plan of a large purge is many transactions.
    #[test]
    fn a_purge_stops_between_any_two_transactions() {
        let dir = tempfile::tempdir().unwrap();
        let clock = crate::ManualClock::new(at(1_000));
        let options = crate::Options::new()
            .manual_clock(&clock)
            .purge_batch(3)
            .sweep_interval(None);
        let store = crate::Store::open(dir.path().join("t.redb"), options).unwrap();
        for i in 0..60u64 {
            let request =
                crate::IssueRequest::session(format!("user-{i}")).ttl(Duration::from_secs(3600));
            store.issue(&request).unwrap();
        }
        clock.advance(Duration::from_secs(7200));
        let inner = store.checked().unwrap();
        use std::sync::atomic::{AtomicUsize, Ordering};
        let calls = AtomicUsize::new(0);
        // Yes to the first question (start), no from then on.
        let go = || calls.fetch_add(1, Ordering::Relaxed) == 0;
        let before = inner.commits.load(Ordering::Relaxed);
        assert_eq!(inner.purge_all_while(&go).unwrap(), 0);
        // Asked to start, then after the plan's read (which writes nothing): stopped there.
        assert_eq!(calls.load(Ordering::Relaxed), 2);
        assert_eq!(inner.commits.load(Ordering::Relaxed), before);
        // What the stop left, the next purge removes.
        assert_eq!(store.purge_expired().unwrap(), 60);
    }

    /// A bulk purge commits in the store file itself: nothing of it waits in the journal or in
    /// memory for a checkpoint (the memory a purge of 100,000 tokens held until then), and the
    /// tokens are gone from the file when the call returns: the store a crash leaves then (its
    /// file and journal, copied while open) has none of them and every other token.
    #[test]
    fn a_purge_leaves_nothing_in_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let clock = crate::ManualClock::new(at(1_000));
        let options = || crate::Options::new().manual_clock(&clock).purge_batch(3);
        let path = dir.path().join("t.redb");
        let store = crate::Store::open(&path, options()).unwrap();
        // 40 due: more than ten batches of 3, a bulk purge.
        let tokens: Vec<_> = (0..80u64)
            .map(|i| {
                let ttl = Duration::from_secs(60 * (1 + i % 2) * 60);
                let request = crate::IssueRequest::session(format!("user-{i}")).ttl(ttl);
                (i % 2 == 0, store.issue(&request).unwrap().token)
            })
            .collect();
        clock.advance(Duration::from_secs(90 * 60));
        let inner = store.checked().unwrap();
        assert!(
            !inner.journal.as_ref().unwrap().is_empty(),
            "issues are journaled"
        );
        assert_eq!(store.purge_expired().unwrap(), 40);
        assert!(inner.journal.as_ref().unwrap().is_empty());
        let image = dir.path().join("crashed.redb");
        std::fs::copy(&path, &image).unwrap();
        let journal = crate::journal::path_of(&path);
        if journal.exists() {
            std::fs::copy(journal, crate::journal::path_of(&image)).unwrap();
        }
        drop(store);
        let crashed = crate::Store::open(&image, options()).unwrap();
        for (due, token) in &tokens {
            let v = crashed.verify(token.as_str()).unwrap();
            if *due {
                assert_eq!(v.rejection(), Some(crate::Rejection::Unknown), "purged");
            } else {
                assert!(v.is_valid(), "kept");
            }
        }
    }

    /// Ends the last handle with `end` while the background thread works (holding the store,
    /// as it does for each round): when `end` returns, the file must be closed, and the path
    /// open again with other options.
    fn ends_while_the_background_thread_works(end: fn(crate::Store)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.redb");
        let store = crate::Store::open(&path, crate::Options::new()).unwrap();
        let inner = store.checked().unwrap();
        let signal = inner.maintenance.signal.clone();
        let (held, go) = std::sync::mpsc::channel();
        let worker = {
            let held_store = store.inner.clone();
            std::thread::spawn(move || {
                // What a round of the thread does: busy, holding the store (the shared state,
                // as the thread does; never a `Store` handle, whose drop waits for the round).
                signal.state.lock().busy = true;
                held.send(()).unwrap();
                std::thread::sleep(Duration::from_millis(300));
                drop(held_store);
                signal.state.lock().busy = false;
                signal.wake.notify_all();
            })
        };
        go.recv().unwrap();
        end(store);
        let other = crate::Options::new().durability(crate::IssueDurability::Eventual);
        let reopened = crate::Store::open(&path, other);
        assert!(reopened.is_ok(), "{:?}", reopened.err());
        worker.join().unwrap();
    }

    #[test]
    fn close_waits_for_the_background_thread_and_closes_the_store() {
        ends_while_the_background_thread_works(|store| store.close().unwrap());
    }

    /// No close: the last handle goes, and the store must close here, not on that thread.
    #[test]
    fn dropping_the_last_handle_waits_for_the_background_thread_too() {
        ends_while_the_background_thread_works(drop);
    }
}
