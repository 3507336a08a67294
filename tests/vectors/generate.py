#!/usr/bin/env python3
"""Writes tests/vectors/golden.json, the golden vectors shared by the Rust, C, Python and Ruby
tests: token texts (well-formed and broken), HTTP header forms, and expiry edges.

    python3 tests/vectors/generate.py           # rewrite golden.json
    python3 tests/vectors/generate.py --check   # exit 1 if golden.json differs

Token texts are built here by a second, independent implementation of the format described
in src/token_text.rs (base62 in 8-byte blocks of 11 digits, CRC-32 check), from fixed bytes,
so the file never changes unless this script does. The expectations (header results, expiry
steps) are written by hand from the documented rules, not computed by tessera: the tests
then check that every language's path through the library agrees with them.
"""

from __future__ import annotations

import hashlib
import json
import sys
import zlib
from pathlib import Path

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
BODY_LEN = 72
OUT = Path(__file__).resolve().parent / "golden.json"


def b62(value: int, width: int) -> str:
    digits = []
    for _ in range(width):
        value, d = divmod(value, 62)
        digits.append(ALPHABET[d])
    assert value == 0, "value does not fit"
    return "".join(reversed(digits))


def blocks(data: bytes) -> str:
    assert len(data) % 8 == 0
    return "".join(b62(int.from_bytes(data[i : i + 8], "big"), 11) for i in range(0, len(data), 8))


def seal(signed: str) -> str:
    """`signed` followed by its 6 base62 check digits (CRC-32 of every byte before them)."""
    return signed + b62(zlib.crc32(signed.encode("ascii")), 6)


def token(prefix: str, id_bytes: bytes, secret: bytes) -> str:
    return seal(f"{prefix}_{blocks(id_bytes)}{blocks(secret)}")


def fixed(label: str, n: int) -> bytes:
    """n deterministic bytes named by label."""
    return hashlib.sha256(label.encode()).digest()[:n]


def token_cases() -> list:
    sid, ssecret = fixed("session id", 16), fixed("session secret", 32)
    session = token("tss", sid, ssecret)
    key = token("tsk", fixed("key id", 16), fixed("key secret", 32))
    zero = token("tss", bytes(16), bytes(32))
    ones = token("tss", b"\xff" * 16, b"\xff" * 32)
    assert ones[4:15] == "LygHa16AHYF"

    def with_char(text: str, i: int, c: str) -> str:
        return text[:i] + c + text[i + 1 :]

    last = session[-1]
    flipped_check = with_char(session, len(session) - 1, "A" if last != "A" else "B")
    in_secret = 4 + 22 + 10
    flipped_secret = with_char(session, in_secret, "A" if session[in_secret] != "A" else "B")
    overflow = seal("tss_" + "zzzzzzzzzzz" + blocks(sid)[11:] + blocks(ssecret))
    long_prefix = "p" * 32
    cases = [
        # well-formed: unknown to a fresh store with the default prefixes
        dict(name="a session token (prefix tss)", text=session, verify="unknown_token",
             id=blocks(sid)),
        dict(name="an API key token (prefix tsk)", text=key, verify="unknown_token",
             id=blocks(fixed("key id", 16))),
        dict(name="every id and secret bit zero", text=zero, verify="unknown_token",
             id="0" * 22),
        dict(name="every id and secret bit one (largest block LygHa16AHYF)", text=ones,
             verify="unknown_token", id="LygHa16AHYF" * 2),
        # well-formed text, but not this store's prefix
        dict(name="another application's prefix", text=token("abc", sid, ssecret),
             verify="malformed", reason="prefix"),
        dict(name="a prefix containing '_'", text=token("my_app", sid, ssecret),
             verify="malformed", reason="prefix"),
        dict(name="a 32-character prefix (the longest)", text=token(long_prefix, sid, ssecret),
             verify="malformed", reason="prefix"),
        dict(name="prefix in upper case (the check covers the prefix)",
             text="TSS" + session[3:], verify="malformed", reason="check"),
        # length
        dict(name="empty", text="", verify="malformed", reason="length"),
        dict(name="truncated by one character (the body is found from the end)",
             text=session[:-1], verify="malformed", reason="separator"),
        dict(name="truncated to 73 characters", text=session[:73], verify="malformed",
             reason="length"),
        dict(name="only the prefix", text="tss_", verify="malformed", reason="length"),
        dict(name="no prefix: '_' and the body", text=session[3:], verify="malformed",
             reason="length"),
        dict(name="a 33-character prefix (too long)", text=token("p" * 33, sid, ssecret),
             verify="malformed", reason="length"),
        # characters
        dict(name="a space inside", text=with_char(session, 30, " "), verify="malformed",
             reason="character"),
        dict(name="a '-' inside", text=with_char(session, 30, "-"), verify="malformed",
             reason="character"),
        dict(name="a trailing newline", text=session[:-1] + "\n", verify="malformed",
             reason="character"),
        dict(name="a non-ASCII letter", text=with_char(session, 30, "\u00e9")[:-1],
             verify="malformed", reason="character"),
        dict(name="an embedded NUL byte",
             text_hex=with_char(session, 30, "\0").encode("ascii").hex(),
             verify="malformed", reason="character"),
        dict(name="a byte that is not UTF-8",
             text_hex=(session[:30].encode() + b"\xff" + session[31:].encode()).hex(),
             verify="malformed", reason="character"),
        # structure
        dict(name="'-' in place of the separator", text="tss-" + session[4:],
             verify="malformed", reason="character"),
        dict(name="no separator before the body", text="tssx" + session[4:],
             verify="malformed", reason="separator"),
        dict(name="one character appended", text=session + "0", verify="malformed",
             reason="separator"),
        # check digits and encoding
        dict(name="the last check digit changed", text=flipped_check, verify="malformed",
             reason="check"),
        dict(name="one character of the secret changed", text=flipped_secret,
             verify="malformed", reason="check"),
        dict(name="an id block above 2^64 with a correct check", text=overflow,
             verify="malformed", reason="encoding"),
    ]
    return cases


