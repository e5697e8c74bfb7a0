"""Reading the timestamps stored in records (ISO-8601 strings) and in indexes (epoch seconds)."""

from __future__ import annotations

from datetime import datetime, timezone

__all__ = ["Latest", "parse_time"]


def parse_time(value: str | float | None) -> datetime | None:
    """Return an aware UTC datetime for an ISO-8601 string or epoch seconds, ``None`` if unreadable.

    A naive ISO-8601 time is taken as UTC.
    """
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, timezone.utc)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


class Latest:
    """The latest of the times seen so far (unreadable ones are ignored).

    Args:
        initial: A first time to take into account.
    """

    def __init__(self, initial: str | float | None = None) -> None:
        self.moment: datetime | None = parse_time(initial)

    def see(self, value: str | float | None) -> None:
        """Take ``value`` into account."""
        moment = parse_time(value)
        if moment is not None and (self.moment is None or moment > self.moment):
            self.moment = moment

    def isoformat(self) -> str | None:
        """Return the latest time as ISO-8601, or ``None`` if no readable time was seen."""
        return None if self.moment is None else self.moment.isoformat()
