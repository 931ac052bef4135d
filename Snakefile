# Batch neural style transfer (Gatys et al.): content x style pairs, cached style
# targets, sharded GPU/CPU pair jobs, a summary table and a gallery.  See README.md.
import time

from snakemake.utils import min_version, validate

RUN_STARTED = time.time()  # what a run that stops with an error made is newer than this

min_version("9.0")


configfile: "config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/inputs.smk"
include: "workflow/rules/weights.smk"
include: "workflow/rules/style.smk"
include: "workflow/rules/stylize.smk"
include: "workflow/rules/summary.smk"
include: "workflow/rules/gallery.smk"
include: "workflow/rules/prune.smk"


rule all:
    default_target: True
    input:
        RESULTS / "summary.tsv",
        RESULTS / "gallery" / "index.html",


# The end of every run says, last, what it made: pairs ok and failed, inputs rejected,
# where the gallery is (nst.run_report).  A run that ends with failed pairs still
# succeeds (exit status 0: the summary and the gallery are complete and show them).
from nst.run_report import RunFiles, console_lines

RUN_FILES = RunFiles(
    summary=Path(rules.summary.output.summary),
    failed=Path(rules.summary.output.failed),
    rejected=Path(rules.validate_inputs.output.rejected),
    gallery=Path(rules.gallery.output.index),
)


onsuccess:
    for level, line in console_lines(RUN_FILES):
        getattr(logger, level)(line)


onerror:
    for level, line in console_lines(RUN_FILES, RUN_STARTED):
        getattr(logger, level)(line)
