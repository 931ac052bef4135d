# Pair jobs: each optimises a shard of content x style pairs with one loaded model.


rule stylize_shard:
    input:
        unpack(shard_inputs),
    output:
        manifest_path(RESULTS, "{shard}"),
    log:
        LOGS / "stylize" / "{shard}.log",
    wildcard_constraints:
        shard="[0-9a-f]{16}(-[0-9]+)?",
    retries: 2
    # On a cluster, `--group-components stylize=N` packs N pair jobs into one
    # submission (profiles/slurm).  Local runs ignore groups: none there, whose
    # bookkeeping would only slow planning down.
    group:
        "stylize" if ON_CLUSTER else None
    conda:
        "../envs/nst.yaml"
    threads: PAIR_THREADS
    resources:
        gpu=GPU_PER_JOB,
        mem_mb=pair_mem_mb,
        runtime=pair_runtime,
        max_batch=pair_max_batch,
    params:
        settings=PAIR_PARAMS,
    script:
        "../../scripts/stylize_shard.py"
