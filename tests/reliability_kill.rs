//! kill -9: a child process (this test binary, re-executed) issues, verifies, rotates and
//! revokes on a store file, and reports each operation on stdout before it starts ("…ING") and
//! after it returned ("…ED"). The parent kills it with SIGKILL at random moments (also while it
//! opens and repairs the store), reopens the store and checks that no acknowledged operation
//! was lost, that only the one operation in flight may have landed (whole or not at all), that
//! nothing is half-applied, and that the integrity check passes. Then the next child carries on
//! with the same file.
//!
//! The operations: issue, revoke (by text or id: a session's whole rotation family, with the
//! children of each generation), revoke a subject, one-time tokens and their use, rotation,
//! child tokens, and epochs (revoke everything of a subject issued before an instant).
//!
//! `TESSERA_RELIABILITY_LONG=1` for the long version, `TESSERA_SEED` to replay.

mod reliability;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reliability::{percentile, scale3, seed, Rng};
use tessera::{IssueRequest, Options, Record, Rejection, RevokeScope, Store, TokenId, TokenState};

const SUBJECTS: usize = 6;

/// How the child and the parent open the store. The grace window of a rotated generation is
/// over almost at once: when the parent checks, every generation rotated from is past it (it
/// answers as rotated out), whatever the moment of the kill.
fn options() -> Options {
    Options::new().rotation_grace(Duration::from_millis(1))
}

/// A session the child may present. Never a generation it rotated: presenting that after its
/// grace window is a reuse, which revokes the whole family.
#[derive(Clone)]
struct Mine {
    text: String,
    id: TokenId,
    subject: String,
}

