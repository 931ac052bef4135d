# Pair jobs: each optimises a shard of content x style pairs with one loaded model.


rule stylize_shard:
    input:
        unpack(shard_inputs),
    output:
        RESULTS / "shards" / "{shard}.tsv",
    log:
        LOGS / "stylize" / "{shard}.log",
    wildcard_constraints:
        shard="[0-9a-f]{16}(-[0-9]+)?",
    conda:
        "../envs/nst.yaml"
    threads: workflow.cores if GPU_PER_JOB == 0 else 2
    resources:
        gpu=GPU_PER_JOB,
    params:
        pairs=lambda wildcards: plan().shard_pairs(wildcards.shard),
        settings=SETTINGS,
    script:
        "../../scripts/stylize_shard.py"
