//! Sequences of C ABI calls decoded from arbitrary bytes: open, close and free stores (also
//! using them afterwards, and forged handles), issue with any subject and buffer size, verify,
//! revoke, revoke by id and by subject, get, list and parse headers with arbitrary, NULL,
//! oversized and mutated inputs. Every call must return a documented status (never
//! `TESSERA_PANIC`, `TESSERA_INTERNAL` or `TESSERA_POISONED`), the status the contract predicts
//! where it predicts one, outputs that make sense, and a last-error message that is UTF-8 and
//! holds no secret.
//!
//! Shared by the cargo-fuzz target `c_abi` and the stable fallback; `#[path]`-included, with the
//! C ABI crate (`tessera-ffi`, lib name `tessera`) in scope as `tessera_ffi`.

use std::ffi::{c_char, c_void, CStr};
use std::ptr::{null, null_mut};

use tessera_ffi as ffi;
use tessera_ffi::tessera_status::{self, *};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Open,
    Closed,
    Freed,
    /// No store was opened yet: the call gets a NULL handle.
    Null,
}

struct Tok {
    store: usize,
    text: String,
    subject: String,
    maybe_revoked: bool,
}

/// An input: NULL with a length, arbitrary bytes, a token, a mutated token, a token's id.
enum Input {
    Null(usize),
    Bytes(Vec<u8>),
    Oversized(Vec<u8>),
    Token(usize),
    Mutated(usize, usize, u8),
    Id(usize),
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a.to_vec()
    }
}

struct Run {
    stores: Vec<(*mut ffi::tessera_store, State)>,
    tokens: Vec<Tok>,
    secrets: Vec<String>,
    calls: usize,
}

fn status_ok(s: tessera_status) {
    assert!(
        !matches!(s, TESSERA_PANIC | TESSERA_INTERNAL | TESSERA_POISONED),
        "a call returned {s:?}"
    );
}

impl Run {
    fn input(&self, r: &mut Reader<'_>) -> Input {
        let kind = r.u8().unwrap_or(0);
        let a = usize::from(r.u8().unwrap_or(0));
        match kind % 6 {
            0 => Input::Null(if a % 2 == 0 { 0 } else { a }),
            1 => Input::Bytes(r.bytes(a % 130)),
            2 => Input::Oversized(r.bytes(a % 8)),
            3 => Input::Token(a),
            4 => Input::Mutated(a, usize::from(r.u8().unwrap_or(0)), r.u8().unwrap_or(b'A')),
            _ => Input::Id(a),
        }
    }

    /// The bytes of an input (kept alive by the caller), its pointer and length, and the token
    /// it names untouched, if any.
    fn materialize(&self, i: &Input) -> (Vec<u8>, *const c_char, usize, Option<usize>) {
        let tok = |k: usize| (!self.tokens.is_empty()).then(|| k % self.tokens.len());
        match i {
            Input::Null(n) => (Vec::new(), null(), *n, None),
            Input::Bytes(b) => {
                let p = if b.is_empty() {
                    null()
                } else {
                    b.as_ptr().cast()
                };
                (b.clone(), p, b.len(), None)
            }
            // A valid pointer with a length past TESSERA_MAX_INPUT_LEN: the library must refuse
            // it before reading (reading would overrun the buffer).
            Input::Oversized(b) => {
                let mut b = b.clone();
                b.push(0);
                let p = b.as_ptr().cast();
                (b, p, usize::MAX - 7, None)
            }
            Input::Token(k) => match tok(*k) {
                Some(k) => {
                    let b = self.tokens[k].text.clone().into_bytes();
                    let p = b.as_ptr().cast();
                    let n = b.len();
                    (b, p, n, Some(k))
                }
                None => (Vec::new(), null(), 0, None),
            },
            Input::Mutated(k, at, v) => match tok(*k) {
                Some(k) => {
                    let mut b = self.tokens[k].text.clone().into_bytes();
                    let at = at % b.len();
                    let same = b[at] == *v;
                    b[at] = *v;
                    let p = b.as_ptr().cast();
                    let n = b.len();
                    (b, p, n, same.then_some(k))
                }
                None => (Vec::new(), null(), 0, None),
            },
            Input::Id(k) => match tok(*k) {
                Some(k) => {
                    let t = &self.tokens[k].text;
                    let body = t.len() - 72;
                    let b = t.as_bytes()[body..body + 22].to_vec();
                    let p = b.as_ptr().cast();
                    (b, p, 22, Some(k))
                }
                None => (Vec::new(), null(), 0, None),
            },
        }
    }