/// The child: runs only when re-executed by the parent with `TESSERA_KILL_CHILD=<path>`.
#[test]
fn kill_child() {
    let Ok(path) = std::env::var("TESSERA_KILL_CHILD") else {
        return;
    };
    let seed: u64 = std::env::var("TESSERA_KILL_SEED").unwrap().parse().unwrap();
    let mut rng = Rng::new(seed);
    let out = std::io::stdout();
    let say = |line: String| {
        let mut o = out.lock();
        o.write_all(line.as_bytes()).unwrap();
        o.write_all(b"\n").unwrap();
        o.flush().unwrap();
    };
    let store = Store::open(&path, options()).unwrap();
    // The write journal's length after an acknowledgment: what its fdatasync made durable.
    let journal = format!("{path}.journal");
    let jlen = || journal_end(std::path::Path::new(&journal));
    // After a newline: the test harness has printed "test kill_child ... " without one.
    say("\nREADY".into());
    // The sessions issued by this child: the newest generation of each (see `Mine`).
    let mut mine: Vec<Mine> = Vec::new();
    // One-time tokens (max_uses 1) issued and not used yet.
    let mut once: Vec<(String, TokenId)> = Vec::new();
    loop {
        let roll = rng.below(100);
        if mine.is_empty() || roll < 40 {
            let subject = format!("s{}", rng.below(SUBJECTS as u64));
            say(format!("ISSUING {subject}"));
            let t = store.issue(&IssueRequest::session(&subject)).unwrap();
            say(format!("ISSUED {subject} {} J{}", t.token.as_str(), jlen()));
            mine.push(Mine {
                text: t.token.as_str().to_owned(),
                id: t.record.id,
                subject,
            });
        } else if roll < 60 {
            let m = &mine[rng.index(mine.len())];
            say(format!("REVOKING {}", m.id));
            if rng.chance(1, 2) {
                store.revoke(m.text.as_str()).unwrap();
            } else {
                store.revoke(m.id).unwrap();
            }
            say(format!("REVOKED {} J{}", m.id, jlen()));
        } else if roll < 64 {
            let subject = format!("s{}", rng.below(SUBJECTS as u64));
            say(format!("REVOKING_SUBJECT {subject}"));
            store.revoke_subject(&subject, None).unwrap();
            say(format!("REVOKED_SUBJECT {subject} J{}", jlen()));
        } else if roll < 69 {
            // A one-time link: its use is counted durably before verify answers.
            if let Some((text, id)) = once.pop() {
                say(format!("USING {id}"));
                assert!(store.verify(text.as_str()).unwrap().is_valid());
                say(format!("USED {id} J{}", jlen()));
            } else {
                say("ISSUING_ONCE".into());
                let t = store
                    .issue(&IssueRequest::session(ONCE).max_uses(1))
                    .unwrap();
                say(format!("ISSUED_ONCE {} J{}", t.token.as_str(), jlen()));
                once.push((t.token.as_str().to_owned(), t.record.id));
            }
        } else if roll < 88 {
            // Rotates a live session, or issues a child of one (a revoked or killed one is
            // refused). Verify says which are live; for a session it writes nothing to the file.
            let Some(i) = (0..4)
                .map(|_| rng.index(mine.len()))
                .find(|&i| store.verify(mine[i].text.as_str()).unwrap().is_valid())
            else {
                continue;
            };
            let m = mine[i].clone();
            if roll < 80 {
                say(format!("ROTATING {}", m.id));
                let t = store.rotate(m.text.as_str()).unwrap();
                say(format!("ROTATED {} {} J{}", m.id, t.token.as_str(), jlen()));
                // From now on only the successor is presented.
                mine[i] = Mine {
                    text: t.token.as_str().to_owned(),
                    id: t.record.id,
                    subject: m.subject,
                };
            } else {
                say(format!("ISSUING_CHILD {}", m.id));
                let request = IssueRequest::session(&m.subject);
                let child = if rng.chance(1, 2) {
                    store.issue_child(m.text.as_str(), &request)
                } else {
                    store.issue_child(m.id, &request)
                };
                let t = child.unwrap().issued;
                say(format!(
                    "ISSUED_CHILD {} {} J{}",
                    m.id,
                    t.token.as_str(),
                    jlen()
                ));
                mine.push(Mine {
                    text: t.token.as_str().to_owned(),
                    id: t.record.id,
                    subject: m.subject,
                });
            }
        } else if roll < 90 {
            // An epoch: every token of the subject acknowledged so far was issued strictly
            // before the cutoff (whole milliseconds apart), every later one at or after it.
            let subject = format!("s{}", rng.below(SUBJECTS as u64));
            say(format!("EPOCHING {subject}"));
            std::thread::sleep(Duration::from_millis(2));
            let cutoff = store.now();
            store
                .revoke_issued_before(RevokeScope::Subject(subject.clone()), cutoff)
                .unwrap();
            std::thread::sleep(Duration::from_millis(2));
            say(format!("EPOCHED {subject} J{}", jlen()));
        } else {
            let m = &mine[rng.index(mine.len())];
            let _ = store.verify(m.text.as_str()).unwrap();
        }
    }
}

/// Where the write journal's records end: the file is preallocated (zeros past its last
/// record), so its length says nothing. Walks the record headers (`magic u32 | payload length
/// u32 | CRC-32 u32`, little-endian, see `src/journal.rs`) from the start.
fn journal_end(path: &std::path::Path) -> u64 {
    use std::io::{Read, Seek, SeekFrom};
    const MAGIC: u32 = 0x7453_4a31;
    let Ok(mut file) = std::fs::File::open(path) else {
        return 0;
    };
    let mut end = 0u64;
    let mut header = [0u8; 12];
    while file.seek(SeekFrom::Start(end)).is_ok() && file.read_exact(&mut header).is_ok() {
        let word = |i: usize| u32::from_le_bytes(header[i..i + 4].try_into().unwrap());
        if word(0) != MAGIC {
            break;
        }
        end += 12 + u64::from(word(4));
    }
    end
}

/// The subject of the one-time tokens (apart from the `s<N>` subjects the model lists).
const ONCE: &str = "once";

