"""Derived files (thumbnails, loss-curve plots) kept across gallery builds.

Every derived file is listed in one manifest (`manifest.json` in the cache
folder) with the signature of its source file (nst.io.file_signature),
and the recipe that made it (for a thumbnail e.g. "webp:256:q80").  A build
renders a file only when it is missing, its source's signature changed, or the
recipe changed; everything else is reused without being opened.  Checking 100,000
entries is one stat per source and per derived file (well under a second), so
adding one photo to a big collection re-encodes only that photo's thumbnails.

Files are written atomically; the manifest is saved at the end of a build and
every minute during a long one, so a killed build loses at most a minute of work
(a derived file whose entry was not saved yet is simply rendered again).  Derived
files whose source left the collection are deleted.
"""

from __future__ import annotations

import contextlib
import errno
import json
import multiprocessing
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ..io import file_signature, write_json

MANIFEST = "manifest.json"
VERSION = 1


@dataclass(frozen=True)
class Job:
    """Make `target` (relative to the cache folder) from `source` with `recipe`."""

    kind: str  # a key of the renderers given to DerivedCache.sync
    source: str
    target: str  # POSIX path relative to the cache folder
    recipe: str  # changes whenever the renderer would produce a different file


@dataclass
class SyncStats:
    rendered: Counter = field(default_factory=Counter)  # kind -> files made in this build
    reused: Counter = field(default_factory=Counter)  # kind -> files kept as they were
    failed: dict[str, str] = field(default_factory=dict)  # target -> error message
    removed: int = 0  # derived files of sources that left the collection

    def line(self) -> str:
        kinds = sorted(set(self.rendered) | set(self.reused))
        parts = [
            f"{kind}: {self.rendered[kind]} rendered, {self.reused[kind]} reused" for kind in kinds
        ]
        parts = parts or ["nothing to render"]
        return "; ".join(parts) + f"; {len(self.failed)} failed; {self.removed} removed"


Renderer = Callable[[str, Path, str], dict]  # (source, target path, recipe) -> info


class DerivedCache:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.path = self.root / MANIFEST
        self.entries: dict[str, dict] = {}
        with contextlib.suppress(OSError, ValueError):
            data = json.loads(self.path.read_text())
            if data.get("version") == VERSION:
                self.entries = dict(data["entries"])

    def info(self, target: str) -> dict | None:
        """What the renderer returned for this file (e.g. a thumbnail's size), if it exists."""
        entry = self.entries.get(target)
        return entry["info"] if entry else None

    def save(self) -> None:
        write_json(self.path, {"version": VERSION, "entries": self.entries})

    def fresh(self, job: Job, sig: list[int]) -> bool:
        entry = self.entries.get(job.target)
        return (
            entry is not None
            and entry["source"] == job.source
            and entry["signature"] == sig
            and entry["recipe"] == job.recipe
            and (self.root / job.target).is_file()
        )

    def sync(
        self,
        jobs: Sequence[Job],
        renderers: dict[str, Renderer],
        workers: int = 1,
        log: Callable[[str], None] = lambda line: None,
        save_every: float = 60.0,
    ) -> SyncStats:
        """Make every job's target current; remove derived files nobody asks for any more."""
        stats = SyncStats()
        todo = []
        for job in jobs:
            sig = file_signature(job.source)
            if sig is None:
                stats.failed[job.target] = f"{job.source}: source file not found"
            elif self.fresh(job, sig):
                stats.reused[job.kind] += 1
            else:
                todo.append((job, sig))
        if todo:
            log(f"rendering {len(todo)} derived file(s) with {workers} worker(s)")
        last_save = time.monotonic()
        tasks = [
            (renderers[job.kind], job.source, str(self.root / job.target), job.recipe)
            for job, _ in todo
        ]
        for (job, sig), (info, error) in zip(todo, _run(tasks, workers)):
            if error is not None:
                stats.failed[job.target] = error
                self.entries.pop(job.target, None)
                continue
            self.entries[job.target] = {
                "source": job.source,
                "signature": sig,
                "recipe": job.recipe,
                "info": info,
            }
            stats.rendered[job.kind] += 1
            if time.monotonic() - last_save > save_every:
                self.save()
                last_save = time.monotonic()
        stats.removed = self._prune({job.target for job in jobs})
        self.save()
        return stats

    def _prune(self, wanted: set[str]) -> int:
        """Delete derived files (listed or left over) that no job asks for."""
        for target in [t for t in self.entries if t not in wanted]:
            del self.entries[target]
        removed = 0
        if not self.root.is_dir():
            return 0
        for folder, _, names in os.walk(self.root, topdown=False):
            for name in names:
                path = Path(folder) / name
                target = path.relative_to(self.root).as_posix()
                if target == MANIFEST or target in wanted:
                    continue
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    removed += 1
            if folder != str(self.root):
                with contextlib.suppress(OSError):
                    os.rmdir(folder)  # only succeeds when empty
        return removed


def _call(task: tuple) -> tuple[dict | None, str | None]:
    render, source, target, recipe = task
    try:
        return render(source, Path(target), recipe), None
    except Exception as err:  # one bad file must not stop the gallery
        if isinstance(err, OSError) and err.errno == errno.ENOSPC:
            raise  # a full disk is not the file's fault: every other file would fail too
        return None, f"{source}: {type(err).__name__}: {err}"


def _run(tasks: Sequence[tuple], workers: int) -> Iterable[tuple[dict | None, str | None]]:
    """Results in task order; in forked worker processes when that pays off."""
    if (
        workers <= 1
        or len(tasks) < 4 * workers
        or "fork" not in multiprocessing.get_all_start_methods()
    ):
        yield from map(_call, tasks)
        return
    # fork, not spawn: a Snakemake script's __main__ must not be imported again.
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        yield from pool.map(_call, tasks, chunksize=max(1, min(64, len(tasks) // (8 * workers))))
