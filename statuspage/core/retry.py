"""When to try again: one exponential backoff for everything the service retries (invoice actions,
webhook and e-mail deliveries), each with its own first wait, longest wait and number of tries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Backoff:
    """Waits doubling from `first` up to `longest`; after `max_attempts` tries, give up."""

    first: timedelta
    longest: timedelta
    max_attempts: int

    def next_attempt(self, attempts_made: int, now: datetime) -> datetime | None:
        """When to try again after `attempts_made` (1 or more) failed tries; None when it is time to give up."""
        if attempts_made >= self.max_attempts:
            return None
        return now + min(self.first * 2 ** (attempts_made - 1), self.longest)
