//! Revocation is linearizable: 16 threads mix issue, verify, revoke (by text and by id) and
//! revoke-all (a subject's tokens) on one store, recording every operation with begin and end
//! tickets from one global counter. A checker then proves, per token:
//!
//! * no verify that began after a revocation of that token had completed succeeded;
//! * every verify that began after the issue completed and ended before any revocation that could
//!   touch the token began, succeeded;
//! * the revocation counts add up: the tokens the calls said they revoked are exactly the tokens
//!   the store holds as revoked (none counted twice, none missed).
//!
//! The checker is shown not to be vacuous: flipping one real verify result must be caught.
//!
//! `TESSERA_RELIABILITY_LONG=1` for the long version, `TESSERA_SEED` to replay.

mod reliability;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use reliability::{scale3, seed, Rng};
use tessera::{IssueRequest, Options, Outcome, Rejection, Store, TokenId};

const THREADS: usize = 16;
const SUBJECTS: usize = 8;

static TICKET: AtomicU64 = AtomicU64::new(0);

fn ticket() -> u64 {
    TICKET.fetch_add(1, Ordering::SeqCst)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Valid,
    Revoked,
    Other,
}

#[derive(Debug, Clone)]
enum Ev {
    Issue {
        token: usize,
        b: u64,
        e: u64,
    },
    Verify {
        token: usize,
        b: u64,
        e: u64,
        seen: Seen,
    },
    Revoke {
        token: usize,
        b: u64,
        e: u64,
        n: usize,
    },
    RevokeSubject {
        subject: usize,
        b: u64,
        e: u64,
        n: usize,
    },
}

#[derive(Debug, Clone)]
struct Tok {
    text: String,
    id: TokenId,
    subject: usize,
}

#[derive(Debug, Default)]
struct Verdict {
    violations: Vec<String>,
    after_revoke: usize,
    before_revoke: usize,
    concurrent: usize,
}

/// Checks a history; `subjects[k]` is token k's subject.
fn check(history: &[Ev], subjects: &[usize]) -> Verdict {
    let mut v = Verdict::default();
    let n = subjects.len();
    let mut issue = vec![None; n];
    for ev in history {
        if let Ev::Issue { token, b, e } = ev {
            issue[*token] = Some((*b, *e));
        }
    }
    // Per token: the earliest end of a revocation that certainly covers it, and the earliest
    // begin of one that may.
    let mut definite_end = vec![u64::MAX; n];
    let mut possible_begin = vec![u64::MAX; n];
    for ev in history {
        match ev {
            Ev::Revoke { token, b, e, .. } => {
                let k = *token;
                if issue[k].is_none_or(|(_, ie)| *b < ie) {
                    v.violations.push(format!(
                        "history: revoke of token {k} began before its issue ended"
                    ));
                }
                definite_end[k] = definite_end[k].min(*e);
                possible_begin[k] = possible_begin[k].min(*b);
            }
            Ev::RevokeSubject { subject, b, e, .. } => {
                for k in (0..n).filter(|&k| subjects[k] == *subject) {
                    let Some((ib, ie)) = issue[k] else { continue };
                    if *b > ie {
                        definite_end[k] = definite_end[k].min(*e);
                    }
                    if *e > ib {
                        possible_begin[k] = possible_begin[k].min(*b);
                    }
                }
            }
            _ => {}
        }
    }
    for ev in history {
        let Ev::Verify { token, b, e, seen } = ev else {
            continue;
        };
        let k = *token;
        let Some((_, ie)) = issue[k] else {
            v.violations.push(format!(
                "history: verify of token {k} that was never issued"
            ));
            continue;
        };
        if *seen == Seen::Other {
            v.violations.push(format!(
                "verify of token {k} [{b},{e}] neither valid nor revoked"
            ));
        } else if *b > definite_end[k] {
            v.after_revoke += 1;
            if *seen == Seen::Valid {
                v.violations.push(format!(
                    "verify of token {k} [{b},{e}] succeeded although a revocation completed at \
                     {}",
                    definite_end[k]
                ));
            }
        } else if *b > ie && *e < possible_begin[k] {
            v.before_revoke += 1;
            if *seen != Seen::Valid {
                v.violations.push(format!(
                    "verify of token {k} [{b},{e}] failed although it was issued at {ie} and no \
                     revocation began before {}",
                    possible_begin[k]
                ));
            }
        } else {
            v.concurrent += 1;
        }
    }
    v
}

