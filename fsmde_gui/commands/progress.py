"""A one-line progress bar on stderr (redrawn in place with ``\\r``) for long commands."""
from __future__ import annotations

import sys
import time


def _clock(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class ProgressBar:
    """``bar(done, total)`` redraws ``label [#####-----] done/total unit  rate  eta``;
    ``bar.close()`` ends the line. Usable as the ``progress`` callback of the engine."""

    def __init__(self, label: str, unit: str = "frames", stream=None, width: int = 24):
        self.label, self.unit, self.width = label, unit, width
        self.stream = stream if stream is not None else sys.stderr
        self.t0 = time.perf_counter()
        self._drawn = 0

    def line(self, done: int, total: int) -> str:
        frac = done / total if total else 1.0
        fill = int(round(frac * self.width))
        text = f"{self.label} [{'#' * fill}{'-' * (self.width - fill)}] {done}/{total} {self.unit}"
        elapsed = time.perf_counter() - self.t0
        if done:
            text += f"  {elapsed / done:.1f} s each"
            if done < total:
                text += f"  eta {_clock(elapsed / done * (total - done))}"
            else:
                text += f"  in {_clock(elapsed)}"
        return text

    def __call__(self, done: int, total: int) -> None:
        text = self.line(done, total)
        pad = max(0, self._drawn - len(text))
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()
        self._drawn = len(text)

    def close(self, erase: bool = False) -> None:
        """End the bar's line; ``erase``: blank it instead (a command that fails then shows
        its one error line alone, where the bar was)."""
        if self._drawn:
            self.stream.write("\r" + " " * self._drawn + "\r" if erase else "\n")
            self.stream.flush()
            self._drawn = 0
