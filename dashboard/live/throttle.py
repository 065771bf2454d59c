"""Decides which progress reports are stored and pushed.

A task may report in a tight loop (100,000 calls); watchers need the latest state, fast, not every
step. A report goes out when it is the first, the final (current >= total), or when at least
`interval` seconds have passed since the last one went out *and* the visible figures changed
(percentage or message). Everything else returns after one clock read and one comparison.
"""

from __future__ import annotations

from time import monotonic


class ProgressThrottle:
    __slots__ = ("interval", "next_at", "_last_percent", "_last_message", "suppressed")

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.next_at = float("-inf")
        self._last_percent = -1
        self._last_message = None
        self.suppressed = 0

    def should_send(self, current: int, total: int, message: str = "", now: float | None = None) -> bool:
        if now is None:
            now = monotonic()
        final = 0 < total <= current
        if now < self.next_at and not final:  # the hot path: too soon, and not the final report
            self.suppressed += 1
            return False
        percent = current * 100 // total if total > 0 else current
        if not final and percent == self._last_percent and message == self._last_message:
            self.suppressed += 1
            return False
        self.next_at = now + self.interval
        self._last_percent = percent
        self._last_message = message
        return True
