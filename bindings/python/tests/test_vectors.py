"""The golden vectors (tests/vectors/golden.json), as every language's tests read them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import tessera

from conftest import GOLDEN

VECTORS = json.loads(GOLDEN.read_text())


def _bytes(case: dict, key: str) -> bytes:
    if f"{key}_hex" in case:
        return bytes.fromhex(case[f"{key}_hex"])
    return case[key].encode("utf-8")


def test_the_vectors_file_is_what_its_generator_writes() -> None:
    gen = GOLDEN.parent / "generate.py"
    assert subprocess.run([sys.executable, str(gen), "--check"]).returncode == 0


def test_every_token_vector_verifies_as_expected(golden: dict) -> None:
    assert len(golden["tokens"]) >= 20
    with tessera.Store.in_memory() as store:
        for case in golden["tokens"]:
            outcome = store.verify(_bytes(case, "text"))
            assert not outcome.valid, case["name"]
            assert outcome.rejection.value == case["verify"], case["name"]
            if "reason" in case:
                assert golden["reason_messages"][case["reason"]] in outcome.detail, (
                    case["name"], outcome.detail)


def test_well_formed_vectors_carry_the_id_the_store_sees(golden: dict) -> None:
    """A well-formed text's id is the 22 characters after its prefix: revoking by that id
    finds nothing (NotFound), and revoking the text itself is UnknownToken, not Malformed."""
    with tessera.Store.in_memory() as store:
        for case in golden["tokens"]:
            if case["verify"] != "unknown_token":
                continue
            assert case["text"].split("_", 1)[1][:22] == case["id"]
            with pytest.raises(tessera.NotFound):
                store.revoke_by_id(case["id"])
            with pytest.raises(tessera.UnknownToken):
                store.revoke(case["text"])


def test_malformed_vectors_are_refused_by_every_call_that_takes_a_token(golden: dict) -> None:
    with tessera.Store.in_memory() as store:
        for case in golden["tokens"]:
            if case["verify"] != "malformed":
                continue
            text = _bytes(case, "text")
            with pytest.raises(tessera.Malformed):
                store.revoke(text)
            with pytest.raises(tessera.Malformed):
                store.renew(text, extend_by=1000)


def test_every_header_vector_parses_as_expected(golden: dict) -> None:
    assert len(golden["headers"]) >= 30
    for case in golden["headers"]:
        name, value = _bytes(case, "name"), _bytes(case, "value")
        label = (case.get("name"), case.get("value", "")[:40], case["why"])
        if "error" in case:
            with pytest.raises(tessera.CredentialError) as err:
                tessera.parse_header(name, value)
            assert err.value.name == case["error"], label
        else:
            cred = tessera.parse_header(name, value)
            assert cred.scheme.name.lower() == case["scheme"], label
            assert cred.token == case["token"], label


def test_authorization_vectors_parse_the_same_through_parse_authorization(golden: dict) -> None:
    for case in golden["headers"]:
        if case.get("name", "").lower() != "authorization":
            continue
        value = _bytes(case, "value")
        if "error" in case:
            with pytest.raises(tessera.CredentialError) as err:
                tessera.parse_authorization(value)
            assert err.value.name == case["error"]
        else:
            assert tessera.parse_authorization(value).token == case["token"]


def _issue(store: tessera.Store, spec: dict) -> tessera.Issued:
    kw = {}
    for key in ("ttl_ms", "idle_timeout_ms", "max_lifetime_ms"):
        if key in spec:
            kw[key[:-3]] = tessera.NEVER if spec[key] == -1 else spec[key]
    if "max_uses" in spec:
        kw["max_uses"] = spec["max_uses"]
    if spec["kind"] == "session":
        return store.issue_session("golden", **kw)
    return store.issue_api_key("golden", **kw)


@pytest.mark.parametrize("case", VECTORS["expiry"], ids=[c["name"] for c in VECTORS["expiry"]])
def test_expiry_vector(golden: dict, case: dict) -> None:
    clock = tessera.Clock(golden["clock_start_ms"])
    with tessera.Store.in_memory(clock=clock) as store:
        token = _issue(store, case["issue"]).token
        for i, step in enumerate(case["steps"]):
            clock.advance(step["advance_ms"])
            where = f"{case['name']}, step {i}"
            if step["action"] == "verify":
                outcome = store.verify(token)
                got = "ok" if outcome else outcome.rejection.value
                assert got == step["expect"], where
            else:
                assert step["action"] == "renew"
                if step["expect"] == "ok":
                    renewal = store.renew(token, extend_by=step["extend_by_ms"])
                    if "capped" in step:
                        assert renewal.capped == step["capped"], where
                else:
                    with pytest.raises(tessera.TesseraError) as err:
                        store.renew(token, extend_by=step["extend_by_ms"])
                    assert err.value.name == step["expect"], where


def test_a_header_of_any_length_above_the_limit_is_a_credential_error() -> None:
    # Above the limit on every input of the library too (1 MiB): still a bad credential (a 401),
    # never a usage error of the host.
    huge = b"Token token=" + b"x" * (2 << 20)
    with pytest.raises(tessera.CredentialTooLong):
        tessera.parse_header("Authorization", huge)
    with pytest.raises(tessera.CredentialTooLong):
        tessera.parse_authorization(huge)
