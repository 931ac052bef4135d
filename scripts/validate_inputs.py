"""Snakemake script: validate the input images, write accepted.tsv and rejected.tsv.

rejected.tsv lists every file that is not used: rejected ones (with the reason and
what to do) and ignored ones (hidden and system files, action "ignored; nothing to
do"; never an error, even with strict: true).
"""

import os
from pathlib import Path

import pandas as pd

from nst.runtime import job_log
from nst.tsv import write_table
from nst.validate import Limits, Verdict, validate

sm = snakemake  # noqa: F821  (provided by Snakemake)
p = sm.params
SHOWN = 30  # rejections listed in the error message; the log lists all


def printable(text: str) -> str:
    """A name that is not valid UTF-8 (rejected) with its odd bytes as escapes: caf\\xe9.png."""
    return os.fsencode(text).decode("utf-8", "backslashreplace")


with job_log(sm.log[0]) as log:
    limits = Limits(size=p.size, min_side=p.min_side, max_megapixels=p.max_megapixels)
    files = {role: [Path(f) for f in names] for role, names in p.files.items()}
    verdicts = validate(files, limits, Path(p.cache), threads=sm.threads)
    columns = list(Verdict.__dataclass_fields__)
    table = pd.DataFrame([vars(v) for v in verdicts], columns=columns)
    table = table.astype({"ok": bool, "ignored": bool})
    accepted, rejected = table[table.ok], table[~table.ok]
    errors = rejected[~rejected.ignored]
    lines = []  # rejected files first, then ignored ones
    for r in rejected.sort_values("ignored", kind="stable").itertuples():
        lines.append(f"{printable(r.path)}: {r.reason} ({r.action})")
        log(f"{'ignored' if r.ignored else 'rejected'} {r.role} {lines[-1]}")
    log(f"{len(accepted)} accepted, {len(errors)} rejected, {len(rejected) - len(errors)} ignored")
    problems = []
    if p.strict and len(errors):
        problems.append(f"strict: true and {len(errors)} input file(s) were rejected")
    for role in files:
        if not (accepted.role == role).any():
            problems.append(f"no usable {role} image among {len(files[role])} file(s)")
    if problems:
        shown = "\n".join(f"  {line}" for line in lines[:SHOWN])
        more = f"\n  ... and {len(lines) - SHOWN} more" if len(lines) > SHOWN else ""
        raise RuntimeError(
            "input validation failed: "
            + "; ".join(problems)
            + f"\n{shown}{more}\n(every file is listed in {sm.log[0]})"
        )
    write_table(
        sm.output.rejected, ["path", "role", "reason", "action"], rejected.to_dict("records")
    )
    write_table(
        sm.output.accepted,
        ["path", "role", "width", "height", "note"],
        accepted.rename(columns={"reason": "note"}).to_dict("records"),
    )
