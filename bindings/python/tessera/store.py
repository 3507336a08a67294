"""The store: issue, verify, renew, revoke, list and maintain tokens."""

from __future__ import annotations

import ctypes
import enum
import os
import threading
from datetime import datetime
from types import TracebackType
from typing import Any, Iterable, List, Mapping, Optional, Tuple, Type, Union

from . import _native
from ._convert import (
    NEVER,
    Duration,
    Instant,
    _Never,
    duration_ms,
    instant_ms,
    size,
    text,
    to_datetime,
    u32,
    u64,
)
from .clock import Clock
from .errors import ClosedError, Status, TesseraError, check, error_for
from .records import (
    CapPolicy,
    Event,
    Issued,
    Kind,
    Outcome,
    Purge,
    Record,
    Renewal,
    Stats,
    take_events,
    take_list,
    take_record,
)

PathLike = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]
OptDuration = Optional[Union[Duration, _Never]]


class Durability(enum.IntEnum):
    """Whether issuing a token waits for the disk (revocations always do)."""

    DURABLE = 1
    EVENTUAL = 2


class Concurrency(enum.IntEnum):
    """Who may open the store file at the same time."""

    EXCLUSIVE = 1
    #: Any number of processes on this machine, each opening the store itself after fork()
    #: (Gunicorn, uWSGI, multiprocessing workers).
    MULTI_PROCESS = 2


def _set_duration(fn, handle, value: OptDuration, what: str) -> None:  # type: ignore[no-untyped-def]
    if value is not None:
        check(fn(handle, duration_ms(value, what)))


_SCOPE_STORE, _SCOPE_TENANT, _SCOPE_SUBJECT = 1, 2, 3  # tessera_revoke_scope

#: The path :meth:`Store.in_memory` passes: no file at all. ``None`` is refused, never taken for
#: memory (a path from an unset environment variable would give each worker a store of its own,
#: lost on restart).
_IN_MEMORY: Any = object()


class _Request:
    """A ``tessera_request`` built from keyword arguments, freed on exit."""

    def __init__(  # type: ignore[no-untyped-def]
        self, kind: Kind, *, subject, tenant, scopes, label, metadata, ttl, idle_timeout,
        max_lifetime, max_uses,
    ) -> None:
        lib = _native.lib
        self.handle = _native.RequestP()
        if kind == Kind.SESSION:
            if subject is None:
                raise TypeError("a session needs a subject")
            b, n = _native.buf(text(subject, "subject"))
            check(lib.tessera_request_new_session(b, n, ctypes.byref(self.handle)))
            subject = None
        elif kind == Kind.API_KEY:
            if tenant is None:
                raise TypeError("an API key needs a tenant")
            b, n = _native.buf(text(tenant, "tenant"))
            check(lib.tessera_request_new_api_key(b, n, ctypes.byref(self.handle)))
            tenant = None
        else:
            raise ValueError(f"unknown kind {kind!r}")
        try:
            self._fill(subject, tenant, scopes, label, metadata, ttl, idle_timeout,
                       max_lifetime, max_uses)
        except BaseException:
            lib.tessera_request_free(self.handle)
            raise

    def _fill(self, subject, tenant, scopes, label, metadata, ttl, idle_timeout,  # type: ignore[no-untyped-def]
              max_lifetime, max_uses) -> None:
        lib, req = _native.lib, self.handle
        if subject is not None:
            b, n = _native.buf(text(subject, "subject"))
            check(lib.tessera_request_set_subject(req, b, n))
        if tenant is not None:
            b, n = _native.buf(text(tenant, "tenant"))
            check(lib.tessera_request_set_tenant(req, b, n))
        if isinstance(scopes, (str, bytes)):
            raise TypeError("scopes must be a list of strings, not one string")
        for scope in scopes:
            b, n = _native.buf(text(scope, "scope"))
            check(lib.tessera_request_add_scope(req, b, n))
        if label is not None:
            b, n = _native.buf(text(label, "label"))
            check(lib.tessera_request_set_label(req, b, n))
        if metadata is not None:
            if not isinstance(metadata, (bytes, bytearray, memoryview)):
                raise TypeError("metadata must be bytes")
            b, n = _native.bytes_buf(bytes(metadata))
            check(lib.tessera_request_set_metadata(req, b, n))
        _set_duration(lib.tessera_request_set_ttl, req, ttl, "ttl")
        _set_duration(lib.tessera_request_set_idle_timeout, req, idle_timeout, "idle_timeout")
        _set_duration(lib.tessera_request_set_max_lifetime, req, max_lifetime, "max_lifetime")
        if max_uses is not None:
            check(lib.tessera_request_set_max_uses(req, u64(max_uses, "max_uses")))

    def __enter__(self) -> "ctypes._Pointer[_native._Request]":
        return self.handle

    def __exit__(self, *exc: object) -> None:
        _native.lib.tessera_request_free(self.handle)


