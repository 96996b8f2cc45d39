"""A small time-to-live cache that also coalesces concurrent misses.

A burst of identical requests costs the route server one ``birdc`` run:
the first request computes, the others wait for its answer, and everyone
gets the cached answer until it expires.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict


class TTLCache:
    def __init__(
        self,
        ttl: float,
        max_entries: int = 256,
        clock=time.monotonic,
        wall_clock=time.time,
    ):
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._wall_clock = wall_clock
        self._entries: OrderedDict = (
            OrderedDict()
        )  # key -> (expires, cached_at_wall, value)
        self._lock = threading.Lock()
        self._key_locks: dict = {}

    def get_or_compute(self, key, compute):
        """Return ``(value, from_cache, cached_at)``; ``cached_at`` is a Unix time."""
        entry = self._fresh(key)
        if entry:
            return entry[2], True, entry[1]
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            # Someone else may have filled it while we waited.
            entry = self._fresh(key)
            if entry:
                return entry[2], True, entry[1]
            value = compute()
            cached_at = self._wall_clock()
            with self._lock:
                self._entries[key] = (self._clock() + self.ttl, cached_at, value)
                self._entries.move_to_end(key)
                while len(self._entries) > self.max_entries:
                    old_key, _ = self._entries.popitem(last=False)
                    self._key_locks.pop(old_key, None)
            return value, False, cached_at

    def _fresh(self, key):
        with self._lock:
            entry = self._entries.get(key)
            if entry and entry[0] > self._clock():
                return entry
            return None
