"""Snakemake script: validate the input images, write accepted.tsv and rejected.tsv."""

from pathlib import Path

import pandas as pd

from nst.io import atomic_write
from nst.runtime import job_log
from nst.validate import Limits, validate

sm = snakemake  # noqa: F821  (provided by Snakemake)
p = sm.params

with job_log(sm.log[0]) as log:
    limits = Limits(size=p.size, min_side=p.min_side, max_megapixels=p.max_megapixels)
    files = {role: [Path(f) for f in names] for role, names in p.files.items()}
    verdicts = validate(files, limits, Path(p.cache), threads=sm.threads)
    table = pd.DataFrame([vars(v) for v in verdicts])
    accepted, rejected = table[table.ok], table[~table.ok]
    for row in rejected.itertuples():
        log(f"rejected {row.role} {row.path}: {row.reason} ({row.action})")
    log(f"{len(accepted)} accepted, {len(rejected)} rejected")
    problems = []
    if p.strict and len(rejected):
        problems.append(f"strict: true and {len(rejected)} input file(s) were rejected")
    for role in files:
        if not (accepted.role == role).any():
            problems.append(f"no usable {role} image among {len(files[role])} file(s)")
    if problems:
        details = "\n".join(f"  {r.path}: {r.reason} ({r.action})" for r in rejected.itertuples())
        raise RuntimeError("input validation failed: " + "; ".join(problems) + "\n" + details)
    with atomic_write(sm.output.rejected, "w") as handle:
        rejected[["path", "role", "reason", "action"]].to_csv(handle, sep="\t", index=False)
    with atomic_write(sm.output.accepted, "w") as handle:
        accepted[["path", "role", "width", "height", "reason"]].rename(
            columns={"reason": "note"}
        ).to_csv(handle, sep="\t", index=False)
