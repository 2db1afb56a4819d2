"""When to try a deferred delivery again, and when to give up."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence


def next_attempt_at(*, attempts: int, now: dt.datetime, queued_at: dt.datetime,
                    schedule: Sequence[int], max_queue_age: int) -> dt.datetime | None:
    """Return the time of the next try after *attempts* tries, or None to give up.

    The n-th deferral waits ``schedule[n-1]`` seconds, and the last delay
    repeats. A delivery gets one last try at the age limit; a deferral at or
    after the limit gives up.
    """
    deadline = queued_at + dt.timedelta(seconds=max_queue_age)
    if now >= deadline:
        return None
    delay = schedule[min(max(attempts, 1), len(schedule)) - 1]
    return min(now + dt.timedelta(seconds=delay), deadline)
