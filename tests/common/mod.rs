//! Shared set-up for the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use tessera::{ManualClock, Options, Store, Timestamp, TokenId};

pub const HOUR: Duration = Duration::from_secs(3600);
pub const MINUTE: Duration = Duration::from_secs(60);
pub const DAY: Duration = Duration::from_secs(24 * 3600);

/// A store in a fresh file, on a manual clock set to 2026-11-23T00:00:00Z.
pub struct Fixture {
    pub store: Store,
    pub clock: ManualClock,
    pub dir: tempfile::TempDir,
}

impl Fixture {
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("tokens.redb")
    }

    pub fn options(&self) -> Options {
        Options::new().manual_clock(&self.clock)
    }

    /// The ids `list_subject` gives for `subject`, in its order.
    pub fn subject_ids(&self, subject: &str) -> Vec<TokenId> {
        let records = self.store.list_subject(subject).expect("list_subject");
        records.iter().map(|r| r.id).collect()
    }
}

pub fn start() -> Timestamp {
    Timestamp::from_unix_millis(1_795_392_000_000)
}

pub fn fixture() -> Fixture {
    fixture_with(|o| o)
}

pub fn fixture_with(f: impl FnOnce(Options) -> Options) -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = ManualClock::new(start());
    let store = Store::open(
        dir.path().join("tokens.redb"),
        f(Options::new().manual_clock(&clock)),
    )
    .expect("open store");
    Fixture { store, clock, dir }
}
