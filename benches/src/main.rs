//! tessera-bench: tessera against raw redb + blake3, SQLite (WAL) and Redis on one token
//! workload, in one run: 1,000,000 tokens (100,000 subjects x 10 sessions, 100 tenants, 10 %
//! already expired), each store loaded with the same dataset (see `benches/README.md`).
//!
//! The parent process runs every (round, backend) pair in a fresh child process (the same
//! binary with `--child <job>`), each with a fresh store in a fresh directory, rotating the
//! backend order between rounds, and reports medians. It prints a markdown table and, as the
//! last line on stdout, one line of JSON.

mod backend;
mod child;
mod raw_redb;
mod record;
mod redis_backend;
mod redis_server;
mod report;
mod sqlite;
mod stats;
mod tessera_backend;
mod workload;
// A new backend: declare its module above and add its INFO to `backend::registry()`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use anyhow::{anyhow, bail, Context, Result};

use crate::backend::BackendInfo;
use crate::child::{Job, RoundResult};
use crate::report::{Collected, Report};
use crate::workload::Plan;

const USAGE: &str = "\
usage: tessera-bench [--quick] [--tokens N] [--rounds N] [--backends a,b,c] [--dir PATH]
                     [--commit-verifies N]

  --quick              100,000 tokens (10,000 subjects x 10) and shorter phases
  --tokens N           preloaded tokens (default 1,000,000; --quick: 100,000)
  --rounds N           rounds per backend; medians are reported (default 3)
  --backends a,b,c     backends to run, in column order (default: all registered)
  --dir PATH           where the per-round store directories go (default: $TMPDIR or /tmp)
  --commit-verifies N  verifies over which a backend's commits are counted (default 1,000,000)";

/// Command-line options of the parent.
struct Options {
    quick: bool,
    tokens: Option<u64>,
    rounds: u32,
    backends: Option<Vec<String>>,
    dir: Option<PathBuf>,
    commit_verifies: Option<u64>,
}

fn parse_number<T: std::str::FromStr>(flag: &str, value: Option<&String>) -> Result<T> {
    let value = value.ok_or_else(|| anyhow!("{flag} needs a value"))?;
    value
        .replace(['_', ','], "")
        .parse()
        .map_err(|_| anyhow!("{flag}: not a number: {value:?}"))
}

fn parse_options(args: &[String]) -> Result<Option<Options>> {
    let mut o = Options {
        quick: false,
        tokens: None,
        rounds: 3,
        backends: None,
        dir: None,
        commit_verifies: None,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--quick" => o.quick = true,
            "--tokens" => o.tokens = Some(parse_number(arg, it.next())?),
            "--rounds" => o.rounds = parse_number(arg, it.next())?,
            "--commit-verifies" => o.commit_verifies = Some(parse_number(arg, it.next())?),
            "--backends" => {
                let list = it
                    .next()
                    .ok_or_else(|| anyhow!("--backends needs a value"))?;
                o.backends = Some(
                    list.split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect(),
                );
            }
            "--dir" => {
                let d = it.next().ok_or_else(|| anyhow!("--dir needs a value"))?;
                o.dir = Some(PathBuf::from(d));
            }
            "-h" | "--help" => return Ok(None),
            other => bail!("unknown argument {other:?}\n\n{USAGE}"),
        }
    }
    if o.rounds == 0 {
        bail!("--rounds must be at least 1");
    }
    Ok(Some(o))
}

/// A directory removed (recursively) when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn create(path: PathBuf) -> Result<Self> {
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn random_seed() -> Result<[u8; 32]> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow!("getrandom failed: {e}"))?;
    Ok(seed)
}

