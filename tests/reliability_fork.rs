//! Fork: a parent opens a store (multi-process mode), issues a token, and forks 8 children. In
//! each child, every call on the inherited handle must return `Error::ForkedChild`, and dropping
//! that handle must be harmless; the child then opens the store itself, verifies the parent's
//! token, issues tokens and revokes one, and reports them over a pipe. The parent issues at the
//! same time. No id and no secret may repeat across the processes, every token must verify in
//! the parent (the revoked ones as revoked), and the integrity check must pass.
//!
//! One test in its own binary: `fork()` in a multi-threaded test harness is only safe when no
//! other test runs beside it.
//!
//! `TESSERA_RELIABILITY_LONG=1` for the long version.

mod reliability;

use std::collections::HashSet;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::FromRawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::Instant;

use reliability::{forge, scale};
use tessera::{Concurrency, Error, IssueRequest, Options, Outcome, Rejection, Store};

const CHILDREN: usize = 8;

fn options() -> Options {
    Options::new().concurrency(Concurrency::MultiProcess)
}

/// Every call on a handle inherited across fork, by name, with its result.
fn inherited_calls(store: &Store, token: &str) -> Vec<(&'static str, Result<(), Error>)> {
    let id = forge::parts(token).id;
    let id = tessera::TokenId::from_bytes(id);
    vec![
        (
            "issue",
            store.issue(&IssueRequest::session("child")).map(|_| ()),
        ),
        ("verify", store.verify(token).map(|_| ())),
        ("revoke", store.revoke(token).map(|_| ())),
        ("revoke by id", store.revoke(id).map(|_| ())),
        (
            "revoke_subject",
            store.revoke_subject("parent", None).map(|_| ()),
        ),
        ("revoke_tenant", store.revoke_tenant("").map(|_| ())),
        (
            "renew",
            store
                .renew(token, std::time::Duration::from_secs(60))
                .map(|_| ()),
        ),
        ("get", store.get(id).map(|_| ())),
        ("list_subject", store.list_subject("parent").map(|_| ())),
        ("list_tenant", store.list_tenant("", None).map(|_| ())),
        ("purge_expired", store.purge_expired().map(|_| ())),
        ("flush", store.flush().map(|_| ())),
        ("stats", store.stats().map(|_| ())),
        ("check_integrity", store.check_integrity().map(|_| ())),
        ("export_header", store.export_header().map(|_| ())),
        ("close", store.clone().close()),
    ]
}

/// The child's work; returns its exit code. Writes lines to `out`.
fn child(
    store: &Store,
    path: &Path,
    parent_token: &str,
    c: usize,
    n: usize,
    out: &mut File,
) -> i32 {
    let mut say = |l: String| out.write_all(format!("{l}\n").as_bytes()).is_ok();
    for (name, r) in inherited_calls(store, parent_token) {
        match r {
            Err(Error::ForkedChild) => say(format!("INHERITED_OK {name}")),
            other => say(format!("INHERITED_WRONG {name} {other:?}")),
        };
    }
    let mine = match Store::open(path, options()) {
        Ok(s) => s,
        Err(e) => {
            say(format!("FAIL open in the child: {e}"));
            return 2;
        }
    };
    match mine.verify(parent_token) {
        Ok(Outcome::Valid(_)) => say("PARENT_TOKEN_VALID".into()),
        other => say(format!("FAIL the parent's token in the child: {other:?}")),
    };
    let mut first = None;
    for _ in 0..n {
        match mine.issue(&IssueRequest::session(format!("child{c}"))) {
            Ok(t) => {
                first.get_or_insert_with(|| t.token.as_str().to_owned());
                say(format!("TOKEN {}", t.token.as_str()));
            }
            Err(e) => {
                say(format!("FAIL issue in the child: {e}"));
                return 3;
            }
        }
    }
    if let Some(t) = first {
        match mine.revoke(t.as_str()) {
            Ok(1) => say(format!("REVOKED {t}")),
            other => say(format!("FAIL revoke in the child: {other:?}")),
        };
    }
    if let Err(e) = mine.close() {
        say(format!("FAIL close in the child: {e}"));
    }
    0
}

