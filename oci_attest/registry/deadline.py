"""A total time limit on every registry operation, enforced on the socket.

``timeout=(connect, read)`` bounds each wait for the *next* byte, so a registry that trickles
one byte per second (in its headers, its TLS handshake or its body) keeps a blocking read
alive for ever. A deadline is therefore kept per operation (a manifest GET with its retries and
its body, one page of a list, one read of a layer): when it expires, a watchdog timer shuts
down every socket the operation has used, which wakes the blocked read at once, and the
operation fails with one line naming the registry (exit 5). A verification as a whole (which
may be a thousand operations on a flooded image) has a limit of its own, :func:`job`.

The sockets are found through urllib3 connection classes that register themselves with the
deadline active in their thread when they connect or send a request; :func:`install` puts them
into a requests adapter (direct and through a proxy).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import weakref
from collections.abc import Iterator
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.poolmanager import PoolManager

#: Seconds one registry operation may take in all (``ATTEST_REGISTRY_TIMEOUT``).
DEFAULT_DEADLINE = 120.0
ENV_DEADLINE = "ATTEST_REGISTRY_TIMEOUT"
#: Seconds the registry reads of one verification may take in all (``ATTEST_VERIFY_TIMEOUT``).
DEFAULT_JOB_DEADLINE = 600.0
ENV_JOB_DEADLINE = "ATTEST_VERIFY_TIMEOUT"


def configured_deadline(name: str = ENV_DEADLINE, default: float = DEFAULT_DEADLINE) -> float:
    """A limit from the environment, else the default; never below 0.1s."""
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        return max(0.1, float(raw))
    except ValueError:
        return default


class Deadline:
    """A time limit and the connections used under it. An operation's deadline may sit inside
    a job's (a whole verification, ``ATTEST_VERIFY_TIMEOUT``): a connection is watched by both,
    and whichever expires first cuts it."""

    def __init__(self, seconds: float, *, job: str | None = None,
                 parent: Deadline | None = None) -> None:
        self.seconds = seconds
        self.job = job
        self.parent = parent
        self.expires = time.monotonic() + seconds
        self._fired = False
        self._lock = threading.Lock()
        self._connections: weakref.WeakSet[_Watched] = weakref.WeakSet()

    @property
    def expired(self) -> bool:
        return self.fired_by() is not None

    def fired_by(self) -> Deadline | None:
        """The deadline (this one or an enclosing one) that has expired, if any."""
        deadline: Deadline | None = self
        while deadline is not None:
            if deadline._fired:
                return deadline
            deadline = deadline.parent
        return None

    def remaining(self) -> float:
        return max(0.0, self.expires - time.monotonic())

    def watch(self, connection: _Watched) -> None:
        with self._lock:
            self._connections.add(connection)
        if self.parent is not None:
            self.parent.watch(connection)
        if self.expired:
            connection.cut()

    def fire(self) -> None:
        """Expire: wake every blocked read under this deadline by shutting its socket down."""
        with self._lock:
            self._fired = True
            connections = list(self._connections)
        for connection in connections:
            connection.cut()


_current = threading.local()


def current() -> Deadline | None:
    deadline: Deadline | None = getattr(_current, "deadline", None)
    return deadline


@contextlib.contextmanager
def _installed(deadline: Deadline) -> Iterator[Deadline]:
    previous = current()
    timer = threading.Timer(deadline.seconds, deadline.fire)
    timer.daemon = True
    timer.start()
    _current.deadline = deadline
    try:
        yield deadline
    finally:
        timer.cancel()
        _current.deadline = previous


@contextlib.contextmanager
def scope(seconds: float | None = None) -> Iterator[Deadline]:
    """Run one registry operation under a deadline; inside an operation (one made of several
    requests) the enclosing operation's deadline is reused, so the limit is for the whole
    operation, not per request. Inside a job the operation gets its own, within the job's."""
    existing = current()
    if existing is not None and existing.job is None:
        yield existing
        return
    deadline = Deadline(seconds if seconds is not None else configured_deadline(),
                        parent=existing)
    with _installed(deadline):
        yield deadline


@contextlib.contextmanager
def job(name: str, seconds: float) -> Iterator[Deadline]:
    """A limit on a whole job made of many operations (a verification)."""
    with _installed(Deadline(seconds, job=name, parent=current())) as deadline:
        yield deadline


def watch_response(response: Any) -> None:
    """Put the connection a streamed response is read from under the current deadline (for
    bodies read in a later operation than the one that sent the request)."""
    deadline = current()
    connection = getattr(getattr(response, "raw", None), "_connection", None)
    if deadline is not None and isinstance(connection, _Watched):
        deadline.watch(connection)


class _Watched:
    """Mixin for urllib3 connections: register with the thread's deadline and let it cut us."""

    sock: Any
    _attest_fd: int | None = None

    def _attest_watch(self) -> None:
        deadline = current()
        if deadline is not None:
            deadline.watch(self)

    def cut(self) -> None:
        sock = getattr(self, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError, ValueError):
                sock.shutdown(socket.SHUT_RDWR)
                return
        fd = self._attest_fd
        if fd is not None:
            # Mid-connect (TLS handshake): the socket object is not published yet.
            with contextlib.suppress(OSError):
                dup = socket.socket(fileno=os.dup(fd))
                try:
                    dup.shutdown(socket.SHUT_RDWR)
                finally:
                    dup.close()


class _DeadlineHTTPConnection(_Watched, HTTPConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        self._attest_fd = sock.fileno()
        return sock

    def connect(self) -> None:
        self._attest_watch()
        try:
            super().connect()
        finally:
            self._attest_fd = None

    def request(self, *args: Any, **kwargs: Any) -> None:
        self._attest_watch()
        super().request(*args, **kwargs)


class _DeadlineHTTPSConnection(_Watched, HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        self._attest_fd = sock.fileno()
        return sock

    def connect(self) -> None:
        self._attest_watch()
        try:
            super().connect()
        finally:
            self._attest_fd = None

    def request(self, *args: Any, **kwargs: Any) -> None:
        self._attest_watch()
        super().request(*args, **kwargs)


class _Pool(HTTPConnectionPool):
    ConnectionCls = _DeadlineHTTPConnection


class _TLSPool(HTTPSConnectionPool):
    ConnectionCls = _DeadlineHTTPSConnection


_POOLS = {"http": _Pool, "https": _TLSPool}


class DeadlineAdapter(HTTPAdapter):
    """A requests adapter whose connections (direct or through a proxy) obey deadlines."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> PoolManager:
        manager: PoolManager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = dict(_POOLS)
        return manager
