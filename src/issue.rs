//! Issuing and renewing tokens: [`IssueRequest`], [`Issued`], [`Renewed`].

use std::time::Duration;

use crate::clock::{bounded, earliest, Timestamp};
use crate::error::{Error, Result};
use crate::events::{EventKind, NewEvent};
use crate::lifecycle::CapPolicy;
use crate::options::Options;
use crate::record::{Kind, Record, Scopes, Stored};
use crate::store::Inner;
use crate::token_text::{self, TokenId, TokenText};
use crate::verify::secret_hash;
use crate::write::Commit;

/// Most scopes one token may carry (a scope given twice counts once).
pub const MAX_SCOPES: usize = 64;
/// Longest scope, tenant, subject or label, in bytes.
pub const MAX_NAME_LEN: usize = 255;

/// A setting that falls back to the store's default unless given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Setting<T> {
    #[default]
    Default,
    Set(T),
    Off,
}

impl<T: Copy> Setting<T> {
    fn or(self, default: Option<T>) -> Option<T> {
        match self {
            Setting::Default => default,
            Setting::Set(v) => Some(v),
            Setting::Off => None,
        }
    }
}

/// What to issue: built with [`IssueRequest::session`] or [`IssueRequest::api_key`], then
/// refined.
///
/// ```
/// use std::time::Duration;
/// use tessera::IssueRequest;
///
/// let login = IssueRequest::session("user-42")
///     .tenant("acme")
///     .label("Firefox on Linux")
///     .idle_timeout(Duration::from_secs(30 * 60));
/// let key = IssueRequest::api_key("acme")
///     .scope("locations:12")
///     .scope("reports:read")
///     .label("BI export");
/// # drop((login, key));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueRequest {
    kind: Kind,
    tenant: String,
    subject: Option<String>,
    scopes: Vec<String>,
    label: Option<String>,
    metadata: Vec<u8>,
    ttl: Setting<Duration>,
    idle_timeout: Setting<Duration>,
    max_lifetime: Setting<Duration>,
    max_uses: Option<u64>,
}

impl IssueRequest {
    /// A login session for `subject` (the user id), in the default tenant `""`.
    pub fn session(subject: impl Into<String>) -> Self {
        IssueRequest {
            kind: Kind::Session,
            tenant: String::new(),
            subject: Some(subject.into()),
            scopes: Vec::new(),
            label: None,
            metadata: Vec::new(),
            ttl: Setting::Default,
            idle_timeout: Setting::Default,
            max_lifetime: Setting::Default,
            max_uses: None,
        }
    }

    /// An API key owned by `tenant`. It never expires unless a TTL is given (or the store's
    /// default API key TTL is set).
    pub fn api_key(tenant: impl Into<String>) -> Self {
        IssueRequest {
            kind: Kind::ApiKey,
            subject: None,
            tenant: tenant.into(),
            ..IssueRequest::session("")
        }
    }