def header_cases() -> list:
    a = "Authorization"

    def ok(name, value, scheme, tok, why):
        return dict(name=name, value=value, scheme=scheme, token=tok, why=why)

    def err(name, value, error, why):
        return dict(name=name, value=value, error=error, why=why)

    return [
        ok(a, "Token token=nugyUyuzq6nqvm_uiesD", "token", "nugyUyuzq6nqvm_uiesD",
           "Flame Analytics sessions, unquoted"),
        ok(a, 'Token token="123456abcdef"', "token", "123456abcdef", "quoted"),
        ok(a, 'Token realm="x", token="abc"', "token", "abc", "token among other parameters"),
        ok(a, 'Token token="abc", expires="2030"', "token", "abc", "token first"),
        ok(a, "TOKEN TOKEN=abc", "token", "abc", "scheme and key are case-insensitive"),
        ok(a, "Token abc", "token", "abc", "Token with a bare value"),
        ok(a, "token cdf2923f-c89f", "token", "cdf2923f-c89f", "Overvis: lower-case token"),
        ok(a, "ApiKey c42aaacd-45b2-4f76-8574-ce36981cf488", "api_key",
           "c42aaacd-45b2-4f76-8574-ce36981cf488", "Flame Analytics API keys"),
        ok(a, "Api-Key abc", "api_key", "abc", "Api-Key spelling"),
        ok(a, "apikey abc", "api_key", "abc", "case-insensitive"),
        ok(a, "Bearer abc.def", "bearer", "abc.def", "Bearer"),
        ok(a, "  bearer \t  abc  ", "bearer", "abc", "spaces and tabs around"),
        ok(a, 'Bearer "abc"', "bearer", "abc", "a quoted bearer token"),
        ok("authorization", "Bearer abc", "bearer", "abc", "header names are case-insensitive"),
        ok("Auth-Token", "abc", "bare", "abc", "BookingBug"),
        ok("auth-token", "  abc  ", "bare", "abc", "trimmed"),
        ok("Auth-Token", '"abc"', "bare", "abc", "quoted"),
        ok("X-Access-Token", "abc", "bare", "abc", "Webitel (with X-Key, checked by the app)"),
        ok("X-Auth-Token", "abc", "bare", "abc", "common bare header"),
        ok("X-Api-Key", "abc", "bare", "abc", "common bare header"),
        err(a, "", "credential_empty", "empty"),
        err(a, " \t ", "credential_empty", "only whitespace"),
        err(a, "Basic dXNlcjpwYXNz", "unknown_scheme", "Basic is not a token scheme"),
        err(a, "abc", "unknown_scheme", "a lone word is read as a scheme"),
        err(a, "Token", "missing_token", "a scheme alone"),
        err(a, "Bearer", "missing_token", "scheme without token"),
        err(a, "Token realm=x", "missing_token", "parameters without token"),
        err(a, 'Bearer ""', "missing_token", "empty quoted token"),
        err(a, 'Token token="abc', "unterminated_quote", "no closing quote"),
        err(a, 'Bearer "abc', "unterminated_quote", "no closing quote"),
        err(a, "Bearer a b", "invalid_character", "space inside the token"),
        err(a, "Bearer a,b", "invalid_character", "comma inside the token"),
        err(a, "Bearer a\\b", "invalid_character", "backslash inside the token"),
        err(a, "Bearer a\u0001b", "invalid_character", "control character"),
        err(a, 'Token foo="x" token=abc', "invalid_character", "parameters without a comma"),
        err(a, 'Token token="abc" junk', "invalid_character", "text after the token parameter"),
        err(a, "Token token=abc, Token token=def", "invalid_character",
            "two credentials in one value (a server joined two headers)"),
        err(a, "Token token=abc, token=def", "invalid_character", "the token parameter twice"),
        ok(a, "Token token=abc,", "token", "abc", "a trailing comma"),
        ok(a, "Token dGVzdA==", "token", "dGVzdA==",
           "a token68 value with padding is a value, not a parameter list"),
        ok(a, "Token x-realm=1, token=abc", "token", "abc",
           "parameter names are RFC 9110 tokens"),
        dict(name=a, value_hex=b"Bearer ab\xffcd".hex(), error="invalid_character",
             why="a value that is not UTF-8"),
        err(a, "Bearer " + "a" * 4090, "credential_too_long", "4097 bytes"),
        ok(a, "Bearer " + "a" * 4089, "bearer", "a" * 4089, "4096 bytes: the longest"),
        err("Cookie", "session=abc", "unsupported_header", "not a credential header"),
        err("X-Key", "abc", "unsupported_header", "X-Key names the token, it is not one"),
        dict(name_hex=b"Auth-\xffToken".hex(), value="abc", error="unsupported_header",
             why="a name that is not UTF-8"),
        err("Auth-Token", "", "credential_empty", "empty bare header"),
        err("Auth-Token", 'a"b', "invalid_character", "quote inside"),
        err("Auth-Token", '"abc', "unterminated_quote", "no closing quote"),
    ]