    fn store(&self, r: &mut Reader<'_>) -> (usize, *mut ffi::tessera_store, State) {
        if self.stores.is_empty() {
            return (usize::MAX, null_mut(), State::Null);
        }
        let i = usize::from(r.u8().unwrap_or(0)) % self.stores.len();
        (i, self.stores[i].0, self.stores[i].1)
    }

    /// The status a call on a store handle must give before anything else is looked at.
    fn gate(state: State) -> Option<tessera_status> {
        match state {
            State::Open => None,
            State::Closed => Some(TESSERA_CLOSED),
            State::Freed => Some(TESSERA_INVALID_HANDLE),
            State::Null => Some(TESSERA_NULL_ARGUMENT),
        }
    }

    fn check_last_error(&self) {
        // SAFETY: a static or thread-local NUL-terminated string.
        let m = unsafe { CStr::from_ptr(ffi::tessera_last_error_message()) };
        let m = m.to_str().expect("the last error message is UTF-8");
        for s in &self.secrets {
            assert!(
                !m.contains(s.as_str()),
                "the last error message shows a secret"
            );
        }
    }

    fn step(&mut self, r: &mut Reader<'_>) -> Option<()> {
        let op = r.u8()?;
        self.calls += 1;
        match op % 13 {
            0 => {
                let mut h = null_mut();
                // SAFETY: NULL options (the defaults) and a writable output.
                let s = unsafe { ffi::tessera_store_open_in_memory(null(), &mut h) };
                assert_eq!(s, TESSERA_OK);
                self.stores.push((h, State::Open));
            }
            1 => {
                let (i, h, st) = self.store(r);
                // SAFETY: handles are checked by the library, never dereferenced.
                let s = unsafe { ffi::tessera_store_close(h) };
                status_ok(s);
                match st {
                    State::Freed => assert_eq!(s, TESSERA_INVALID_HANDLE),
                    State::Null => assert_eq!(s, TESSERA_NULL_ARGUMENT),
                    _ => assert!(matches!(s, TESSERA_OK | TESSERA_CLOSED), "{s:?}"),
                }
                if st == State::Open {
                    self.stores[i].1 = State::Closed;
                }
            }
            2 => {
                let (i, h, _) = self.store(r);
                // SAFETY: as above; freeing twice is a documented no-op.
                unsafe { ffi::tessera_store_free(h) };
                if i != usize::MAX {
                    self.stores[i].1 = State::Freed;
                }
            }
            3 => {
                let (i, h, st) = self.store(r);
                let n = usize::from(r.u8().unwrap_or(0));
                let subject = if n % 4 == 0 {
                    format!("s{}", n % 3).into_bytes()
                } else {
                    r.bytes(n % 40)
                };
                let buf_len = match r.u8().unwrap_or(0) % 4 {
                    0 => usize::from(r.u8().unwrap_or(0)),
                    _ => ffi::TESSERA_TOKEN_BUF_LEN,
                };
                let mut req = null_mut();
                // SAFETY: a live buffer and a writable output.
                let s = unsafe {
                    ffi::tessera_request_new_session(
                        subject.as_ptr().cast(),
                        subject.len(),
                        &mut req,
                    )
                };
                status_ok(s);
                if s != TESSERA_OK {
                    assert!(req.is_null(), "an output written on failure");
                    return Some(());
                }
                let mut buf = vec![0x55u8; buf_len.max(1)];
                let mut len = 0usize;
                let mut rec = null_mut();
                // SAFETY: the buffer has `buf_len` bytes (at least); outputs are writable.
                let s = unsafe {
                    ffi::tessera_issue(h, req, buf.as_mut_ptr().cast(), buf_len, &mut len, &mut rec)
                };
                // SAFETY: our live request.
                unsafe { ffi::tessera_request_free(req) };
                status_ok(s);
                if let Some(w) = Self::gate(st) {
                    assert_eq!(s, w);
                } else if buf_len < ffi::TESSERA_TOKEN_BUF_LEN {
                    assert_eq!(s, TESSERA_BUFFER_TOO_SMALL);
                } else {
                    assert!(
                        matches!(s, TESSERA_OK | TESSERA_INVALID_ARGUMENT),
                        "issue: {s:?}"
                    );
                }
                if s == TESSERA_OK {
                    assert_eq!(buf[len], 0, "the token text is not NUL-terminated");
                    let text = String::from_utf8(buf[..len].to_vec()).expect("ASCII token");
                    assert!(tessera::fuzzing::parse_token(text.as_bytes()));
                    assert!(!rec.is_null());
                    // SAFETY: a record the library gave us.
                    let id = unsafe { CStr::from_ptr((*rec).id.as_ptr()) };
                    let body = text.len() - 72;
                    assert_eq!(id.to_str().unwrap(), &text[body..body + 22]);
                    // SAFETY: released once.
                    unsafe { ffi::tessera_free(rec.cast::<c_void>()) };
                    self.secrets.push(text[body + 22..body + 66].to_owned());
                    self.tokens.push(Tok {
                        store: i,
                        text,
                        subject: String::from_utf8(subject).unwrap(),
                        maybe_revoked: false,
                    });
                } else {
                    assert!(rec.is_null(), "an output written on failure");
                }
            }
            4 | 5 => {
                let (i, h, st) = self.store(r);
                let input = self.input(r);
                let (_keep, p, n, tok) = self.materialize(&input);
                let mut rec = null_mut();
                let mut revoked = 0usize;
                let s = if op % 13 == 4 {
                    // SAFETY: `p` is NULL or readable for `n` bytes (or `n` is oversized, which
                    // the library must refuse before reading).
                    unsafe { ffi::tessera_verify(h, p, n, &mut rec) }
                } else {
                    // SAFETY: as above.
                    unsafe { ffi::tessera_revoke(h, p, n, &mut revoked) }
                };
                status_ok(s);
                self.expect_input_status(i, st, &input, n, s, true);
                let names_token = matches!(input, Input::Token(_) | Input::Mutated(..));
                if let (Some(k), None, true) = (tok, Self::gate(st), names_token) {
                    if self.tokens[k].store == i && i != usize::MAX {
                        let t = &self.tokens[k];
                        if op % 13 == 4 {
                            let ok = s == TESSERA_OK || (s == TESSERA_REVOKED && t.maybe_revoked);
                            assert!(ok, "verify of a live store's own token: {s:?}");
                        } else {
                            assert_eq!(s, TESSERA_OK, "revoke of a store's own token");
                            self.tokens[k].maybe_revoked = true;
                        }
                    } else if !matches!(input, Input::Mutated(..)) {
                        assert_eq!(s, TESSERA_UNKNOWN_TOKEN, "another store's token");
                    }
                }
                if !rec.is_null() {
                    assert_eq!(s, TESSERA_OK);
                    // SAFETY: released once.
                    unsafe { ffi::tessera_free(rec.cast::<c_void>()) };
                }
            }
            6 | 7 => {
                let (i, h, st) = self.store(r);
                let input = self.input(r);
                let (_keep, p, n, tok) = self.materialize(&input);
                let mut rec = null_mut();
                let mut revoked = 0usize;
                let s = if op % 13 == 6 {
                    // SAFETY: as for verify.
                    unsafe { ffi::tessera_get(h, p, n, &mut rec) }
                } else {
                    // SAFETY: as for verify.
                    unsafe { ffi::tessera_revoke_by_id(h, p, n, &mut revoked) }
                };
                status_ok(s);
                self.expect_input_status(i, st, &input, n, s, false);
                if let (Some(k), None, Input::Id(_)) = (tok, Self::gate(st), &input) {
                    let own = self.tokens[k].store == i;
                    assert_eq!(s, if own { TESSERA_OK } else { TESSERA_NOT_FOUND });
                    if own && op % 13 == 7 {
                        self.tokens[k].maybe_revoked = true;
                    }
                }
                if !rec.is_null() {
                    // SAFETY: released once.
                    unsafe { ffi::tessera_free(rec.cast::<c_void>()) };
                }
            }
            8 => {
                let (i, h, st) = self.store(r);
                let subject = format!("s{}", r.u8().unwrap_or(0) % 3);
                let except = self.input(r);
                let (_keep, p, n, _) = self.materialize(&except);
                let mut revoked = 0usize;
                // SAFETY: a live subject; `p` as for verify.
                let s = unsafe {
                    ffi::tessera_revoke_subject(
                        h,
                        subject.as_ptr().cast(),
                        subject.len(),
                        p,
                        n,
                        &mut revoked,
                    )
                };
                status_ok(s);
                if let Some(w) = Self::gate(st) {
                    assert_eq!(s, w);
                }
                if s == TESSERA_OK {
                    for t in self
                        .tokens
                        .iter_mut()
                        .filter(|t| t.store == i && t.subject == subject)
                    {
                        t.maybe_revoked = true;
                    }
                }
            }
            9 => {
                let (_, h, st) = self.store(r);
                let mut list = null_mut();
                // SAFETY: a live subject and a writable output.
                let s = unsafe { ffi::tessera_list_subject(h, c"s1".as_ptr(), 2, &mut list) };
                status_ok(s);
                if let Some(w) = Self::gate(st) {
                    assert_eq!(s, w);
                }
                if !list.is_null() {
                    // SAFETY: released once.
                    unsafe { ffi::tessera_free(list.cast::<c_void>()) };
                }
            }
            10 => {
                let name = self.input(r);
                let value = self.input(r);
                let (_k1, np, nn, _) = self.materialize(&name);
                let (_k2, vp, vn, _) = self.materialize(&value);
                let (mut scheme, mut off, mut len) =
                    (ffi::tessera_scheme::TESSERA_SCHEME_BARE, 0, 0);
                // SAFETY: inputs as for verify; writable outputs.
                let s = unsafe {
                    ffi::tessera_parse_header(np, nn, vp, vn, &mut scheme, &mut off, &mut len)
                };
                status_ok(s);
                if s == TESSERA_OK {
                    assert!(
                        off + len <= vn && len > 0,
                        "the token lies outside the value"
                    );
                }
            }
            11 => {
                // A forged handle: a number the library never gave out.
                let forged = (u64::from(r.u8().unwrap_or(0)) << 40 | 0xDEAD_BEEF) as usize;
                let mut rec = null_mut();
                // SAFETY: handles are checked, never dereferenced.
                let s = unsafe {
                    ffi::tessera_verify(
                        forged as *const ffi::tessera_store,
                        c"x".as_ptr(),
                        1,
                        &mut rec,
                    )
                };
                assert_eq!(s, TESSERA_INVALID_HANDLE);
            }
            _ => {
                let n = i32::from(r.u8().unwrap_or(0)) - 20;
                // SAFETY: a static string.
                let name = unsafe { CStr::from_ptr(ffi::tessera_status_name(n)) };
                assert!(name.to_str().is_ok());
            }
        }
        self.check_last_error();
        Some(())
    }

