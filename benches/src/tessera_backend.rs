//! tessera itself, through its public API. Only two things go around it: the untimed bulk load
//! of preloaded tokens (whose ids and secrets the harness drew) and forming the token text that
//! a client would present from an (id, secret) pair, both through `tessera::support`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use tessera::support::{self, Preloaded};
use tessera::{IssueRequest as Request, Kind, Options, Store, Timestamp, TokenId as Id};

use crate::backend::{
    Backend, BackendInfo, IssueRequest, IssuedToken, Issuer, OpenArgs, Secret, TokenId, TokenSpec,
    Verifier,
};

/// Registry entry.
pub const INFO: BackendInfo = BackendInfo {
    name: "tessera",
    label: "tessera",
    needs_redis: false,
    open,
};

fn open(args: &OpenArgs<'_>) -> Result<Box<dyn Backend>> {
    let path = args.dir.join("tokens.redb");
    let store = Store::open(&path, Options::new()).map_err(|e| anyhow!("opening tessera: {e}"))?;
    Ok(Box::new(Tessera { store, path }))
}

/// Tokens per bulk-load transaction.
const LOAD_CHUNK: usize = 10_000;

/// The tessera store of one round.
pub struct Tessera {
    store: Store,
    path: PathBuf,
}

fn secs(t: u64) -> Timestamp {
    Timestamp::from_unix_millis(t as i64 * 1000)
}

fn request(tenant: u32, subject: u64, scope: &str) -> Request {
    Request::session(format!("user-{subject}"))
        .tenant(format!("tenant-{tenant}"))
        // The workload's scope string is an OAuth-style space-separated list.
        .scopes(scope.split(' '))
        .no_idle_timeout()
        .no_max_lifetime()
}

impl Backend for Tessera {
    /// In transactions of [`LOAD_CHUNK`] tokens: the records of a transaction are all in memory
    /// at once, and a larger chunk only raised the peak memory of the round.
    fn load(&mut self, batch: &[TokenSpec]) -> Result<()> {
        for chunk in batch.chunks(LOAD_CHUNK) {
            let tokens = chunk
                .iter()
                .map(|s| Preloaded {
                    request: request(s.tenant, s.subject, s.scope),
                    id: s.id,
                    secret: s.secret,
                    created_at: secs(s.created_at),
                    expires_at: Some(secs(s.expires_at)),
                })
                .collect();
            support::load(&self.store, tokens).map_err(|e| anyhow!("tessera load: {e}"))?;
        }
        Ok(())
    }

    /// A bulk load in large transactions leaves about half of the file as free pages (each
    /// batch copies most of the trees): compacting once, as an operator does after an import
    /// (`tessera compact`), gives the steady-state size.
    fn finish_load(&mut self) -> Result<()> {
        self.store
            .compact()
            .map_err(|e| anyhow!("tessera compact: {e}"))?;
        Ok(())
    }

    fn verifier(&self) -> Result<Box<dyn Verifier + Send>> {
        Ok(Box::new(Handle(self.store.clone())))
    }

    fn issuer(&self) -> Result<Box<dyn Issuer + Send>> {
        Ok(Box::new(Handle(self.store.clone())))
    }

    fn revoke(&mut self, id: &TokenId) -> Result<bool> {
        let n = self
            .store
            .revoke(Id::from_bytes(*id))
            .map_err(|e| anyhow!("tessera revoke: {e}"))?;
        Ok(n == 1)
    }

    fn revoke_subject(&mut self, subject: u64) -> Result<u64> {
        let n = self
            .store
            .revoke_subject(&format!("user-{subject}"), None)
            .map_err(|e| anyhow!("tessera revoke_subject: {e}"))?;
        Ok(n as u64)
    }

    fn purge_expired(&mut self, _now: u64) -> Result<u64> {
        let n = self
            .store
            .purge_expired()
            .map_err(|e| anyhow!("tessera purge: {e}"))?;
        Ok(n as u64)
    }

    fn disk_bytes(&self) -> Result<u64> {
        Ok(std::fs::metadata(&self.path)
            .with_context(|| format!("stat {}", self.path.display()))?
            .len())
    }

    fn commits(&self) -> u64 {
        self.store.commits()
    }

    fn reports_commits(&self) -> bool {
        true
    }

    fn revoke_keeps_tombstones(&self) -> bool {
        true
    }
}

struct Handle(Store);

impl Verifier for Handle {
    fn verify(&mut self, id: &TokenId, secret: &Secret) -> Result<bool> {
        // What the client presents: the token text (encoding it is client-side work, counted
        // against tessera here).
        let mut text = [0u8; tessera::MAX_TOKEN_LEN];
        let n = support::token_text(&self.0, Kind::Session, id, secret, &mut text)
            .map_err(|e| anyhow!("tessera token text: {e}"))?;
        let outcome = self
            .0
            .verify(&text[..n])
            .map_err(|e| anyhow!("tessera verify: {e}"))?;
        Ok(outcome.is_valid())
    }
}

impl Issuer for Handle {
    fn issue(&mut self, req: &IssueRequest) -> Result<IssuedToken> {
        let issued = self
            .0
            .issue(
                &request(req.tenant, req.subject, req.scope).ttl(Duration::from_secs(req.ttl_secs)),
            )
            .map_err(|e| anyhow!("tessera issue: {e}"))?;
        let text = issued.token.as_str();
        Ok(IssuedToken {
            id: *issued.record.id.as_bytes(),
            secret: secret_of(text)?,
        })
    }
}

/// The secret inside a token text: 4 base62 blocks of 11 digits after the 22-digit id.
fn secret_of(text: &str) -> Result<Secret> {
    let body = text
        .len()
        .checked_sub(72)
        .and_then(|at| text.get(at..))
        .ok_or_else(|| anyhow!("token text too short"))?;
    let mut out = [0u8; 32];
    for (i, block) in body.as_bytes()[22..66].chunks(11).enumerate() {
        let mut v: u64 = 0;
        for &c in block {
            let d = match c {
                b'0'..=b'9' => c - b'0',
                b'A'..=b'Z' => c - b'A' + 10,
                b'a'..=b'z' => c - b'a' + 36,
                _ => bail!("not base62"),
            };
            v = v
                .checked_mul(62)
                .and_then(|v| v.checked_add(u64::from(d)))
                .ok_or_else(|| anyhow!("block overflow"))?;
        }
        out[i * 8..i * 8 + 8].copy_from_slice(&v.to_be_bytes());
    }
    Ok(out)
}
