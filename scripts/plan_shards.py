"""Snakemake script: plan the pairs and shards of the accepted inputs (nst.plan)."""

import time
from pathlib import Path

from nst.keys import KeyBook
from nst.plan import make_plan, write_plan
from nst.runtime import job_log
from nst.tsv import read_rows

sm = snakemake  # noqa: F821  (provided by Snakemake)

with job_log(sm.log[0]) as log:
    started = time.perf_counter()
    accepted = {
        Path(row["path"]): (int(row["width"]), int(row["height"]))
        for row in read_rows(sm.input.accepted)
    }
    book = KeyBook.load(sm.params.key_book)
    plan = make_plan(sm.params.inputs, accepted, sm.params.shard_size, sm.params.size, book)
    book.save(sm.params.key_book)  # the keys of new names: from now on they keep them
    written = write_plan(plan, sm.params.results)
    log(
        f"{len(plan.pairs)} pairs in {len(plan.shards)} shards ({written} new or changed), "
        f"{len(plan.styles)} styles; {time.perf_counter() - started:.1f} s"
    )
