//! Revocation: one token (by its text or its id), all of a subject's tokens (optionally all but
//! one: "log out my other devices"), all of a tenant's.
//!
//! A revoked token keeps its row as a tombstone, so that verify answers "revoked" rather than
//! "unknown", until [`crate::Options::revoked_retention`] has passed and the purge removes it.
//! Every revocation is durable when the call returns and is seen by every verify that starts
//! after that.

use crate::error::{Error, Result};
use crate::record::{Kind, RevokeReason, Stored};
use crate::store::Inner;
use crate::token_text::{MalformedReason, TokenId, TokenText};
use crate::verify::{secret_hash, Rejection};
use crate::write::{Commit, Tx};

/// A token named by its text (proves possession: its secret is checked) or by its public id
/// (an administrative action). Its `Debug` output shows the text's length, never the text.
#[derive(Clone, Copy)]
pub enum TokenRef<'a> {
    /// The token text, as the client presented it.
    Text(&'a [u8]),
    /// The public id.
    Id(TokenId),
}

impl std::fmt::Debug for TokenRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenRef::Text(t) => write!(f, "Text({} bytes, redacted)", t.len()),
            TokenRef::Id(id) => f.debug_tuple("Id").field(id).finish(),
        }
    }
}

impl<'a> From<&'a str> for TokenRef<'a> {
    fn from(t: &'a str) -> Self {
        TokenRef::Text(t.as_bytes())
    }
}

impl<'a> From<&'a [u8]> for TokenRef<'a> {
    fn from(t: &'a [u8]) -> Self {
        TokenRef::Text(t)
    }
}

impl<'a> From<&'a TokenText> for TokenRef<'a> {
    fn from(t: &'a TokenText) -> Self {
        TokenRef::Text(t.as_str().as_bytes())
    }
}

impl From<TokenId> for TokenRef<'_> {
    fn from(id: TokenId) -> Self {
        TokenRef::Id(id)
    }
}

impl From<&TokenId> for TokenRef<'_> {
    fn from(id: &TokenId) -> Self {
        TokenRef::Id(*id)
    }
}

/// A [`TokenRef`] after parsing: the id, and the hash of the secret if the text was given.
pub(crate) struct Target {
    id: TokenId,
    hash: Option<[u8; 32]>,
    /// The kind the text's prefix names (when the two kinds' prefixes differ).
    kind: Option<Kind>,
}

impl Target {
    /// The stored token, after checking the secret if one was presented.
    pub(crate) fn load(&self, tx: &Tx<'_, '_>) -> Result<Stored> {
        let found = tx.tables.get(&self.id)?;
        match (found, &self.hash) {
            (None, Some(_)) => Err(Error::Rejected(Rejection::Unknown)),
            (None, None) => Err(Error::NotFound),
            (Some(s), Some(hash)) => {
                tx.inner.judge_secret(&s, hash).map_err(Error::Rejected)?;
                if self.kind.is_some_and(|k| k != s.record.kind) {
                    return Err(Error::Rejected(Rejection::Malformed(
                        MalformedReason::Prefix,
                    )));
                }
                Ok(s)
            }
            (Some(s), None) => Ok(s),
        }
    }

    /// Whether the token's secret was presented (its text), not only its id.
    pub(crate) fn presented(&self) -> bool {
        self.hash.is_some()
    }

    fn reason(&self) -> RevokeReason {
        if self.hash.is_some() {
            RevokeReason::Logout
        } else {
            RevokeReason::ById
        }
    }
}

impl Inner {
    pub(crate) fn resolve(&self, target: TokenRef<'_>) -> Result<Target> {
        Ok(match target {
            TokenRef::Id(id) => Target {
                id,
                hash: None,
                kind: None,
            },
            TokenRef::Text(text) => {
                let p = self.parse(text).map_err(Error::Rejected)?;
                Target {
                    id: p.id,
                    hash: Some(secret_hash(&self.key, &p.id, &p.secret)),
                    kind: self.kind_of_prefix(p.prefix),
                }
            }
        })
    }

    pub(crate) fn revoke(&self, target: TokenRef<'_>) -> Result<usize> {
        let target = self.resolve(target)?;
        self.write(Commit::Durable, move |tx| {
            let old = target.load(tx)?;
            tx.revoke_family(&old, target.reason())
        })
    }

    pub(crate) fn revoke_subject(&self, subject: &str, except: Option<TokenId>) -> Result<usize> {
        let subject = subject.to_owned();
        self.write(Commit::Durable, move |tx| {
            let tokens = tx.tables.of_subject(&subject)?;
            // The kept token and its ancestors ("log out my other devices" from a session that
            // came from a magic link: revoking the link would end the session with it), the
            // generations rotated from it (a request still carrying the previous generation in
            // its grace window: revoking the newest would end the kept one through it), and
            // the generations it was rotated from that are still inside their grace window
            // (requests in flight from the same device still carry them).
            let mut kept = tx.line_ids(except)?;
            if let Some(s) = except.map(|id| tx.tables.get(&id)).transpose()?.flatten() {
                kept.extend(tx.later_generations(&s)?.iter().map(|g| g.record.id));
                for g in tx.earlier_generations(&s)? {
                    if g.record.successor.is_some_and(|sc| tx.now < sc.grace_until) {
                        kept.push(g.record.id);
                    }
                }
            }
            let mut n = 0;
            for s in tokens.iter().filter(|s| !kept.contains(&s.record.id)) {
                // Re-read: a cascade from an earlier one may have revoked it already.
                if let Some(current) = tx.tables.get(&s.record.id)? {
                    n += tx.revoke_tree(&current, RevokeReason::Subject)?;
                }
            }
            Ok(n)
        })
    }

    pub(crate) fn revoke_tenant(&self, tenant: &str) -> Result<usize> {
        let tenant = tenant.to_owned();
        self.write(Commit::Durable, move |tx| {
            let tokens = tx.tables.of_tenant(&tenant)?;
            let mut n = 0;
            for s in &tokens {
                if let Some(current) = tx.tables.get(&s.record.id)? {
                    n += tx.revoke_tree(&current, RevokeReason::Tenant)?;
                }
            }
            Ok(n)
        })
    }
}