T0 = 1_700_000_000_000


def expiry_cases() -> list:
    def step(advance, expect, **kw):
        return dict(advance_ms=advance, action=kw.pop("action", "verify"), expect=expect, **kw)

    return [
        dict(name="a session with ttl 1000 ms: valid at 999, expired at 1000",
             issue=dict(kind="session", ttl_ms=1000),
             steps=[step(999, "ok"), step(1, "expired"), step(10_000, "expired")]),
        dict(name="a session with ttl 1 ms: valid when issued, expired 1 ms later",
             issue=dict(kind="session", ttl_ms=1),
             steps=[step(0, "ok"), step(1, "expired")]),
        dict(name="idle timeout 10000 ms, never used: idle at 10000",
             issue=dict(kind="session", ttl_ms=86_400_000, idle_timeout_ms=10_000),
             steps=[step(10_000, "idle")]),
        dict(name="idle timeout 10000 ms, unused for 9999 ms: still valid",
             issue=dict(kind="session", ttl_ms=86_400_000, idle_timeout_ms=10_000),
             steps=[step(9_999, "ok")]),
        dict(name="idle timeout 10000 ms: every successful verify restarts it (uses are "
                  "recorded at a resolution of one second)",
             issue=dict(kind="session", ttl_ms=86_400_000, idle_timeout_ms=10_000),
             steps=[step(9_999, "ok"), step(9_999, "ok"), step(9_999, "ok"),
                    step(9_999, "ok"), step(10_000, "idle")]),
        dict(name="ttl 15000 ms and idle 10000 ms: the ttl ends it although it is in use",
             issue=dict(kind="session", ttl_ms=15_000, idle_timeout_ms=10_000),
             steps=[step(9_000, "ok"), step(5_999, "ok"), step(1, "expired")]),
        dict(name="max lifetime 2000 ms caps a ttl of 5000 ms",
             issue=dict(kind="session", ttl_ms=5000, max_lifetime_ms=2000),
             steps=[step(1999, "ok"), step(1, "expired")]),
        dict(name="a renewal at 500 ms by 1000 ms moves the expiry to 1500 ms",
             issue=dict(kind="session", ttl_ms=1000),
             steps=[step(500, "ok", action="renew", extend_by_ms=1000, capped=False),
                    step(999, "ok"), step(1, "expired")]),
        dict(name="a renewal is capped by the max lifetime",
             issue=dict(kind="session", ttl_ms=1000, max_lifetime_ms=1500),
             steps=[step(500, "ok", action="renew", extend_by_ms=5000, capped=True),
                    step(999, "ok"), step(1, "expired"),
                    step(0, "expired", action="renew", extend_by_ms=1000)]),
        dict(name="an API key never expires unless asked (ten years later)",
             issue=dict(kind="api_key"),
             steps=[step(315_360_000_000, "ok")]),
        dict(name="an API key with ttl 60000 ms",
             issue=dict(kind="api_key", ttl_ms=60_000),
             steps=[step(59_999, "ok"), step(1, "expired")]),
        dict(name="a session that never expires (ttl none)",
             issue=dict(kind="session", ttl_ms=-1, max_lifetime_ms=-1),
             steps=[step(315_360_000_000, "ok")]),
        dict(name="a limited-use token: two uses, the third is refused",
             issue=dict(kind="session", ttl_ms=60_000, max_uses=2),
             steps=[step(0, "ok"), step(0, "ok"), step(0, "exhausted"), step(60_000, "expired")]),
    ]


