"""`ProgressBar`: one line on stderr for the long loops outside `fit` (embedding, mining).

`callbacks.Progress` is a `fit` callback (epochs and seconds kept in `progress.json`), and Keras's
`Progbar` writes to stdout, where the command line prints its JSON result: neither fits here.
"""

import sys
import time


class ProgressBar:
    """Progress on stderr: one line redrawn twice a second on a terminal, else a line every 30 s.

    Args:
        total: int. Items to process.
        label: str. What is being done ("corpus", "mining", ...).
        progress: bool or None. `False`: silent; `True`: always; `None`:
            only when stderr is a terminal.
    """

    def __init__(self, total, label, progress=None):
        self.total, self.label, self.done = max(int(total), 0), label, 0
        self.tty = sys.stderr.isatty()
        self.enabled = self.tty if progress is None else bool(progress)
        self.start = time.perf_counter()
        self._last = self.start if not self.tty else -1.0

    def update(self, count):
        self.done += count
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self._last < (0.5 if self.tty else 30.0) and self.done < self.total:
            return
        self._last = now
        fraction = self.done / self.total if self.total else 1.0
        rate = self.done / max(now - self.start, 1e-9)
        line = (
            f"{self.label}: [{'=' * int(30 * fraction):<30}] {self.done:,}/{self.total:,} "
            f"({rate:,.0f}/s, {now - self.start:,.0f} s)"
        )
        sys.stderr.write(f"\r{line}" if self.tty else f"{line}\n")
        sys.stderr.flush()

    def close(self):
        if self.enabled and self.tty:
            sys.stderr.write("\n")
            sys.stderr.flush()
