"""Decides which progress reports are stored and pushed.

A task may report in a tight loop (100,000 calls); watchers need the latest state, fast, not every
step. A report goes out when it is the first, the final (current >= total), or when at least
`interval` seconds have passed since the last one went out *and* the visible figures changed
(percentage or message). Everything else returns at once after a clock read and two comparisons.
"""

from __future__ import annotations

from time import monotonic


class ProgressThrottle:
    __slots__ = ("interval", "_last_at", "_last_percent", "_last_message", "suppressed")

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last_at: float | None = None
        self._last_percent = -1
        self._last_message = None
        self.suppressed = 0

    def should_send(self, current: int, total: int, message: str = "", now: float | None = None) -> bool:
        if now is None:
            now = monotonic()
        final = total > 0 and current >= total
        if self._last_at is not None and not final:
            if now - self._last_at < self.interval:
                self.suppressed += 1
                return False
            percent = current * 100 // total if total > 0 else current
            if percent == self._last_percent and message == self._last_message:
                self.suppressed += 1
                return False
        self._last_at = now
        self._last_percent = current * 100 // total if total > 0 else current
        self._last_message = message
        return True
