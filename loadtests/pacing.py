"""``--rate``: every request gets an intended start on a fixed schedule, one every ``interval_s``.

Pacing is per request, not per task: sign-in sends two requests per flow, and each of them takes
its own slot, so U users at ``interval_s = U / R`` send R requests/s whatever the scenario.  A
request that cannot start on time (the previous answer was late) starts at once and carries its
lateness, which the lab adds to its measured time (coordinated omission, handled as wrk2 does).
"""

from __future__ import annotations

import random


class Pacer:
    """One user's schedule of intended starts (``time.perf_counter`` seconds)."""

    def __init__(self, interval_s: float, now: float):
        self.interval_s = interval_s
        self.next_start = now + random.uniform(0, interval_s)  # spread the users over one interval

    def claim(self) -> float:
        """The next request's intended start; the one after is one interval later."""
        start = self.next_start
        self.next_start += self.interval_s
        return start
