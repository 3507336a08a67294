//! What every test of the `tessera` binary needs: the binary, and a store with known tokens.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use assert_cmd::Command;
use tessera::{IssueRequest, ManualClock, Options, Store, Timestamp, TokenId};

/// Environment variables the binary reads: cleared so that the caller's shell cannot leak in.
const ENV: [&str; 5] = [
    "TESSERA_STORE",
    "TESSERA_MULTI_PROCESS",
    "TESSERA_SESSION_PREFIX",
    "TESSERA_KEY_PREFIX",
    "TESSERA_REVOKED_RETENTION",
];

/// The binary, with a clean environment and no store.
pub fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tessera"));
    for var in ENV {
        cmd.env_remove(var);
    }
    cmd.env_remove("RUST_BACKTRACE");
    cmd
}

/// The binary working on `store`.
pub fn tessera(store: &Path) -> Command {
    let mut cmd = bin();
    cmd.arg("--store").arg(store);
    cmd
}

/// Standard output of a successful run, as JSON.
pub fn json(cmd: &mut Command) -> serde_json::Value {
    let out = cmd.assert().success().get_output().stdout.clone();
    serde_json::from_slice(&out).expect("the output is JSON")
}

/// A token the seed issued: its id and its text (with the secret).
pub struct Seeded {
    pub id: TokenId,
    pub text: String,
}

/// A store with known tokens, closed (so that the binary can open it).
pub struct Seed {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
    /// Two sessions of "alice" in the default tenant ("Firefox on Linux", "iPhone").
    pub alice: [Seeded; 2],
    /// One session of "bob".
    pub bob: Seeded,
    /// API keys of "acme": "CI deploy" (reports:read, deploy) and "BI export" (expires in 30d).
    pub acme: [Seeded; 2],
    /// An API key of "globex".
    pub globex: Seeded,
    /// A session of "carol" that expired a day ago.
    pub expired: Seeded,
}

fn seeded(t: tessera::Issued) -> Seeded {
    Seeded {
        id: t.token.id(),
        text: t.token.as_str().to_string(),
    }
}

/// Seven tokens: six live, one expired.
pub fn seed() -> Seed {
    seed_with(Options::new())
}

/// The seed, in a store opened with `options` (and a clock of its own).
pub fn seed_with(options: Options) -> Seed {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.redb");
    let now = Timestamp::from(SystemTime::now());
    let clock = ManualClock::new(now.saturating_sub(Duration::from_secs(2 * 86_400)));
    let store = Store::open(&path, options.manual_clock(&clock)).unwrap();
    // A second between issues, so that "oldest first" has one answer.
    let issue = |r: IssueRequest| {
        let t = seeded(store.issue(&r).unwrap());
        clock.advance(Duration::from_secs(1));
        t
    };
    let expired = issue(IssueRequest::session("carol").ttl(Duration::from_secs(3600)));
    clock.set(now.saturating_sub(Duration::from_secs(60)));
    let seed = Seed {
        alice: [
            issue(IssueRequest::session("alice").label("Firefox on Linux")),
            issue(IssueRequest::session("alice").label("iPhone")),
        ],
        bob: issue(IssueRequest::session("bob")),
        acme: [
            issue(
                IssueRequest::api_key("acme")
                    .scope("reports:read")
                    .scope("deploy")
                    .label("CI deploy"),
            ),
            issue(
                IssueRequest::api_key("acme")
                    .label("BI export")
                    .ttl(Duration::from_secs(30 * 86_400)),
            ),
        ],
        globex: issue(IssueRequest::api_key("globex").scope("reports:read")),
        expired,
        dir,
        path,
    };
    store.close().unwrap();
    seed
}

impl Seed {
    /// The binary working on this store.
    pub fn tessera(&self) -> Command {
        tessera(&self.path)
    }

    /// A path in the seed's directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}
