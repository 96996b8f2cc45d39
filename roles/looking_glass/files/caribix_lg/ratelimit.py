"""Per-client rate limiting (a token bucket per client address)."""

from __future__ import annotations

import threading
import time


class RateLimiter:
    """Allow ``rate`` requests a second per client, bursts up to ``burst``."""

    def __init__(
        self, rate: float, burst: int, max_clients: int = 10000, clock=time.monotonic
    ):
        self.rate = float(rate)
        self.burst = float(burst)
        self.max_clients = max_clients
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, client: str) -> tuple[bool, float]:
        """``(allowed, seconds until the next request would be allowed)``."""
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(client, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._buckets[client] = (tokens - 1, now)
                allowed, wait = True, 0.0
            else:
                self._buckets[client] = (tokens, now)
                allowed, wait = False, (1 - tokens) / self.rate
            if len(self._buckets) > self.max_clients:
                self._forget_idle(now)
        return allowed, wait

    def _forget_idle(self, now: float) -> None:
        # A bucket that has refilled completely carries no information.
        full_after = self.burst / self.rate
        for client, (_, last) in list(self._buckets.items()):
            if now - last >= full_after:
                del self._buckets[client]
