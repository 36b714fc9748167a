"""Token buckets per client, so one noisy or hostile client cannot take the node's time from the others."""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import OrderedDict
from collections.abc import Callable


class RateLimiter:
    """A token bucket per key: ``rate`` tokens a second, at most ``burst`` saved up.

    At most ``max_keys`` buckets are kept; the one used least recently makes room for a new key. (Forgetting
    every bucket at once would hand a client that fills the table a fresh bucket of its own.)
    """

    def __init__(self, rate: float, burst: int, *, max_keys: int = 10_000,
                 clock: Callable[[], float] | None = None) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._clock = clock or time.monotonic  # seconds; a test may stop it
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        """Take one token for ``key``; False if its bucket is empty."""
        t = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), t))
            tokens = min(float(self.burst), tokens + (t - last) * self.rate)
            if key not in self._buckets and len(self._buckets) >= self.max_keys:
                self._buckets.popitem(last=False)
            allowed = tokens >= 1.0
            self._buckets[key] = (tokens - 1.0 if allowed else tokens, t)
            self._buckets.move_to_end(key)
            return allowed


def client_key(host: str) -> str:
    """The key a client's address is limited under: an IPv6 address by its /64 network, which one subscriber
    usually holds whole (rotating addresses inside it must not give fresh buckets); anything else as it is."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