/// A session token the parent knows of: acknowledged by the child (with its text), or a "ghost"
/// whose issue, child issue or rotation was in flight at a kill and landed (its text never
/// reached the parent).
#[derive(Clone)]
struct Tok {
    text: Option<String>,
    subject: String,
    /// The token it was issued under; a rotation successor keeps its predecessor's.
    parent: Option<TokenId>,
    /// The generation it was rotated from.
    prev: Option<TokenId>,
    /// The generation rotated from it.
    successor: Option<TokenId>,
    /// Its record is marked revoked: by an acknowledged revocation of it, of another generation
    /// of its family, of an ancestor, or of its subject.
    revoked: bool,
    /// An acknowledged epoch of its subject was cut after it (or an ancestor) was issued (a
    /// later generation counts as issued with its family's first): dead, but its record is not
    /// marked.
    killed: bool,
}

impl Tok {
    fn new(text: Option<&str>, subject: &str, parent: Option<TokenId>) -> Tok {
        Tok {
            text: text.map(str::to_owned),
            subject: subject.to_owned(),
            parent,
            prev: None,
            successor: None,
            revoked: false,
            killed: false,
        }
    }

    /// Valid now (when the parent checks, every rotated generation is past its grace window).
    fn live(&self) -> bool {
        !self.revoked && !self.killed && self.successor.is_none()
    }

    /// What `Store::state` says of it.
    fn state(&self) -> TokenState {
        if self.revoked || self.killed {
            TokenState::Revoked
        } else if self.successor.is_some() {
            TokenState::Expired
        } else {
            TokenState::Live
        }
    }

    fn describe(&self) -> String {
        let mut d = vec![self.subject.clone()];
        d.extend(self.revoked.then(|| "revoked".to_owned()));
        d.extend(self.killed.then(|| "killed by an epoch".to_owned()));
        if self.live() {
            d.push("valid".into());
        }
        d.extend(self.parent.map(|p| format!("child of {p}")));
        d.extend(self.prev.map(|p| format!("rotated from {p}")));
        d.extend(self.successor.map(|s| format!("rotated to {s}")));
        if self.text.is_none() {
            d.push("text unknown".into());
        }
        d.join(", ")
    }
}

/// Counts of what the children acknowledged.
#[derive(Clone, Default)]
struct Acked {
    issues: usize,
    revocations: usize,
    uses: usize,
    rotations: usize,
    children: usize,
    epochs: usize,
    /// Tokens that acknowledged revocations revoked through their parent.
    cascaded: usize,
    /// Tokens not revoked that acknowledged epochs ended, and how many of them were rotated
    /// out.
    killed: usize,
    killed_rotated: usize,
}

/// What the parent knows: every acknowledged token, how they are linked, and what acknowledged
/// revocations and epochs did to them.
#[derive(Clone, Default)]
struct Model {
    tokens: BTreeMap<TokenId, Tok>,
    /// The children of each token (every generation of a child's family).
    children: BTreeMap<TokenId, Vec<TokenId>>,
    /// One-time tokens: whether an acknowledged verify used each (a ghost's text is unknown).
    once: BTreeMap<TokenId, bool>,
    acked: Acked,
}

/// An operation of the child, as its "…ING" line names it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Issue(String),
    Revoke(TokenId),
    RevokeSubject(String),
    IssueOnce,
    Use(TokenId),
    Rotate(TokenId),
    IssueChild(TokenId),
    Epoch(String),
}

impl Op {
    fn name(&self) -> &'static str {
        match self {
            Op::Issue(_) => "issue",
            Op::Revoke(_) => "revoke",
            Op::RevokeSubject(_) => "revoke_subject",
            Op::IssueOnce => "issue_once",
            Op::Use(_) => "use",
            Op::Rotate(_) => "rotate",
            Op::IssueChild(_) => "issue_child",
            Op::Epoch(_) => "epoch",
        }
    }
}

fn id_of(text: &str) -> TokenId {
    TokenId::from_bytes(reliability::forge::parts(text).id)
}

