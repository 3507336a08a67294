//! Torn writes and power loss: a workload runs on a simulated disk that records every write and
//! sync; crash images are built from that record at many points, and each must open (redb's
//! repair runs on open) with every acknowledged operation present and none half-applied.
//!
//! Images at a crash point: the synced prefix; plus a random subset of the unsynced writes in a
//! random order; the same with every write torn at 512-byte sectors; plus every unsynced write
//! (a process crash). And a second crash during the recovery of such an image.
//!
//! `TESSERA_RELIABILITY_LONG=1` for the long version, `TESSERA_SEED` to replay.

mod reliability;

use std::panic::{catch_unwind, AssertUnwindSafe};

use reliability::sim::{apply, apply_torn, Op, SimBackend};
use reliability::workload::{self, Action, Checked, Run, Status};
use reliability::{scale, seed, Rng};
use tessera::{Clock, ManualClock, Options, Store, Timestamp};

fn options(clock: &ManualClock) -> Options {
    Options::new()
        .manual_clock(clock)
        .cache_size(4 * 1024 * 1024)
}

/// A workload run on a recording disk.
struct Recorded {
    actions: Vec<Action>,
    run: Run,
    log: Vec<Op>,
    /// Log position when each action started and when it returned successfully.
    starts: Vec<usize>,
    acks: Vec<usize>,
    /// Log position when the store had been created.
    opened_at: usize,
    clock_end: Timestamp,
}

fn record(rng: &mut Rng, n: usize) -> Recorded {
    record_actions(workload::generate(rng, n))
}

fn record_actions(actions: Vec<Action>) -> Recorded {
    let backend = SimBackend::new().recording();
    let clock = ManualClock::new(workload::start());
    let store = Store::with_backend(backend.clone(), options(&clock)).expect("create the store");
    let opened_at = backend.log_len();
    let mut starts = vec![usize::MAX; actions.len()];
    let mut acks = vec![usize::MAX; actions.len()];
    let run = workload::run(&store, &clock, &actions, |i, done| {
        if done {
            acks[i] = backend.log_len();
        } else {
            starts[i] = backend.log_len();
        }
    });
    assert!(run.errors.is_empty(), "workload failed: {:?}", run.errors);
    assert!(run.panics.is_empty(), "workload panicked: {:?}", run.panics);
    drop(store);
    Recorded {
        actions,
        run,
        log: backend.log(),
        starts,
        acks,
        opened_at,
        clock_end: clock.now(),
    }
}

impl Recorded {
    /// The status of every action if the machine died after `k` logged calls.
    fn status_at(&self, k: usize) -> Vec<Status> {
        (0..self.actions.len())
            .map(|i| {
                if self.acks[i] <= k {
                    Status::Acked
                } else if self.starts[i] < k {
                    Status::Maybe
                } else {
                    Status::NotStarted
                }
            })
            .collect()
    }
}

#[derive(Default)]
struct Tally {
    images: usize,
    by_kind: [usize; 5],
    opened: usize,
    refused_before_create: usize,
    torn_writes: usize,
    refusals: std::collections::BTreeMap<String, usize>,
    max_image: usize,
    checked: Checked,
    violations: Vec<String>,
}

const KINDS: [&str; 5] = [
    "synced prefix",
    "unsynced subset",
    "torn at 512 B",
    "all unsynced",
    "crash during recovery",
];

/// Opens `image` and checks it against `status`.
fn check_image(
    rec: &Recorded,
    image: &[u8],
    status: &[Status],
    created: bool,
    what: &str,
    t: &mut Tally,
) {
    t.images += 1;
    t.max_image = t.max_image.max(image.len());
    let clock = ManualClock::new(rec.clock_end);
    let result = catch_unwind(AssertUnwindSafe(|| {
        let store = match Store::with_backend(SimBackend::from_image(image), options(&clock)) {
            Ok(s) => s,
            Err(e) => return Err((true, format!("open failed: {e:?}"))),
        };
        workload::check_fully(
            &store,
            &rec.actions,
            &rec.run.tokens,
            status,
            &rec.run.clock_at,
        )
        .map_err(|m| (false, m))
    }));
    match result {
        Ok(Ok(c)) => {
            t.opened += 1;
            t.checked.add(c);
        }
        Ok(Err((true, m))) if !created => {
            // The crash came before the store was ever created: nothing was acknowledged.
            t.refused_before_create += 1;
            *t.refusals.entry(m).or_default() += 1;
        }
        Ok(Err((_, m))) => t.violations.push(format!("{what}: {m}")),
        Err(p) => t
            .violations
            .push(format!("{what}: PANIC {}", workload::panic_message(&*p))),
    }
}

