"""Progress of long work (downloads, API lookups) as throttled lines in Dagster's log."""

import time
from collections.abc import Callable

import dagster as dg

from medicaid_assets.core.fetcher import FetchProgress


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


# Where a front end that runs the steps in its own process wants lookup progress too: ``sink(label, progress)``.
ProgressSink = Callable[[str, FetchProgress], None]


class LookupProgress:
    """API lookup progress: a log line every ``every_seconds`` and at the end (finished or stopped: the last line
    shows what a front end's bar shows last), and every update to ``sink``."""

    def __init__(
        self, log: dg.DagsterLogManager, label: str, every_seconds: float = 10.0, sink: ProgressSink | None = None
    ) -> None:
        self.log, self.label, self.every, self.sink = log, label, every_seconds, sink
        self.last = 0.0
        self.logged: tuple[int, int] | None = None

    def __call__(self, p: FetchProgress) -> None:
        if self.sink is not None:
            self.sink(self.label, p)
        now = time.monotonic()
        if now - self.last < self.every and p.done < p.total and not p.finished:
            return
        if p.finished and self.logged == (p.done, p.total):
            return  # the line for these figures is in the log already
        self.last, self.logged = now, (p.done, p.total)
        eta = f", ETA {p.eta_seconds:.0f}s" if p.eta_seconds is not None and p.done < p.total else ""
        self.log.info(
            f"{self.label}: {p.done:,}/{p.total:,} identifiers, {p.failed:,} failed, {p.requests:,} requests, "
            f"{p.elapsed_seconds:.0f}s elapsed, {p.rate:.1f}/s{eta}"
        )
