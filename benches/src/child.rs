//! One round of one backend, run in its own process (`tessera-bench --child <job>`): fresh
//! store, bulk load, then every timed phase in a fixed order. Prints one JSON line.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::backend::{self, Backend, BackendInfo, IssuedToken, Issuer, OpenArgs, Verifier};
use crate::record;
use crate::stats::{self, mib, Phase};
use crate::workload::{
    self, Dataset, Lookup, Plan, Rng, LOAD_BATCH, TOKENS_PER_SUBJECT, VERIFY_THREADS, WRITERS,
};

/// What the parent asks a child process to do.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Job {
    /// Backend name (see `backend::registry`).
    pub backend: String,
    /// Round number (0-based).
    pub round: u32,
    /// Seed of the round's dataset (the same for every backend of the round).
    pub seed: [u8; 32],
    /// Fresh, empty directory for the store.
    pub dir: PathBuf,
    /// Port of the round's redis-server, if the backend needs one.
    pub redis_port: Option<u16>,
    /// Sizes of the phases.
    pub plan: Plan,
}

/// What a child process reports: every figure of its round, by name.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RoundResult {
    /// Backend name.
    pub backend: String,
    /// Round number.
    pub round: u32,
    /// Figures by name (see `report` for their meaning).
    pub figures: BTreeMap<String, f64>,
}

struct Round<'a> {
    job: &'a Job,
    figures: BTreeMap<String, f64>,
}

impl Round<'_> {
    fn set(&mut self, key: &str, value: f64) {
        self.figures.insert(key.to_string(), value);
    }

    fn phase(&mut self, key: &str, mut phase: Phase) {
        let (p50, p99) = phase.p50_p99_us();
        self.set(&format!("{key}_ops"), phase.ops_per_sec());
        self.set(&format!("{key}_p50_us"), p50);
        self.set(&format!("{key}_p99_us"), p99);
        self.log(&format!(
            "{key}: {:.0}/s, p50 {p50:.1} µs, p99 {p99:.1} µs",
            phase.ops_per_sec()
        ));
    }

    fn log(&self, msg: &str) {
        eprintln!("  [{} r{}] {msg}", self.job.backend, self.job.round + 1);
    }
}

/// Finds a registered backend by name.
pub fn find_backend(name: &str) -> Result<&'static BackendInfo> {
    backend::registry()
        .into_iter()
        .find(|b| b.name == name)
        .ok_or_else(|| anyhow!("unknown backend {name:?}"))
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Runs `lookups` on one verifier; fails if any answer is wrong.
fn verify_loop(v: &mut dyn Verifier, lookups: &[Lookup]) -> Result<(Instant, Instant, Vec<u64>)> {
    let mut lat = Vec::with_capacity(lookups.len());
    let mut wrong = 0u64;
    let start = Instant::now();
    for l in lookups {
        let t = Instant::now();
        let ok = v.verify(&l.id, &l.secret)?;
        lat.push(nanos(t.elapsed()));
        wrong += u64::from(ok != l.expect);
    }
    let end = Instant::now();
    if wrong > 0 {
        bail!(
            "{wrong} of {} verifies gave the wrong answer",
            lookups.len()
        );
    }
    Ok((start, end, lat))
}

