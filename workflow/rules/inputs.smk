# Input validation, then the plan of pairs and shards: both run before any pair job;
# bad files are listed, not fatal.


rule validate_inputs:
    # The folders, not each file: Snakemake's bookkeeping per input file would cost
    # more than validating it again.  A file added, removed, renamed, edited or replaced
    # changes `listing` (names and nst.io.file_signature of each file), which reruns this.
    input:
        [] if workflow.remote_exec else [config["content_dir"], config["style_dir"]],
    output:
        accepted=RESULTS / "inputs" / "accepted.tsv",
        rejected=RESULTS / "inputs" / "rejected.tsv",
    log:
        LOGS / "validate_inputs.log",
    localrule: True
    conda:
        "../envs/nst.yaml"
    threads: 4
    params:
        files=CANDIDATES,
        listing=listing_signature(p for files in CANDIDATES.values() for p in files),
        size=SETTINGS.smallest_size,
        min_side=config["min_input_side"],
        max_megapixels=config["max_input_megapixels"],
        strict=config["strict"],
        cache=RESULTS / "inputs" / ".validation-cache.json",
    script:
        "../../scripts/validate_inputs.py"


# Its output decides the shard jobs: a checkpoint.  Each shard's pairs go to
# results/plan/shards/<shard>.json, rewritten only when they change (nst.plan).
checkpoint plan_shards:
    input:
        accepted=rules.validate_inputs.output.accepted,
        sheet=[config["pairs"]] if config["pairs"] else [],
        style_settings=[config["style_settings"]] if config["style_settings"] else [],
    output:
        index=RESULTS / "plan" / "index.json",
    log:
        LOGS / "plan_shards.log",
    localrule: True
    conda:
        "../envs/nst.yaml"
    params:
        inputs={
            **{
                key: config[key]
                for key in (
                    "content_dir",
                    "style_dir",
                    "mask_dir",
                    "pairs",
                    "style_settings",
                    "results",
                )
            },
            "variants": variants_to_params(VARIANT_LIST),
        },
        # A mask edited in place replans (its pairs' shards rerun, those pairs redo).
        masks=MASK_LISTING,
        # Only what the plan depends on: other settings rerun the pair jobs, not this.
        shard_size=SHARD_SIZE,
        size=SETTINGS.size,
        results=RESULTS,
        key_book=key_book_path(RESULTS),
    script:
        "../../scripts/plan_shards.py"