impl Model {
    fn insert(&mut self, id: TokenId, t: Tok) {
        if let Some(p) = t.parent {
            self.children.entry(p).or_default().push(id);
        }
        assert!(
            self.tokens.insert(id, t).is_none(),
            "token {id} issued twice"
        );
    }

    fn issue(&mut self, id: TokenId, text: Option<&str>, subject: &str) {
        self.insert(id, Tok::new(text, subject, None));
    }

    fn issue_child(&mut self, parent: TokenId, id: TokenId, text: Option<&str>) {
        let subject = self.tokens[&parent].subject.clone();
        self.insert(id, Tok::new(text, &subject, Some(parent)));
    }

    /// The successor is of the same subject, under the same parent.
    fn rotate(&mut self, old: TokenId, new: TokenId, text: Option<&str>) {
        let o = self.tokens.get_mut(&old).unwrap();
        assert!(o.successor.is_none(), "token {old} rotated twice");
        o.successor = Some(new);
        let mut t = Tok::new(text, &o.subject.clone(), o.parent);
        t.prev = Some(old);
        self.insert(new, t);
    }

    /// The first generation of a token's family (itself if it was not rotated from another).
    fn root(&self, mut id: TokenId) -> TokenId {
        while let Some(p) = self.tokens[&id].prev {
            id = p;
        }
        id
    }

    /// Every generation of a token's rotation family, oldest first.
    fn generations(&self, id: TokenId) -> Vec<TokenId> {
        let mut all = Vec::new();
        let mut next = Some(self.root(id));
        while let Some(g) = next {
            all.push(g);
            next = self.tokens[&g].successor;
        }
        all
    }

    /// Marks a token and its descendants with `mark`; returns those it newly marked.
    fn mark_tree(&mut self, id: TokenId, mark: fn(&mut Tok) -> &mut bool) -> Vec<TokenId> {
        let mut marked = Vec::new();
        let mut stack = vec![id];
        while let Some(i) = stack.pop() {
            let flag = mark(self.tokens.get_mut(&i).unwrap());
            if !*flag {
                *flag = true;
                marked.push(i);
            }
            stack.extend(self.children.get(&i).into_iter().flatten().copied());
        }
        marked
    }

    /// `Store::revoke`: every generation of the family, each with its descendants. Returns
    /// how many tokens it revoked through their parent.
    fn revoke(&mut self, id: TokenId) -> usize {
        let mut cascaded = 0;
        for g in self.generations(id) {
            cascaded += self
                .mark_tree(g, |t| &mut t.revoked)
                .iter()
                .filter(|&&i| i != g)
                .count();
        }
        cascaded
    }

    /// `Store::revoke_subject`: every token of the subject (every generation), with their
    /// descendants.
    fn revoke_subject(&mut self, subject: &str) {
        for id in self.of_subject(subject) {
            self.mark_tree(id, |t| &mut t.revoked);
        }
    }

    /// An epoch of the subject cut after every token it has now: kills them (every generation
    /// of a family, since each counts as issued with the first), and their descendants through
    /// them. Returns how many it ended that were not revoked, and how many of those were
    /// rotated out.
    fn epoch(&mut self, subject: &str) -> (usize, usize) {
        let mut killed = Vec::new();
        for id in self.of_subject(subject) {
            killed.extend(self.mark_tree(id, |t| &mut t.killed));
        }
        let ended: Vec<&Tok> = killed
            .iter()
            .map(|id| &self.tokens[id])
            .filter(|t| !t.revoked)
            .collect();
        let rotated = ended.iter().filter(|t| t.successor.is_some()).count();
        (ended.len(), rotated)
    }

    fn of_subject(&self, subject: &str) -> Vec<TokenId> {
        self.tokens
            .iter()
            .filter(|(_, t)| t.subject == subject)
            .map(|(id, _)| *id)
            .collect()
    }

    fn use_once(&mut self, id: TokenId) {
        *self.once.get_mut(&id).unwrap() = true;
    }