#[test]
fn forked_children_fail_safe_and_reopen_the_store() {
    let per_process = scale(100, 500);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fork.redb");
    let store = Store::open(&path, options()).unwrap();
    let parent = store.issue(&IssueRequest::session("parent")).unwrap();
    let parent_text = parent.token.as_str().to_owned();
    let started = Instant::now();
    let mut children = Vec::new();
    for c in 0..CHILDREN {
        let mut fds = [0; 2];
        // SAFETY: a valid two-element array.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: the child only runs `child` (which uses tessera and the pipe) and `_exit`s.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            // SAFETY: the write end, owned by this process from here on.
            let mut out = unsafe { File::from_raw_fd(fds[1]) };
            // SAFETY: closing the read end, which this process does not use.
            unsafe { libc::close(fds[0]) };
            let code = catch_unwind(AssertUnwindSafe(|| {
                let code = child(&store, &path, &parent_text, c, per_process, &mut out);
                // Dropping the last reference to an inherited store in the child (as a garbage
                // collector would) must not touch the parent's file.
                // SAFETY: `store` is never used again in this process, which `_exit`s below.
                let owned: Store = unsafe { std::ptr::read(&store) };
                drop(owned);
                let _ = out.write_all(b"DROPPED_INHERITED\n");
                code
            }))
            .unwrap_or_else(|p| {
                let _ = out.write_all(
                    format!(
                        "FAIL panic in the child: {}\n",
                        reliability::workload::panic_message(&*p)
                    )
                    .as_bytes(),
                );
                101
            });
            let _ = out.flush();
            // SAFETY: ends the child without running the parent's destructors or test harness.
            unsafe { libc::_exit(code) };
        }
        // SAFETY: the parent closes the write end it does not use.
        unsafe { libc::close(fds[1]) };
        // SAFETY: the read end, owned by the parent from here on.
        let reader = unsafe { File::from_raw_fd(fds[0]) };
        let handle = std::thread::spawn(move || {
            let mut s = String::new();
            let mut r = reader;
            r.read_to_string(&mut s).unwrap();
            s
        });
        children.push((pid, handle));
    }
    // The parent issues while the children do.
    let mut texts = vec![parent_text.clone()];
    for _ in 0..per_process {
        texts.push(
            store
                .issue(&IssueRequest::session("parent"))
                .unwrap()
                .token
                .as_str()
                .to_owned(),
        );
    }
    let mut revoked = HashSet::new();
    let mut inherited_ok = 0;
    let mut failures = Vec::new();
    let mut parent_token_valid = 0;
    let mut dropped = 0;
    for (c, (pid, handle)) in children.into_iter().enumerate() {
        let out = handle.join().unwrap();
        let mut status = 0;
        // SAFETY: waits for our own child.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        let exited_ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
        if !exited_ok {
            failures.push(format!("child {c} ended with status {status:#x}"));
        }
        for line in out.lines() {
            let (tag, rest) = line.split_once(' ').unwrap_or((line, ""));
            match tag {
                "INHERITED_OK" => inherited_ok += 1,
                "PARENT_TOKEN_VALID" => parent_token_valid += 1,
                "TOKEN" => texts.push(rest.to_owned()),
                "REVOKED" => {
                    revoked.insert(rest.to_owned());
                }
                "DROPPED_INHERITED" => dropped += 1,
                _ => failures.push(format!("child {c}: {line}")),
            }
        }
    }
    let elapsed = started.elapsed();
    let mut ids = HashSet::new();
    let mut secrets = HashSet::new();
    let (mut dup_ids, mut dup_secrets) = (0, 0);
    for t in &texts {
        let p = forge::parts(t);
        dup_ids += usize::from(!ids.insert(p.id));
        dup_secrets += usize::from(!secrets.insert(p.secret));
    }
    let (mut valid, mut revoked_seen, mut wrong) = (0, 0, 0);
    for t in &texts {
        match store.verify(t).unwrap() {
            Outcome::Valid(_) if !revoked.contains(t) => valid += 1,
            Outcome::Invalid(Rejection::Revoked) if revoked.contains(t) => revoked_seen += 1,
            other => {
                wrong += 1;
                if wrong < 5 {
                    failures.push(format!("a token verifies as {other:?} in the parent"));
                }
            }
        }
    }
    let calls = inherited_calls(&store, &parent_text).len();
    let integrity = store.check_integrity();
    eprintln!(
        "fork: {CHILDREN} children in {:.1} s; inherited handle: {inherited_ok} of {} calls \
         returned ForkedChild, dropped safely in {dropped} children; {parent_token_valid} \
         children verified the parent's token after reopening; {} tokens issued across {} \
         processes: {dup_ids} duplicate ids, {dup_secrets} duplicate secrets; in the parent \
         {valid} verify, {revoked_seen} of {} revocations made in children are seen; integrity \
         {integrity:?}",
        elapsed.as_secs_f64(),
        calls * CHILDREN,
        texts.len(),
        CHILDREN + 1,
        revoked.len(),
    );
    for f in &failures {
        eprintln!("  FAILURE {f}");
    }
    assert!(failures.is_empty(), "{}", failures[0]);
    assert_eq!(inherited_ok, calls * CHILDREN);
    assert_eq!(dropped, CHILDREN);
    assert_eq!(parent_token_valid, CHILDREN);
    assert_eq!(texts.len(), 1 + (CHILDREN + 1) * per_process);
    assert_eq!((dup_ids, dup_secrets), (0, 0));
    assert_eq!(revoked_seen, CHILDREN);
    assert_eq!(valid + revoked_seen, texts.len());
    assert_eq!(integrity, Ok(true));
}