COMMENT = [
    "Golden vectors of tessera, read by the Rust, C, Python and Ruby tests.",
    "Generated by tests/vectors/generate.py (edit it, then run it); never edit by hand.",
    "Status names are those of tessera_status_name() (include/tessera.h): 'ok', 'malformed',",
    "'unknown_token', 'expired', 'idle', 'exhausted', 'credential_empty', ... (the Rust",
    "core's Rejection::as_str() says 'unknown' for 'unknown_token').",
    "",
    "tokens[]: {name, text | text_hex, verify, reason?, id?}. The token's bytes are `text`",
    "(UTF-8) or, when they are not valid UTF-8 or hold a NUL, `text_hex` (hex of the bytes).",
    "Verify them on a fresh store opened with the default prefixes (tss sessions, tsk API",
    "keys): `verify` is the expected status. 'unknown_token' means well-formed (then `id` is",
    "the token's public id, the 22 characters after the prefix and '_'); 'malformed' comes",
    "with `reason`, the core's MalformedReason (length, character, separator, prefix,",
    "encoding, check); reason_messages[reason] is a fragment of the last-error message.",
    "",
    "headers[]: {name | name_hex, value | value_hex, why, and either scheme + token or error}.",
    "Pass (name, value) to tessera_parse_header: on success `scheme` is the tessera_scheme",
    "('token', 'bearer', 'api_key', 'bare') and `token` the token found; otherwise `error` is",
    "the status name.",
    "",
    "expiry[]: {name, issue, steps[]}. Open an in-memory store with a manual clock at",
    "`clock_start_ms` and default options. issue: {kind: 'session' | 'api_key', ttl_ms?,",
    "idle_timeout_ms?, max_lifetime_ms?, max_uses?}; a missing field keeps the default, -1",
    "is TESSERA_DURATION_NONE. Sessions are issued for subject 'golden', API keys for",
    "tenant 'golden'. Each step first advances the clock by `advance_ms` (cumulative), then",
    "does `action`: 'verify' (expect the status of tessera_verify) or 'renew' (tessera_renew",
    "by the token's text with `extend_by_ms`; expect its status and, when 'ok', `capped`).",
]

REASON_MESSAGES = {
    "length": "wrong length",
    "character": "character",
    "separator": "no '_'",
    "prefix": "prefix",
    "encoding": "base62",
    "check": "check digits",
}


def document() -> dict:
    return {
        "$comment": COMMENT,
        "version": 1,
        "prefixes": {"session": "tss", "api_key": "tsk"},
        "reason_messages": REASON_MESSAGES,
        "tokens": token_cases(),
        "headers": header_cases(),
        "clock_start_ms": T0,
        "expiry": expiry_cases(),
    }


def render() -> str:
    return json.dumps(document(), indent=1, ensure_ascii=True) + "\n"


def main() -> int:
    text = render()
    if "--check" in sys.argv[1:]:
        if OUT.read_text() != text:
            print(f"{OUT} is stale: run python3 {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
