"""The summary table (every pair) and the list of failed pairs, from the shard manifests.

`failed.tsv` holds only the pairs whose status is not ok, with their messages: the
end of a run reads it to say how many pairs failed and where to read why.  Both
files are written atomically; a full disk is an error that says what to do.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from .io import atomic_write, remove_stale_parts
from .row import SUMMARY_COLUMNS

FAILED_COLUMNS = ["pair", "content", "style", "status", "message"]


class SummaryError(RuntimeError):
    pass


def write_summary(
    manifests: Sequence[str | os.PathLike],
    summary: str | os.PathLike,
    failed: str | os.PathLike,
    log: Callable[[str], None] = print,
) -> pd.DataFrame:
    """Concatenate the manifests into `summary`; the pairs that did not succeed into
    `failed`.  Returns the summary table."""
    remove_stale_parts([summary, failed])  # left by a summary job killed half-way
    tables = [pd.read_csv(path, sep="\t", keep_default_na=False) for path in manifests]
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    table = table.reindex(columns=SUMMARY_COLUMNS).sort_values(["style", "content"])
    bad = table[table.status != "ok"]
    try:
        with atomic_write(summary, "w") as handle:
            table.to_csv(handle, sep="\t", index=False)
        with atomic_write(failed, "w") as handle:
            bad.reindex(columns=FAILED_COLUMNS).to_csv(handle, sep="\t", index=False)
    except OSError as err:
        if err.errno != errno.ENOSPC:
            raise
        raise SummaryError(
            f"disk full while writing {Path(summary).parent}: free some space and run again "
            "(the pairs' results are kept; no half-written table was left)"
        ) from err
    counts = table.status.value_counts().to_dict()
    log(f"{len(table)} pairs from {len(tables)} shards: {counts}")
    if len(bad):
        log(f"WARNING: {len(bad)} pair(s) failed; why, and what to do: {failed}")
    return table
