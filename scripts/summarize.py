"""Snakemake script: concatenate the shard manifests into the summary table and the
list of failed pairs (nst.summary)."""

from nst.runtime import job_log
from nst.summary import write_summary

sm = snakemake  # noqa: F821  (provided by Snakemake)

with job_log(sm.log[0]) as log:
    write_summary(sm.input, sm.output.summary, sm.output.failed, log=log)
