# Batch neural style transfer (Gatys et al.): content x style pairs, cached style
# targets, sharded GPU/CPU pair jobs, a summary table and a gallery.  See README.md.
from snakemake.utils import min_version, validate

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
