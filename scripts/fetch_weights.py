"""Snakemake script: download (or copy from file://) a weights file and check its hash."""

from nst.runtime import job_log
from nst.weights import fetch

sm = snakemake  # noqa: F821  (provided by Snakemake)

with job_log(sm.log[0]) as log:
    log(f"fetching {sm.params.url} -> {sm.output[0]}")
    fetch(sm.params.url, sm.output[0], sm.params.sha256 or None)
    log("done, hash verified")
