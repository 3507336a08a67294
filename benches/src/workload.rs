//! The workload: sizes of each phase, and the dataset, derived deterministically from a
//! per-round seed so that the parent does not have to ship 1,000,000 tokens to each child
//! and the harness keeps almost nothing in memory.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::backend::{IssueRequest, Secret, TokenId, TokenSpec};
use crate::record;

/// Tokens per subject in the preloaded set.
pub const TOKENS_PER_SUBJECT: u64 = 10;
/// Number of tenants.
pub const TENANTS: u64 = 100;
/// Share of the preloaded set that is already expired, in percent.
pub const EXPIRED_PERCENT: u64 = 10;
/// Lifetime of newly issued tokens.
pub const ISSUE_TTL_SECS: u64 = 30 * 86_400;
/// Concurrent writers in the 8-writer issue phase.
pub const WRITERS: usize = 8;
/// Verify threads in the 2-thread phase.
pub const VERIFY_THREADS: usize = 2;
/// Tokens per bulk-load batch.
pub const LOAD_BATCH: usize = 100_000;
/// First subject number used for newly issued tokens (one fresh subject per issued token).
pub const ISSUE_SUBJECT_BASE: u64 = 1 << 40;

/// Scope strings; each is 47 bytes so that a packed record is exactly 114 bytes.
pub const SCOPES: [&str; 4] = [
    "openid profile email tokens:read tokens:write a",
    "openid profile tokens:read billing:read audit:r",
    "tokens:read tokens:write tokens:revoke admin:ro",
    "profile email offline_access sessions:read x:yz",
];

/// Sizes of every phase of a round.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Plan {
    /// Preloaded tokens.
    pub tokens: u64,
    /// Untimed warm-up lookups before the verify phases.
    pub warmup: u64,
    /// Lookups in the 1-thread verify phase.
    pub verify_1t: u64,
    /// Lookups per thread in the 2-thread verify phase.
    pub verify_2t_per_thread: u64,
    /// Total verifies over which commits are counted (backends with a commit counter only).
    pub commit_verifies: u64,
    /// Durable issues with 1 writer.
    pub issue_1w: u64,
    /// Durable issues per writer with 8 concurrent writers.
    pub issue_8w_per_writer: u64,
    /// Single-token durable revokes.
    pub revoke: u64,
    /// Subjects whose 10 tokens are revoked (one durable commit each).
    pub revoke_subjects: u64,
}

impl Plan {
    /// The full run (`tokens` = 1,000,000 unless overridden) or the quick one.
    pub fn new(tokens: u64, quick: bool) -> Self {
        let (verify_1t, verify_2t_per_thread, issue, revoke, revoke_subjects) = if quick {
            (100_000, 50_000, 1_000, 500, 100)
        } else {
            (200_000, 100_000, 2_000, 1_000, 200)
        };
        let subjects = tokens.div_ceil(TOKENS_PER_SUBJECT);
        // Leave most of the set alone: revoke at most a quarter of the subjects, and
        // single tokens from at most a quarter of the rest.
        let revoke_subjects = revoke_subjects.min(subjects / 4);
        let remaining = tokens.saturating_sub(revoke_subjects * TOKENS_PER_SUBJECT);
        Plan {
            tokens,
            warmup: 50_000,
            verify_1t,
            verify_2t_per_thread,
            commit_verifies: 1_000_000,
            issue_1w: issue,
            issue_8w_per_writer: issue / WRITERS as u64,
            revoke: revoke.min(remaining / 4),
            revoke_subjects,
        }
    }
}

/// A small, fast PRNG (SplitMix64) for choosing ids; not for secrets.
pub struct Rng(u64);