    /// Applies the complete lines of one child; returns the operation in flight and the length
    /// of the write journal at the last acknowledgment (durable: acknowledged after its sync).
    fn apply(&mut self, lines: &[String]) -> (Option<Op>, u64) {
        let mut flight = None;
        let mut journal = 0;
        for l in lines {
            if let Some(j) = l.rsplit(' ').next().and_then(|w| w.strip_prefix('J')) {
                journal = j.parse().unwrap_or(journal);
            }
            let w: Vec<&str> = l.split(' ').collect();
            let id = |i: usize| -> TokenId { w[i].parse().unwrap() };
            let before = flight.take();
            match w.as_slice() {
                ["ISSUING", s] => flight = Some(Op::Issue(s.to_string())),
                ["ISSUED", s, text, _] => {
                    self.issue(id_of(text), Some(text), s);
                    self.acked.issues += 1;
                }
                ["REVOKING", _] => flight = Some(Op::Revoke(id(1))),
                ["REVOKED", _, _] => {
                    self.acked.cascaded += self.revoke(id(1));
                    self.acked.revocations += 1;
                }
                ["REVOKING_SUBJECT", s] => flight = Some(Op::RevokeSubject(s.to_string())),
                ["REVOKED_SUBJECT", s, _] => {
                    self.revoke_subject(s);
                    self.acked.revocations += 1;
                }
                ["ISSUING_ONCE"] => flight = Some(Op::IssueOnce),
                ["ISSUED_ONCE", text, _] => {
                    self.once.insert(id_of(text), false);
                    self.acked.issues += 1;
                }
                ["USING", _] => flight = Some(Op::Use(id(1))),
                ["USED", _, _] => {
                    self.use_once(id(1));
                    self.acked.uses += 1;
                }
                ["ROTATING", _] => flight = Some(Op::Rotate(id(1))),
                ["ROTATED", _, text, _] => {
                    self.rotate(id(1), id_of(text), Some(text));
                    self.acked.rotations += 1;
                }
                ["ISSUING_CHILD", _] => flight = Some(Op::IssueChild(id(1))),
                ["ISSUED_CHILD", _, text, _] => {
                    self.issue_child(id(1), id_of(text), Some(text));
                    self.acked.children += 1;
                }
                ["EPOCHING", s] => flight = Some(Op::Epoch(s.to_string())),
                ["EPOCHED", s, _] => {
                    let (killed, rotated) = self.epoch(s);
                    self.acked.killed += killed;
                    self.acked.killed_rotated += rotated;
                    self.acked.epochs += 1;
                }
                ["READY"] => {}
                [verb, ..]
                    if !verb.is_empty()
                        && verb.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') =>
                {
                    panic!("the child printed a line the parent does not know: {l:?}")
                }
                // The test harness's own lines.
                _ => flight = before,
            }
        }
        (flight, journal)
    }