/// Replays `log[..k]`: the durable image at the last sync, and the unsynced ops after it.
fn split_at(log: &[Op], k: usize, durable: &mut Vec<u8>, synced_upto: &mut usize) -> Vec<Op> {
    let last_sync = log[..k]
        .iter()
        .rposition(|o| matches!(o, Op::Sync))
        .map_or(0, |p| p + 1);
    if last_sync > *synced_upto {
        for op in &log[*synced_upto..last_sync] {
            apply(durable, op);
        }
        *synced_upto = last_sync;
    }
    log[last_sync..k].to_vec()
}

fn shuffle<T>(v: &mut [T], rng: &mut Rng) {
    for i in (1..v.len()).rev() {
        v.swap(i, rng.index(i + 1));
    }
}

/// A random subset of `ops` in a random order, applied to `base`; torn at sectors if asked.
fn crash_image(base: &[u8], ops: &[Op], torn: bool, rng: &mut Rng, t: &mut Tally) -> Vec<u8> {
    let mut image = base.to_vec();
    let mut chosen: Vec<&Op> = ops.iter().filter(|_| rng.chance(1, 2)).collect();
    shuffle(&mut chosen, rng);
    for op in chosen {
        if torn {
            if apply_torn(&mut image, op, rng) {
                t.torn_writes += 1;
            }
        } else {
            apply(&mut image, op);
        }
    }
    image
}

/// Opens `image` on a recording disk and closes it again: the log of the recovery.
fn recovery_log(image: &[u8], clock_end: Timestamp) -> Option<Vec<Op>> {
    let backend = SimBackend::from_image(image).recording();
    let clock = ManualClock::new(clock_end);
    let store = Store::with_backend(backend.clone(), options(&clock)).ok()?;
    drop(store);
    Some(backend.log())
}

fn crash_images_on(rec: &Recorded, points: usize, rng: &mut Rng, t: &mut Tally) {
    let mut ks: Vec<usize> = (0..points).map(|_| rng.index(rec.log.len() + 1)).collect();
    ks.sort_unstable();
    let mut durable = Vec::new();
    let mut synced_upto = 0;
    for k in ks {
        let unsynced = split_at(&rec.log, k, &mut durable, &mut synced_upto);
        let status = rec.status_at(k);
        let created = k >= rec.opened_at;
        let at = format!("crash after {k} of {} calls", rec.log.len());
        t.by_kind[0] += 1;
        check_image(
            rec,
            &durable,
            &status,
            created,
            &format!("{at}, {}", KINDS[0]),
            t,
        );
        let subset = crash_image(&durable, &unsynced, false, rng, t);
        t.by_kind[1] += 1;
        check_image(
            rec,
            &subset,
            &status,
            created,
            &format!("{at}, {}", KINDS[1]),
            t,
        );
        let torn = crash_image(&durable, &unsynced, true, rng, t);
        t.by_kind[2] += 1;
        check_image(
            rec,
            &torn,
            &status,
            created,
            &format!("{at}, {}", KINDS[2]),
            t,
        );
        let mut all = durable.clone();
        for op in &unsynced {
            apply(&mut all, op);
        }
        t.by_kind[3] += 1;
        check_image(
            rec,
            &all,
            &status,
            created,
            &format!("{at}, {}", KINDS[3]),
            t,
        );
        // A second crash while recovering from the torn image.
        if created && rng.chance(1, 2) {
            let Some(log2) = recovery_log(&torn, rec.clock_end) else {
                continue;
            };
            let k2 = rng.index(log2.len() + 1);
            let mut base2 = torn.clone();
            let mut upto2 = 0;
            let unsynced2 = split_at(&log2, k2, &mut base2, &mut upto2);
            let image2 = crash_image(&base2, &unsynced2, true, rng, t);
            t.by_kind[4] += 1;
            check_image(
                rec,
                &image2,
                &status,
                created,
                &format!("{at}, then after {k2} of {} recovery calls", log2.len()),
                t,
            );
        }
    }
}

