# Pair jobs: each optimises a shard of content x style pairs with one loaded model.


rule stylize_shard:
    input:
        unpack(shard_inputs),
    output:
        RESULTS / "shards" / "{shard}.tsv",
    params:
        pairs=lambda wildcards: plan().shard_pairs(wildcards.shard),
        settings=SETTINGS,
    log:
        LOGS / "stylize" / "{shard}.log",
    wildcard_constraints:
        shard="[0-9a-f]{16}(-[0-9]+)?",
    threads: workflow.cores if GPU_PER_JOB == 0 else 2
    resources:
        gpu=GPU_PER_JOB,
    script:
        "../../scripts/stylize_shard.py"
