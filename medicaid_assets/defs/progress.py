"""Progress of long work (downloads, API lookups) as throttled lines in Dagster's log."""

import time

import dagster as dg


class ProgressLogger:
    """Throttled download progress lines (bytes, rate, ETA) for Dagster's log."""

    def __init__(self, log: dg.DagsterLogManager, label: str, every_seconds: float = 5.0) -> None:
        self.log, self.label, self.every = log, label, every_seconds
        self.started = self.last = time.monotonic()

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - self.last < self.every and done != total:
            return
        self.last = now
        rate = done / max(now - self.started, 1e-6)
        if total:
            eta = (total - done) / rate if rate else float("inf")
            self.log.info(
                f"{self.label}: {done / 1e6:,.1f} of {total / 1e6:,.1f} MB, {rate / 1e6:.1f} MB/s, ETA {eta:.0f}s"
            )
        else:
            self.log.info(f"{self.label}: {done / 1e6:,.1f} MB, {rate / 1e6:.1f} MB/s")