    /// The tenant (organization).
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = tenant.into();
        self
    }

    /// The subject (user), not empty; for an API key, the user who owns it, if any.
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// Adds a scope.
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scopes.push(scope.into());
        self
    }

    /// Adds scopes.
    pub fn scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scopes.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// A human-readable name.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Opaque bytes for the host, at most [`Options::max_metadata_len`].
    pub fn metadata(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.metadata = bytes.into();
        self
    }

    /// Expires this long after issue (capped by the maximum lifetime).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Setting::Set(ttl);
        self
    }

    /// Never expires (unless a maximum lifetime is set).
    pub fn never_expires(mut self) -> Self {
        self.ttl = Setting::Off;
        self
    }

    /// Dies after this long without a successful verify or renewal.
    pub fn idle_timeout(mut self, t: Duration) -> Self {
        self.idle_timeout = Setting::Set(t);
        self
    }

    /// No idle timeout, whatever the store's default.
    pub fn no_idle_timeout(mut self) -> Self {
        self.idle_timeout = Setting::Off;
        self
    }

    /// Renewals never take the expiry past issue time plus this.
    pub fn max_lifetime(mut self, t: Duration) -> Self {
        self.max_lifetime = Setting::Set(t);
        self
    }

    /// No maximum lifetime, whatever the store's default.
    pub fn no_max_lifetime(mut self) -> Self {
        self.max_lifetime = Setting::Off;
        self
    }

    /// Valid for this many successful verifies (password reset, magic link, invite).
    pub fn max_uses(mut self, n: u64) -> Self {
        self.max_uses = Some(n);
        self
    }

    /// Checks every field and builds the record at `now`.
    pub(crate) fn build(&self, opts: &Options, id: TokenId, now: Timestamp) -> Result<Record> {
        let bad = |m: String| Err(Error::InvalidArgument(m));
        check_name("tenant", &self.tenant, true)?;
        match (&self.subject, self.kind) {
            // Not even a key's: "" would be a subject that revoke_subject("") reaches.
            (Some(s), _) => check_name("subject", s, false)?,
            (None, Kind::Session) => return bad("a session needs a subject".into()),
            (None, _) => {}
        }
        if let Some(l) = &self.label {
            check_name("label", l, true)?;
        }
        // A scope given twice counts once; counting stops at the first one past the limit.
        let mut distinct: Vec<&str> = Vec::new();
        for s in &self.scopes {
            check_scope(s)?;
            if !distinct.contains(&s.as_str()) {
                if distinct.len() == MAX_SCOPES {
                    return bad(format!("at most {MAX_SCOPES} scopes per token"));
                }
                distinct.push(s);
            }
        }
        let scopes = Scopes::from_checked(distinct);
        if self.metadata.len() > opts.max_metadata_len {
            return bad(format!(
                "metadata is {} bytes; the limit is {}",
                self.metadata.len(),
                opts.max_metadata_len
            ));
        }
        let (ttl, idle, max_life) = match self.kind {
            Kind::Session => (
                self.ttl.or(opts.session_ttl),
                self.idle_timeout.or(opts.session_idle_timeout),
                self.max_lifetime.or(opts.session_max_lifetime),
            ),
            Kind::ApiKey => (
                self.ttl.or(opts.api_key_ttl),
                self.idle_timeout.or(None),
                self.max_lifetime.or(None),
            ),
        };
        for (name, d) in [
            ("ttl", ttl),
            ("idle timeout", idle),
            ("max lifetime", max_life),
        ] {
            // Times are kept in milliseconds: less would be stored as zero, a token dead at
            // issue.
            if d.is_some_and(|d| d < Duration::from_millis(1)) {
                return bad(format!("the {name} must be at least 1 ms"));
            }
        }
        if self.max_uses == Some(0) {
            return bad("max_uses must be at least 1".into());
        }
        let (idle, max_life) = (idle.map(bounded), max_life.map(bounded));
        let cap = max_life.map(|m| now.saturating_add(m));
        let expires_at = earliest(ttl.map(|t| now.saturating_add(t)), cap);
        Ok(Record {
            id,
            kind: self.kind,
            tenant: self.tenant.clone(),
            subject: self.subject.clone(),
            scopes,
            label: self.label.clone(),
            metadata: self.metadata.clone(),
            created_at: now,
            expires_at,
            idle_timeout: idle,
            max_lifetime: max_life,
            last_used_at: None,
            uses: 0,
            max_uses: self.max_uses,
            parent: None,
            family: None,
            family_created_at: None,
            successor: None,
            revoked: None,
        })
    }
}

pub(crate) fn check_scope(s: &str) -> Result<()> {
    check_name("scope", s, false)?;
    if s.chars().any(char::is_whitespace) {
        return Err(Error::InvalidArgument(
            "a scope contains no whitespace".into(),
        ));
    }
    Ok(())
}