struct Totals {
    history: Vec<Ev>,
    tokens: Vec<Tok>,
    ops: [usize; 4],
}

fn run(seed: u64, duration: Duration) -> (Store, Totals, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("lin.redb"), Options::new()).unwrap();
    let tokens: RwLock<Vec<Tok>> = RwLock::new(Vec::new());
    let start = Instant::now();
    let per_thread: Vec<(Vec<Ev>, [usize; 4])> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let store = store.clone();
                let tokens = &tokens;
                s.spawn(move || {
                    let mut rng = Rng::new(seed ^ (t as u64).wrapping_mul(0x9E37_79B9));
                    let mut h = Vec::new();
                    let mut ops = [0usize; 4];
                    while start.elapsed() < duration {
                        let known = tokens.read().unwrap().len();
                        let roll = rng.below(100);
                        // Mostly recent tokens, which are more likely to be live.
                        let pick = |rng: &mut Rng| {
                            if rng.chance(7, 10) {
                                known - 1 - rng.index(known.min(64))
                            } else {
                                rng.index(known)
                            }
                        };
                        if known < THREADS || roll < 25 {
                            let subject = rng.index(SUBJECTS);
                            let b = ticket();
                            let issued = store
                                .issue(&IssueRequest::session(format!("s{subject}")))
                                .unwrap();
                            let e = ticket();
                            let mut list = tokens.write().unwrap();
                            let token = list.len();
                            list.push(Tok {
                                text: issued.token.as_str().to_owned(),
                                id: issued.record.id,
                                subject,
                            });
                            h.push(Ev::Issue { token, b, e });
                            ops[0] += 1;
                        } else if roll < 90 {
                            let token = pick(&mut rng);
                            let text = tokens.read().unwrap()[token].text.clone();
                            let b = ticket();
                            let o = store.verify(&text).unwrap();
                            let e = ticket();
                            let seen = match o {
                                Outcome::Valid(_) => Seen::Valid,
                                Outcome::Invalid(Rejection::Revoked) => Seen::Revoked,
                                Outcome::Invalid(_) => Seen::Other,
                            };
                            h.push(Ev::Verify { token, b, e, seen });
                            ops[1] += 1;
                        } else if roll < 99 {
                            let token = pick(&mut rng);
                            let (text, id) = {
                                let l = tokens.read().unwrap();
                                (l[token].text.clone(), l[token].id)
                            };
                            let by_text = rng.chance(1, 2);
                            let b = ticket();
                            let n = if by_text {
                                store.revoke(text.as_str())
                            } else {
                                store.revoke(id)
                            }
                            .unwrap();
                            let e = ticket();
                            h.push(Ev::Revoke { token, b, e, n });
                            ops[2] += 1;
                        } else {
                            let subject = rng.index(SUBJECTS);
                            let b = ticket();
                            let n = store.revoke_subject(&format!("s{subject}"), None).unwrap();
                            let e = ticket();
                            h.push(Ev::RevokeSubject { subject, b, e, n });
                            ops[3] += 1;
                        }
                    }
                    (h, ops)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut history = Vec::new();
    let mut ops = [0; 4];
    for (h, o) in per_thread {
        history.extend(h);
        for i in 0..4 {
            ops[i] += o[i];
        }
    }
    let tokens = tokens.into_inner().unwrap();
    (
        store,
        Totals {
            history,
            tokens,
            ops,
        },
        dir,
    )
}

#[test]
fn revocation_is_linearizable() {
    let seed = seed("linearizability");
    let duration = Duration::from_secs(scale3(3, 30, 1200));
    let (store, t, _dir) = run(seed, duration);
    let subjects: Vec<usize> = t.tokens.iter().map(|k| k.subject).collect();
    let verdict = check(&t.history, &subjects);

    // The revocation counts add up: every token revoked once, by exactly one call.
    let reported: usize = t
        .history
        .iter()
        .map(|e| match e {
            Ev::Revoke { n, .. } | Ev::RevokeSubject { n, .. } => *n,
            _ => 0,
        })
        .sum();
    let mut revoked_now = 0;
    for k in &t.tokens {
        match store.verify(&k.text).unwrap() {
            Outcome::Valid(_) => {}
            Outcome::Invalid(Rejection::Revoked) => revoked_now += 1,
            other => panic!("token {} is {other:?} at the end", k.id),
        }
    }
    let stats = store.stats().unwrap();

    // The checker is not vacuous: flip one real verify that came after a completed revocation.
    let mut flipped = t.history.clone();
    let mut flips = 0;
    let mut by_token: HashMap<usize, u64> = HashMap::new();
    for ev in &t.history {
        if let Ev::Revoke { token, e, .. } = ev {
            let x = by_token.entry(*token).or_insert(u64::MAX);
            *x = (*x).min(*e);
        }
    }
    for ev in flipped.iter_mut() {
        if let Ev::Verify { token, b, seen, .. } = ev {
            if by_token.get(token).is_some_and(|e| *b > *e) {
                *seen = Seen::Valid;
                flips += 1;
                break;
            }
        }
    }
    let flipped_verdict = check(&flipped, &subjects);

    let total: usize = t.ops.iter().sum();
    eprintln!(
        "linearizability: {THREADS} threads for {:.1} s, {total} operations ({} issues, {} \
         verifies, {} revokes, {} revoke-alls, {:.0} ops/s); {} verifies began after a completed \
         revocation and were all refused, {} began after the issue and ended before any \
         revocation and were all accepted, {} overlapped a revocation (either answer is \
         linearizable); {} violations",
        duration.as_secs_f64(),
        t.ops[0],
        t.ops[1],
        t.ops[2],
        t.ops[3],
        total as f64 / duration.as_secs_f64(),
        verdict.after_revoke,
        verdict.before_revoke,
        verdict.concurrent,
        verdict.violations.len()
    );
    eprintln!(
        "linearizability: revocation calls reported {reported} tokens revoked; the store holds \
         {revoked_now} revoked (stats: {}); a flipped verify in the real history was {}",
        stats.all.revoked,
        if flipped_verdict.violations.len() > verdict.violations.len() {
            "caught"
        } else {
            "NOT caught"
        }
    );
    for v in verdict.violations.iter().take(10) {
        eprintln!("  VIOLATION {v}");
    }
    assert!(
        verdict.violations.is_empty(),
        "revocation is not linearizable (seed {seed}): {}",
        verdict.violations[0]
    );
    assert_eq!(reported, revoked_now, "revocation counts do not add up");
    assert_eq!(stats.all.revoked as usize, revoked_now);
    assert!(verdict.after_revoke > 0 && verdict.before_revoke > 0);
    assert_eq!(flips, 1, "no verify after a completed revocation to flip");
    assert!(
        flipped_verdict.violations.len() > verdict.violations.len(),
        "the checker missed a flipped verify"
    );
}

/// The checker on hand-made histories: a clean one, and each kind of violation.
#[test]
fn the_linearizability_checker_catches_violations() {
    let subjects = [0, 0];
    let issue = |token, b, e| Ev::Issue { token, b, e };
    let verify = |token, b, e, seen| Ev::Verify { token, b, e, seen };
    let clean = vec![
        issue(0, 0, 1),
        issue(1, 2, 3),
        verify(0, 4, 5, Seen::Valid),
        Ev::Revoke {
            token: 0,
            b: 6,
            e: 9,
            n: 1,
        },
        verify(0, 7, 8, Seen::Valid), // overlaps the revocation: either is fine
        verify(0, 10, 11, Seen::Revoked),
        verify(1, 12, 13, Seen::Valid),
        Ev::RevokeSubject {
            subject: 0,
            b: 14,
            e: 15,
            n: 1,
        },
        verify(1, 16, 17, Seen::Revoked),
    ];
    assert!(check(&clean, &subjects).violations.is_empty());
    let cases = [
        (
            5,
            verify(0, 10, 11, Seen::Valid),
            "valid after a completed revoke",
        ),
        (
            2,
            verify(0, 4, 5, Seen::Revoked),
            "refused before any revoke",
        ),
        (
            8,
            verify(1, 16, 17, Seen::Valid),
            "valid after a completed revoke-all",
        ),
        (
            6,
            verify(1, 12, 13, Seen::Revoked),
            "refused before the revoke-all",
        ),
        (
            6,
            verify(1, 12, 13, Seen::Other),
            "neither valid nor revoked",
        ),
    ];
    for (at, ev, what) in cases {
        let mut h = clean.clone();
        h[at] = ev;
        assert!(
            !check(&h, &subjects).violations.is_empty(),
            "checker missed: {what}"
        );
    }
    eprintln!("linearizability checker self-test: 5 of 5 injected violations caught");
}