/// Runs one verify or issue loop per handle, all started together; wall time = first start
/// to last end.
fn parallel<H: Send, W: Sync>(
    handles: Vec<H>,
    work: &[W],
    f: impl Fn(H, &W) -> Result<(Instant, Instant, Vec<u64>)> + Sync,
) -> Result<Phase> {
    let barrier = Barrier::new(handles.len());
    let results: Vec<Result<(Instant, Instant, Vec<u64>)>> = thread::scope(|s| {
        let threads: Vec<_> = handles
            .into_iter()
            .zip(work)
            .map(|(h, w)| {
                let (barrier, f) = (&barrier, &f);
                s.spawn(move || {
                    barrier.wait();
                    f(h, w)
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| {
                t.join()
                    .unwrap_or_else(|_| Err(anyhow!("worker thread panicked")))
            })
            .collect()
    });
    let mut first = None::<Instant>;
    let mut last = None::<Instant>;
    let mut latencies_ns = Vec::new();
    for r in results {
        let (start, end, lat) = r?;
        first = Some(first.map_or(start, |f| f.min(start)));
        last = Some(last.map_or(end, |l| l.max(end)));
        latencies_ns.extend(lat);
    }
    let (first, last) = first
        .zip(last)
        .ok_or_else(|| anyhow!("no worker threads"))?;
    Ok(Phase {
        calls: latencies_ns.len() as u64,
        wall: last - first,
        latencies_ns,
    })
}

fn issue_loop(
    issuer: &mut dyn Issuer,
    writer: u64,
    count: u64,
) -> Result<(Instant, Instant, Vec<u64>, Vec<IssuedToken>)> {
    let mut lat = Vec::with_capacity(count as usize);
    let mut issued = Vec::with_capacity(count as usize);
    let start = Instant::now();
    for n in 0..count {
        let req = workload::issue_request(writer, n);
        let t = Instant::now();
        let token = issuer.issue(&req)?;
        lat.push(nanos(t.elapsed()));
        issued.push(token);
    }
    Ok((start, Instant::now(), lat, issued))
}

/// Runs a job and returns its figures.
pub fn run(job: &Job) -> Result<RoundResult> {
    let info = find_backend(&job.backend)?;
    let plan = &job.plan;
    let mut round = Round {
        job,
        figures: BTreeMap::new(),
    };
    let dataset = Dataset::new(job.seed, plan.tokens);
    let mut rng = Rng::new(&job.seed, 1);
    round.set("rss_harness_mib", mib(stats::rss_bytes()));

    let mut store = (info.open)(&OpenArgs {
        dir: &job.dir,
        redis_port: job.redis_port,
    })
    .with_context(|| format!("opening backend {}", info.name))?;

    // ---- bulk load (untimed setup) ----
    let t = Instant::now();
    let mut expired_total = 0u64;
    let mut batch = Vec::with_capacity(LOAD_BATCH);
    let mut next = 0;
    while next < plan.tokens {
        batch.clear();
        let end = (next + LOAD_BATCH as u64).min(plan.tokens);
        for i in next..end {
            let spec = dataset.spec(i);
            expired_total += u64::from(dataset.expired(&spec));
            batch.push(spec);
        }
        store.load(&batch).context("bulk load")?;
        next = end;
    }
    drop(batch);
    round.set("disk_bytes_before_finish", store.disk_bytes()? as f64);
    store.finish_load().context("finishing the bulk load")?;
    let load_secs = t.elapsed().as_secs_f64();
    round.set("load_secs", load_secs);
    round.log(&format!(
        "loaded {} tokens in {load_secs:.1} s",
        plan.tokens
    ));
    let disk = store.disk_bytes()?;
    round.set("disk_bytes_after_load", disk as f64);
    round.set(
        "disk_bytes_per_token",
        disk as f64 / plan.tokens.max(1) as f64,
    );
    round.set("rss_load_peak_mib", mib(stats::peak_rss_bytes()));
    let reset = stats::reset_peak_rss();
    round.set("rss_peak_was_reset", f64::from(u8::from(reset)));

    sanity_check(store.as_ref(), &dataset)?;

    // ---- verify ----
    let commits_before = store.commits();
    let mut verifies = 0u64;
    let mut verifier = store.verifier()?;
    let warmup = dataset.lookups(&mut rng, plan.warmup);
    verify_loop(verifier.as_mut(), &warmup).context("verify warm-up")?;
    verifies += plan.warmup;
    drop(warmup);

    let lookups = dataset.lookups(&mut rng, plan.verify_1t);
    let (start, end, latencies_ns) =
        verify_loop(verifier.as_mut(), &lookups).context("verify, 1 thread")?;
    verifies += plan.verify_1t;
    drop(lookups);
    round.phase(
        "verify_1t",
        Phase {
            calls: plan.verify_1t,
            wall: end - start,
            latencies_ns,
        },
    );

    let work: Vec<Vec<Lookup>> = (0..VERIFY_THREADS)
        .map(|_| dataset.lookups(&mut rng, plan.verify_2t_per_thread))
        .collect();
    let handles = (0..VERIFY_THREADS)
        .map(|_| store.verifier())
        .collect::<Result<Vec<_>>>()?;
    let phase = parallel(handles, &work, |mut v, w| verify_loop(v.as_mut(), w))
        .context("verify, 2 threads")?;
    verifies += phase.calls;
    drop(work);
    round.phase("verify_2t", phase);

    if store.reports_commits() {
        // Top up to exactly `commit_verifies` verifies, in chunks to bound memory.
        while verifies < plan.commit_verifies {
            let n = (plan.commit_verifies - verifies).min(100_000);
            let lookups = dataset.lookups(&mut rng, n);
            verify_loop(verifier.as_mut(), &lookups).context("verify (commit count)")?;
            verifies += n;
        }
    }
    drop(verifier);
    let verify_commits = store.commits().saturating_sub(commits_before);
    round.set("verify_commits", verify_commits as f64);
    round.set("verify_commit_sample", verifies as f64);
    round.log(&format!(
        "{verify_commits} commits caused by {verifies} verifies"
    ));

    // ---- durable issue ----
    let mut issued = Vec::new();
    {
        let mut issuer = store.issuer()?;
        let (start, end, latencies_ns, tokens) =
            issue_loop(issuer.as_mut(), 0, plan.issue_1w).context("issue, 1 writer")?;
        issued.extend(tokens.into_iter().take(20));
        round.phase(
            "issue_1w",
            Phase {
                calls: plan.issue_1w,
                wall: end - start,
                latencies_ns,
            },
        );
    }
    {
        let handles = (0..WRITERS)
            .map(|_| store.issuer())
            .collect::<Result<Vec<_>>>()?;
        let writers: Vec<u64> = (1..=WRITERS as u64).collect();
        let samples = std::sync::Mutex::new(Vec::new());
        let phase = parallel(handles, &writers, |mut issuer, &w| {
            let (start, end, lat, tokens) =
                issue_loop(issuer.as_mut(), w, plan.issue_8w_per_writer)?;
            samples
                .lock()
                .map_err(|_| anyhow!("sample lock poisoned"))?
                .extend(tokens.into_iter().take(5));
            Ok((start, end, lat))
        })
        .context("issue, 8 writers")?;
        issued.extend(
            samples
                .into_inner()
                .map_err(|_| anyhow!("sample lock poisoned"))?,
        );
        round.phase("issue_8w", phase);
    }
    {
        let mut v = store.verifier()?;
        for t in &issued {
            if !v.verify(&t.id, &t.secret)? {
                bail!("a newly issued token does not verify");
            }
        }
    }

    // ---- durable revokes ----
    let revokes = dataset.revoke_plan(&mut rng, plan.revoke_subjects, plan.revoke);
    let mut lat = Vec::with_capacity(revokes.ids.len());
    let start = Instant::now();
    for id in &revokes.ids {
        let t = Instant::now();
        let existed = store.revoke(id)?;
        lat.push(nanos(t.elapsed()));
        if !existed {
            bail!("revoke: a preloaded token was not found");
        }
    }
    round.phase(
        "revoke",
        Phase {
            calls: revokes.ids.len() as u64,
            wall: start.elapsed(),
            latencies_ns: lat,
        },
    );

    let mut lat = Vec::with_capacity(revokes.subjects.len());
    let start = Instant::now();
    for &subject in &revokes.subjects {
        let t = Instant::now();
        let n = store.revoke_subject(subject)?;
        lat.push(nanos(t.elapsed()));
        if n != TOKENS_PER_SUBJECT {
            bail!("revoke_subject({subject}) removed {n} tokens, expected {TOKENS_PER_SUBJECT}");
        }
    }
    round.phase(
        "revoke_subject",
        Phase {
            calls: revokes.subjects.len() as u64,
            wall: start.elapsed(),
            latencies_ns: lat,
        },
    );

    // ---- purge ----
    let expect = if store.revoke_keeps_tombstones() {
        expired_total
    } else {
        expired_total - revokes.expired_removed
    };
    let start = Instant::now();
    let removed = store.purge_expired(record::now_secs())?;
    let secs = start.elapsed().as_secs_f64();
    if removed != expect {
        bail!("purge removed {removed} tokens, expected {expect}");
    }
    round.set("purge_removed", removed as f64);
    round.set("purge_secs", secs);
    round.set("purge_tokens_per_sec", removed as f64 / secs.max(1e-9));
    round.log(&format!("purge: {removed} tokens in {secs:.3} s"));

    // ---- footprint at the end ----
    round.set("disk_bytes_end", store.disk_bytes()? as f64);
    let ops_peak = mib(stats::peak_rss_bytes());
    let load_peak = round.figures["rss_load_peak_mib"];
    round.set("rss_ops_peak_mib", ops_peak);
    round.set("peak_rss_mib", ops_peak.max(load_peak));
    for (k, v) in store.extra_figures()? {
        round.set(k, v);
    }
    drop(store);
    Ok(RoundResult {
        backend: job.backend.clone(),
        round: job.round,
        figures: round.figures,
    })
}

/// Cheap untimed checks that the store answers correctly before anything is timed.
fn sanity_check(store: &dyn Backend, dataset: &Dataset) -> Result<()> {
    let mut v = store.verifier()?;
    for i in [0, dataset.tokens / 2, dataset.tokens - 1] {
        let spec = dataset.spec(i);
        let expect = !dataset.expired(&spec);
        if v.verify(&spec.id, &spec.secret)? != expect {
            bail!(
                "sanity check: token {i} verified as {}, expected {expect}",
                !expect
            );
        }
        let mut wrong = spec.secret;
        wrong[0] ^= 1;
        if v.verify(&spec.id, &wrong)? {
            bail!("sanity check: token {i} verified with a wrong secret");
        }
        let mut unknown = spec.id;
        unknown[15] ^= 0x5a;
        if v.verify(&unknown, &spec.secret)? {
            bail!("sanity check: an unknown id verified");
        }
    }
    Ok(())
}