    /// Checks the reopened store against this model, exactly; returns a description of the
    /// first difference.
    fn check(&self, store: &Store, seen: &Seen) -> Result<(), String> {
        // The same tokens stored (rotated-out generations and children included), no more.
        let known = |id: &TokenId| self.tokens.contains_key(id) || self.once.contains_key(id);
        if let Some(id) = seen.records.keys().find(|id| !known(id)) {
            return Err(format!("an unknown token {id} is stored"));
        }
        // Records first: a text is presented only once its token's record is as expected (the
        // text of a rotated-out generation never is: that would be a reuse, revoking the
        // family).
        for (id, t) in &self.tokens {
            let r = seen.records.get(id).ok_or_else(|| {
                format!("token {id} ({}): acknowledged, not stored", t.describe())
            })?;
            let family = t.prev.map(|_| self.root(*id));
            let successor = r.successor.map(|s| s.id);
            if successor != t.successor
                || r.revoked.is_some() != t.revoked
                || r.parent != t.parent
                || r.family != family
                || r.subject.as_deref() != Some(t.subject.as_str())
            {
                return Err(format!(
                    "token {id} ({}): stored with successor {successor:?}, revoked {:?}, parent \
                     {:?}, family {:?}, subject {:?}",
                    t.describe(),
                    r.revoked,
                    r.parent,
                    r.family,
                    r.subject
                ));
            }
            let listed = seen.listed.contains(id);
            if listed != t.live() {
                return Err(format!(
                    "token {id} ({}): {}listed",
                    t.describe(),
                    if listed { "" } else { "not " }
                ));
            }
        }
        // A one-time token's acknowledged use stays spent (read from its record: a verify would
        // spend an unused one).
        for (id, used) in &self.once {
            let r = seen
                .records
                .get(id)
                .ok_or_else(|| format!("one-time token {id}: acknowledged, not stored"))?;
            let listed = seen.once_listed.contains(id);
            if r.uses != u64::from(*used)
                || r.max_uses != Some(1)
                || r.subject.as_deref() != Some(ONCE)
                || r.revoked.is_some()
                || listed == *used
            {
                return Err(format!(
                    "one-time token {id}: acknowledged {}, stored with {} of {:?} uses, subject \
                     {:?}, revoked {:?}, {}listed",
                    if *used { "used" } else { "unused" },
                    r.uses,
                    r.max_uses,
                    r.subject,
                    r.revoked,
                    if listed { "" } else { "not " }
                ));
            }
        }
        let mut listed = seen.listed.iter().chain(&seen.once_listed);
        if let Some(id) = listed.find(|id| !known(id)) {
            return Err(format!("an unknown token {id} is listed"));
        }
        if seen.counted != seen.records.len() {
            return Err(format!(
                "stats count {} tokens, {} are stored",
                seen.counted,
                seen.records.len()
            ));
        }
        // The state of the tokens whose text is not presented (by id): rotated-out generations
        // (expired, or revoked when revoked or killed) and ghosts.
        for (id, t) in &self.tokens {
            if t.text.is_none() || t.successor.is_some() {
                let state = store.state(*id).map_err(|e| format!("state: {e}"))?;
                if state != Some(t.state()) {
                    return Err(format!("token {id} ({}): state {state:?}", t.describe()));
                }
            }
        }
        // Then the texts (every record matched: none of these was rotated).
        for (id, t) in &self.tokens {
            let Some(text) = t.text.as_deref().filter(|_| t.successor.is_none()) else {
                continue;
            };
            let got = store.verify(text).map_err(|e| format!("verify: {e}"))?;
            match (got.rejection(), t.live()) {
                (None, true) | (Some(Rejection::Revoked), false) => {}
                (other, _) => {
                    return Err(format!(
                        "token {id} ({}): verify says {other:?}",
                        t.describe()
                    ))
                }
            }
        }
        Ok(())
    }
}

/// What the reopened store holds, lists and counts, read once for the checks of both outcomes
/// of the operation in flight.
struct Seen {
    /// Every stored record (live, expired and revoked), from one snapshot.
    records: BTreeMap<TokenId, Record>,
    /// The live tokens of the subjects `s<N>`.
    listed: BTreeSet<TokenId>,
    /// The live one-time tokens.
    once_listed: BTreeSet<TokenId>,
    /// The tokens that `stats` counts.
    counted: usize,
}

impl Seen {
    fn read(store: &Store) -> Result<Seen, String> {
        match store.check_integrity() {
            Ok(true) => {}
            other => return Err(format!("check_integrity: {other:?}")),
        }
        let mut records = BTreeMap::new();
        store
            .export(|t| {
                records.insert(t.record.id, t.record);
                Ok(())
            })
            .map_err(|e| format!("export: {e}"))?;
        let list = |subject: &str| -> Result<Vec<TokenId>, String> {
            Ok(store
                .list_subject(subject)
                .map_err(|e| format!("list: {e}"))?
                .iter()
                .map(|r| r.id)
                .collect())
        };
        let mut listed = BTreeSet::new();
        for s in 0..SUBJECTS {
            listed.extend(list(&format!("s{s}"))?);
        }
        Ok(Seen {
            records,
            listed,
            once_listed: list(ONCE)?.into_iter().collect(),
            counted: store.stats().map_err(|e| e.to_string())?.all.total() as usize,
        })
    }
}

