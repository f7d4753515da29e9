"""Stage throttling as API Gateway applies it: a token bucket."""

from __future__ import annotations

from collections.abc import Callable


class TokenBucket:
    """A steady rate plus a burst allowance; `take()` is False when the stage is over it."""

    def __init__(self, rate_per_s: float, burst: int, clock: Callable[[], float]) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError(
                f"throttle needs rate_per_s > 0 and burst >= 1, got {rate_per_s!r}, {burst!r}"
            )
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._updated = clock()

    def take(self) -> bool:
        now = self._clock()
        elapsed = now - self._updated
        self._updated = now
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate_per_s)
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False