    /// Statuses every call with one input must give, by the contract: an oversized token text
    /// (`token_text`: it comes from a client) is malformed, any other oversized input a usage
    /// error.
    fn expect_input_status(
        &self,
        i: usize,
        st: State,
        input: &Input,
        n: usize,
        s: tessera_status,
        token_text: bool,
    ) {
        let _ = i;
        if let Some(w) = Self::gate(st) {
            assert_eq!(s, w, "a call on a {st:?} handle");
            return;
        }
        let oversized = if token_text {
            TESSERA_MALFORMED
        } else {
            TESSERA_INVALID_ARGUMENT
        };
        match input {
            Input::Oversized(_) => assert_eq!(s, oversized, "oversized input"),
            Input::Null(_) if n > 0 => assert_eq!(s, TESSERA_NULL_ARGUMENT, "NULL input"),
            _ => {}
        }
    }
}

/// Runs the calls encoded in `data`; panics when a property fails. Returns the number of calls.
pub fn run(data: &[u8]) -> usize {
    let mut run = Run {
        stores: Vec::new(),
        tokens: Vec::new(),
        secrets: Vec::new(),
        calls: 0,
    };
    let mut r = Reader(data);
    for _ in 0..64 {
        if run.step(&mut r).is_none() {
            break;
        }
    }
    for (h, _) in &run.stores {
        // SAFETY: freeing our handles (twice is a no-op).
        unsafe { ffi::tessera_store_free(*h) };
    }
    run.calls
}