class Store:
    """A tessera store: one file (or, with :meth:`in_memory` only, memory), shared by every
    thread of the process.

    Open it with keyword options (every one optional; leaving one out keeps the library's
    default), use it as a context manager, and close it; a closed store raises
    :class:`tessera.ClosedError`::

        with tessera.Store("tokens.redb") as store:
            login = store.issue_session("alice", ttl=timedelta(hours=1))
            assert store.verify(login.token)

    ``path`` is a ``str``, ``bytes`` or path-like object; ``None`` raises ``TypeError`` (a store
    in memory is :meth:`Store.in_memory`). Durations are timedeltas or int milliseconds, or
    :data:`tessera.NEVER` for none; a timedelta is rounded to the nearest millisecond (half
    up), and a positive one under half a millisecond raises :class:`tessera.InvalidArgument`
    (durations are counted in whole milliseconds), as does a negative one.

    In a process started by ``fork()``, a store opened before the fork raises
    :class:`tessera.ForkedChild`: open the store again in the child (with
    ``concurrency=Concurrency.MULTI_PROCESS`` to share the file between processes).
    """

    def __init__(
        self,
        path: PathLike,
        *,
        cache_size: Optional[int] = None,
        durability: Optional[Durability] = None,
        concurrency: Optional[Concurrency] = None,
        session_prefix: Optional[str] = None,
        api_key_prefix: Optional[str] = None,
        pepper: Optional[Union[bytes, bytearray]] = None,
        clock: Optional[Clock] = None,
        session_ttl: OptDuration = None,
        session_idle_timeout: OptDuration = None,
        session_max_lifetime: OptDuration = None,
        api_key_ttl: OptDuration = None,
        flush_interval: Optional[Duration] = None,
        sweep_interval: OptDuration = None,
        purge_batch: Optional[int] = None,
        revoked_retention: Optional[Duration] = None,
        max_metadata_len: Optional[int] = None,
        rotation_grace: Optional[Duration] = None,
        subject_caps: Optional[Mapping[Kind, Tuple[int, CapPolicy]]] = None,
        event_retention: Optional[int] = None,
    ) -> None:
        self._handle: Optional["ctypes._Pointer[_native._Store]"] = None
        self._closed = True
        self._lock = threading.Lock()
        self._clock = clock  # keeps the Python object alive with the store (not required)
        if path is None:
            raise TypeError(
                "path is None: give the store's file (a store in memory is tessera.Store.in_memory())"
            )
        #: The path the store was opened with, a ``str`` (``None`` in memory).
        self.path: Optional[str] = None if path is _IN_MEMORY else os.fsdecode(os.fspath(path))
        lib = _native.lib
        opts = _native.OptionsP()
        check(lib.tessera_options_new(ctypes.byref(opts)))
        try:
            if cache_size is not None:
                check(lib.tessera_options_set_cache_size(opts, size(cache_size, "cache_size")))
            if durability is not None:
                check(lib.tessera_options_set_durability(opts, u32(durability, "durability")))
            if concurrency is not None:
                check(lib.tessera_options_set_concurrency(opts, u32(concurrency, "concurrency")))
            if session_prefix is not None or api_key_prefix is not None:
                sp, sl = _native.buf(text("tss" if session_prefix is None else session_prefix, "session_prefix"))
                ap, al = _native.buf(text("tsk" if api_key_prefix is None else api_key_prefix, "api_key_prefix"))
                check(lib.tessera_options_set_prefixes(opts, sp, sl, ap, al))
            if pepper is not None:
                if not isinstance(pepper, (bytes, bytearray)):
                    raise TypeError("pepper must be bytes")
                # Copied straight into memory of our own, wiped once the library has its copy:
                # bytes(pepper) would leave another copy in the heap that cannot be wiped.
                with _native.wiped(_native.bytes_buf(pepper)) as (pp, pl):
                    check(lib.tessera_options_set_pepper(opts, pp, pl))
            if clock is not None:
                if not isinstance(clock, Clock):
                    raise TypeError(f"clock must be a tessera.Clock, not {type(clock).__name__}")
                check(lib.tessera_options_set_clock(opts, clock._h()))
            _set_duration(lib.tessera_options_set_session_ttl, opts, session_ttl, "session_ttl")
            _set_duration(
                lib.tessera_options_set_session_idle_timeout,
                opts,
                session_idle_timeout,
                "session_idle_timeout",
            )
            _set_duration(
                lib.tessera_options_set_session_max_lifetime,
                opts,
                session_max_lifetime,
                "session_max_lifetime",
            )
            _set_duration(lib.tessera_options_set_api_key_ttl, opts, api_key_ttl, "api_key_ttl")
            _set_duration(
                lib.tessera_options_set_flush_interval, opts, flush_interval, "flush_interval"
            )
            _set_duration(
                lib.tessera_options_set_sweep_interval, opts, sweep_interval, "sweep_interval"
            )
            if purge_batch is not None:
                check(lib.tessera_options_set_purge_batch(opts, size(purge_batch, "purge_batch")))
            _set_duration(
                lib.tessera_options_set_revoked_retention,
                opts,
                revoked_retention,
                "revoked_retention",
            )
            if max_metadata_len is not None:
                check(
                    lib.tessera_options_set_max_metadata_len(
                        opts, size(max_metadata_len, "max_metadata_len")
                    )
                )
            _set_duration(
                lib.tessera_options_set_rotation_grace, opts, rotation_grace, "rotation_grace"
            )
            for kind, (most, policy) in (subject_caps or {}).items():
                check(
                    lib.tessera_options_set_subject_cap(
                        opts,
                        u32(kind, "the kind of subject_caps"),
                        size(most, "the cap of subject_caps"),
                        u32(policy, "the policy of subject_caps"),
                    )
                )
            if event_retention is not None:
                check(
                    lib.tessera_options_set_event_retention(
                        opts, size(event_retention, "event_retention")
                    )
                )
            handle = _native.StoreP()
            if path is _IN_MEMORY:
                check(lib.tessera_store_open_in_memory(opts, ctypes.byref(handle)))
            else:
                pb, pl = _native.buf(os.fsencode(os.fspath(path)))
                check(lib.tessera_store_open(pb, pl, opts, ctypes.byref(handle)))
        finally:
            lib.tessera_options_free(opts)
        self._handle = handle
        self._closed = False

    @classmethod
    def in_memory(cls, **options) -> "Store":  # type: ignore[no-untyped-def]
        """A store that lives in memory only (tests, caches), with the same keyword options: the
        only way to open one. Each process has its own, so
        ``concurrency=Concurrency.MULTI_PROCESS`` raises :class:`tessera.InvalidArgument`."""
        return cls(_IN_MEMORY, **options)

    # --- lifecycle ----------------------------------------------------------------------------

    def _h(self) -> "ctypes._Pointer[_native._Store]":
        handle = self._handle
        if self._closed or handle is None:
            raise ClosedError("the store is closed")
        return handle

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def close(self) -> None:
        """Closes the store: waits for calls in flight on other threads, writes pending uses and
        closes the file (if no other handle in the process has it open), raising any error of
        doing so. Closing twice is harmless. In a forked child, closing a store inherited from
        the parent only forgets it (the parent's file is never touched)."""
        with self._lock:
            if self._closed or self._handle is None:
                return
            self._closed = True
            status = _native.lib.tessera_store_close(self._handle)
        if status not in (Status.OK, Status.FORKED_CHILD, Status.CLOSED):
            raise error_for(status, _native.last_error_message())

    def __enter__(self) -> "Store":
        self._h()
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        if exc is None:
            self.close()
            return
        # The body's exception is the one to see: an error of closing (which closes the store
        # anyway) must not replace it. It rides along as a note (Python 3.11+).
        try:
            self.close()
        except Exception as close_error:
            if hasattr(exc, "add_note"):
                exc.add_note(
                    f"closing the store failed too: {type(close_error).__name__}: {close_error}"
                )

    def __del__(self) -> None:
        handle, self._handle = getattr(self, "_handle", None), None
        if handle is not None and _native is not None:
            try:
                _native.lib.tessera_store_free(handle)
            except Exception:  # interpreter shutdown
                pass

    def __repr__(self) -> str:
        where = "memory" if self.path is None else repr(self.path)
        return f"<tessera.Store {where}{' closed' if self._closed else ''}>"

    # A Store owns its handle: a copy would free it (in ``__del__``) while the original still
    # uses it. Open the store again instead (a second open of a file shares its store).

    def __copy__(self) -> "Store":
        raise TypeError("a tessera.Store cannot be copied: open the store again instead")

    def __deepcopy__(self, memo: object) -> "Store":
        raise TypeError("a tessera.Store cannot be copied: open the store again instead")

    def __reduce_ex__(self, protocol: object) -> str:
        raise TypeError(
            "a tessera.Store cannot be pickled: pass its path and open it in the other process"
        )

    # --- issue -----------------------------------------------------------------------------

    def issue_session(
        self,
        subject: str,
        *,
        tenant: Optional[str] = None,
        scopes: Iterable[str] = (),
        label: Optional[str] = None,
        metadata: Optional[bytes] = None,
        ttl: OptDuration = None,
        idle_timeout: OptDuration = None,
        max_lifetime: OptDuration = None,
        max_uses: Optional[int] = None,
    ) -> Issued:
        """Issues a login session of ``subject`` (the user id). Durations left out take the
        store's defaults; :data:`tessera.NEVER` means none; a timedelta is rounded to the
        nearest millisecond (half up; one under half a millisecond is refused). Raises
        :class:`tessera.LimitReached` when a per-subject cap refuses it."""
        with _Request(Kind.SESSION, subject=subject, tenant=tenant, scopes=scopes, label=label,
                      metadata=metadata, ttl=ttl, idle_timeout=idle_timeout,
                      max_lifetime=max_lifetime, max_uses=max_uses) as req:
            return self._hand_over(
                lambda buf, n, rec: _native.lib.tessera_issue(
                    self._h(), req, buf, _native.TOKEN_BUF_LEN, n, rec
                )
            )

    def issue_api_key(
        self,
        tenant: str,
        *,
        subject: Optional[str] = None,
        scopes: Iterable[str] = (),
        label: Optional[str] = None,
        metadata: Optional[bytes] = None,
        ttl: OptDuration = None,
        idle_timeout: OptDuration = None,
        max_lifetime: OptDuration = None,
        max_uses: Optional[int] = None,
    ) -> Issued:
        """Issues an API key owned by ``tenant`` (and optionally by the user ``subject``). It
        never expires unless ``ttl`` (or the store's ``api_key_ttl``) says so."""
        with _Request(Kind.API_KEY, subject=subject, tenant=tenant, scopes=scopes, label=label,
                      metadata=metadata, ttl=ttl, idle_timeout=idle_timeout,
                      max_lifetime=max_lifetime, max_uses=max_uses) as req:
            return self._hand_over(
                lambda buf, n, rec: _native.lib.tessera_issue(
                    self._h(), req, buf, _native.TOKEN_BUF_LEN, n, rec
                )
            )

    def issue_child(
        self,
        parent: Union[str, bytes],
        *,
        kind: Kind = Kind.SESSION,
        subject: Optional[str] = None,
        tenant: Optional[str] = None,
        scopes: Iterable[str] = (),
        label: Optional[str] = None,
        metadata: Optional[bytes] = None,
        ttl: OptDuration = None,
        idle_timeout: OptDuration = None,
        max_lifetime: OptDuration = None,
        max_uses: Optional[int] = None,
    ) -> Issued:
        """Issues a child of the valid token ``parent`` (its text): a session of ``subject``
        or, with ``kind=Kind.API_KEY``, an API key of ``tenant``. The child never outlives its
        parent (``Issued.clamped`` says whether its expiry was cut to the parent's), and
        revoking the parent revokes it. Raises a :class:`tessera.Rejected` subclass if the
        parent is not valid."""
        with _native.wiped(_native.buf(text(parent, "parent"))) as (pb, pl):
            return self._issue_child(_native.lib.tessera_issue_child, pb, pl, kind, subject,
                                     tenant, scopes, label, metadata, ttl, idle_timeout,
                                     max_lifetime, max_uses)

    def issue_child_by_id(
        self,
        parent_id: str,
        *,
        kind: Kind = Kind.SESSION,
        subject: Optional[str] = None,
        tenant: Optional[str] = None,
        scopes: Iterable[str] = (),
        label: Optional[str] = None,
        metadata: Optional[bytes] = None,
        ttl: OptDuration = None,
        idle_timeout: OptDuration = None,
        max_lifetime: OptDuration = None,
        max_uses: Optional[int] = None,
    ) -> Issued:
        """As :meth:`issue_child`, naming the parent by its id (:class:`tessera.NotFound` if
        no token has it)."""
        pb, pl = _native.buf(text(parent_id, "parent_id"))
        return self._issue_child(_native.lib.tessera_issue_child_by_id, pb, pl, kind, subject,
                                 tenant, scopes, label, metadata, ttl, idle_timeout,
                                 max_lifetime, max_uses)

    def _issue_child(self, fn, pb, pl, kind, subject, tenant, scopes, label,  # type: ignore[no-untyped-def]
                     metadata, ttl, idle_timeout, max_lifetime, max_uses) -> Issued:
        clamped = ctypes.c_bool()
        with _Request(Kind(kind), subject=subject, tenant=tenant, scopes=scopes, label=label,
                      metadata=metadata, ttl=ttl, idle_timeout=idle_timeout,
                      max_lifetime=max_lifetime, max_uses=max_uses) as req:
            issued = self._hand_over(
                lambda buf, n, rec: fn(
                    self._h(), pb, pl, req, buf, _native.TOKEN_BUF_LEN, n, rec,
                    ctypes.byref(clamped),
                )
            )
        return Issued(token=issued.token, record=issued.record, clamped=bool(clamped.value))

    def rotate(self, token: Union[str, bytes]) -> Issued:
        """Rotates a valid token: issues its successor in the same family. The old token keeps
        working for the store's ``rotation_grace`` (a retry inside it returns the same
        successor); presenting it later revokes the whole family
        (:class:`tessera.ReuseDetected`)."""
        with _native.wiped(_native.buf(text(token, "token"))) as (tb, tl):
            return self._hand_over(
                lambda buf, n, rec: _native.lib.tessera_rotate(
                    self._h(), tb, tl, buf, _native.TOKEN_BUF_LEN, n, rec
                )
            )

    def roll(self, key: Union[str, bytes], *, grace: Duration) -> Issued:
        """Rolls an API key (its text): a new key with the same tenant, subject, scopes and
        label, whose lifetime starts now (it expires as long after the roll as the old key did
        after its issue, renewals included, within the old key's maximum lifetime counted from
        the roll); the old one keeps working for ``grace``, then expires."""
        with _native.wiped(_native.buf(text(key, "key"))) as (kb, kl):
            grace_ms = duration_ms(grace, "grace")
            return self._hand_over(
                lambda buf, n, rec: _native.lib.tessera_roll(
                    self._h(), kb, kl, grace_ms, buf, _native.TOKEN_BUF_LEN, n, rec
                )
            )

    def roll_by_id(self, key_id: str, *, grace: Duration) -> Issued:
        """As :meth:`roll`, naming the key by its id."""
        kb, kl = _native.buf(text(key_id, "key_id"))
        grace_ms = duration_ms(grace, "grace")
        return self._hand_over(
            lambda buf, n, rec: _native.lib.tessera_roll_by_id(
                self._h(), kb, kl, grace_ms, buf, _native.TOKEN_BUF_LEN, n, rec
            )
        )

    def _hand_over(self, call) -> Issued:  # type: ignore[no-untyped-def]
        """Runs a C call that writes a token text and a record, and takes both."""
        token = ctypes.create_string_buffer(_native.TOKEN_BUF_LEN)
        n = ctypes.c_size_t()
        rec = ctypes.POINTER(_native.Record)()
        try:
            check(call(token, ctypes.byref(n), ctypes.byref(rec)))
            return Issued(token=token.raw[: n.value].decode("ascii"), record=take_record(rec))
        finally:
            ctypes.memset(token, 0, _native.TOKEN_BUF_LEN)

    # --- verify ----------------------------------------------------------------------------

    def verify(
        self,
        token: Union[str, bytes, None],
        *,
        tenant: Optional[str] = None,
        scopes: Iterable[str] = (),
    ) -> Outcome:
        """Verifies a token text as the client presented it, optionally requiring a tenant and
        scopes. Never raises for an invalid token: the :class:`tessera.Outcome` is valid (with
        the record) or says why not (``None``, no token at all, is malformed: pass a missing
        header straight in). Raises for faults (closed store, storage errors), and
        :class:`tessera.InvalidArgument` for requirements no token can meet (an empty scope, one
        with whitespace or a control character, a name over 255 bytes)."""
        lib = _native.lib
        rec = ctypes.POINTER(_native.Record)()
        presented = b"" if token is None else text(token, "token")
        with _native.wiped(_native.buf(presented)) as (tb, tl):
            if isinstance(scopes, (str, bytes)):
                raise TypeError("scopes must be a list of strings, not one string")
            scopes = list(scopes)
            if tenant is None and not scopes:
                status = lib.tessera_verify(self._h(), tb, tl, ctypes.byref(rec))
            else:
                reqs = _native.RequirementsP()
                check(lib.tessera_requirements_new(ctypes.byref(reqs)))
                try:
                    if tenant is not None:
                        b, n = _native.buf(text(tenant, "tenant"))
                        check(lib.tessera_requirements_set_tenant(reqs, b, n))
                    for scope in scopes:
                        b, n = _native.buf(text(scope, "scope"))
                        check(lib.tessera_requirements_add_scope(reqs, b, n))
                    status = lib.tessera_verify_with(self._h(), tb, tl, reqs, ctypes.byref(rec))
                finally:
                    lib.tessera_requirements_free(reqs)
        if status == 0:
            return Outcome(record=take_record(rec))
        rejected = Outcome._rejected(status, _native.last_error_message())
        if rejected is None:
            check(status)
        assert rejected is not None
        return rejected

    # --- renew -----------------------------------------------------------------------------

    def renew(self, token: Union[str, bytes], *, extend_by: Duration) -> Renewal:
        """Renews a live token presented by its text: expiry becomes now + ``extend_by``, never
        past its maximum lifetime. Raises a :class:`tessera.Rejected` subclass if the token is
        not valid."""
        with _native.wiped(_native.buf(text(token, "token"))) as (b, n):
            return self._renew(_native.lib.tessera_renew, b, n, extend_by)

    def renew_by_id(self, token_id: str, *, extend_by: Duration) -> Renewal:
        """As :meth:`renew`, naming the token by its id; :class:`tessera.NotFound` if none."""
        b, n = _native.buf(text(token_id, "token_id"))
        return self._renew(_native.lib.tessera_renew_by_id, b, n, extend_by)

    def _renew(self, fn, b, n, extend_by: Duration) -> Renewal:  # type: ignore[no-untyped-def]
        rec = ctypes.POINTER(_native.Record)()
        capped = ctypes.c_bool()
        check(
            fn(self._h(), b, n, duration_ms(extend_by, "extend_by"), ctypes.byref(rec), ctypes.byref(capped))
        )
        return Renewal(record=take_record(rec), capped=bool(capped.value))

    # --- revoke ----------------------------------------------------------------------------

    def revoke(self, token: Union[str, bytes]) -> int:
        """Revokes the token presented by its text (a logout). Durable when it returns; every
        verify that starts afterwards answers revoked. Its descendants and, for a rotated session,
        its other generations are revoked with it. Returns how many tokens were revoked (0 if it
        already was).
        Raises :class:`tessera.Malformed`, :class:`tessera.UnknownToken` or
        :class:`tessera.BadSecret` when the text names no token of this store."""
        out = ctypes.c_size_t()
        with _native.wiped(_native.buf(text(token, "token"))) as (b, n):
            check(_native.lib.tessera_revoke(self._h(), b, n, ctypes.byref(out)))
        return out.value

    def revoke_by_id(self, token_id: str) -> int:
        """Revokes the token with this id (an administrative action); :class:`tessera.NotFound`
        if none."""
        b, n = _native.buf(text(token_id, "token_id"))
        out = ctypes.c_size_t()
        check(_native.lib.tessera_revoke_by_id(self._h(), b, n, ctypes.byref(out)))
        return out.value

    def revoke_subject(self, subject: str, *, except_id: Optional[str] = None) -> int:
        """Revokes every token of ``subject`` not revoked yet, in every tenant and of both kinds,
        with their descendants, except ``except_id`` ("log out my other devices"). Returns how
        many were revoked, counting tokens past a deadline and not purged yet."""
        sb, sl = _native.buf(text(subject, "subject"))
        # "" is an except_id (the library refuses it: not an id); None is no exception.
        eb, el = _native.optional_buf(None if except_id is None else text(except_id, "except_id"))
        out = ctypes.c_size_t()
        check(_native.lib.tessera_revoke_subject(self._h(), sb, sl, eb, el, ctypes.byref(out)))
        return out.value

    def revoke_tenant(self, tenant: str) -> int:
        """Revokes every token of ``tenant`` not revoked yet, with their descendants. Returns
        how many were revoked, counting tokens past a deadline and not purged yet."""
        b, n = _native.buf(text(tenant, "tenant"))
        out = ctypes.c_size_t()
        check(_native.lib.tessera_revoke_tenant(self._h(), b, n, ctypes.byref(out)))
        return out.value

    def revoke_issued_before(
        self,
        before: Instant,
        *,
        tenant: Optional[str] = None,
        subject: Optional[str] = None,
    ) -> None:
        """Revokes every token issued strictly before ``before`` (a datetime, floored to the
        millisecond as the store's clock counts, or Unix milliseconds): of ``tenant``, of
        ``subject`` (every tenant), or of the whole store when neither is given ("sign out
        everywhere after a password change"; a rotated session counts as issued when its first
        generation was). A future instant also revokes the tokens issued until then; one more
        than a day past the store's clock raises InvalidArgument (cutoffs never go back: a time
        in microseconds would revoke every token for ever), and so does one before 2000 while
        the store's clock is past it (Unix seconds, ``int(time.time())``, read as milliseconds
        are in January 1970: nothing would be revoked)."""
        if tenant is not None and subject is not None:
            raise TypeError("give tenant or subject, not both")
        name: Optional[bytes]
        if tenant is not None:
            scope, name = _SCOPE_TENANT, text(tenant, "tenant")  # "" is the default tenant
        elif subject is not None:
            scope, name = _SCOPE_SUBJECT, text(subject, "subject")
        else:
            scope, name = _SCOPE_STORE, None
        nb, nl = _native.optional_buf(name)
        check(
            _native.lib.tessera_revoke_issued_before(
                self._h(), scope, nb, nl, instant_ms(before, "before")
            )
        )

    # --- read ------------------------------------------------------------------------------

    def get(self, token_id: str) -> Optional[Record]:
        """The record of the token with this id, whatever its state, or None if none is
        stored."""
        b, n = _native.buf(text(token_id, "token_id"))
        rec = ctypes.POINTER(_native.Record)()
        status = _native.lib.tessera_get(self._h(), b, n, ctypes.byref(rec))
        if status == Status.NOT_FOUND:
            return None
        check(status)
        return take_record(rec)

    def children(self, parent_id: str) -> List[Record]:
        """The tokens derived from the token ``parent_id``, whatever their state, oldest
        first."""
        b, n = _native.buf(text(parent_id, "parent_id"))
        out = ctypes.POINTER(_native.RecordList)()
        check(_native.lib.tessera_children(self._h(), b, n, ctypes.byref(out)))
        return take_list(out)

    def events(self, since: int = 0, limit: int = 1000) -> List[Event]:
        """The audit feed: at most ``limit`` events after the cursor ``since`` (0: the oldest
        kept), oldest first. Pass the last event's ``seq`` to read on."""
        out = ctypes.POINTER(_native.EventList)()
        since, limit = u64(since, "since"), size(limit, "limit")
        check(_native.lib.tessera_events(self._h(), since, limit, ctypes.byref(out)))
        return take_events(out)

    def list_subject(self, subject: str) -> List[Record]:
        """The live tokens of ``subject`` (every tenant), oldest first: a "your devices"
        page."""
        b, n = _native.buf(text(subject, "subject"))
        out = ctypes.POINTER(_native.RecordList)()
        check(_native.lib.tessera_list_subject(self._h(), b, n, ctypes.byref(out)))
        return take_list(out)

    def list_tenant(self, tenant: str, *, kind: Optional[Kind] = None) -> List[Record]:
        """The live tokens of ``tenant``, of one ``kind`` or of every kind, oldest first."""
        b, n = _native.buf(text(tenant, "tenant"))
        out = ctypes.POINTER(_native.RecordList)()
        k = _native.ANY_KIND if kind is None else u32(kind, "kind")
        check(_native.lib.tessera_list_tenant(self._h(), b, n, k, ctypes.byref(out)))
        return take_list(out)

    def list_api_keys(self, tenant: str) -> List[Record]:
        """The live API keys of ``tenant``, oldest first."""
        b, n = _native.buf(text(tenant, "tenant"))
        out = ctypes.POINTER(_native.RecordList)()
        check(_native.lib.tessera_list_api_keys(self._h(), b, n, ctypes.byref(out)))
        return take_list(out)

    # --- maintenance -----------------------------------------------------------------------

    def purge_batch(self) -> Purge:
        """Removes one bounded batch of expired tokens (and revoked ones past retention)."""
        removed, more = ctypes.c_size_t(), ctypes.c_bool()
        check(_native.lib.tessera_purge_batch(self._h(), ctypes.byref(removed), ctypes.byref(more)))
        return Purge(removed=removed.value, more=bool(more.value))

    def purge_expired(self) -> int:
        """Removes every expired token, batch by batch; returns how many."""
        removed = ctypes.c_size_t()
        check(_native.lib.tessera_purge_expired(self._h(), ctypes.byref(removed)))
        return removed.value

    def flush(self) -> None:
        """Writes every use recorded by verify (``last_used_at``, idle extensions) now."""
        check(_native.lib.tessera_flush(self._h()))

    def stats(self) -> Stats:
        """Counts of the stored tokens by kind, tenant and state (reads every row)."""
        out = ctypes.POINTER(_native.Stats)()
        check(_native.lib.tessera_store_stats(self._h(), ctypes.byref(out)))
        return Stats._take(out)

    def commits(self) -> int:
        """How many writes this process has made on this store (a batch that changed nothing
        is not counted)."""
        out = ctypes.c_uint64()
        check(_native.lib.tessera_commits(self._h(), ctypes.byref(out)))
        return out.value

    def now(self) -> datetime:
        """The current time by the store's clock."""
        out = ctypes.c_int64()
        check(_native.lib.tessera_now(self._h(), ctypes.byref(out)))
        return to_datetime(out.value)

    def background_error(self) -> Optional[TesseraError]:
        """Takes the last error of the store's background thread (flushing, sweeping), if one
        happened since the last call."""
        out = _native.c_status()
        check(_native.lib.tessera_background_error(self._h(), ctypes.byref(out)))
        if out.value == 0:
            return None
        return error_for(out.value, _native.last_error_message())

    def backup(self, path: PathLike) -> int:
        """Writes a consistent copy of the store to a new file; returns the tokens copied."""
        b, n = _native.buf(os.fsencode(os.fspath(path)))
        out = ctypes.c_uint64()
        check(_native.lib.tessera_backup(self._h(), b, n, ctypes.byref(out)))
        return out.value

    def compact(self) -> bool:
        """Rewrites half-empty tables into full pages and returns the free space to the file
        system; whether anything changed. Holds writers while it runs (about 1 s per million
        tokens)."""
        out = ctypes.c_bool()
        check(_native.lib.tessera_compact(self._h(), ctypes.byref(out)))
        return bool(out.value)

    def check_integrity(self) -> bool:
        """Checks every page's checksum: True if intact, False if damage was found and
        repaired."""
        out = ctypes.c_bool()
        check(_native.lib.tessera_check_integrity(self._h(), ctypes.byref(out)))
        return bool(out.value)


__all__ = ["Store", "Durability", "Concurrency", "NEVER"]
