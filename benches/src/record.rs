//! The packed token record shared by the raw redb and Redis peers, and helpers every peer
//! uses to issue and check tokens (so the peers do exactly the same work per call).

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Result};

use crate::backend::{IssueRequest, IssuedToken, Secret, TokenId, TokenSpec};

/// Record format version byte.
pub const VERSION: u8 = 1;

// Layout: version u8 | secret hash [32] | created_at u64 | expires_at u64 | flags u32 |
//         tenant u32 | subject u64 | scope length u16 | scope bytes.
const HASH_AT: usize = 1;
const CREATED_AT: usize = HASH_AT + 32;
const EXPIRES_AT: usize = CREATED_AT + 8;
const FLAGS_AT: usize = EXPIRES_AT + 8;
const TENANT_AT: usize = FLAGS_AT + 4;
const SUBJECT_AT: usize = TENANT_AT + 4;
const SCOPE_LEN_AT: usize = SUBJECT_AT + 8;
/// Size of the fixed part of a record.
pub const FIXED_LEN: usize = SCOPE_LEN_AT + 2;

/// The fields of a token as stored (the secret only as its hash).
#[derive(Clone, Debug)]
pub struct Record<'a> {
    /// blake3(secret).
    pub secret_hash: [u8; 32],
    /// Creation time, Unix seconds.
    pub created_at: u64,
    /// Expiry time, Unix seconds.
    pub expires_at: u64,
    /// Flags word.
    pub flags: u32,
    /// Tenant number.
    pub tenant: u32,
    /// Subject number.
    pub subject: u64,
    /// Scope string.
    pub scope: &'a str,
}

impl<'a> Record<'a> {
    /// The stored form of a preloaded token.
    pub fn from_spec(spec: &'a TokenSpec) -> Self {
        Record {
            secret_hash: *blake3::hash(&spec.secret).as_bytes(),
            created_at: spec.created_at,
            expires_at: spec.expires_at,
            flags: spec.flags,
            tenant: spec.tenant,
            subject: spec.subject,
            scope: spec.scope,
        }
    }

    /// Packs the record (version byte first).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(FIXED_LEN + self.scope.len());
        out.push(VERSION);
        out.extend_from_slice(&self.secret_hash);
        out.extend_from_slice(&self.created_at.to_le_bytes());
        out.extend_from_slice(&self.expires_at.to_le_bytes());
        out.extend_from_slice(&self.flags.to_le_bytes());
        out.extend_from_slice(&self.tenant.to_le_bytes());
        out.extend_from_slice(&self.subject.to_le_bytes());
        let scope_len = u16::try_from(self.scope.len()).expect("scope longer than 64 KiB");
        out.extend_from_slice(&scope_len.to_le_bytes());
        out.extend_from_slice(self.scope.as_bytes());
        out
    }
}

fn check_len(bytes: &[u8]) -> Result<()> {
    if bytes.len() < FIXED_LEN || bytes[0] != VERSION {
        bail!("malformed token record ({} bytes)", bytes.len());
    }
    Ok(())
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(b)
}

/// The subject number of a packed record.
pub fn subject_of(bytes: &[u8]) -> Result<u64> {
    check_len(bytes)?;
    Ok(u64_at(bytes, SUBJECT_AT))
}

/// The expiry time of a packed record.
pub fn expires_of(bytes: &[u8]) -> Result<u64> {
    check_len(bytes)?;
    Ok(u64_at(bytes, EXPIRES_AT))
}

/// Verifies a packed record against a presented secret at time `now`.
pub fn verify_packed(bytes: &[u8], secret: &Secret, now: u64) -> Result<bool> {
    check_len(bytes)?;
    let mut stored = [0u8; 32];
    stored.copy_from_slice(&bytes[HASH_AT..HASH_AT + 32]);
    Ok(check_hash_and_expiry(
        &stored,
        u64_at(bytes, EXPIRES_AT),
        secret,
        now,
    ))
}

/// The verify check itself: constant-time comparison of blake3(secret) with the stored hash
/// (`blake3::Hash` equality is constant-time), then the expiry check.
pub fn check_hash_and_expiry(
    stored: &[u8; 32],
    expires_at: u64,
    secret: &Secret,
    now: u64,
) -> bool {
    let matches = blake3::hash(secret) == blake3::Hash::from_bytes(*stored);
    matches && expires_at > now
}

/// Current Unix time in seconds.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A freshly drawn token for an issue call: id + secret from one 48-byte getrandom call, and
/// the record to store.
pub struct NewToken {
    /// What the caller gets back.
    pub token: IssuedToken,
    /// blake3(secret).
    pub secret_hash: [u8; 32],
    /// Creation time.
    pub created_at: u64,
    /// Expiry time.
    pub expires_at: u64,
}

impl NewToken {
    /// Draws id and secret and computes the hash and times for `req`.
    pub fn draw(req: &IssueRequest) -> Result<Self> {
        let mut buf = [0u8; 48];
        getrandom::fill(&mut buf).map_err(|e| anyhow::anyhow!("getrandom failed: {e}"))?;
        let mut id: TokenId = [0; 16];
        let mut secret: Secret = [0; 32];
        id.copy_from_slice(&buf[..16]);
        secret.copy_from_slice(&buf[16..]);
        let created_at = now_secs();
        Ok(NewToken {
            token: IssuedToken { id, secret },
            secret_hash: *blake3::hash(&secret).as_bytes(),
            created_at,
            expires_at: created_at + req.ttl_secs,
        })
    }

    /// The record to store for this token.
    pub fn record<'a>(&self, req: &'a IssueRequest) -> Record<'a> {
        Record {
            secret_hash: self.secret_hash,
            created_at: self.created_at,
            expires_at: self.expires_at,
            flags: req.flags,
            tenant: req.tenant,
            subject: req.subject,
            scope: req.scope,
        }
    }
}
