"""Progress of long work: a live bar on a terminal, a few plain lines in a log file.

On a terminal the display is ``keras.utils.Progbar`` (redrawn in place). When the output is not a
terminal (a log file, a pipe, CI) a redrawn bar would leave carriage returns and hundreds of
partial lines in the log, and Progbar's non-terminal mode prints a line per update; so there
:class:`Progress` prints one plain line at the start and then one each time another quarter of the
work is done, e.g. ``reading: 480/960 files (50%), 6.1 s``.

    bar = Progress(len(files), "reading", unit="file")
    for f in files:
        ...
        bar.add(1)
    bar.close()

or ``for item in track(items, "predicting", unit="volume"): ...``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TextIO, TypeVar

T = TypeVar("T")

LOG_STEPS = 4  # plain lines after the first one: at 25 %, 50 %, 75 %, 100 %


class Progress:
    """Count work done out of ``total`` and show it (see the module docstring).

    Args:
        total: the amount of work (files, volumes, ...); > 0.
        label: what is being done, e.g. ``"reading"``.
        unit: name of one unit of work, for the display.
        verbose: 0 shows nothing; 1 shows progress.
        stream: where to write (default sys.stdout); its ``isatty()`` picks the display.
    """

    def __init__(self, total: int, label: str, unit: str = "item", verbose: int = 1,
                 stream: TextIO | None = None) -> None:
        self.total, self.label, self.unit = max(int(total), 1), label, unit
        self.done = 0
        self.stream = sys.stdout if stream is None else stream
        self.start = time.monotonic()
        self._closed = not verbose
        self._bar = None
        self._next_line = 0
        if self._closed:
            return
        if _isatty(self.stream):
            import keras  # the terminal display; imported only when one is shown

            self._bar = keras.utils.Progbar(self.total, unit_name=unit)
        else:
            self._line()
            self._next_line = 1

    def add(self, count: int = 1) -> None:
        """Record ``count`` more units done."""
        self.done = min(self.total, self.done + count)
        if self._closed:
            return
        if self._bar is not None:
            self._bar.update(self.done)
            return
        if self.done >= self.total:
            self.close()
            return
        passed = False
        while self._next_line < LOG_STEPS and \
                self.done * LOG_STEPS >= self._next_line * self.total:
            self._next_line, passed = self._next_line + 1, True
        if passed:
            self._line()

    def close(self) -> None:
        """Finish the display (a last line in a log, the final bar on a terminal)."""
        if self._closed:
            return
        self._closed = True
        if self._bar is not None:
            self._bar.update(self.done, finalize=True)
        else:
            self._line()

    def _line(self) -> None:
        percent = 100 * self.done // self.total
        self.stream.write(f"{self.label}: {self.done}/{self.total} {self.unit}s ({percent}%), "
                          f"{time.monotonic() - self.start:.1f} s\n")
        self.stream.flush()


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or stream-like objects without a terminal
        return False


def track(items: Iterable[T], label: str, total: int | None = None, unit: str = "item",
          verbose: int = 1, stream: TextIO | None = None) -> Iterator[T]:
    """Yield ``items`` while showing progress (``total`` defaults to ``len(items)``)."""
    items = list(items) if total is None and not hasattr(items, "__len__") else items
    bar = Progress(len(items) if total is None else total, label, unit, verbose, stream)
    for item in items:
        yield item
        bar.add(1)
    bar.close()