impl Rng {
    /// Seeds from 8 bytes of the round seed plus a stream number.
    pub fn new(seed: &[u8; 32], stream: u64) -> Self {
        let mut b = [0u8; 8];
        b.copy_from_slice(&seed[..8]);
        Rng(u64::from_le_bytes(b) ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
}

/// One lookup of a verify phase, prepared before timing.
pub struct Lookup {
    /// Id presented.
    pub id: TokenId,
    /// Secret presented.
    pub secret: Secret,
    /// What a correct store answers.
    pub expect: bool,
}

/// The tokens and subjects removed by the revoke phases.
pub struct RevokePlan {
    /// Subjects whose tokens are all revoked.
    pub subjects: Vec<u64>,
    /// Single tokens revoked (none belongs to one of `subjects`).
    pub ids: Vec<TokenId>,
    /// How many expired tokens the two revoke phases remove (so the purge count is known).
    pub expired_removed: u64,
}

/// The preloaded token set of one round.
pub struct Dataset {
    key: [u8; 32],
    /// Number of preloaded tokens.
    pub tokens: u64,
    /// The time the round's expiry times are relative to.
    pub now: u64,
}

impl Dataset {
    /// The dataset of a round.
    pub fn new(seed: [u8; 32], tokens: u64) -> Self {
        Dataset {
            key: seed,
            tokens,
            now: record::now_secs(),
        }
    }

    /// Token number `i` (0-based) of the preloaded set.
    pub fn spec(&self, i: u64) -> TokenSpec {
        let mut out = [0u8; 64];
        let mut h = blake3::Hasher::new_keyed(&self.key);
        h.update(&i.to_le_bytes());
        h.finalize_xof().fill(&mut out);
        let mut id: TokenId = [0; 16];
        let mut secret: Secret = [0; 32];
        id.copy_from_slice(&out[..16]);
        secret.copy_from_slice(&out[16..48]);
        let word = |at: usize| u32::from_le_bytes([out[at], out[at + 1], out[at + 2], out[at + 3]]);
        let expired = u64::from(word(48)) % 100 < EXPIRED_PERCENT;
        let r1 = u64::from(word(52));
        let r2 = u64::from(word(56));
        let day = 86_400;
        let (created_at, expires_at) = if expired {
            let expires_at = self.now - 60 - r1 % (20 * day);
            (expires_at - 30 * day, expires_at)
        } else {
            (
                self.now - r1 % (30 * day),
                self.now + 3_600 + r2 % (30 * day),
            )
        };
        let subject = i / TOKENS_PER_SUBJECT;
        TokenSpec {
            id,
            secret,
            tenant: (subject % TENANTS) as u32,
            subject,
            created_at,
            expires_at,
            flags: u32::from(out[60] & 0x07),
            scope: SCOPES[usize::from(out[61]) % SCOPES.len()],
        }
    }

    /// Whether token `spec` is expired at the dataset's reference time.
    pub fn expired(&self, spec: &TokenSpec) -> bool {
        spec.expires_at <= self.now
    }

    /// `count` lookups of ids drawn uniformly from the whole preloaded set.
    pub fn lookups(&self, rng: &mut Rng, count: u64) -> Vec<Lookup> {
        (0..count)
            .map(|_| {
                let spec = self.spec(rng.below(self.tokens));
                Lookup {
                    id: spec.id,
                    secret: spec.secret,
                    expect: !self.expired(&spec),
                }
            })
            .collect()
    }

    /// Chooses the subjects and single tokens the revoke phases remove.
    pub fn revoke_plan(&self, rng: &mut Rng, subjects: u64, tokens: u64) -> RevokePlan {
        let mut chosen_subjects = HashSet::new();
        let mut order = Vec::new();
        while (chosen_subjects.len() as u64) < subjects {
            let s = rng.below(self.tokens / TOKENS_PER_SUBJECT);
            if chosen_subjects.insert(s) {
                order.push(s);
            }
        }
        let mut expired_removed = 0;
        for &s in &order {
            for i in s * TOKENS_PER_SUBJECT..(s + 1) * TOKENS_PER_SUBJECT {
                if self.expired(&self.spec(i)) {
                    expired_removed += 1;
                }
            }
        }
        let mut chosen_ids = HashSet::new();
        let mut ids = Vec::new();
        while (ids.len() as u64) < tokens {
            let i = rng.below(self.tokens);
            if chosen_subjects.contains(&(i / TOKENS_PER_SUBJECT)) || !chosen_ids.insert(i) {
                continue;
            }
            let spec = self.spec(i);
            if self.expired(&spec) {
                expired_removed += 1;
            }
            ids.push(spec.id);
        }
        RevokePlan {
            subjects: order,
            ids,
            expired_removed,
        }
    }
}

/// The issue request for the `n`-th newly issued token of writer `writer`.
pub fn issue_request(writer: u64, n: u64) -> IssueRequest {
    let subject = ISSUE_SUBJECT_BASE + (writer << 32) + n;
    IssueRequest {
        tenant: (subject % TENANTS) as u32,
        subject,
        ttl_secs: ISSUE_TTL_SECS,
        flags: 0,
        scope: SCOPES[(n % SCOPES.len() as u64) as usize],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_is_114_bytes() {
        for scope in SCOPES {
            assert_eq!(record::FIXED_LEN + scope.len(), 114, "{scope}");
        }
    }

    #[test]
    fn about_ten_percent_expired() {
        let d = Dataset::new([7; 32], 20_000);
        let expired = (0..d.tokens).filter(|&i| d.expired(&d.spec(i))).count();
        assert!((1_700..2_300).contains(&expired), "{expired}");
    }

    #[test]
    fn revoke_plan_is_disjoint() {
        let d = Dataset::new([3; 32], 10_000);
        let p = d.revoke_plan(&mut Rng::new(&[1; 32], 9), 50, 200);
        assert_eq!(p.subjects.len(), 50);
        assert_eq!(p.ids.len(), 200);
    }
}