/// Runs one (round, backend) pair in a child process and collects its figures.
fn run_child(
    info: &BackendInfo,
    round: u32,
    seed: [u8; 32],
    root: &Path,
    plan: &Plan,
) -> Result<RoundResult> {
    let dir = TempDir::create(root.join(format!("r{}-{}", round + 1, info.name)))?;
    let store_dir = dir.0.join("store");
    std::fs::create_dir_all(&store_dir)
        .with_context(|| format!("creating {}", store_dir.display()))?;
    let server = if info.needs_redis {
        Some(
            redis_server::RedisServer::start(&dir.0.join("redis"))
                .context("starting redis-server")?,
        )
    } else {
        None
    };
    let job = Job {
        backend: info.name.to_string(),
        round,
        seed,
        dir: store_dir,
        redis_port: server.as_ref().map(|s| s.port),
        plan: plan.clone(),
    };
    let exe = std::env::current_exe().context("locating the benchmark binary")?;
    let output = Command::new(exe)
        .arg("--child")
        .arg(serde_json::to_string(&job).context("encoding the job")?)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .output()
        .context("running the child process")?;
    if !output.status.success() {
        bail!(
            "backend {} failed in round {} ({})",
            info.name,
            round + 1,
            output.status
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .ok_or_else(|| anyhow!("backend {} printed no result line", info.name))?;
    let mut result: RoundResult =
        serde_json::from_str(line).context("parsing the child's result line")?;
    if let Some(server) = &server {
        if let Some(rss) = server.peak_rss_bytes() {
            result
                .figures
                .insert("server_peak_rss_mib".into(), stats::mib(rss));
        }
        if let Ok(aof) = stats::dir_bytes(server.dir()) {
            result
                .figures
                .insert("server_dir_bytes_end".into(), aof as f64);
        }
    }
    drop(server);
    Ok(result)
}

fn parent_main(args: &[String]) -> Result<()> {
    let Some(opts) = parse_options(args)? else {
        println!("{USAGE}");
        return Ok(());
    };
    let registry = backend::registry();
    let mut backends: Vec<&'static BackendInfo> = match &opts.backends {
        None => registry.clone(),
        Some(names) => names
            .iter()
            .map(|n| {
                registry
                    .iter()
                    .copied()
                    .find(|b| b.name == n)
                    .ok_or_else(|| {
                        let known: Vec<&str> = registry.iter().map(|b| b.name).collect();
                        anyhow!("unknown backend {n:?}; known: {}", known.join(", "))
                    })
            })
            .collect::<Result<_>>()?,
    };
    let mut skipped = Vec::new();
    if backends.iter().any(|b| b.needs_redis) && !redis_server::available() {
        eprintln!(
            "notice: {} not found; skipping the Redis column (install Debian's redis-server)",
            redis_server::BINARY
        );
        for b in backends.iter().filter(|b| b.needs_redis) {
            skipped.push((b.name, format!("{} is not installed", redis_server::BINARY)));
        }
        backends.retain(|b| !b.needs_redis);
    }
    if backends.is_empty() {
        bail!("no backend to run");
    }

    let default_tokens = if opts.quick { 100_000 } else { 1_000_000 };
    let tokens = opts.tokens.unwrap_or(default_tokens);
    if tokens < 1_000 {
        bail!("--tokens must be at least 1,000");
    }
    let mut plan = Plan::new(tokens, opts.quick);
    if let Some(n) = opts.commit_verifies {
        plan.commit_verifies = n;
    }
    if opts.rounds < 3 {
        eprintln!(
            "notice: {} round(s); the benchmark calls for at least 3",
            opts.rounds
        );
    }

    let base = opts.dir.clone().unwrap_or_else(|| {
        std::env::var_os("TMPDIR").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from)
    });
    let root = TempDir::create(base.join(format!("tessera-bench-{}", std::process::id())))?;
    let names: Vec<&str> = backends.iter().map(|b| b.name).collect();
    eprintln!(
        "tessera-bench: {tokens} tokens, {} round(s), backends {}, stores under {}",
        opts.rounds,
        names.join(", "),
        root.0.display()
    );

    let mut results: BTreeMap<&'static str, Collected> = BTreeMap::new();
    for round in 0..opts.rounds {
        let seed = random_seed()?;
        let n = backends.len();
        for k in 0..n {
            let info = backends[(k + round as usize) % n];
            eprintln!("round {}/{}: {}", round + 1, opts.rounds, info.name);
            let r = run_child(info, round, seed, &root.0, &plan)?;
            results.entry(info.name).or_default().add(&r);
        }
    }
    drop(root);

    let report = Report {
        backends,
        results: &results,
        skipped,
        plan: &plan,
        rounds: opts.rounds,
        quick: opts.quick,
    };
    println!("{}", report.markdown());
    println!("{}", report.json());
    Ok(())
}

fn child_main(args: &[String]) -> Result<()> {
    let job_json = args.first().ok_or_else(|| anyhow!("--child needs a job"))?;
    let job: Job = serde_json::from_str(job_json).context("parsing the child job")?;
    let result = child::run(&job).with_context(|| format!("backend {}", job.backend))?;
    println!(
        "{}",
        serde_json::to_string(&result).context("encoding the result")?
    );
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("--child") => child_main(&args[1..]),
        _ => parent_main(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tessera-bench: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
