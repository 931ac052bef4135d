"""What a pair job says on the console while it runs: on stderr, which Snakemake shows
for local jobs (on a cluster it goes to the job's own log).

The job's log file (logs/stylize/) has every detail; the console has a few lines per
job: when it knows its work, one per finished pair (name, seconds, scores), and in
between what it is doing now, from a ticker thread: at most one line every `every`
seconds and at least one (config console_every, at most 60 s), whatever a step
or a phase (loading the network, scoring) takes."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable

from ..row import SummaryRow


def to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class Console:
    def __init__(
        self,
        name: str,
        every: float = 30.0,
        write: Callable[[str], None] = to_stderr,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.prefix = f"[shard {name}]"
        self.every, self.write, self.clock = every, write, clock
        self.doing = "starting"
        self.total = self.done = 0
        self.last = clock()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def say(self, line: str) -> None:
        """A line now."""
        with self._lock:
            self.write(f"{self.prefix} {line}")
            self.last = self.clock()

    def now(self, doing: str) -> None:
        """What the job is doing now: said at the next tick that is due."""
        self.doing = doing

    def finished(self, row: SummaryRow) -> None:
        """A pair is done (or failed): its line now."""
        self.done += 1
        if row.status == "ok":
            self.say(
                f"done {row.pair} in {row.seconds:.1f} s: style score {row.style_score}, "
                f"content score {row.content_score} ({self.done}/{self.total})"
            )
        else:
            self.say(f"FAILED {row.pair}: {row.message} ({self.done}/{self.total})")

    def tick(self) -> None:
        """Say what the job is doing if no line was said for `every` seconds."""
        if self.clock() - self.last >= self.every:
            self.say(f"{self.done}/{self.total} pairs done; now {self.doing}")

    def __enter__(self) -> Console:
        def run() -> None:
            while not self._stop.wait(1.0):
                self.tick()

        self._ticker = threading.Thread(target=run, name="console", daemon=True)
        self._ticker.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._ticker.join()


def silent() -> Console:
    """A console that says nothing (a job run outside Snakemake, tests)."""
    return Console("", write=lambda line: None)