/// Checks the reopened store: it must hold exactly what the acknowledged operations made, or
/// that with the operation in flight landed whole (never a part of it). Returns the model with
/// the operation landed if it did, so that the next cycle starts from the store's truth.
fn settle(model: &Model, store: &Store, flight: Option<&Op>) -> Result<Option<Model>, String> {
    let seen = Seen::read(store)?;
    let Some(op) = flight else {
        return model.check(store, &seen).map(|()| None);
    };
    let not_landed = match model.check(store, &seen) {
        Ok(()) => return Ok(None),
        Err(e) => e,
    };
    // What the store holds if the operation landed. A token it made is stored; a rotation's
    // successor is named by the old generation's record.
    let unknown = seen
        .records
        .keys()
        .find(|id| !model.tokens.contains_key(id) && !model.once.contains_key(id))
        .copied();
    let with = |f: &dyn Fn(&mut Model)| {
        let mut m = model.clone();
        f(&mut m);
        m
    };
    let landed = match op {
        Op::Issue(s) => unknown.map(|id| with(&|m| m.issue(id, None, s))),
        Op::IssueChild(p) => unknown.map(|id| with(&|m| m.issue_child(*p, id, None))),
        Op::IssueOnce => unknown.map(|id| {
            with(&|m| {
                m.once.insert(id, false);
            })
        }),
        Op::Rotate(old) => seen
            .records
            .get(old)
            .and_then(|r| r.successor)
            .filter(|sc| !model.tokens.contains_key(&sc.id))
            .map(|sc| with(&|m| m.rotate(*old, sc.id, None))),
        Op::Revoke(id) => Some(with(&|m| {
            m.revoke(*id);
        })),
        Op::RevokeSubject(s) => Some(with(&|m| m.revoke_subject(s))),
        Op::Epoch(s) => Some(with(&|m| {
            m.epoch(s);
        })),
        Op::Use(id) => Some(with(&|m| m.use_once(*id))),
    };
    let Some(landed) = landed else {
        return Err(format!(
            "{not_landed} (in flight: {op:?}, which did not land)"
        ));
    };
    match landed.check(store, &seen) {
        Ok(()) => Ok(Some(landed)),
        Err(e) => Err(format!(
            "{not_landed}; or, with the operation in flight ({op:?}) landed: {e}"
        )),
    }
}

