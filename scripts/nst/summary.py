"""The summary table (every pair) and the list of failed pairs, from the shard manifests.

`failed.tsv` holds only the pairs whose status is not ok, with their messages: the
end of a run reads it to say how many pairs failed and where to read why.  Both
files are written atomically; a full disk is an error that says what to do.
"""

from __future__ import annotations

import errno
import os
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from .io import remove_stale_parts
from .plan import pair_variant
from .row import SUMMARY_COLUMNS
from .tsv import read_rows, write_table

FAILED_COLUMNS = ["pair", "content", "style", "status", "message"]


class SummaryError(RuntimeError):
    pass


def write_summary(
    manifests: Sequence[str | os.PathLike],
    summary: str | os.PathLike,
    failed: str | os.PathLike,
    log: Callable[[str], None] = print,
) -> list[dict[str, str]]:
    """Concatenate the manifests into `summary` (nst.tsv); the pairs that did not succeed
    into `failed`.  Returns the summary's rows."""
    remove_stale_parts([summary, failed])  # left by a summary job killed half-way
    rows = sorted(
        (row for path in manifests for row in read_rows(path)),
        key=lambda row: (row.get("style", ""), row.get("content", ""), row.get("pair", "")),
    )
    bad = [row for row in rows if row.get("status") != "ok"]
    for row in rows:
        row["variant"] = pair_variant(row.get("pair", ""))
    tables = [(summary, SUMMARY_COLUMNS, rows), (failed, FAILED_COLUMNS, bad)]
    if any(row["variant"] for row in rows):  # only then: without, the tables read as before
        tables = [(path, [cols[0], "variant", *cols[1:]], part) for path, cols, part in tables]
    try:
        for path, columns, part in tables:
            write_table(path, columns, part)
    except OSError as err:
        if err.errno != errno.ENOSPC:
            raise
        raise SummaryError(
            f"disk full while writing {Path(summary).parent}: free some space and run again "
            "(the pairs' results are kept; no half-written table was left)"
        ) from err
    counts = dict(Counter(row.get("status") for row in rows))
    log(f"{len(rows)} pairs from {len(manifests)} shards: {counts}")
    if bad:
        log(f"WARNING: {len(bad)} pair(s) failed; why, and what to do: {failed}")
    return rows