#[test]
fn every_crash_image_recovers_every_acknowledged_operation() {
    let seed = seed("crash images");
    let mut rng = Rng::new(seed);
    let workloads = scale(2, 40);
    let points = scale(130, 650);
    let mut t = Tally::default();
    let mut calls = 0;
    let mut syncs = 0;
    for w in 0..workloads {
        // Every other workload issues only tokens with large metadata, so the file grows
        // (redb's growth path had a crash bug fixed in 4.2.0).
        let rec = if w % 2 == 1 {
            let mut actions = workload::generate(&mut rng, 150);
            for a in &mut actions {
                if let Action::Issue { big, .. } = a {
                    *big = true;
                }
            }
            record_actions(actions)
        } else {
            record(&mut rng, 60)
        };
        calls += rec.log.len();
        syncs += rec.log.iter().filter(|o| matches!(o, Op::Sync)).count();
        crash_images_on(&rec, points, &mut rng, &mut t);
    }
    eprintln!(
        "crash images: {workloads} workloads of 60 or 150 operations ({calls} logged writes/syncs, \
         {syncs} syncs); {} images: {}",
        t.images,
        KINDS
            .iter()
            .zip(t.by_kind)
            .map(|(k, n)| format!("{n} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    eprintln!(
        "crash images: {} opened and checked, {} refused with an error before the store was \
         ever created, {} writes torn; checked {} tokens, {} acknowledged issues, {} \
         acknowledged revocations ({} valid, {} revoked, {} expired, {} unknown); {} violations",
        t.opened,
        t.refused_before_create,
        t.torn_writes,
        t.checked.tokens,
        t.checked.acked_issues,
        t.checked.acked_revocations,
        t.checked.valid,
        t.checked.revoked,
        t.checked.expired,
        t.checked.unknown,
        t.violations.len()
    );
    for (m, n) in &t.refusals {
        eprintln!("crash images: {n} refused before creation: {m}");
    }
    eprintln!("crash images: largest image {} KiB", t.max_image / 1024);
    for v in t.violations.iter().take(10) {
        eprintln!("  VIOLATION {v}");
    }
    assert!(
        t.violations.is_empty(),
        "{} crash images broke an invariant (seed {seed}); first: {}",
        t.violations.len(),
        t.violations[0]
    );
}

/// The checker is not vacuous: for each operation of a workload in which every operation changes
/// something, the image from before it, checked as if it had been acknowledged, is a violation.
#[test]
fn the_crash_checker_catches_a_lost_acknowledged_operation() {
    let issue = |subject, tenant, api_key| Action::Issue {
        subject,
        tenant,
        api_key,
        big: false,
    };
    let rec = record_actions(vec![
        issue(0, 0, false),
        issue(1, 0, false),
        issue(2, 1, false),
        issue(3, 1, true),
        Action::IssueShort,
        Action::RevokeText(0),
        Action::RevokeId(1),
        Action::RevokeSubject(2),
        Action::RevokeTenant(1),
        Action::Advance,
        Action::Purge,
    ]);
    let final_status = rec.status_at(rec.log.len());
    let mut caught = Vec::new();
    let mut missed = Vec::new();
    for (i, a) in rec.actions.iter().enumerate() {
        if matches!(a, Action::Advance) {
            continue;
        }
        // The store as it was durably just before action i started.
        let mut image = Vec::new();
        let mut upto = 0;
        split_at(&rec.log, rec.starts[i], &mut image, &mut upto);
        let mut t = Tally::default();
        check_image(&rec, &image, &final_status, true, "self-test", &mut t);
        if t.violations.is_empty() {
            missed.push(a.name());
        } else {
            caught.push(a.name());
        }
    }
    eprintln!(
        "crash checker self-test: {} of {} lost acknowledged operations caught ({})",
        caught.len(),
        caught.len() + missed.len(),
        caught.join(", ")
    );
    assert!(missed.is_empty(), "lost operations not caught: {missed:?}");
}