fn run(cycles: usize, seed: u64) -> Model {
    let mut rng = Rng::new(seed);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kill.redb");
    let exe = std::env::current_exe().unwrap();
    let mut model = Model::default();
    let mut recovery_ms = Vec::new();
    let mut during_open = 0;
    let mut torn_journals = 0;
    let mut in_flight_landed = 0;
    let mut flights = BTreeMap::<&str, usize>::new();
    for cycle in 0..cycles {
        let mut child = Command::new(&exe)
            .args(["--exact", "kill_child", "--nocapture", "--test-threads=1"])
            .env("TESSERA_KILL_CHILD", &path)
            .env("TESSERA_KILL_SEED", rng.next_u64().to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let errors = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
            text
        });
        let (tx, rx) = mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut lines = Vec::new();
            let mut line = String::new();
            while r.read_line(&mut line).unwrap_or(0) > 0 {
                // A line cut by the kill has no newline: it was never acknowledged.
                if line.ends_with('\n') {
                    let l = line.trim_end().to_owned();
                    let _ = tx.send(l.clone());
                    lines.push(l);
                }
                line.clear();
            }
            lines
        });
        if rng.chance(1, 5) {
            // Kill it while it starts, opens and repairs the store.
            std::thread::sleep(Duration::from_micros(rng.below(15_000)));
            during_open += 1;
        } else {
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                match rx.recv_timeout(Duration::from_millis(100)) {
                    Ok(l) if l == "READY" => break,
                    Ok(_) => {}
                    Err(_) if Instant::now() < deadline => {}
                    Err(e) => panic!("cycle {cycle}: the child never got ready: {e}"),
                }
            }
            std::thread::sleep(Duration::from_micros(rng.below(80_000)));
        }
        child.kill().unwrap();
        let status = child.wait().unwrap();
        let lines = reader.join().unwrap();
        let errors = errors.join().unwrap();
        // The kill must be what ended the child: a failed call (its unwrap), a panic or an exit
        // of its own before the kill is a failure of the store, not a crash to recover from.
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9),
            "cycle {cycle} (seed {seed}): the child ended before the kill ({status}); its last \
             lines: {:?}; its stderr: {}",
            &lines[lines.len().saturating_sub(3)..],
            errors
        );
        let (flight, journal_durable) = model.apply(&lines);
        // Power loss of the journal's unsynced tail: cut it, or damage a byte of it, past what
        // the last acknowledgment's fdatasync covered.
        let journal = dir.path().join("kill.redb.journal");
        let current = journal_end(&journal);
        if current > journal_durable && rng.chance(1, 2) {
            let at = journal_durable + rng.below(current - journal_durable);
            let mut bytes = std::fs::read(&journal).unwrap();
            if rng.chance(1, 2) {
                bytes.truncate(at as usize);
            } else {
                bytes[at as usize] ^= 1 << rng.below(8);
            }
            std::fs::write(&journal, &bytes).unwrap();
            torn_journals += 1;
        }
        // A rotation just before the kill: its grace window (1 ms) is over by the check.
        std::thread::sleep(Duration::from_millis(2));
        let t0 = Instant::now();
        let store = Store::open(&path, options())
            .unwrap_or_else(|e| panic!("cycle {cycle} (seed {seed}): reopen failed: {e}"));
        recovery_ms.push(t0.elapsed().as_secs_f64() * 1000.0);
        match settle(&model, &store, flight.as_ref()) {
            Ok(landed) => {
                if let Some(op) = &flight {
                    *flights.entry(op.name()).or_default() += 1;
                }
                if let Some(m) = landed {
                    model = m;
                    in_flight_landed += 1;
                }
            }
            Err(m) => panic!(
                "kill -9 cycle {cycle} (seed {seed}): {m}; the child's last lines: {:?}",
                &lines[lines.len().saturating_sub(3)..]
            ),
        }
        drop(store);
    }
    recovery_ms.sort_by(f64::total_cmp);
    let a = &model.acked;
    eprintln!(
        "kill -9: {cycles} kills ({during_open} while opening; {torn_journals} with the write \
         journal's unsynced tail cut or damaged); checked after every kill: {} acknowledged \
         issues, {} child issues, {} rotations, {} revocations ({} tokens revoked through \
         their parent), {} epochs (ending {} tokens, {} of them rotated out) and {} uses of \
         one-time tokens, 0 lost, 0 half-applied; operations in flight at the kill: \
         {flights:?}, {in_flight_landed} of them landed; recovery (reopen) p50 {:.1} ms, p99 \
         {:.1} ms, max {:.1} ms",
        a.issues,
        a.children,
        a.rotations,
        a.revocations,
        a.cascaded,
        a.epochs,
        a.killed,
        a.killed_rotated,
        a.uses,
        percentile(&recovery_ms, 50.0),
        percentile(&recovery_ms, 99.0),
        percentile(&recovery_ms, 100.0),
    );
    model
}

#[test]
fn kill_9_loses_no_acknowledged_operation() {
    let seed = seed("kill -9");
    let model = run(scale3(100, 2000, 10_000), seed);
    let a = &model.acked;
    assert!(a.issues > 0, "the children acknowledged nothing");
    assert!(
        a.rotations > 0 && a.children > 0 && a.epochs > 0 && a.cascaded > 0,
        "the children acknowledged no rotation, child issue, cascade or epoch"
    );
}
