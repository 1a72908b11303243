"""A bounded TTL cache whose misses are computed once, however many requests ask at once.

An admission webhook sees bursts: a Deployment scaled to 50 replicas sends 50 Pod CREATEs
naming the same new digest within milliseconds. Verifying that digest 50 times would cost 50
registry round trips and signature checks, and could push every request past the API server's
timeout. So concurrent misses for one key share one computation (the first caller computes,
the others wait on its future), and the result is kept for a TTL. Failures are not cached: a
registry outage must not outlive itself in the cache.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlightCache(Generic[K, V]):
    def __init__(self, ttl_seconds: float, max_entries: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl_seconds
        self._max = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._values: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._flights: dict[K, Future[V]] = {}
        self.hits = 0
        self.misses = 0

    def get_future(self, key: K, compute: Callable[[], V],
                   run: Callable[[Callable[[], None]], object]) -> tuple[Future[V], bool]:
        """A future for ``key``'s value and whether it was a cache hit.

        ``run`` starts the computation (e.g. a thread pool's ``submit``) so the caller can wait
        on the future with its own deadline while the computation goes on and fills the cache.
        """
        with self._lock:
            now = self._clock()
            cached = self._values.get(key)
            if cached is not None and cached[0] > now:
                self._values.move_to_end(key)
                self.hits += 1
                done: Future[V] = Future()
                done.set_result(cached[1])
                return done, True
            if cached is not None:
                del self._values[key]
            flight = self._flights.get(key)
            if flight is not None:
                self.hits += 1  # shares a computation already under way
                return flight, True
            self.misses += 1
            future: Future[V] = Future()
            self._flights[key] = future

        def work() -> None:
            try:
                value = compute()
            except BaseException as error:  # handed to every waiter, never cached
                with self._lock:
                    self._flights.pop(key, None)
                future.set_exception(error)
                return
            with self._lock:
                self._flights.pop(key, None)
                self._values[key] = (self._clock() + self._ttl, value)
                self._values.move_to_end(key)
                while len(self._values) > self._max:
                    self._values.popitem(last=False)
            future.set_result(value)

        run(work)
        return future, False

    def __len__(self) -> int:
        with self._lock:
            return len(self._values)
