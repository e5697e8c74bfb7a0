"""``Expiry``: how long records live after their last write, and the slack of their group refresh."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

__all__ = ["Expiry"]


@dataclass(frozen=True)
class Expiry:
    """How long records live after their last write.

    Attributes:
        ttl: Seconds of inactivity after which a record (and its group) expires.
        slack: Extra lifetime, as a fraction of ``ttl``, that lets a group refresh run only now
            and then instead of on every write.
    """

    ttl: float
    slack: float = 0.2

    def __post_init__(self) -> None:
        if not (math.isfinite(self.ttl) and self.ttl > 0):
            raise ValueError(f"ttl=<{self.ttl}> | must be a finite number of seconds above 0, or None")

    @classmethod
    def of(cls, ttl: float | timedelta | None, slack: float = 0.2) -> Expiry | None:
        """Return the policy for ``ttl`` (seconds or a ``timedelta``), or ``None`` for no expiry."""
        if isinstance(ttl, timedelta):
            ttl = ttl.total_seconds()
        return None if ttl is None else cls(ttl, slack)

    @property
    def record_ttl(self) -> float:
        """The ttl every write gives its record."""
        return self.ttl * (1 + self.slack)
