//! The interface every benchmarked store implements, and the registry of stores.
//!
//! # Adding a backend
//!
//! 1. Write a module (e.g. `src/tessera_backend.rs`) with a type implementing [`Backend`],
//!    plus types implementing [`Verifier`] and [`Issuer`] (one handle per thread), and a
//!    `pub const INFO: BackendInfo` describing it.
//! 2. Declare the module in `main.rs` (`mod tessera_backend;`).
//! 3. Add `tessera_backend::INFO` to [`registry`] below (first entry = first column).
//!
//! The harness owns the workload: it hands each backend the tokens to bulk-load, tells it
//! which ids and subjects to revoke, and checks every answer (a backend whose verify,
//! revoke or purge results disagree with the workload fails the run).

use std::path::Path;

use anyhow::Result;

/// A 16-byte token id.
pub type TokenId = [u8; 16];
/// A 32-byte token secret (only its blake3 hash is stored).
pub type Secret = [u8; 32];

/// Name of the tessera backend; the ratio keys of the report refer to it.
pub const TESSERA: &str = "tessera";

/// One preloaded token, as the harness derives it from the round's seed.
#[derive(Clone, Debug)]
pub struct TokenSpec {
    /// Token id (primary key).
    pub id: TokenId,
    /// The secret the holder presents; stores keep `blake3(secret)` only.
    pub secret: Secret,
    /// Tenant number (0..100).
    pub tenant: u32,
    /// Subject (user) number; 10 tokens per subject in the preloaded set.
    pub subject: u64,
    /// Creation time, Unix seconds.
    pub created_at: u64,
    /// Expiry time, Unix seconds (about 10 % of the preloaded set is already past it).
    pub expires_at: u64,
    /// Opaque flags word.
    pub flags: u32,
    /// Scope string (47 bytes, so that the packed record is 114 bytes).
    pub scope: &'static str,
}

/// What a caller asks for when issuing a new token; the store draws id and secret itself.
#[derive(Clone, Debug)]
pub struct IssueRequest {
    /// Tenant number.
    pub tenant: u32,
    /// Subject number (newly issued tokens always go to fresh subjects).
    pub subject: u64,
    /// Lifetime in seconds from now.
    pub ttl_secs: u64,
    /// Opaque flags word.
    pub flags: u32,
    /// Scope string.
    pub scope: &'static str,
}

/// A token returned by [`Issuer::issue`]: what the caller would hand to the client.
#[derive(Clone, Copy, Debug)]
pub struct IssuedToken {
    /// The new token's id.
    pub id: TokenId,
    /// The new token's secret.
    pub secret: Secret,
}

/// One lookup handle, owned by one thread.
pub trait Verifier {
    /// Fetches the token by id, checks `blake3(secret)` against the stored hash in constant
    /// time and the expiry against the current time. Returns `Ok(true)` only if the token
    /// exists, the secret matches and it has not expired. Expired tokens must still be fully
    /// checked (fetched and hashed).
    fn verify(&mut self, id: &TokenId, secret: &Secret) -> Result<bool>;
}

/// One issuing handle, owned by one thread. Each call is one durable commit.
pub trait Issuer {
    /// Draws a fresh id and secret (getrandom), hashes the secret, stores the record and its
    /// index entries, and commits durably (fsync) before returning.
    fn issue(&mut self, req: &IssueRequest) -> Result<IssuedToken>;
}

/// A store under test. One instance lives for one round, in its own fresh directory.
pub trait Backend {
    /// Bulk-loads one batch of preloaded tokens (untimed setup; called repeatedly with
    /// batches of up to 100,000 tokens). Batches may be committed with any durability.
    fn load(&mut self, batch: &[TokenSpec]) -> Result<()>;

    /// Called once after the last [`Backend::load`] batch: make everything durable and bring
    /// the store into its steady state (e.g. checkpoint, switch durability settings on).
    fn finish_load(&mut self) -> Result<()> {
        Ok(())
    }

    /// A new lookup handle for one thread (connection, database handle clone, ...).
    fn verifier(&self) -> Result<Box<dyn Verifier + Send>>;

    /// A new issuing handle for one thread. Up to 8 are used concurrently.
    fn issuer(&self) -> Result<Box<dyn Issuer + Send>>;

    /// Revokes one token durably: deletes the record and its index entries in one durable
    /// commit. Returns whether the token existed.
    fn revoke(&mut self, id: &TokenId) -> Result<bool>;

    /// Revokes every token of a subject in one durable commit. Returns how many were removed.
    fn revoke_subject(&mut self, subject: u64) -> Result<u64>;

    /// Deletes every token with `expires_at < now` (Unix seconds), durably. Returns how many
    /// were removed.
    fn purge_expired(&mut self, now: u64) -> Result<u64>;

    /// Bytes the store's data occupies on disk right now.
    fn disk_bytes(&self) -> Result<u64>;

    /// Total commits (write transactions) the store has made so far. The harness reads it
    /// before and after the verify phases to count the commits caused by verifies. Peers
    /// never write on verify, so they keep the default of 0.
    fn commits(&self) -> u64 {
        0
    }

    /// Whether [`Backend::commits`] is a real counter. If so, the harness tops the verify
    /// phases up to a full `--commit-verifies` (default 1,000,000) verifies before reading
    /// it; otherwise the figure is 0 by construction and no extra verifies are run.
    fn reports_commits(&self) -> bool {
        false
    }

    /// Whether a revoke keeps the token as a tombstone (answering "revoked" until the purge)
    /// rather than deleting it. The purge then also removes the revoked tokens that were
    /// already expired when they were revoked (a tombstone of a token revoked while valid stays
    /// for its retention, past the end of the run), which a deleting store removed at revoke
    /// time.
    fn revoke_keeps_tombstones(&self) -> bool {
        false
    }

    /// Extra backend-specific figures reported as-is (name, value), e.g. Redis `used_memory`.
    fn extra_figures(&mut self) -> Result<Vec<(&'static str, f64)>> {
        Ok(Vec::new())
    }
}

/// Everything a backend gets when it is opened.
pub struct OpenArgs<'a> {
    /// A fresh, empty directory for this round's store.
    pub dir: &'a Path,
    /// Port of the redis-server started for this round (only for backends with
    /// [`BackendInfo::needs_redis`]).
    pub redis_port: Option<u16>,
}

/// Static description of a backend, as listed in [`registry`].
pub struct BackendInfo {
    /// Short name used on the command line (`--backends`) and as JSON key.
    pub name: &'static str,
    /// Column header in the markdown table.
    pub label: &'static str,
    /// Whether the harness must start a redis-server for each round of this backend.
    pub needs_redis: bool,
    /// Opens a fresh store.
    pub open: fn(&OpenArgs<'_>) -> Result<Box<dyn Backend>>,
}

/// All known backends, in column order.
pub fn registry() -> Vec<&'static BackendInfo> {
    vec![
        // ---- REGISTER BACKENDS HERE -------------------------------------------------------
        &crate::tessera_backend::INFO,
        // -------------------------------------------------------------------------------------
        &crate::raw_redb::INFO,
        &crate::sqlite::INFO,
        &crate::redis_backend::INFO,
    ]
}
