//! A tour of tessera: sessions on several devices, an API key, verify, list, revoke, expiry.
//!
//! Run with `cargo run --release --example quickstart [STORE_FILE]`.

use std::time::Duration;

use tessera::{IssueRequest, ManualClock, Options, Outcome, Requirements, Store, Timestamp};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let given = std::env::args().nth(1).map(std::path::PathBuf::from);
    let dir = std::env::temp_dir().join(format!("tessera-quickstart-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = given.clone().unwrap_or_else(|| dir.join("quickstart.redb"));
    // A manual clock lets the tour jump forward in time; a real service uses the default
    // system clock.
    let clock = ManualClock::new(Timestamp::from(std::time::SystemTime::now()));
    let store = Store::open(
        &path,
        Options::new()
            .manual_clock(&clock)
            .session_ttl(Some(Duration::from_secs(8 * 3600)))
            .session_idle_timeout(Some(Duration::from_secs(30 * 60))),
    )?;
    println!("1. opened the store at {}", path.display());

    let phone = store.issue(&IssueRequest::session("alice").tenant("acme").label("phone"))?;
    let laptop = store.issue(
        &IssueRequest::session("alice")
            .tenant("acme")
            .label("laptop"),
    )?;
    println!("2. alice logged in twice:");
    for t in [&phone, &laptop] {
        println!(
            "   {:<7} id {}  expires {}",
            t.record.label.as_deref().unwrap_or(""),
            t.record.id,
            t.record
                .expires_at
                .map_or("never".into(), |e| e.to_string()),
        );
    }
    let key = store.issue(
        &IssueRequest::api_key("acme")
            .scope("reports:read")
            .label("BI export"),
    )?;
    println!(
        "3. acme got an API key {} (shown once: {}…)",
        key.record.id,
        &key.token.as_str()[..12]
    );

    match store.verify(phone.token.as_str())? {
        Outcome::Valid(r) => println!(
            "4. phone token verifies: subject {:?}",
            r.subject.unwrap_or_default()
        ),
        Outcome::Invalid(why) => println!("4. phone token rejected: {why}"),
    }
    let need_write = Requirements::new().tenant("acme").scope("reports:write");
    let need_read = Requirements::new().tenant("acme").scope("reports:read");
    println!(
        "5. API key for reports:read -> {}; for reports:write -> {}",
        verdict(store.verify_with(key.token.as_str(), &need_read)?),
        verdict(store.verify_with(key.token.as_str(), &need_write)?),
    );

    println!("6. alice's devices:");
    for r in store.list_subject("alice")? {
        println!(
            "   {} {:<7} created {}",
            r.id,
            r.label.unwrap_or_default(),
            r.created_at
        );
    }

    store.revoke(&laptop.token)?;
    println!(
        "7. logged out the laptop: laptop -> {}, phone -> {}",
        verdict(store.verify(laptop.token.as_str())?),
        verdict(store.verify(phone.token.as_str())?),
    );

    clock.advance(Duration::from_secs(31 * 60));
    println!(
        "8. 31 minutes later without use: phone -> {} (idle timeout 30 min); API key -> {}",
        verdict(store.verify(phone.token.as_str())?),
        verdict(store.verify(key.token.as_str())?),
    );

    clock.advance(Duration::from_secs(9 * 3600));
    let purged = store.purge_expired()?;
    let stats = store.stats()?;
    println!(
        "9. 9 hours later the purge removed {purged} expired token(s); {} live, {} revoked remain",
        stats.all.live, stats.all.revoked
    );
    store.close()?;
    if given.is_none() {
        std::fs::remove_dir_all(&dir)?;
    }
    Ok(())
}

fn verdict(o: Outcome) -> String {
    match o {
        Outcome::Valid(_) => "valid".into(),
        Outcome::Invalid(why) => why.as_str().into(),
    }
}
