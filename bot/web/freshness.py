"""Which closed weeks' rollups are current, remembered for a minute.

Checking costs two counts per week (`scoring.rollups.current_weeks`): at 5 million events,
about 25 ms a week, more than the rest of a page. A week found current is taken as current for
`ttl` seconds; a stale or unbuilt one is built at once (as `score` and the Monday job build
them) and then remembered. So a late event for a closed week shows on the dashboard within a
minute; everything else is read as the chat reads it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime

from budgets.windows import Window
from scoring.rollups import current_rollups, is_stored_kind

TTL_SECONDS = 60.0


class RollupFreshness:
    def __init__(self, db, ttl: float = TTL_SECONDS, clock: Callable[[], float] = time.monotonic):  # noqa: ANN001
        self.db, self.ttl, self.clock = db, ttl, clock
        self.checked: dict[str, float] = {}
        self.lock = threading.Lock()

    def current(self, windows: Sequence[Window], now: datetime) -> set[str]:
        """Keys of the closed weeks among `windows` to read from their rollups (built first
        where missing or stale; the caller passes this as `current=`)."""
        closed = [w for w in windows if is_stored_kind(w) and w.end <= now]
        moment = self.clock()
        with self.lock:
            known = {
                w.key for w in closed if moment - self.checked.get(w.key, -self.ttl) < self.ttl
            }
        unknown = [w for w in closed if w.key not in known]
        if unknown:
            with self.db.read() as session:
                fresh = current_rollups(session, unknown, now, store=False)
            stale = [w for w in unknown if w.key not in fresh]
            if stale:
                with self.db.unit_of_work() as uow:
                    fresh |= current_rollups(uow.session, stale, now, store=True)
                    uow.commit()
            with self.lock:
                for key in fresh:
                    self.checked[key] = moment
            known |= fresh
        return known
