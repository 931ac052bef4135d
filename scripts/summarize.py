"""Snakemake script: concatenate the shard manifests into the summary table."""

import pandas as pd

from nst.io import atomic_write
from nst.runtime import job_log
from nst.shard import SUMMARY_COLUMNS

sm = snakemake  # noqa: F821  (provided by Snakemake)

with job_log(sm.log[0]) as log:
    tables = [pd.read_csv(path, sep="\t", keep_default_na=False) for path in sm.input]
    summary = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    summary = summary.reindex(columns=SUMMARY_COLUMNS).sort_values(["style", "content"])
    with atomic_write(sm.output[0], "w") as handle:
        summary.to_csv(handle, sep="\t", index=False)
    counts = summary.status.value_counts().to_dict()
    log(f"{len(summary)} pairs from {len(tables)} shards: {counts}")
