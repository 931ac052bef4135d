"""What a run made, in a few lines: pairs ok and failed, input files rejected, where the
gallery is.  The Snakefile's onsuccess and onerror print it at the end of every run, and
the gallery's front page shows the same (nst.gallery.html).

Reads only the small tables the workflow writes (summary.tsv, rejected.tsv), through
nst.tsv: this runs in Snakemake's own process, which must not wait for torch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .tsv import read_rows

SHOWN = 3  # rejected file names named on the console and the front page
# The action rejected.tsv gives hidden and system files (nst.validate writes it).
IGNORED = "ignored; nothing to do"


@dataclass(frozen=True)
class Outcome:
    ok: int | None  # pairs with status ok; None: no summary table
    failed: int | None
    rejected: tuple[str, ...] | None  # names of the files rejected (not the ignored ones);
    # None: no rejected.tsv (inputs not validated yet)
    ignored: int  # hidden and system files in the input folders

    def rejected_names(self) -> str:
        """The first few rejected names, then how many more."""
        names = ", ".join(self.rejected[:SHOWN])
        more = len(self.rejected) - SHOWN
        return f"{names} and {more} more" if more > 0 else names


def read_outcome(summary: os.PathLike | str, rejected: os.PathLike | str) -> Outcome:
    """The outcome from the summary table and rejected.tsv (either may be missing)."""
    ok = failed = None
    if Path(summary).is_file():
        statuses = [row["status"] for row in read_rows(Path(summary))]
        ok = statuses.count("ok")
        failed = len(statuses) - ok
    if not Path(rejected).is_file():
        return Outcome(ok, failed, None, 0)
    inputs = read_rows(Path(rejected))
    names = tuple(Path(r["path"]).name for r in inputs if r["action"] != IGNORED)
    return Outcome(ok, failed, names, len(inputs) - len(names))


@dataclass(frozen=True)
class RunFiles:
    """Where a run's tables and gallery are (the Snakefile passes its rules' outputs)."""

    summary: Path
    failed: Path
    rejected: Path
    gallery: Path


def _written_since(path: Path, started: float | None) -> bool:
    """Whether `path` is this run's: written since `started` (None: whatever its date)."""
    try:
        return started is None or path.stat().st_mtime >= started
    except FileNotFoundError:
        return False


def console_lines(files: RunFiles, started: float | None = None) -> list[tuple[str, str]]:
    """(level, line) for the end of a run, "warning" for what needs a look.  `started`
    (seconds since the epoch) is given after an error: a summary or gallery older than
    that is an earlier run's, and said to be."""
    outcome = read_outcome(files.summary, files.rejected)
    info, warn = [], []  # what was made; what needs a look
    if started is not None:
        info.append("The run stopped with errors (above); run it again to retry what failed")
    if outcome.ok is None:
        info.append("Pairs: none summarised yet")
    elif not _written_since(files.summary, started):
        info.append(
            f"Pairs: not summarised in this run (an earlier run's {files.summary}: "
            f"{outcome.ok} ok, {outcome.failed} failed)"
        )
    else:
        info.append(f"Pairs: {outcome.ok} ok, {outcome.failed} failed")
        if outcome.failed:
            warn.append(
                f"{outcome.failed} pair(s) failed: {files.failed} says why and what "
                "to do (also the gallery's failed pairs)"
            )
    notes = [f"{outcome.ignored} hidden or system file(s) ignored"] if outcome.ignored else []
    if not _written_since(files.rejected, started):  # validation did not run, or failed
        notes.append("as an earlier run's validation found")
    notes = f" ({'; '.join(notes)})" if notes else ""
    if outcome.rejected is None:
        info.append("Inputs: not validated yet")
    elif outcome.rejected:
        warn.append(
            f"{len(outcome.rejected)} input file(s) rejected and skipped "
            f"({outcome.rejected_names()}): {files.rejected} says why and what to do{notes}"
        )
    else:
        info.append(f"Inputs: none rejected{notes}")
    if files.gallery.is_file():
        earlier = "" if _written_since(files.gallery, started) else " (an earlier run's)"
        info.append(f"Gallery{earlier}: {files.gallery} ({files.gallery.resolve().as_uri()})")
    return [("info", line) for line in info] + [("warning", line) for line in warn]