pub(crate) fn check_name(what: &str, value: &str, may_be_empty: bool) -> Result<()> {
    if value.is_empty() && !may_be_empty {
        return Err(Error::InvalidArgument(format!("the {what} is empty")));
    }
    if value.len() > MAX_NAME_LEN {
        return Err(Error::InvalidArgument(format!(
            "the {what} is {} bytes long; the limit is {MAX_NAME_LEN}",
            value.len()
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::InvalidArgument(format!(
            "the {what} contains a control character"
        )));
    }
    Ok(())
}

/// A newly issued token: its text, shown to its holder once, and its record.
#[derive(Debug)]
pub struct Issued {
    /// The token text. The store keeps only a hash of its secret: this is the only copy.
    pub token: TokenText,
    /// What the store recorded.
    pub record: Record,
}

/// The result of a renewal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renewed {
    /// The token as it is now.
    pub record: Record,
    /// Whether the new expiry was cut short by the token's maximum lifetime.
    pub capped: bool,
}

impl Inner {
    pub(crate) fn issue(&self, req: &IssueRequest) -> Result<Issued> {
        let now = self.opts.clock.now();
        let (id, secret) = token_text::generate(now)?;
        let record = req.build(&self.opts, id, now)?;
        let prefix = match record.kind {
            Kind::Session => &self.opts.session_prefix,
            Kind::ApiKey => &self.opts.api_key_prefix,
        };
        let token = token_text::format(prefix, &id, &secret);
        let stored = Stored {
            record,
            key_version: self.key.version,
            hash: secret_hash(&self.key, &id, &secret),
        };
        drop(secret);
        let record = stored.record.clone();
        // An issue that may evict a token under the subject's cap revokes: durably, whatever
        // the issue durability.
        let evicts = self
            .opts
            .caps
            .get(&record.kind)
            .is_some_and(|&(_, policy)| policy != CapPolicy::Refuse);
        let commit = if evicts && record.subject.is_some() {
            Commit::Durable
        } else {
            Commit::Issue
        };
        self.write(commit, move |tx| tx.insert_new(&stored, true))?;
        Ok(Issued { token, record })
    }

    pub(crate) fn renew(
        &self,
        target: crate::TokenRef<'_>,
        extend_by: Duration,
    ) -> Result<Renewed> {
        if extend_by < Duration::from_millis(1) {
            return Err(Error::InvalidArgument(
                "extend_by must be at least 1 ms (times are kept in milliseconds)".into(),
            ));
        }
        let target = self.resolve(target)?;
        let renewed = self.write(Commit::Durable, move |tx| {
            let old = target.load(tx)?;
            if let Err(why) = tx.judge_target(&old, target.presented())? {
                return Ok(Err(why));
            }
            let r = &old.record;
            if let Some(sc) = r.successor {
                // Renewing a rotated token or a rolled key would bring back what its successor
                // replaced (a rolled key past the grace its roll gave it).
                return Err(Error::InvalidArgument(format!(
                    "this token was replaced by {}: renew that one",
                    sc.id
                )));
            }
            let Some(current) = r.expires_at else {
                return Err(Error::InvalidArgument(
                    "the token never expires: there is nothing to renew".into(),
                ));
            };
            let wanted = tx.now.saturating_add(extend_by);
            let mut cap = r.max_lifetime.map(|m| r.created_at.saturating_add(m));
            // A child never outlives its parent.
            if let Some(parent) = r.parent {
                if let Some(pe) = tx.tables.get(&parent)?.and_then(|p| p.record.expires_at) {
                    cap = Some(cap.map_or(pe, |c| c.min(pe)));
                }
            }
            let capped = cap.is_some_and(|c| wanted > c);
            let new_expiry = cap.map_or(wanted, |c| wanted.min(c)).max(current);
            let mut new = old.clone();
            new.record.expires_at = Some(new_expiry);
            new.record.last_used_at = Some(tx.now);
            tx.tables.put(Some(&old), &new)?;
            tx.event(NewEvent::token(EventKind::Renewed, new.record.id))?;
            Ok(Ok(Renewed {
                record: new.record,
                capped,
            }))
        })?;
        renewed.map_err(Error::Rejected)
    }
}
